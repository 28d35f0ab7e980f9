// Reducing a block to weighted distinct values, and the reference's fast-mode rounding.
//
// Large blocks whose values all fit fp16 (or bf16) exactly -- every block of an F16/BF16 checkpoint -- take
// the histogram path (distinct_histogram.cpp). Other blocks are radix-sorted as (key, element) pairs. Both
// paths visit the elements of one value in element order, so sensitivity sums are bit-identical whichever
// path runs.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "clustering/distinct_internal.hpp"
#include "clustering/float_keys.hpp"
#include "palettize/clustering.hpp"
#include "palettize/dtype.hpp"
#include "palettize/error.hpp"

namespace palettize {
namespace {

using float_keys::KeyKind;

// Below this many elements clearing and scanning 65 536 bins costs more than sorting the pairs.
constexpr std::size_t kHistogramMinElements = 32768;

uint32_t key_of(KeyKind kind, float x) {
  const uint32_t bits = float_keys::float_bits(x);
  uint32_t pattern = 0;
  switch (kind) {
    case KeyKind::kHalf:
      float_keys::half_if_exact(bits, pattern);
      return float_keys::ordered_key16(pattern);
    case KeyKind::kBFloat:
      float_keys::bfloat_if_exact(bits, pattern);
      return float_keys::ordered_key16(pattern);
    case KeyKind::kFloat:
      return float_keys::ordered_key32(bits == 0x80000000u ? 0u : bits);
  }
  return 0;
}

double value_of_key(KeyKind kind, uint32_t key) {
  switch (kind) {
    case KeyKind::kHalf:
      return f16_to_f32(static_cast<uint16_t>(float_keys::pattern_from_key16(key)));
    case KeyKind::kBFloat:
      return bf16_to_f32(static_cast<uint16_t>(float_keys::pattern_from_key16(key)));
    case KeyKind::kFloat:
      return float_keys::float_from_bits(float_keys::bits_from_key32(key));
  }
  return 0;
}

void validate_sensitivities(std::span<const float> x, std::span<const float> sensitivities) {
  check(sensitivities.empty() || sensitivities.size() == x.size(), "reduce_to_distinct: ", x.size(),
        " values but ", sensitivities.size(), " sensitivities");
  for (std::size_t e = 0; e < sensitivities.size(); ++e) {
    const float s = sensitivities[e];
    check(std::isfinite(s) && s >= 0, "reduce_to_distinct: sensitivity of element ", e, " is ", s,
          " (sensitivities must be finite and non-negative)");
  }
}

// Throws on the first NaN/Inf element; otherwise the narrowest key that holds every value exactly.
KeyKind classify(std::span<const float> x) {
  bool all_half = true, all_bfloat = true;
  for (std::size_t e = 0; e < x.size(); ++e) {
    check(std::isfinite(x[e]), "reduce_to_distinct: element ", e, " is ", x[e], " (values must be finite)");
    const uint32_t bits = float_keys::float_bits(x[e]);
    uint32_t pattern = 0;
    all_half = all_half && float_keys::half_if_exact(bits, pattern);
    all_bfloat = all_bfloat && float_keys::bfloat_if_exact(bits, pattern);
  }
  return all_half ? KeyKind::kHalf : (all_bfloat ? KeyKind::kBFloat : KeyKind::kFloat);
}

// LSD radix sort of (key << 32 | element) pairs on the key bits [32, 32 + key_bits), kDigitBits per pass.
// Stable, so elements of one key stay in element order.
template <int kDigitBits>
void radix_sort_pairs(std::vector<uint64_t>& pairs, int key_bits) {
  constexpr std::size_t kBuckets = std::size_t{1} << kDigitBits;
  const int passes = (key_bits + kDigitBits - 1) / kDigitBits;
  std::vector<uint32_t> counts(static_cast<std::size_t>(passes) * kBuckets, 0u);
  for (const uint64_t pair : pairs) {
    for (int p = 0; p < passes; ++p) ++counts[p * kBuckets + ((pair >> (32 + p * kDigitBits)) & (kBuckets - 1))];
  }
  std::vector<uint64_t> scratch(pairs.size());
  for (int p = 0; p < passes; ++p) {
    uint32_t* bucket = counts.data() + p * kBuckets;
    if (*std::max_element(bucket, bucket + kBuckets) == pairs.size()) continue;  // one digit: order unchanged
    uint32_t offset = 0;
    for (std::size_t b = 0; b < kBuckets; ++b) offset += std::exchange(bucket[b], offset);
    const int shift = 32 + p * kDigitBits;
    for (const uint64_t pair : pairs) scratch[bucket[(pair >> shift) & (kBuckets - 1)]++] = pair;
    pairs.swap(scratch);
  }
}

void distinct_by_sorting(KeyKind kind, std::span<const float> x, std::span<const float> sensitivities,
                         DistinctValues& out) {
  std::vector<uint64_t> pairs(x.size());
  for (std::size_t e = 0; e < x.size(); ++e) pairs[e] = (uint64_t{key_of(kind, x[e])} << 32) | e;
  constexpr std::size_t kRadixMinElements = 64;
  if (x.size() < kRadixMinElements) {
    std::sort(pairs.begin(), pairs.end());
  } else if (kind == KeyKind::kFloat) {
    radix_sort_pairs<11>(pairs, 32);
  } else {
    radix_sort_pairs<8>(pairs, 16);
  }
  uint32_t id = 0;
  uint64_t previous_key = std::numeric_limits<uint64_t>::max();
  for (const uint64_t pair : pairs) {
    const uint64_t key = pair >> 32;
    const uint32_t element = static_cast<uint32_t>(pair);
    if (key != previous_key) {
      if (!out.values.empty()) ++id;
      out.values.push_back(value_of_key(kind, static_cast<uint32_t>(key)));
      out.weights.push_back(0.0);
      previous_key = key;
    }
    out.weights.back() += sensitivities.empty() ? 1.0 : static_cast<double>(sensitivities[element]);
    out.inverse[element] = id;
  }
}

}  // namespace

namespace distinct_detail {

DistinctValues reduce_to_distinct_using(std::span<const float> x, std::span<const float> sensitivities,
                                        DistinctMethod method, bool allow_simd) {
  check(x.size() < std::numeric_limits<uint32_t>::max(), "reduce_to_distinct: a block of ", x.size(),
        " elements is more than 32-bit indices can address");
  validate_sensitivities(x, sensitivities);
  DistinctValues out;
  const bool histogram = method == DistinctMethod::kHistogram ||
                         (method == DistinctMethod::kAuto && x.size() >= kHistogramMinElements);
  if (histogram && reduce_by_histogram(x, sensitivities, out, allow_simd)) return out;
  const KeyKind kind = classify(x);
  out.inverse.resize(x.size());
  distinct_by_sorting(kind, x, sensitivities, out);
  return out;
}

}  // namespace distinct_detail

DistinctValues reduce_to_distinct(std::span<const float> x, std::span<const float> sensitivities) {
  return distinct_detail::reduce_to_distinct_using(x, sensitivities, distinct_detail::DistinctMethod::kAuto);
}

void apply_fast_mode_rounding(std::span<float> x, int precision) {
  constexpr int kMaxPrecision = 10;
  constexpr float kHalfMax = 65504.0f;
  check(precision >= -kMaxPrecision && precision <= kMaxPrecision, "fast mode: rounding precision ", precision,
        " is outside [", -kMaxPrecision, ", ", kMaxPrecision, "]");
  // numpy multiplies a float32 array by the Python number 10**p, which it first rounds to float32.
  const float scale = static_cast<float>(std::pow(10.0, precision));
  for (std::size_t e = 0; e < x.size(); ++e) {
    check(std::fabs(x[e]) <= kHalfMax, "fast mode: element ", e, " is ", x[e],
          ", outside the fp16 range [-65504, 65504] that fast mode casts to");
    const float half = f16_to_f32(f32_to_f16(x[e]));
    x[e] = std::nearbyint(half * scale) / scale;
  }
}

}  // namespace palettize
