// sum_in_four_lanes (src/tensor/lane_sums.hpp): the per-block means and error sums of the clustering and the
// 16-bit path. Its order is part of its contract (outputs and reports must not depend on anything else), so
// the sums are checked bit for bit against the four lanes written out, with and without SSE2's registers
// (every length leaves a different tail), and exactly on data whose partial sums are all exact.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tensor/lane_sums.hpp"

namespace palettize {
namespace {

template <int Power>
double four_lanes_written_out(const double* w, const double* x, double shift, std::size_t begin, std::size_t end) {
  double lane[4] = {};
  for (std::size_t i = begin; i < end; ++i) {
    const double d = x[i] - shift;
    const double t = Power == 0 ? 1.0 : (Power == 1 ? d : d * d);
    lane[(i - begin) % 4] += w == nullptr ? t : (Power == 0 ? w[i] : w[i] * t);
  }
  return (lane[0] + lane[1]) + (lane[2] + lane[3]);
}

TEST(LaneSums, AreTheFourLanesInTheirFixedOrderBitForBit) {
  std::mt19937 rng(5);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_int_distribution<int> count(0, 9);
  std::vector<double> x(64), w(64);
  for (double& v : x) v = 0.02 * normal(rng);
  for (double& v : w) v = count(rng);
  for (std::size_t begin = 0; begin < 5; ++begin) {
    for (std::size_t end = begin; end <= x.size(); ++end) {
      for (const double* weights : {static_cast<const double*>(w.data()), static_cast<const double*>(nullptr)}) {
        const double shift = x[begin % x.size()];
        EXPECT_EQ(sum_in_four_lanes<0>(weights, nullptr, 0, begin, end),
                  four_lanes_written_out<0>(weights, x.data(), 0, begin, end));
        EXPECT_EQ(sum_in_four_lanes<1>(weights, x.data(), shift, begin, end),
                  four_lanes_written_out<1>(weights, x.data(), shift, begin, end));
        EXPECT_EQ(sum_in_four_lanes<2>(weights, x.data(), shift, begin, end),
                  four_lanes_written_out<2>(weights, x.data(), shift, begin, end));
      }
    }
  }
}

TEST(LaneSums, AreExactWhereEveryPartialSumIs) {
  const std::vector<double> x = {1, 2, 3, 4, 5, 6, 7}, w = {1, 0, 2, 1, 3, 1, 2};
  EXPECT_EQ(sum_in_four_lanes<0>(w.data(), nullptr, 0, 0, 7), 10.0);
  EXPECT_EQ(sum_in_four_lanes<0>(nullptr, nullptr, 0, 2, 7), 5.0);
  EXPECT_EQ(sum_in_four_lanes<1>(w.data(), x.data(), 1.0, 0, 7), 0 + 0 + 4 + 3 + 12 + 5 + 12.0);
  EXPECT_EQ(sum_in_four_lanes<1>(nullptr, x.data(), 4.0, 0, 7), 0.0);
  EXPECT_EQ(sum_in_four_lanes<2>(w.data(), x.data(), 2.0, 1, 7), 0 + 2 + 4 + 27 + 16 + 50.0);
  EXPECT_EQ(sum_in_four_lanes<2>(nullptr, x.data(), 0.0, 0, 0), 0.0);
}

}  // namespace
}  // namespace palettize
