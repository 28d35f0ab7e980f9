// One layer of the 1-D k-means DP by divide and conquer, where almost all of the solver's time goes.
//
// Two things keep it fast. The rows are solved level by level (strides 2^m, ..., 2, 1) instead of
// recursively: a row's bounds come only from coarser levels, so the scans of one level do not wait on each
// other's divisions. And the scan over a row's candidate splits has an AVX2 version, chosen at run time,
// that performs the scalar version's IEEE operations lane by lane (no FMA), so both pick bit-identical splits.
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "clustering/kmeans1d_internal.hpp"
#include "tensor/cpu_features.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PALETTIZE_KMEANS1D_AVX2 1
#endif

namespace palettize::kmeans1d_detail {
namespace {

// Leftmost split j in [lo, hi] minimising prev[j] + cost(j, row), and that value.
struct SplitChoice {
  double value;
  uint32_t split;
};

struct ScanScalar {
  SplitChoice operator()(const RangeCost& cost, const double* prev, std::size_t row, std::size_t lo,
                         std::size_t hi) const {
    const double* w = cost.weight_prefix();
    const double* s1 = cost.first_prefix();
    const double* s2 = cost.second_prefix();
    const double row_weight = w[row], row_first = s1[row], row_second = s2[row];
    SplitChoice best{kInfinity, static_cast<uint32_t>(lo)};
    for (std::size_t j = lo; j <= hi; ++j) {
      const double v = prev[j] + cost_from_sums(row_weight - w[j], row_first - s1[j], row_second - s2[j]);
      const bool better = v < best.value;  // written to compile branch-free
      best.value = better ? v : best.value;
      best.split = better ? static_cast<uint32_t>(j) : best.split;
    }
    return best;
  }
};

template <class Scan>
std::size_t solve_levels(const RangeCost& cost, const LayerTask& task, const Scan& scan) {
  const std::size_t rows = task.row_end - task.row_begin + 1;
  const std::size_t max_split = std::min(task.row_end - 1, task.split_end);
  uint32_t* split = task.split;
  // Sentinels around the rows: the smallest and the largest split any row can take.
  split[task.row_begin - 1] = static_cast<uint32_t>(std::max(task.c - 1, task.split_begin));
  split[task.row_end + 1] = static_cast<uint32_t>(max_split);
  // Offset of the first row found above task.prune_above; the rows past it are never solved, and a row
  // whose right neighbour lies past it takes max_split as its upper bound.
  std::size_t pruned = rows;
  for (std::size_t stride = std::bit_floor(rows); stride > 0; stride /= 2) {
    for (std::size_t t = stride - 1; t < pruned; t += 2 * stride) {
      const std::size_t row = task.row_begin + t;
      const std::size_t right_t = std::min(t + stride, rows);
      const std::size_t left = split[row - stride];
      const std::size_t right = right_t > pruned ? max_split : split[task.row_begin + right_t];
      const std::size_t hi = std::min(right, row - 1);
      // The bound from layer c-1 can pass the same-layer bound only through rounding; then the latter wins.
      const std::size_t lo = std::min<std::size_t>(std::max<std::size_t>(left, task.prev_split[row]), hi);
      const SplitChoice choice = scan(cost, task.prev, row, lo, hi);
      task.cur[row] = choice.value;
      split[row] = choice.split;
      if (choice.value > task.prune_above) {
        pruned = t;
        break;
      }
    }
  }
  const std::size_t last = task.row_begin + std::min(pruned, rows - 1);
  std::fill(split + last + 1, split + task.row_end + 2, split[last]);
  return last;
}

#ifdef PALETTIZE_KMEANS1D_AVX2
#define PALETTIZE_AVX2_INLINE __attribute__((target("avx2"), always_inline)) inline

// The values prev[j..j+4) + cost(j.., row), lane by lane as cost_from_sums computes them.
struct Avx2Row {
  __m256d weight, first, second;
};

PALETTIZE_AVX2_INLINE __m256d values_at(const RangeCost& cost, const double* prev, const Avx2Row& row,
                                        std::size_t j) {
  const __m256d weight = _mm256_sub_pd(row.weight, _mm256_loadu_pd(cost.weight_prefix() + j));
  const __m256d first = _mm256_sub_pd(row.first, _mm256_loadu_pd(cost.first_prefix() + j));
  const __m256d second = _mm256_sub_pd(row.second, _mm256_loadu_pd(cost.second_prefix() + j));
  const __m256d divisor = _mm256_max_pd(weight, _mm256_set1_pd(kWeightFloor));  // weight > floor ? weight : floor
  const __m256d quotient = _mm256_div_pd(_mm256_mul_pd(first, first), divisor);
  const __m256d range_cost = _mm256_max_pd(_mm256_sub_pd(second, quotient), _mm256_setzero_pd());  // cost > 0 ? cost : 0
  return _mm256_add_pd(_mm256_loadu_pd(prev + j), range_cost);
}

// Per-lane leftmost minimum: a lane takes a value only when strictly smaller.
struct Avx2Best {
  __m256d value, index;
};

PALETTIZE_AVX2_INLINE void keep_better(Avx2Best& best, __m256d value, __m256d index) {
  const __m256d better = _mm256_cmp_pd(value, best.value, _CMP_LT_OQ);
  best.value = _mm256_blendv_pd(best.value, value, better);
  best.index = _mm256_blendv_pd(best.index, index, better);
}

// Lane by lane, the smaller value of two running minima, the smaller split among equal values.
PALETTIZE_AVX2_INLINE Avx2Best merged(const Avx2Best& a, const Avx2Best& b) {
  const __m256d b_first = _mm256_or_pd(
      _mm256_cmp_pd(b.value, a.value, _CMP_LT_OQ),
      _mm256_and_pd(_mm256_cmp_pd(b.value, a.value, _CMP_EQ_OQ), _mm256_cmp_pd(b.index, a.index, _CMP_LT_OQ)));
  return {_mm256_blendv_pd(a.value, b.value, b_first), _mm256_blendv_pd(a.index, b.index, b_first)};
}

// The lane with the smallest value, the smallest split among equal values; branch-free, as the outcome of
// these comparisons is unpredictable.
PALETTIZE_AVX2_INLINE SplitChoice leftmost_minimum(const Avx2Best& best) {
  __m256d min_value = _mm256_min_pd(best.value, _mm256_permute_pd(best.value, 0b0101));
  min_value = _mm256_min_pd(min_value, _mm256_permute2f128_pd(min_value, min_value, 0x01));
  const __m256d at_min = _mm256_cmp_pd(best.value, min_value, _CMP_EQ_OQ);
  __m256d index = _mm256_blendv_pd(_mm256_set1_pd(kInfinity), best.index, at_min);
  index = _mm256_min_pd(index, _mm256_permute_pd(index, 0b0101));
  index = _mm256_min_pd(index, _mm256_permute2f128_pd(index, index, 0x01));
  return {_mm256_cvtsd_f64(min_value), static_cast<uint32_t>(_mm256_cvtsd_f64(index))};
}

// Four splits per step; lanes past hi (the last step may read up to RangeCost::kPadding entries beyond it)
// are set to +inf. Merging the lanes by value, then by split, gives the leftmost minimum of the range.
struct ScanAvx2 {
  __attribute__((target("avx2"))) SplitChoice operator()(const RangeCost& cost, const double* prev,
                                                         std::size_t row, std::size_t lo, std::size_t hi) const {
    const Avx2Row sums{_mm256_set1_pd(cost.weight_prefix()[row]), _mm256_set1_pd(cost.first_prefix()[row]),
                       _mm256_set1_pd(cost.second_prefix()[row])};
    const std::size_t count = hi - lo + 1;
    if (count == 1) return ScanScalar{}(cost, prev, row, lo, hi);  // forced split: no lanes to reduce
    const __m256d infinity = _mm256_set1_pd(kInfinity);
    if (count <= 4) {  // most rows: one step, and the lowest lane holding the minimum is the leftmost split
      const __m256d values = _mm256_blendv_pd(infinity, values_at(cost, prev, sums, lo), first_lanes(count));
      __m256d min_value = _mm256_min_pd(values, _mm256_permute_pd(values, 0b0101));
      min_value = _mm256_min_pd(min_value, _mm256_permute2f128_pd(min_value, min_value, 0x01));
      const int at_min = _mm256_movemask_pd(_mm256_cmp_pd(values, min_value, _CMP_EQ_OQ));
      return {_mm256_cvtsd_f64(min_value), static_cast<uint32_t>(lo + std::countr_zero(static_cast<unsigned>(at_min)))};
    }
    const __m256d step = _mm256_set1_pd(4.0), double_step = _mm256_set1_pd(8.0);
    __m256d index = _mm256_add_pd(_mm256_set1_pd(static_cast<double>(lo)), _mm256_setr_pd(0, 1, 2, 3));
    // Two running minima, of steps j and j + 4: each keep_better waits on the last one of its own chain
    // (compare, then blend), so one chain made wide rows wait on it (12 % of a 2-bit g16 run).
    Avx2Best best{infinity, index}, next{infinity, _mm256_add_pd(index, step)};
    std::size_t j = lo;
    for (; j + 7 <= hi; j += 8) {
      keep_better(best, values_at(cost, prev, sums, j), index);
      keep_better(next, values_at(cost, prev, sums, j + 4), _mm256_add_pd(index, step));
      index = _mm256_add_pd(index, double_step);
    }
    for (; j + 3 <= hi; j += 4) {
      keep_better(best, values_at(cost, prev, sums, j), index);
      index = _mm256_add_pd(index, step);
    }
    if (j <= hi) {
      keep_better(best, _mm256_blendv_pd(infinity, values_at(cost, prev, sums, j), first_lanes(hi - j + 1)), index);
    }
    return leftmost_minimum(merged(best, next));
  }

 private:
  // All-ones in the first `count` (1..4) lanes.
  __attribute__((target("avx2"))) static __m256d first_lanes(std::size_t count) {
    static constexpr int64_t kOnesThenZeros[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
    return _mm256_castsi256_pd(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kOnesThenZeros + 4 - count)));
  }
};

// flatten: the level loop and the scan are inlined here and compiled for AVX2 as one piece.
__attribute__((target("avx2"), flatten)) std::size_t solve_levels_avx2(const RangeCost& cost,
                                                                        const LayerTask& task) {
  return solve_levels(cost, task, ScanAvx2{});
}

#endif

}  // namespace

std::size_t solve_rows_divide_conquer(const RangeCost& cost, const LayerTask& task, bool allow_simd) {
#ifdef PALETTIZE_KMEANS1D_AVX2
  if (allow_simd && cpu_has_avx2()) return solve_levels_avx2(cost, task);
#else
  (void)allow_simd;
#endif
  return solve_levels(cost, task, ScanScalar{});
}

}  // namespace palettize::kmeans1d_detail
