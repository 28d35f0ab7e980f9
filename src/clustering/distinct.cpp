// Reducing a block to weighted distinct values, and the reference's fast-mode rounding.
//
// Large blocks whose values all fit fp16 (or bf16) exactly -- every block of an F16/BF16 checkpoint -- take
// the histogram path (distinct_histogram.cpp). Other blocks are radix-sorted as (key, element) pairs. Both
// paths visit the elements of one value in element order, so sensitivity sums are bit-identical whichever
// path runs.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
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

// Below this many elements clearing and scanning 65 536 bins costs more than sorting (measured crossover
// between 4096 and 8192 elements on fp16 weights).
constexpr std::size_t kHistogramMinElements = 6144;

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
      return float_keys::half_to_float(float_keys::pattern_from_key16(key));
    case KeyKind::kBFloat:
      return float_keys::bfloat_to_float(float_keys::pattern_from_key16(key));
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

// Sorting path: every element becomes one unsigned Item, (key << kIndexBits) | element, so that sorting
// the items sorts by key and, within a key, by element.
template <class Item, int kIndexBits>
struct PackedItems {
  static Item make(uint32_t key, std::size_t element) { return (static_cast<Item>(key) << kIndexBits) | element; }
  static uint32_t key(Item item) { return static_cast<uint32_t>(item >> kIndexBits); }
  static std::size_t element(Item item) { return static_cast<std::size_t>(item & ((Item{1} << kIndexBits) - 1)); }
};

// LSD radix sort on the key digits (stable); returns whichever buffer holds the result.
template <class Item, int kIndexBits, int kKeyBits, int kDigitBits>
Item* radix_sort(Item* items, Item* scratch, std::size_t n) {
  constexpr int kPasses = (kKeyBits + kDigitBits - 1) / kDigitBits;
  constexpr std::size_t kBuckets = std::size_t{1} << kDigitBits;
  std::array<std::array<uint32_t, kBuckets>, kPasses> counts{};
  for (std::size_t i = 0; i < n; ++i) {
    for (int p = 0; p < kPasses; ++p) ++counts[p][(items[i] >> (kIndexBits + p * kDigitBits)) & (kBuckets - 1)];
  }
  for (int p = 0; p < kPasses; ++p) {
    std::array<uint32_t, kBuckets>& bucket = counts[p];
    if (*std::max_element(bucket.begin(), bucket.end()) == n) continue;  // one digit value: order unchanged
    uint32_t offset = 0;
    for (uint32_t& count : bucket) offset += std::exchange(count, offset);
    const int shift = kIndexBits + p * kDigitBits;
    for (std::size_t i = 0; i < n; ++i) scratch[bucket[(items[i] >> shift) & (kBuckets - 1)]++] = items[i];
    std::swap(items, scratch);
  }
  return items;
}

template <class Item, int kIndexBits, int kKeyBits, int kDigitBits>
void distinct_by_sorting_as(KeyKind kind, std::span<const float> x, std::span<const float> sensitivities,
                            DistinctValues& out) {
  using Packed = PackedItems<Item, kIndexBits>;
  const std::size_t n = x.size();
  auto items = std::make_unique_for_overwrite<Item[]>(n);
  for (std::size_t e = 0; e < n; ++e) items[e] = Packed::make(key_of(kind, x[e]), e);
  const Item* sorted = items.get();
  std::unique_ptr<Item[]> scratch;
  constexpr std::size_t kRadixMinElements = 64;
  if (n < kRadixMinElements) {
    std::sort(items.get(), items.get() + n);
  } else {
    scratch = std::make_unique_for_overwrite<Item[]>(n);
    sorted = radix_sort<Item, kIndexBits, kKeyBits, kDigitBits>(items.get(), scratch.get(), n);
  }
  std::size_t distinct = n > 0 ? 1 : 0;
  for (std::size_t i = 1; i < n; ++i) distinct += Packed::key(sorted[i]) != Packed::key(sorted[i - 1]);
  out.values.resize(distinct);
  out.weights.assign(distinct, 0.0);
  std::size_t index = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const uint32_t key = Packed::key(sorted[i]);
    if (i == 0 || key != Packed::key(sorted[i - 1])) {
      index += i > 0;
      out.values[index] = value_of_key(kind, key);
    }
    const std::size_t element = Packed::element(sorted[i]);
    out.weights[index] += sensitivities.empty() ? 1.0 : static_cast<double>(sensitivities[element]);
    out.inverse[element] = static_cast<uint32_t>(index);
  }
}

void distinct_by_sorting(KeyKind kind, std::span<const float> x, std::span<const float> sensitivities,
                         DistinctValues& out) {
  if (kind == KeyKind::kFloat) {
    distinct_by_sorting_as<uint64_t, 32, 32, 11>(kind, x, sensitivities, out);
  } else if (x.size() <= (std::size_t{1} << 16)) {  // 16-bit key and 16-bit element in 32 bits
    distinct_by_sorting_as<uint32_t, 16, 16, 8>(kind, x, sensitivities, out);
  } else {
    distinct_by_sorting_as<uint64_t, 32, 16, 8>(kind, x, sensitivities, out);
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
