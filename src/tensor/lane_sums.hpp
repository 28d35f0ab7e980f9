// Sums of w[i] * (x[i] - shift)^Power in four lanes, for the per-block means and error sums.
#pragma once

#include <cstddef>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace palettize {
namespace lane_sums_detail {

template <int Power, bool Weighted>
double sum_in_four_lanes(const double* w, const double* x, double shift, std::size_t begin, std::size_t end) {
  static_assert(Power >= 0 && Power <= 2);
  const auto term = [&](std::size_t i) {
    if constexpr (Power == 0) {
      return Weighted ? w[i] : 1.0;
    } else {
      const double d = x[i] - shift;
      const double t = Power == 1 ? d : d * d;
      return Weighted ? w[i] * t : t;
    }
  };
  double lane[4] = {};
  std::size_t i = begin;
#if defined(__SSE2__)
  const __m128d shifts = _mm_set1_pd(shift);
  const auto terms = [&](std::size_t at) {  // terms at and at + 1, as term() computes them
    if constexpr (Power == 0) {
      return Weighted ? _mm_loadu_pd(w + at) : _mm_set1_pd(1.0);
    } else {
      const __m128d d = _mm_sub_pd(_mm_loadu_pd(x + at), shifts);
      const __m128d t = Power == 1 ? d : _mm_mul_pd(d, d);
      return Weighted ? _mm_mul_pd(_mm_loadu_pd(w + at), t) : t;
    }
  };
  __m128d low = _mm_setzero_pd(), high = _mm_setzero_pd();
  for (; i + 4 <= end; i += 4) {
    low = _mm_add_pd(low, terms(i));
    high = _mm_add_pd(high, terms(i + 2));
  }
  _mm_storeu_pd(lane, low);
  _mm_storeu_pd(lane + 2, high);
#endif
  for (; i < end; ++i) lane[(i - begin) % 4] += term(i);
  return (lane[0] + lane[1]) + (lane[2] + lane[3]);
}

}  // namespace lane_sums_detail

// The sum over [begin, end) of w[i] * (x[i] - shift)^Power (Power 0, 1 or 2; x unused for 0; w null: every
// weight 1). Term i adds to lane (i - begin) % 4 and the lanes are added last, (0 + 1) + (2 + 3): with one
// running sum every step waited on the one before, and GCC does not vectorise the lanes itself, so SSE2 holds
// two lanes per register. The order is fixed, so the sum depends on nothing but its input.
template <int Power>
double sum_in_four_lanes(const double* w, const double* x, double shift, std::size_t begin, std::size_t end) {
  return w != nullptr ? lane_sums_detail::sum_in_four_lanes<Power, true>(w, x, shift, begin, end)
                      : lane_sums_detail::sum_in_four_lanes<Power, false>(w, x, shift, begin, end);
}

}  // namespace palettize
