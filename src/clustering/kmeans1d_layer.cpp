// The inner loop of the 1-D k-means DP: the best split for one row over a contiguous range of splits.
// Almost all of the DP's time is spent here, so it has an AVX2 version chosen at run time; it performs the
// scalar version's IEEE operations lane by lane (no FMA), so both return bit-identical choices.
#include <cstddef>
#include <cstdint>

#include "clustering/kmeans1d_internal.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PALETTIZE_KMEANS1D_AVX2 1
#endif

namespace palettize::kmeans1d_detail {
namespace {

struct RowSums {
  double weight, first, second;
};

SplitChoice best_split_scalar(const RangeCost& cost, const double* prev, const RowSums& row, std::size_t lo,
                              std::size_t hi, SplitChoice best) {
  const double* w = cost.weight_prefix();
  const double* s1 = cost.first_prefix();
  const double* s2 = cost.second_prefix();
  for (std::size_t j = lo; j <= hi; ++j) {
    const double v = prev[j] + cost_from_sums(row.weight - w[j], row.first - s1[j], row.second - s2[j]);
    if (v < best.value) best = {v, static_cast<uint32_t>(j)};
  }
  return best;
}

#ifdef PALETTIZE_KMEANS1D_AVX2
// Four splits per step; each lane keeps its own leftmost minimum, and the lanes are merged by value, then by
// split index, which yields the leftmost minimum of the whole range. Returns the first split not scanned.
__attribute__((target("avx2"))) std::size_t best_split_avx2(const RangeCost& cost, const double* prev,
                                                            const RowSums& row, std::size_t lo, std::size_t hi,
                                                            SplitChoice& best) {
  const double* w = cost.weight_prefix();
  const double* s1 = cost.first_prefix();
  const double* s2 = cost.second_prefix();
  const __m256d row_weight = _mm256_set1_pd(row.weight);
  const __m256d row_first = _mm256_set1_pd(row.first);
  const __m256d row_second = _mm256_set1_pd(row.second);
  const __m256d floor = _mm256_set1_pd(kWeightFloor);
  const __m256d zero = _mm256_setzero_pd();
  const __m256d step = _mm256_set1_pd(4.0);
  const double lo_d = static_cast<double>(lo);
  __m256d index = _mm256_setr_pd(lo_d, lo_d + 1, lo_d + 2, lo_d + 3);
  __m256d best_value = _mm256_set1_pd(kInfinity);
  __m256d best_index = index;
  std::size_t j = lo;
  for (; j + 3 <= hi; j += 4) {
    const __m256d weight = _mm256_sub_pd(row_weight, _mm256_loadu_pd(w + j));
    const __m256d first = _mm256_sub_pd(row_first, _mm256_loadu_pd(s1 + j));
    const __m256d second = _mm256_sub_pd(row_second, _mm256_loadu_pd(s2 + j));
    const __m256d divisor = _mm256_max_pd(weight, floor);  // weight > floor ? weight : floor
    const __m256d quotient = _mm256_div_pd(_mm256_mul_pd(first, first), divisor);
    const __m256d range_cost = _mm256_max_pd(_mm256_sub_pd(second, quotient), zero);  // cost > 0 ? cost : 0
    const __m256d value = _mm256_add_pd(_mm256_loadu_pd(prev + j), range_cost);
    const __m256d better = _mm256_cmp_pd(value, best_value, _CMP_LT_OQ);
    best_value = _mm256_blendv_pd(best_value, value, better);
    best_index = _mm256_blendv_pd(best_index, index, better);
    index = _mm256_add_pd(index, step);
  }
  alignas(32) double lane_value[4];
  alignas(32) double lane_index[4];
  _mm256_store_pd(lane_value, best_value);
  _mm256_store_pd(lane_index, best_index);
  for (int lane = 0; lane < 4; ++lane) {
    const uint32_t split = static_cast<uint32_t>(lane_index[lane]);
    if (lane_value[lane] < best.value || (lane_value[lane] == best.value && split < best.split)) {
      best = {lane_value[lane], split};
    }
  }
  return j;
}

bool cpu_has_avx2() {
  static const bool has_avx2 = __builtin_cpu_supports("avx2");
  return has_avx2;
}
#endif

}  // namespace

SplitChoice best_split(const RangeCost& cost, const double* prev, std::size_t row, std::size_t lo, std::size_t hi,
                       bool allow_simd) {
  const RowSums sums{cost.weight_prefix()[row], cost.first_prefix()[row], cost.second_prefix()[row]};
  SplitChoice best{kInfinity, static_cast<uint32_t>(lo)};
  std::size_t next = lo;
#ifdef PALETTIZE_KMEANS1D_AVX2
  constexpr std::size_t kMinSimdRange = 8;
  if (allow_simd && hi - lo + 1 >= kMinSimdRange && cpu_has_avx2()) {
    next = best_split_avx2(cost, prev, sums, lo, hi, best);
  }
#else
  (void)allow_simd;
#endif
  return best_split_scalar(cost, prev, sums, next, hi, best);
}

}  // namespace palettize::kmeans1d_detail
