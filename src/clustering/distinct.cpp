// Reducing a block to weighted distinct values, and the reference's fast-mode rounding.
//
// Large blocks whose values all fit fp16 (or bf16) exactly -- every block of an F16/BF16 checkpoint -- are
// reduced with a 65 536-bin histogram over the order-preserving 16-bit key: two linear passes, no sort.
// Other blocks are radix-sorted as (key, element) pairs. Both paths visit the elements of one value in
// element order, so sensitivity sums are bit-identical whichever path runs.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "clustering/distinct_internal.hpp"
#include "palettize/clustering.hpp"
#include "palettize/dtype.hpp"
#include "palettize/error.hpp"

namespace palettize {
namespace {

// Below this many elements clearing and scanning 65 536 bins costs more than sorting the pairs.
constexpr std::size_t kHistogramMinElements = 32768;
constexpr std::size_t kKeys16 = 65536;

uint32_t float_bits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

float float_from_bits(uint32_t bits) {
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

// fp16 bit pattern of a float32 that fp16 represents exactly (-0 as +0); false otherwise (also for NaN/Inf).
inline bool half_if_exact(uint32_t bits, uint32_t& half) {
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t magnitude = bits & 0x7FFFFFFFu;
  if (magnitude >= 0x38800000u) {  // |x| >= 2^-14: the fp16 normal range up to 65504
    if (magnitude > 0x477FE000u || (magnitude & 0x1FFFu) != 0) return false;
    half = sign | ((magnitude - 0x38000000u) >> 13);
    return true;
  }
  if (magnitude == 0) {
    half = 0;
    return true;
  }
  // fp16 subnormals are multiples of 2^-24 below 2^-14; float32 subnormals are far smaller than 2^-24.
  const uint32_t exponent = magnitude >> 23;
  if (exponent < 103) return false;
  const uint32_t shift = 126 - exponent;
  const uint32_t significand = 0x800000u | (magnitude & 0x7FFFFFu);
  if ((significand & ((1u << shift) - 1)) != 0) return false;
  half = sign | (significand >> shift);
  return true;
}

// bf16 bit pattern of a finite float32 that bf16 represents exactly (-0 as +0).
inline bool bfloat_if_exact(uint32_t bits, uint32_t& bfloat) {
  if ((bits & 0xFFFFu) != 0) return false;
  bfloat = (bits == 0x80000000u) ? 0 : bits >> 16;
  return true;
}

// Sign-magnitude patterns mapped to unsigned keys in the order of their values.
inline uint32_t ordered_key16(uint32_t pattern) { return (pattern & 0x8000u) ? (~pattern & 0xFFFFu) : (pattern | 0x8000u); }
inline uint32_t pattern_from_key16(uint32_t key) { return (key & 0x8000u) ? (key & 0x7FFFu) : (~key & 0xFFFFu); }
inline uint32_t ordered_key32(uint32_t bits) { return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u); }
inline uint32_t bits_from_key32(uint32_t key) { return (key & 0x80000000u) ? (key & 0x7FFFFFFFu) : ~key; }

enum class KeyKind { kHalf, kBFloat, kFloat };

double value_of_key(KeyKind kind, uint32_t key) {
  switch (kind) {
    case KeyKind::kHalf:
      return f16_to_f32(static_cast<uint16_t>(pattern_from_key16(key)));
    case KeyKind::kBFloat:
      return bf16_to_f32(static_cast<uint16_t>(pattern_from_key16(key)));
    case KeyKind::kFloat:
      return float_from_bits(bits_from_key32(key));
  }
  return 0;
}

uint32_t key_of(KeyKind kind, float x) {
  const uint32_t bits = float_bits(x);
  uint32_t pattern = 0;
  switch (kind) {
    case KeyKind::kHalf:
      half_if_exact(bits, pattern);
      return ordered_key16(pattern);
    case KeyKind::kBFloat:
      bfloat_if_exact(bits, pattern);
      return ordered_key16(pattern);
    case KeyKind::kFloat:
      return ordered_key32(bits == 0x80000000u ? 0u : bits);
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
    const uint32_t bits = float_bits(x[e]);
    uint32_t pattern = 0;
    all_half = all_half && half_if_exact(bits, pattern);
    all_bfloat = all_bfloat && bfloat_if_exact(bits, pattern);
  }
  return all_half ? KeyKind::kHalf : (all_bfloat ? KeyKind::kBFloat : KeyKind::kFloat);
}

// Per-thread bins, reused across blocks so that per-block work allocates nothing but the result.
struct Bins {
  std::vector<uint32_t> count = std::vector<uint32_t>(kKeys16);
  std::vector<double> weight = std::vector<double>(kKeys16);
};
Bins& thread_bins() {
  thread_local Bins bins;
  return bins;
}

// Writes each element's key into `inverse`, counts keys and sums sensitivities. With kHalf it gives up
// (returns false) at the first element fp16 cannot hold.
template <KeyKind kKind>
bool fill_bins(std::span<const float> x, std::span<const float> sensitivities, Bins& bins,
               std::vector<uint32_t>& inverse) {
  std::fill(bins.count.begin(), bins.count.end(), 0u);
  if (!sensitivities.empty()) std::fill(bins.weight.begin(), bins.weight.end(), 0.0);
  uint32_t* count = bins.count.data();
  for (std::size_t e = 0; e < x.size(); ++e) {
    uint32_t pattern = 0;
    if constexpr (kKind == KeyKind::kHalf) {
      if (!half_if_exact(float_bits(x[e]), pattern)) return false;
    } else {
      bfloat_if_exact(float_bits(x[e]), pattern);
    }
    const uint32_t key = ordered_key16(pattern);
    inverse[e] = key;
    ++count[key];
  }
  if (!sensitivities.empty()) {
    double* weight = bins.weight.data();
    for (std::size_t e = 0; e < x.size(); ++e) weight[inverse[e]] += sensitivities[e];
  }
  return true;
}

// Turns filled bins into the distinct values (ascending keys) and maps every element's key to its value.
void distinct_from_bins(KeyKind kind, bool weighted, Bins& bins, DistinctValues& out) {
  uint32_t distinct = 0;
  for (std::size_t key = 0; key < kKeys16; ++key) distinct += bins.count[key] != 0;
  out.values.reserve(distinct);
  out.weights.reserve(distinct);
  uint32_t id = 0;
  for (std::size_t key = 0; key < kKeys16; ++key) {
    if (bins.count[key] == 0) continue;
    out.values.push_back(value_of_key(kind, static_cast<uint32_t>(key)));
    out.weights.push_back(weighted ? bins.weight[key] : static_cast<double>(bins.count[key]));
    bins.count[key] = id++;
  }
  for (uint32_t& entry : out.inverse) entry = bins.count[entry];
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
                                        DistinctMethod method) {
  check(x.size() < std::numeric_limits<uint32_t>::max(), "reduce_to_distinct: a block of ", x.size(),
        " elements is more than 32-bit indices can address");
  validate_sensitivities(x, sensitivities);
  DistinctValues out;
  out.inverse.resize(x.size());
  const bool weighted = !sensitivities.empty();
  const bool histogram = method == DistinctMethod::kHistogram ||
                         (method == DistinctMethod::kAuto && x.size() >= kHistogramMinElements);
  if (histogram && fill_bins<KeyKind::kHalf>(x, sensitivities, thread_bins(), out.inverse)) {
    distinct_from_bins(KeyKind::kHalf, weighted, thread_bins(), out);
    return out;
  }
  const KeyKind kind = classify(x);
  if (histogram && kind == KeyKind::kBFloat) {
    fill_bins<KeyKind::kBFloat>(x, sensitivities, thread_bins(), out.inverse);
    distinct_from_bins(KeyKind::kBFloat, weighted, thread_bins(), out);
    return out;
  }
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
