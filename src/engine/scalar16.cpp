#include "engine/scalar16.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace palettize {
namespace {

constexpr std::size_t kPatterns = 65536;

// -0 and +0 are one value.
inline uint16_t canonical(uint16_t pattern) { return pattern == 0x8000 ? 0 : pattern; }
// Orders patterns by the value they encode (sign-magnitude -> monotone unsigned order).
inline uint16_t value_order(uint16_t pattern) {
  return static_cast<uint16_t>((pattern & 0x8000) ? ~pattern : (pattern | 0x8000));
}

inline uint16_t load_pattern(const std::byte* data, int64_t element) {
  uint16_t pattern;
  std::memcpy(&pattern, data + element * 2, sizeof pattern);
  return pattern;
}

// Per-thread histogram kept all-zero between blocks: only touched bins are read and reset.
struct PatternHistogram {
  std::vector<uint32_t> counts = std::vector<uint32_t>(kPatterns, 0);
  std::vector<double> weights = std::vector<double>(kPatterns, 0.0);
  std::vector<uint8_t> label_of = std::vector<uint8_t>(kPatterns, 0);
  std::vector<uint16_t> touched;
};

PatternHistogram& thread_histogram() {
  thread_local PatternHistogram histogram;
  return histogram;
}

template <typename Visit>
void for_each_element(const BlockLayout& layout, const BlockRect& rect, Visit&& visit) {
  for (int64_t o = rect.o_begin; o < rect.o_end; ++o) {
    const int64_t row = o * layout.rest();
    for (int64_t r = rect.r_begin; r < rect.r_end; ++r) visit(row + r);
  }
}

void fill_histogram(const std::byte* data, const BlockLayout& layout, const BlockRect& rect,
                    std::span<const float> sensitivities, PatternHistogram& h) {
  h.touched.clear();
  if (sensitivities.empty()) {
    for_each_element(layout, rect, [&](int64_t e) {
      const uint16_t pattern = canonical(load_pattern(data, e));
      if (h.counts[pattern]++ == 0) h.touched.push_back(pattern);
    });
  } else {
    for_each_element(layout, rect, [&](int64_t e) {
      const uint16_t pattern = canonical(load_pattern(data, e));
      if (h.counts[pattern]++ == 0) h.touched.push_back(pattern);
      h.weights[pattern] += sensitivities[static_cast<std::size_t>(e)];
    });
  }
  std::sort(h.touched.begin(), h.touched.end(),
            [](uint16_t a, uint16_t b) { return value_order(a) < value_order(b); });
}

DistinctValues distinct_patterns(DType dtype, const PatternHistogram& h, bool weighted) {
  DistinctValues distinct;
  distinct.values.reserve(h.touched.size());
  distinct.weights.reserve(h.touched.size());
  for (uint16_t pattern : h.touched) {
    distinct.values.push_back(dtype == DType::F16 ? f16_to_f32(pattern) : bf16_to_f32(pattern));
    distinct.weights.push_back(weighted ? h.weights[pattern] : static_cast<double>(h.counts[pattern]));
  }
  return distinct;
}

}  // namespace

bool uses_16bit_patterns(DType dtype, const PalettizationSpec& spec, const PalettizeOptions& options) {
  return (dtype == DType::F16 || dtype == DType::BF16) && spec.cluster_dim == 1 && !spec.enable_per_channel_scale &&
         !options.enable_fast_kmeans_mode;
}

EncodedBlock encode_16bit_block(const TensorView& weight, const BlockLayout& layout, const BlockRect& rect,
                                std::span<const float> sensitivities, const PalettizationSpec& spec,
                                std::span<uint8_t> indices) {
  const std::byte* data = weight.data.data();
  PatternHistogram& h = thread_histogram();
  fill_histogram(data, layout, rect, sensitivities, h);
  const DistinctValues distinct = distinct_patterns(weight.dtype, h, !sensitivities.empty());
  std::vector<uint8_t> nearest;
  EncodedBlock encoded = encode_distinct_values(distinct, spec, weight.dtype, nearest);

  for (std::size_t i = 0; i < h.touched.size(); ++i) h.label_of[h.touched[i]] = nearest[i];
  for_each_element(layout, rect, [&](int64_t e) {
    indices[static_cast<std::size_t>(e)] = h.label_of[canonical(load_pattern(data, e))];
  });
  for (uint16_t pattern : h.touched) {
    h.counts[pattern] = 0;
    h.weights[pattern] = 0;
  }
  return encoded;
}

}  // namespace palettize
