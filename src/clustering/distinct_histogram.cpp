// The histogram path of reduce_to_distinct: blocks whose values all fit fp16 (or bf16) exactly are reduced
// with a 65 536-bin histogram over the order-preserving 16-bit key, in two linear passes and no sort:
// pass 1 counts keys (and sums sensitivities), pass 2 recomputes each key and writes its distinct index.
// Both passes have an AVX2+F16C version, chosen at run time, that computes the same keys 8 at a time.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "clustering/distinct_internal.hpp"
#include "clustering/float_keys.hpp"
#include "tensor/cpu_features.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PALETTIZE_DISTINCT_AVX2 1
#endif

namespace palettize::distinct_detail {
namespace {

using float_keys::KeyKind;

constexpr std::size_t kBins = 65536;

// Per-thread bins, reused across blocks so that per-block work allocates nothing but the result.
struct Bins {
  std::vector<uint32_t> count = std::vector<uint32_t>(kBins);  // then, after pass 1, the distinct index
  std::vector<double> weight = std::vector<double>(kBins);
};

Bins& thread_bins() {
  thread_local Bins bins;
  return bins;
}

template <KeyKind kKind>
bool key16_if_exact(float x, uint32_t& key) {
  uint32_t pattern = 0;
  const uint32_t bits = float_keys::float_bits(x);
  const bool exact = kKind == KeyKind::kHalf ? float_keys::half_if_exact(bits, pattern)
                                             : float_keys::bfloat_if_exact(bits, pattern);
  key = float_keys::ordered_key16(pattern);
  return exact;
}

// Elements [begin, end): false at the first value the format cannot hold.
template <KeyKind kKind>
bool count_keys_scalar(std::span<const float> x, std::span<const float> sensitivities, Bins& bins,
                       std::size_t begin) {
  for (std::size_t e = begin; e < x.size(); ++e) {
    uint32_t key;
    if (!key16_if_exact<kKind>(x[e], key)) return false;
    ++bins.count[key];
    if (!sensitivities.empty()) bins.weight[key] += sensitivities[e];
  }
  return true;
}

template <KeyKind kKind>
void map_keys_scalar(std::span<const float> x, const uint32_t* index_of_key, uint32_t* inverse, std::size_t begin) {
  for (std::size_t e = begin; e < x.size(); ++e) {
    uint32_t key;
    key16_if_exact<kKind>(x[e], key);
    inverse[e] = index_of_key[key];
  }
}

#ifdef PALETTIZE_DISTINCT_AVX2
#define PALETTIZE_F16C_INLINE __attribute__((target("avx2,f16c"), always_inline)) inline

// The sign-magnitude 16-bit patterns of 8 values -> their ordered keys in 32-bit lanes, -0 as +0.
PALETTIZE_F16C_INLINE __m256i ordered_keys(__m128i pattern) {
  const __m128i minus_zero = _mm_set1_epi16(static_cast<int16_t>(0x8000));
  pattern = _mm_andnot_si128(_mm_cmpeq_epi16(pattern, minus_zero), pattern);
  const __m128i negative = _mm_srai_epi16(pattern, 15);
  const __m128i flip = _mm_or_si128(_mm_and_si128(negative, _mm_set1_epi16(0x7FFF)), minus_zero);
  return _mm256_cvtepu16_epi32(_mm_xor_si128(pattern, flip));
}

// Keys of x[0..8); `inexact` gets a bit for every lane the format cannot hold (NaN and Inf included).
template <KeyKind kKind>
PALETTIZE_F16C_INLINE __m256i keys8(const float* x, int& inexact) {
  const __m256 v = _mm256_loadu_ps(x);
  if constexpr (kKind == KeyKind::kHalf) {
    const __m128i half = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 magnitude = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
    const __m256 exact = _mm256_and_ps(_mm256_cmp_ps(_mm256_cvtph_ps(half), v, _CMP_EQ_OQ),
                                       _mm256_cmp_ps(magnitude, _mm256_set1_ps(65504.0f), _CMP_LE_OQ));
    inexact |= _mm256_movemask_ps(exact) ^ 0xFF;
    return ordered_keys(half);
  } else {
    const __m256i bits = _mm256_castps_si256(v);
    const __m256i low_zero = _mm256_cmpeq_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0xFFFF)), _mm256_setzero_si256());
    const __m256i exponent = _mm256_and_si256(bits, _mm256_set1_epi32(0x7F800000));
    const __m256i finite = _mm256_xor_si256(_mm256_cmpeq_epi32(exponent, _mm256_set1_epi32(0x7F800000)),
                                            _mm256_set1_epi32(-1));
    inexact |= _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_and_si256(low_zero, finite))) ^ 0xFF;
    const __m256i high = _mm256_srli_epi32(bits, 16);
    const __m128i pattern = _mm_packus_epi32(_mm256_castsi256_si128(high), _mm256_extracti128_si256(high, 1));
    return ordered_keys(pattern);
  }
}

template <KeyKind kKind>
__attribute__((target("avx2,f16c"))) bool count_keys_avx2(std::span<const float> x,
                                                            std::span<const float> sensitivities, Bins& bins) {
  alignas(32) uint32_t keys[8];
  uint32_t* count = bins.count.data();
  double* weight = bins.weight.data();
  const std::size_t vector_end = x.size() / 8 * 8;
  for (std::size_t e = 0; e < vector_end; e += 8) {
    int inexact = 0;
    _mm256_store_si256(reinterpret_cast<__m256i*>(keys), keys8<kKind>(x.data() + e, inexact));
    if (inexact != 0) return false;
    for (int lane = 0; lane < 8; ++lane) ++count[keys[lane]];
    if (!sensitivities.empty()) {
      for (int lane = 0; lane < 8; ++lane) weight[keys[lane]] += sensitivities[e + lane];
    }
  }
  return count_keys_scalar<kKind>(x, sensitivities, bins, vector_end);
}

template <KeyKind kKind>
__attribute__((target("avx2,f16c"))) void map_keys_avx2(std::span<const float> x, const uint32_t* index_of_key,
                                                          uint32_t* inverse) {
  const std::size_t vector_end = x.size() / 8 * 8;
  for (std::size_t e = 0; e < vector_end; e += 8) {
    int inexact = 0;
    const __m256i keys = keys8<kKind>(x.data() + e, inexact);
    const __m256i index = _mm256_i32gather_epi32(reinterpret_cast<const int*>(index_of_key), keys, 4);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(inverse + e), index);
  }
  map_keys_scalar<kKind>(x, index_of_key, inverse, vector_end);
}

#endif

double value_of_key16(KeyKind kind, uint32_t key) {
  const uint32_t pattern = float_keys::pattern_from_key16(key);
  return kind == KeyKind::kHalf ? float_keys::half_to_float(pattern) : float_keys::bfloat_to_float(pattern);
}

// Distinct values in ascending key order; bins.count becomes the map from key to distinct index.
void distinct_from_bins(KeyKind kind, bool weighted, Bins& bins, DistinctValues& out) {
  std::size_t distinct = 0;
  for (std::size_t key = 0; key < kBins; ++key) distinct += bins.count[key] != 0;
  out.values.reserve(distinct);
  out.weights.reserve(distinct);
  uint32_t index = 0;
  for (std::size_t key = 0; key < kBins; ++key) {
    if (bins.count[key] == 0) continue;
    out.values.push_back(value_of_key16(kind, static_cast<uint32_t>(key)));
    out.weights.push_back(weighted ? bins.weight[key] : static_cast<double>(bins.count[key]));
    bins.count[key] = index++;
  }
}

template <KeyKind kKind>
bool count_keys(std::span<const float> x, std::span<const float> sensitivities, Bins& bins, bool simd) {
#ifdef PALETTIZE_DISTINCT_AVX2
  if (simd) return count_keys_avx2<kKind>(x, sensitivities, bins);
#endif
  (void)simd;
  return count_keys_scalar<kKind>(x, sensitivities, bins, 0);
}

template <KeyKind kKind>
void map_keys(std::span<const float> x, const uint32_t* index_of_key, uint32_t* inverse, bool simd) {
#ifdef PALETTIZE_DISTINCT_AVX2
  if (simd) return map_keys_avx2<kKind>(x, index_of_key, inverse);
#endif
  (void)simd;
  map_keys_scalar<kKind>(x, index_of_key, inverse, 0);
}

template <KeyKind kKind>
bool reduce_with_bins(std::span<const float> x, std::span<const float> sensitivities, DistinctValues& out,
                      bool simd) {
  Bins& bins = thread_bins();
  std::fill(bins.count.begin(), bins.count.end(), 0u);
  if (!sensitivities.empty()) std::fill(bins.weight.begin(), bins.weight.end(), 0.0);
  if (!count_keys<kKind>(x, sensitivities, bins, simd)) return false;
  distinct_from_bins(kKind, !sensitivities.empty(), bins, out);
  out.inverse.resize(x.size());
  map_keys<kKind>(x, bins.count.data(), out.inverse.data(), simd);
  return true;
}

}  // namespace

bool reduce_by_histogram(std::span<const float> x, std::span<const float> sensitivities, DistinctValues& out,
                         bool allow_simd) {
  // bf16 first: fp16 blocks fail it at once (their values use more mantissa bits), while bf16 blocks can
  // look like fp16 for a long time before a tiny value does not fit.
  bool simd = false;
#ifdef PALETTIZE_DISTINCT_AVX2
  simd = allow_simd && cpu_has_avx2_f16c();
#endif
  (void)allow_simd;
  return reduce_with_bins<KeyKind::kBFloat>(x, sensitivities, out, simd) ||
         reduce_with_bins<KeyKind::kHalf>(x, sensitivities, out, simd);
}

}  // namespace palettize::distinct_detail
