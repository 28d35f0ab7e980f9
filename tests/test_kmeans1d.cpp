// Exact weighted 1-D k-means: the reference's oracle values (§3.4), brute-force optimality on random
// blocks, the row-minima solvers against a naive scan, the DP pieces, and input validation.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "clustering/kmeans1d_internal.hpp"
#include "palettize/clustering.hpp"
#include "palettize/error.hpp"

namespace palettize {
namespace {

using namespace kmeans1d_detail;

// More random blocks per property than rapidcheck's default 100 (an explicit RC_PARAMS still wins).
const bool kMoreCases = [] { return setenv("RC_PARAMS", "max_success=400", 0) == 0; }();

const std::vector<int> kAllLutSizes = {2, 4, 8, 16, 64, 256};  // n_bits 1, 2, 3, 4, 6, 8

// ----- helpers ------------------------------------------------------------------------------------------

struct Points {
  std::vector<double> values, weights;  // sorted distinct values and their summed weights
  std::vector<uint32_t> inverse;        // per original point
};

Points merge_points(const std::vector<double>& x, const std::vector<double>& w) {
  std::map<double, double> weight_of;
  for (std::size_t i = 0; i < x.size(); ++i) weight_of[x[i]] += w[i];
  Points p;
  std::map<double, uint32_t> id;
  for (const auto& [v, weight] : weight_of) {
    id[v] = static_cast<uint32_t>(p.values.size());
    p.values.push_back(v);
    p.weights.push_back(weight);
  }
  for (const double v : x) p.inverse.push_back(id[v]);
  return p;
}

struct PointClustering {
  std::vector<double> centroids;
  std::vector<uint32_t> labels;  // per original point
  double sse;
};

PointClustering cluster_points(const std::vector<double>& x, const std::vector<double>& w, int k) {
  const Points p = merge_points(x, w);
  const ScalarClustering c = cluster_1d_optimal(p.values, p.weights, k);
  PointClustering out{c.centroids, {}, c.sse};
  for (const uint32_t id : p.inverse) out.labels.push_back(c.labels[id]);
  return out;
}

// SSE of one contiguous group, directly, in long double.
long double group_sse(const std::vector<double>& v, const std::vector<double>& w, std::size_t b, std::size_t e) {
  long double total = 0, sum = 0;
  for (std::size_t i = b; i < e; ++i) {
    total += w[i];
    sum += static_cast<long double>(w[i]) * v[i];
  }
  if (total <= 0) return 0;
  const long double mean = sum / total;
  long double sse = 0;
  for (std::size_t i = b; i < e; ++i) sse += w[i] * (v[i] - mean) * (v[i] - mean);
  return sse;
}

// Every partition of the sorted values into at most k contiguous groups.
double brute_force_sse(const std::vector<double>& v, const std::vector<double>& w, int k) {
  const std::size_t n = v.size();
  if (static_cast<std::size_t>(k) >= n) return 0;
  long double best = std::numeric_limits<long double>::infinity();
  for (uint32_t cuts = 0; cuts < (1u << (n - 1)); ++cuts) {
    if (std::popcount(cuts) > k - 1) continue;
    long double sse = 0;
    std::size_t begin = 0;
    for (std::size_t i = 1; i <= n; ++i) {
      if (i == n || (cuts >> (i - 1)) & 1u) {
        sse += group_sse(v, w, begin, i);
        begin = i;
      }
    }
    best = std::min(best, sse);
  }
  return static_cast<double>(best);
}

// Rounding in the DP's prefix sums is bounded by a few ulps of the total (centered) SSE: the slack.
double tolerance(double expected, double total_sse) { return 1e-9 * expected + 1e-12 * total_sse; }

// The same, plus the rounding of a centroid (about one ulp of the values) squared and weighted: an SSE that
// is exactly 0 (one weighted value beside zero-weight ones) comes out near 1e-35 from a centroid computed as
// first value + mean offset, and a relative tolerance alone would call that a mismatch.
double tolerance(double expected, double total_sse, const std::vector<double>& values,
                 const std::vector<double>& weights) {
  double weighted_squares = 0;
  for (std::size_t i = 0; i < values.size(); ++i) weighted_squares += weights[i] * values[i] * values[i];
  return tolerance(expected, total_sse) + 1e-28 * weighted_squares;
}

void expect_well_formed(const ScalarClustering& c, const std::vector<double>& v, const std::vector<double>& w, int k) {
  const std::size_t k_eff = std::min<std::size_t>(k, v.size());
  ASSERT_EQ(c.centroids.size(), k_eff);
  ASSERT_EQ(c.labels.size(), v.size());
  for (std::size_t t = 1; t < k_eff; ++t) EXPECT_LT(c.centroids[t - 1], c.centroids[t]);
  EXPECT_EQ(c.labels.front(), 0u);
  EXPECT_EQ(c.labels.back(), k_eff - 1);
  double sse = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i > 0) {
      EXPECT_GE(c.labels[i], c.labels[i - 1]);
      EXPECT_LE(c.labels[i] - c.labels[i - 1], 1u) << "clusters must be contiguous and non-empty";
    }
    sse += w[i] * (v[i] - c.centroids[c.labels[i]]) * (v[i] - c.centroids[c.labels[i]]);
  }
  EXPECT_NEAR(c.sse, sse, 1e-12 * std::max(1.0, sse));
}

ScalarClustering cluster(const std::vector<double>& v, const std::vector<double>& w, int k) {
  return cluster_1d_optimal(v, w, k);
}

// ----- oracle values of the reference's kmeans1d (§3.4) ---------------------------------------------------

const std::vector<double> kOracleX = {4, 4.1, 4.2, -50, 200.2, 200.4, 200.9, 80, 100, 102};

TEST(Kmeans1dOracle, Unweighted) {
  const PointClustering c = cluster_points(kOracleX, std::vector<double>(10, 1.0), 4);
  EXPECT_EQ(c.labels, (std::vector<uint32_t>{1, 1, 1, 0, 3, 3, 3, 2, 2, 2}));
  const std::vector<double> expected = {-50, 4.1, 94, 200.5};
  for (int t = 0; t < 4; ++t) EXPECT_NEAR(c.centroids[t], expected[t], 1e-12);
}

TEST(Kmeans1dOracle, Weighted) {
  const PointClustering c = cluster_points(kOracleX, {1, 1, 1, .125, 4, 1, 1, 3, 2, 2}, 4);
  EXPECT_EQ(c.labels, (std::vector<uint32_t>{0, 0, 0, 0, 3, 3, 3, 1, 2, 2}));
  const std::vector<double> expected = {1.936, 80, 101, 200.35};
  for (int t = 0; t < 4; ++t) EXPECT_NEAR(c.centroids[t], expected[t], 1e-12);
}

TEST(Kmeans1dOracle, InertiaOfTwoClusters) {
  const PointClustering c = cluster_points({10, 24, 16, 12, 20}, {3, 1, 4, 2, 3}, 2);
  EXPECT_EQ(c.labels, (std::vector<uint32_t>{0, 1, 1, 0, 1}));
  EXPECT_NEAR(c.centroids[0], 10.8, 1e-12);
  EXPECT_NEAR(c.centroids[1], 18.5, 1e-12);
  EXPECT_NEAR(c.sse, 66.8, 1e-10);
}

TEST(Kmeans1dOracle, IntegerWeightsEqualRepetition) {
  const std::vector<double> x = {10, 24, 16, 12, 20};
  const std::vector<int> repeats = {3, 1, 4, 2, 3};
  std::vector<double> repeated;
  for (std::size_t i = 0; i < x.size(); ++i) repeated.insert(repeated.end(), repeats[i], x[i]);
  for (const int k : {1, 2, 3, 4}) {
    const PointClustering weighted = cluster_points(x, {3, 1, 4, 2, 3}, k);
    const PointClustering plain = cluster_points(repeated, std::vector<double>(repeated.size(), 1.0), k);
    EXPECT_EQ(weighted.centroids, plain.centroids) << "k = " << k;
    EXPECT_DOUBLE_EQ(weighted.sse, plain.sse) << "k = " << k;
  }
}

TEST(Kmeans1d, FewerValuesThanClustersGivesEveryValueItsCentroid) {
  const std::vector<double> v = {-1, 0.5, 7};
  const ScalarClustering c = cluster(v, {1, 0, 2}, 16);
  EXPECT_EQ(c.centroids, v);
  EXPECT_EQ(c.labels, (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(c.sse, 0.0);
}

TEST(Kmeans1d, ZeroWeightRangesCostNothingAndTakeThePlainMean) {
  // {0} | {10, 11} and {0, 10} | {11} both cost 0; the smallest split wins, leaving a weightless cluster.
  const ScalarClustering c = cluster({0, 10, 11}, {5, 0, 0}, 2);
  EXPECT_EQ(c.sse, 0.0);
  EXPECT_EQ(c.centroids, (std::vector<double>{0, 10.5}));
  EXPECT_EQ(c.labels, (std::vector<uint32_t>{0, 1, 1}));
  // A weightless value joins a weighted one at no cost, and the centroid ignores it.
  const ScalarClustering joined = cluster({0, 1, 10, 12}, {0, 0, 5, 5}, 2);
  EXPECT_EQ(joined.sse, 0.0);
  EXPECT_EQ(joined.centroids, (std::vector<double>{10, 12}));
  const ScalarClustering all_zero = cluster({1, 2, 4}, {0, 0, 0}, 1);
  EXPECT_DOUBLE_EQ(all_zero.centroids[0], 7.0 / 3.0);
  EXPECT_EQ(all_zero.sse, 0.0);
}

// ----- brute-force optimality on random blocks -------------------------------------------------------------

struct RandomBlock {
  std::vector<double> values, weights;
};

// Up to 12 distinct values of one of several shapes (small integers with ties, heavy tails, clustered),
// weights from counts of duplicates, optionally scaled by sensitivities that include zeros.
rc::Gen<RandomBlock> random_block() {
  return rc::gen::exec([] {
    const int shape = *rc::gen::inRange(0, 4);
    const int pool_size = *rc::gen::inRange(1, 13);
    std::vector<double> pool;
    for (int i = 0; i < pool_size; ++i) {
      switch (shape) {
        case 0:  // small integers: many exact ties between partitions
          pool.push_back(*rc::gen::inRange(-4, 5));
          break;
        case 1: {  // heavy tails: mantissa times a wide power of two
          const double m = *rc::gen::inRange(1, 2048);
          pool.push_back((*rc::gen::arbitrary<bool>() ? -1 : 1) * std::ldexp(m, *rc::gen::inRange(-20, 8)));
          break;
        }
        case 2:  // a few tight groups far apart
          pool.push_back(1000.0 * *rc::gen::inRange(0, 3) + 0.001 * *rc::gen::inRange(0, 50));
          break;
        default:  // fp16-like weights
          pool.push_back(std::ldexp(static_cast<double>(*rc::gen::inRange(-2047, 2048)), -14));
      }
    }
    const int n = *rc::gen::inRange(1, 40);
    const int weighting = *rc::gen::inRange(0, 3);
    std::vector<double> x, w;
    for (int e = 0; e < n; ++e) {
      x.push_back(pool[*rc::gen::inRange(0, pool_size)]);
      if (weighting == 0) w.push_back(1.0);
      if (weighting == 1) w.push_back(*rc::gen::element(0.0, 0.5, 1.0, 2.0, 7.0));
      if (weighting == 2) w.push_back(*rc::gen::inRange(0, 1000) / 10.0);
    }
    const Points p = merge_points(x, w);
    return RandomBlock{p.values, p.weights};
  });
}

RC_GTEST_PROP(Kmeans1dProperty, EqualsTheBruteForceOptimumForEveryLutSize, ()) {
  const RandomBlock b = *random_block();
  const double total = brute_force_sse(b.values, b.weights, 1);
  for (const int k : kAllLutSizes) {
    const ScalarClustering c = cluster_1d_optimal(b.values, b.weights, k);
    const double best = brute_force_sse(b.values, b.weights, k);
    RC_ASSERT(std::fabs(c.sse - best) <= tolerance(best, total, b.values, b.weights));
    RC_ASSERT(c.centroids.size() == std::min<std::size_t>(k, b.values.size()));
    if (static_cast<std::size_t>(k) >= b.values.size()) RC_ASSERT(c.sse == 0.0);
  }
  // Odd cluster counts too (the DP does not care about powers of two).
  const int k = *rc::gen::inRange(1, 13);
  const ScalarClustering c = cluster_1d_optimal(b.values, b.weights, k);
  const double best = brute_force_sse(b.values, b.weights, k);
  RC_ASSERT(std::fabs(c.sse - best) <= tolerance(best, total, b.values, b.weights));
}

RC_GTEST_PROP(Kmeans1dProperty, ResultIsWellFormed, ()) {
  const RandomBlock b = *random_block();
  const int k = *rc::gen::element(1, 2, 3, 4, 8, 16);
  const ScalarClustering c = cluster_1d_optimal(b.values, b.weights, k);
  const std::size_t k_eff = std::min<std::size_t>(k, b.values.size());
  RC_ASSERT(c.centroids.size() == k_eff);
  RC_ASSERT(c.labels.size() == b.values.size());
  RC_ASSERT(c.labels.front() == 0u && c.labels.back() == k_eff - 1);
  for (std::size_t t = 1; t < k_eff; ++t) RC_ASSERT(c.centroids[t - 1] < c.centroids[t]);
  for (std::size_t i = 1; i < b.values.size(); ++i) RC_ASSERT(c.labels[i] - c.labels[i - 1] <= 1u);
}

RC_GTEST_PROP(Kmeans1dProperty, CentroidsAloneAreTheFullClusteringsBitForBit, ()) {
  const RandomBlock b = *random_block();
  const int k = *rc::gen::element(1, 2, 3, 4, 8, 16, 64, 256);
  RC_ASSERT(optimal_centroids_1d(b.values, b.weights, k) == cluster_1d_optimal(b.values, b.weights, k).centroids);
}

RC_GTEST_PROP(Kmeans1dProperty, OptimalCostsMatchRunsPerClusterCount, ()) {
  const RandomBlock b = *random_block();
  const int k_max = *rc::gen::inRange(1, 20);
  const std::vector<double> costs = optimal_costs_1d(b.values, b.weights, k_max);
  RC_ASSERT(costs.size() == static_cast<std::size_t>(k_max));
  const double total = brute_force_sse(b.values, b.weights, 1);
  for (int k = 1; k <= k_max; ++k) {
    const double sse = cluster_1d_optimal(b.values, b.weights, k).sse;
    RC_ASSERT(std::fabs(costs[k - 1] - sse) <= tolerance(sse, total, b.values, b.weights));
    if (static_cast<std::size_t>(k) >= b.values.size()) RC_ASSERT(costs[k - 1] == 0.0);
  }
}

// The leftmost-split optimum of the full DP, every row solved.
std::vector<uint32_t> full_dp_bounds(const RangeCost& cost, std::size_t k) {
  SplitTable table(k, cost.size());
  run_dp(cost, k, &table, DpOptions{});
  return backtrack(table, cost.size(), k);
}

// The Lagrangian narrowing may give up (ties), but when it does not, the positions it keeps include every
// boundary of the full DP's optimum, and the DP on them reaches the same cost. Small integers make exact ties
// between partitions common; on those, which optimal partition comes out depends on how rounding breaks the
// tie in each DP, so the partitions themselves are compared only for real-valued weights (no ties).
// Up to 300 distinct values: small integers with equal weights (ties everywhere), or an integer grid with
// random integer weights, or fp16-like heavy tails.
rc::Gen<RandomBlock> larger_block() {
  return rc::gen::exec([] {
    const int shape = *rc::gen::inRange(0, 3);
    const int n = *rc::gen::inRange(3, 300);
    std::vector<double> x, w;
    for (int e = 0; e < n; ++e) {
      if (shape == 2) {
        x.push_back(std::ldexp(static_cast<double>(*rc::gen::inRange(-2047, 2048)), -14));
      } else {
        x.push_back(*rc::gen::inRange(-60, 61));
      }
      w.push_back(shape == 1 ? *rc::gen::inRange(0, 5) : 1.0);
    }
    const Points p = merge_points(x, w);
    return RandomBlock{p.values, p.weights};
  });
}

double partition_cost(const RangeCost& cost, const std::vector<uint32_t>& bounds) {
  double total = 0;
  for (std::size_t t = 0; t + 1 < bounds.size(); ++t) total += cost(bounds[t], bounds[t + 1]);
  return total;
}

// Up to 300 distinct real values with real weights: no two partitions cost the same.
rc::Gen<RandomBlock> real_valued_block() {
  return rc::gen::exec([] {
    const int n = *rc::gen::inRange(3, 300);
    std::vector<double> x, w;
    for (int e = 0; e < n; ++e) {
      x.push_back(*rc::gen::inRange(-1000000, 1000000) * 1.0123e-4);
      w.push_back(*rc::gen::inRange(1, 1000000) * 1.0e-3);
    }
    const Points p = merge_points(x, w);
    return RandomBlock{p.values, p.weights};
  });
}

RC_GTEST_PROP(Kmeans1dProperty, LagrangianBoundsReachTheFullDpOptimum, ()) {
  const bool real_weights = *rc::gen::arbitrary<bool>();
  const RandomBlock b = real_weights ? *real_valued_block() : *rc::gen::oneOf(random_block(), larger_block());
  if (b.values.size() < 3u) return;  // one cluster, or one per value
  const std::size_t n = b.values.size();
  const std::size_t k = *rc::gen::inRange<std::size_t>(2, n);
  const RangeCost cost(b.values, b.weights);
  const std::vector<uint32_t> full = full_dp_bounds(cost, k);
  const std::optional<std::vector<uint32_t>> bounds = lagrangian_bounds(cost, b.values, k);
  RC_CLASSIFY(bounds.has_value(), "solved by passes");
  if (!bounds) return;
  RC_ASSERT(bounds->size() == k + 1);
  RC_ASSERT(bounds->front() == 0u);
  RC_ASSERT(bounds->back() == n);
  RC_ASSERT(std::adjacent_find(bounds->begin(), bounds->end(), std::greater_equal<>()) == bounds->end());
  RC_ASSERT(lagrangian_bounds(cost, b.values, k, /*allow_simd=*/false) == bounds);
  const double total = cost(0, n);
  RC_ASSERT(std::fabs(partition_cost(cost, *bounds) - partition_cost(cost, full)) <=
            tolerance(partition_cost(cost, full), total, b.values, b.weights));
  if (real_weights) RC_ASSERT(*bounds == full);
}

// A pass at price lambda reaches min over m of (OPT(m) + lambda * m), with a count of ranges that attains it
// and a chain of parents that is a partition of that cost; the AVX2 comparisons change nothing, bit for bit.
RC_GTEST_PROP(Kmeans1dProperty, LagrangianPassesReachThePricedOptimumAndSimdMatchesScalar, ()) {
  const RandomBlock b = *rc::gen::oneOf(random_block(), larger_block(), real_valued_block());
  const std::size_t n = b.values.size();
  const RangeCost cost(b.values, b.weights);
  const double total = cost(0, n);
  if (!(total > 0)) return;
  const double lambda = std::ldexp(total, -*rc::gen::inRange(0, 24));
  const std::vector<double> optimum = run_dp(cost, n, nullptr, DpOptions{});  // OPT(m) for m = 1..n
  double expected = kInfinity;
  for (std::size_t m = 1; m <= n; ++m) expected = std::min(expected, optimum[m - 1] + lambda * static_cast<double>(m));
  const double slack = tolerance(expected, total, b.values, b.weights);
  PassBuffers simd, scalar;
  const std::size_t ranges = lagrangian_pass(cost, lambda, true, simd);
  RC_ASSERT(lagrangian_pass(cost, lambda, false, scalar) == ranges);
  RC_ASSERT(simd.best == scalar.best);
  RC_ASSERT(simd.parent == scalar.parent);
  RC_ASSERT(std::fabs(simd.best[n] - expected) <= slack);
  RC_ASSERT(ranges >= 1u && ranges <= n);
  RC_ASSERT(std::fabs(optimum[ranges - 1] + lambda * static_cast<double>(ranges) - expected) <= slack);
  std::vector<uint32_t> chain{static_cast<uint32_t>(n)};
  while (chain.back() != 0 && chain.size() <= n) chain.push_back(simd.parent[chain.back()]);
  RC_ASSERT(chain.size() == ranges + 1);
  std::reverse(chain.begin(), chain.end());
  RC_ASSERT(std::fabs(partition_cost(cost, chain) + lambda * static_cast<double>(ranges) - expected) <= slack);
}

// The pass's lean comparison (no division) gives the values' own answer wherever they do not tie to within
// rounding: on random blocks, at the best values of a real pass, for random splits o < i and rows r > i.
RC_GTEST_PROP(Kmeans1dProperty, LeanComparisonAgreesWithTheValuesAwayFromTies, ()) {
  const RandomBlock b = *rc::gen::oneOf(larger_block(), real_valued_block());
  const std::size_t n = b.values.size();
  if (n < 3) return;
  const RangeCost cost(b.values, b.weights);
  const double total = cost(0, n);
  if (!(total > 0)) return;
  const double lambda = std::ldexp(total, -*rc::gen::inRange(0, 24));
  RC_CLASSIFY(lean_comparisons_are_safe(cost, lambda), "lean");
  if (!lean_comparisons_are_safe(cost, lambda)) return;
  PassBuffers buffers;
  lagrangian_pass(cost, lambda, true, buffers);
  const std::vector<double>& best = buffers.best;
  for (int trial = 0; trial < 50; ++trial) {
    const std::size_t o = *rc::gen::inRange<std::size_t>(0, n - 1);
    const std::size_t i = *rc::gen::inRange<std::size_t>(o + 1, n);
    const std::size_t r = *rc::gen::inRange<std::size_t>(i + 1, n + 1);
    const double mine = best[i] + cost(i, r) + lambda, theirs = best[o] + cost(o, r) + lambda;
    const double x = (best[i] - best[o]) + (cost.second_prefix()[o] - cost.second_prefix()[i]);
    if (std::fabs(mine - theirs) <= 1e-9 * (std::fabs(mine) + std::fabs(theirs))) continue;
    RC_ASSERT(lean_takes_over(cost, x, i, o, r) == (mine < theirs));
  }
}

TEST(Kmeans1dLagrangian, LeanComparisonsOnlyWhereTheWeightsAllow) {
  const std::vector<double> values = {-3, -1.25, 0, 0.5, 2, 7, 7.5, 40};
  const double lambda = 1.0;
  EXPECT_TRUE(lean_comparisons_are_safe(RangeCost(values, std::vector<double>(8, 1.0)), lambda));  // counts
  std::vector<double> weights = {1, 0.5, 2, 3.5, 1, 1, 0.25, 2};
  EXPECT_TRUE(lean_comparisons_are_safe(RangeCost(values, weights), lambda));
  weights[3] = 0;  // a range of zero weight: the lean form would multiply by zero
  EXPECT_FALSE(lean_comparisons_are_safe(RangeCost(values, weights), lambda));
  weights[3] = 1e-13;  // below 2^-40 of the total: lost in the prefix sums
  EXPECT_FALSE(lean_comparisons_are_safe(RangeCost(values, weights), lambda));
  weights[3] = 3.5;
  EXPECT_FALSE(lean_comparisons_are_safe(RangeCost(values, std::vector<double>(8, 1e150)), lambda));  // overflow
  EXPECT_FALSE(lean_comparisons_are_safe(RangeCost(values, std::vector<double>(8, 1e-70)), lambda));  // underflow
  EXPECT_TRUE(lean_comparisons_are_safe(RangeCost(values, std::vector<double>(8, 1e-50)), lambda));
  EXPECT_FALSE(lean_comparisons_are_safe(RangeCost(values, weights), kInfinity));
  EXPECT_FALSE(lean_comparisons_are_safe(RangeCost({}, {}), lambda));
  // A block that compares its values as they are still reaches the DP's optimum.
  weights[3] = 0;
  const RangeCost exact_only(values, weights);
  const std::optional<std::vector<uint32_t>> bounds = lagrangian_bounds(exact_only, values, 3);
  ASSERT_TRUE(bounds.has_value());
  EXPECT_NEAR(partition_cost(exact_only, *bounds), partition_cost(exact_only, full_dp_bounds(exact_only, 3)),
              1e-12 * exact_only(0, values.size()));
}

TEST(Kmeans1dLagrangian, RestrictedCostsAreTheSameRangeCostsBitForBit) {
  const std::vector<double> values = {-3, -1.25, 0, 0.5, 2, 7, 7.5, 40}, weights = {1, 0, 2, 3.5, 1, 1, 0.25, 2};
  const RangeCost cost(values, weights);
  const std::vector<uint32_t> positions = {0, 2, 3, 6, 8};
  const RangeCost restricted = cost.restricted_to(positions);
  ASSERT_EQ(restricted.size(), 4u);
  for (std::size_t a = 0; a < positions.size(); ++a) {
    for (std::size_t b = a + 1; b < positions.size(); ++b) {
      EXPECT_EQ(restricted(a, b), cost(positions[a], positions[b])) << a << ", " << b;
    }
  }
  // The padding past the end repeats the last entry, as the SIMD scan expects.
  EXPECT_EQ(restricted.weight_prefix()[4 + RangeCost::kPadding], restricted.weight_prefix()[4]);
}

TEST(Kmeans1dLagrangian, SolvesLargeBlocksAsTheDpDoesTiesIncluded) {
  // Heavy-tailed values on a fine grid, counts as weights: the blocks optimal_bounds solves by passes for
  // k >= 8. At k = 256 their tails hold exactly tied partitions, which both take at the leftmost split.
  std::mt19937 rng(21);
  std::student_t_distribution<double> t(5.0);
  for (const std::size_t n : {4096u, 65536u}) {
    std::map<double, double> counts;
    for (std::size_t i = 0; i < n; ++i) counts[std::ldexp(std::nearbyint(std::ldexp(0.02 * t(rng), 18)), -18)] += 1;
    std::vector<double> values, weights;
    for (const auto& [value, count] : counts) {
      values.push_back(value);
      weights.push_back(count);
    }
    const RangeCost cost(values, weights);
    for (const std::size_t k : {8u, 16u, 64u, 256u}) {
      const std::optional<std::vector<uint32_t>> bounds = lagrangian_bounds(cost, values, k);
      ASSERT_TRUE(bounds.has_value()) << "n = " << n << ", k = " << k;
      const std::vector<uint32_t> full = full_dp_bounds(cost, k);
      EXPECT_EQ(*bounds, full) << "n = " << n << ", k = " << k;
      EXPECT_EQ(optimal_bounds(values, weights, k), full) << "n = " << n << ", k = " << k;
    }
  }
}

TEST(Kmeans1dLagrangian, CoarseGroupsAreFewNarrowAndKeepTheTails) {
  // Heavy-tailed values on a fine grid, as in the F16 rows the price search starts on groups of.
  std::mt19937 rng(5);
  std::student_t_distribution<double> t(5.0);
  std::set<double> distinct;
  for (int i = 0; i < 4096; ++i) distinct.insert(std::ldexp(std::nearbyint(std::ldexp(0.02 * t(rng), 14)), -14));
  const std::vector<double> values(distinct.begin(), distinct.end());
  const std::size_t n = values.size(), k = 16;
  const std::optional<std::vector<uint32_t>> groups = coarse_groups(values, k);
  ASSERT_TRUE(groups.has_value());
  const std::vector<uint32_t>& g = *groups;
  ASSERT_EQ(g.front(), 0u);
  ASSERT_EQ(g.back(), n);
  ASSERT_TRUE(std::adjacent_find(g.begin(), g.end(), std::greater_equal<>()) == g.end());
  const std::size_t count = g.size() - 1;
  EXPECT_LE(count, n / 8);
  EXPECT_GE(count, 2 * k);
  // Narrow: every group spans less than 16 / U of the range (groups of 8 values would span far more in the
  // tails), and the two values at either end, far apart there, are groups of their own.
  const double range = values.back() - values.front();
  for (std::size_t j = 0; j < count; ++j) EXPECT_LT(values[g[j + 1] - 1] - values[g[j]], 16 * range / n) << j;
  for (std::size_t j = 0; j <= 2; ++j) {
    EXPECT_EQ(g[j], j);
    EXPECT_EQ(g[count - j], n - j);
  }
  // Values bunched into one narrow cell but for two far outliers: equal widths would leave too few groups,
  // so every 8th value is a group.
  std::vector<double> bunched = {-1000};
  for (int i = 0; i < 1000; ++i) bunched.push_back(i * 1e-3);
  bunched.push_back(1000);
  const std::optional<std::vector<uint32_t>> fallback = coarse_groups(bunched, 8);
  ASSERT_TRUE(fallback.has_value());
  ASSERT_EQ(fallback->size(), (bunched.size() + 7) / 8 + 1);
  for (std::size_t j = 0; j + 1 < fallback->size(); ++j) EXPECT_EQ((*fallback)[j], 8 * j);
  EXPECT_EQ(fallback->back(), bunched.size());
  // Too few values for a coarse problem with 2 groups per cluster: none.
  EXPECT_FALSE(coarse_groups(std::vector<double>(values.begin(), values.begin() + 255), k).has_value());
  EXPECT_TRUE(coarse_groups(std::vector<double>(values.begin(), values.begin() + 256), k).has_value());
}

TEST(Kmeans1dLagrangian, GivesUpWithoutAWrongAnswer) {
  // Nothing to price: one cluster per value, a single cluster, or no spread at all.
  const std::vector<double> values = {0, 1, 2, 3}, weights(4, 1.0), zero_weights(4, 0.0);
  EXPECT_FALSE(lagrangian_bounds(RangeCost(values, weights), values, 4).has_value());
  EXPECT_FALSE(lagrangian_bounds(RangeCost(values, weights), values, 1).has_value());
  EXPECT_FALSE(lagrangian_bounds(RangeCost(values, zero_weights), values, 2).has_value());
  // Equally spaced equal weights: OPT is linear between some counts, where no price singles k out, and the
  // DP answers instead.
  std::vector<double> grid, ones;
  for (int i = 0; i < 12; ++i) {
    grid.push_back(i);
    ones.push_back(1);
  }
  for (std::size_t k = 2; k < grid.size(); ++k) {
    const std::optional<std::vector<uint32_t>> bounds = lagrangian_bounds(RangeCost(grid, ones), grid, k);
    if (bounds) {
      EXPECT_EQ(*bounds, full_dp_bounds(RangeCost(grid, ones), k)) << "k = " << k;
    }
  }
  EXPECT_EQ(optimal_bounds(grid, ones, 5), full_dp_bounds(RangeCost(grid, ones), 5));
}

// ----- row minima ------------------------------------------------------------------------------------------

// A random Monge matrix with small integer entries (exact in double, so ties are frequent), optionally
// with +infinity above a non-decreasing staircase as in the DP.
struct MongeMatrix {
  std::size_t rows, cols;
  std::vector<double> a;
  double operator()(std::size_t r, std::size_t c) const { return a[r * cols + c]; }
};

MongeMatrix random_monge(std::mt19937& rng, bool staircase) {
  std::uniform_int_distribution<int> size(1, 40), density(0, 3), offset(-20, 20);
  MongeMatrix m{static_cast<std::size_t>(size(rng)), static_cast<std::size_t>(size(rng)), {}};
  m.a.assign(m.rows * m.cols, 0.0);
  // a(r, c) = row term + column term - sum of a non-negative density over [0, r] x [0, c]: Monge.
  std::vector<double> density_sum(m.rows * m.cols, 0.0), row_term(m.rows), col_term(m.cols);
  for (double& t : row_term) t = offset(rng);
  for (double& t : col_term) t = offset(rng) * 3;
  for (std::size_t r = 0; r < m.rows; ++r) {
    for (std::size_t c = 0; c < m.cols; ++c) {
      double s = rng() % 3 == 0 ? density(rng) : 0;
      if (r > 0) s += density_sum[(r - 1) * m.cols + c];
      if (c > 0) s += density_sum[r * m.cols + c - 1];
      if (r > 0 && c > 0) s -= density_sum[(r - 1) * m.cols + c - 1];
      density_sum[r * m.cols + c] = s;
      m.a[r * m.cols + c] = row_term[r] + col_term[c] - s;
    }
  }
  if (staircase) {
    std::size_t limit = rng() % m.cols;  // last finite column of row r, non-decreasing in r
    for (std::size_t r = 0; r < m.rows; ++r) {
      limit = std::min(m.cols - 1, limit + rng() % 3);
      for (std::size_t c = limit + 1; c < m.cols; ++c) m.a[r * m.cols + c] = kInfinity;
    }
  }
  return m;
}

std::vector<uint32_t> naive_row_minima(const MongeMatrix& m) {
  std::vector<uint32_t> argmin(m.rows);
  for (std::size_t r = 0; r < m.rows; ++r) {
    std::size_t best = 0;
    for (std::size_t c = 1; c < m.cols; ++c) if (m(r, c) < m(r, best)) best = c;
    argmin[r] = static_cast<uint32_t>(best);
  }
  return argmin;
}

TEST(RowMinima, SmawkAndDivideConquerFindTheLeftmostMinimumOfRandomMongeMatrices) {
  std::mt19937 rng(2024);
  for (int trial = 0; trial < 3000; ++trial) {
    const MongeMatrix m = random_monge(rng, trial % 2 == 1);
    const std::vector<uint32_t> expected = naive_row_minima(m);
    std::vector<uint32_t> smawk(m.rows), dc(m.rows);
    smawk_row_minima(m.rows, m.cols, m, smawk.data());
    divide_conquer_row_minima(m.rows, m.cols, m, dc.data());
    ASSERT_EQ(smawk, expected) << "trial " << trial << ": " << m.rows << " x " << m.cols;
    ASSERT_EQ(dc, expected) << "trial " << trial << ": " << m.rows << " x " << m.cols;
  }
}

// ----- DP pieces -------------------------------------------------------------------------------------------

RandomBlock random_sorted_block(std::mt19937& rng, std::size_t n, bool zero_weights) {
  std::student_t_distribution<double> t(3.0);
  std::uniform_real_distribution<double> u(0.0, 4.0);
  std::vector<double> x(n);
  for (double& v : x) v = t(rng);
  std::sort(x.begin(), x.end());
  x.erase(std::unique(x.begin(), x.end()), x.end());
  std::vector<double> w(x.size());
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = (zero_weights && i % 5 == 0) ? 0.0 : u(rng);
  return {x, w};
}

// Found by EqualsTheBruteForceOptimumForEveryLutSize: two far values, one cluster each, and a tight pair.
// Range costs round relative to the block's second moment (6e10), so the single value at 1 costs 2.4e-6
// where the optimum is 4.8e-7; the pruning bound must allow for that, or row 2 of layer 2 stops the layer
// before row 3, the optimum's.
TEST(Kmeans1dDp, PruningAllowsForRoundingRelativeToTheSecondMoment) {
  const std::vector<double> values = {-150912, 0.003978729248046875, 0.005107879638671875, 67456};
  const std::vector<double> weights = {3, 0.5, 0.5, 2};
  EXPECT_EQ(optimal_bounds(values, weights, 3), (std::vector<uint32_t>{0, 1, 3, 4}));
  EXPECT_EQ(optimal_bounds(values, weights, 3, /*max_table_entries=*/0), (std::vector<uint32_t>{0, 1, 3, 4}));
  EXPECT_LT(cluster_1d_optimal(values, weights, 3).sse, 1e-4);
}

TEST(Kmeans1dDp, RangeCostMatchesADirectComputation) {
  std::mt19937 rng(1);
  const RandomBlock b = random_sorted_block(rng, 200, true);
  const RangeCost cost(b.values, b.weights);
  const double total = static_cast<double>(group_sse(b.values, b.weights, 0, b.values.size()));
  for (std::size_t begin = 0; begin < b.values.size(); begin += 7) {
    for (std::size_t end = begin; end <= b.values.size(); end += 5) {
      EXPECT_NEAR(cost(begin, end), static_cast<double>(group_sse(b.values, b.weights, begin, end)), 1e-13 * total);
    }
  }
  EXPECT_EQ(cost(3, 3), 0.0);
}

// Layer c of the DP by a plain O(U^2) scan.
std::vector<double> naive_layer(const RangeCost& cost, std::size_t c, const std::vector<double>& prev) {
  std::vector<double> cur(prev.size(), kInfinity);
  for (std::size_t i = c; i + RangeCost::kPadding < prev.size(); ++i) {
    for (std::size_t j = c - 1; j < i; ++j) cur[i] = std::min(cur[i], prev[j] + cost(j, i));
  }
  return cur;
}

TEST(Kmeans1dDp, EveryLayerMethodMatchesANaiveScan) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 20; ++trial) {
    const RandomBlock b = random_sorted_block(rng, 50 + 20 * trial, trial % 2 == 0);
    const std::size_t n = b.values.size();
    const RangeCost cost(b.values, b.weights);
    std::vector<double> prev(n + 1 + RangeCost::kPadding, 0.0);
    for (std::size_t i = 1; i <= n; ++i) prev[i] = cost(0, i);
    std::vector<uint32_t> prev_split(n + 2, 0);
    const double total = prev[n];
    for (std::size_t c = 2; c <= 6; ++c) {
      const std::vector<double> expected = naive_layer(cost, c, prev);
      std::vector<double> next;
      std::vector<uint32_t> next_split;
      for (const DpOptions options : {DpOptions{RowMinimaMethod::kDivideConquer, true},
                                      DpOptions{RowMinimaMethod::kDivideConquer, false},
                                      DpOptions{RowMinimaMethod::kSmawk, true}}) {
        std::vector<double> cur(n + 1 + RangeCost::kPadding, 0.0);
        std::vector<uint32_t> split(n + 2, 0);
        solve_layer(cost, c, n, prev.data(), c == 2 ? nullptr : prev_split.data(), cur.data(), split.data(), options);
        for (std::size_t i = c; i <= n; ++i) {
          ASSERT_NEAR(cur[i], expected[i], 1e-12 * total) << "layer " << c << " row " << i;
          ASSERT_NEAR(prev[split[i]] + cost(split[i], i), cur[i], 1e-12 * total);
        }
        next = cur;
        next_split = split;
      }
      prev = next;
      prev_split = next_split;
    }
  }
}

TEST(Kmeans1dDp, SimdAndScalarScansAreBitIdentical) {
  std::mt19937 rng(5);
  for (const std::size_t n : {20u, 333u, 4000u}) {
    const RandomBlock b = random_sorted_block(rng, n, true);
    const RangeCost cost(b.values, b.weights);
    for (const std::size_t k : {2u, 5u, 16u}) {
      SplitTable simd(k, b.values.size()), scalar(k, b.values.size());
      const auto simd_costs = run_dp(cost, k, &simd, {RowMinimaMethod::kDivideConquer, true});
      const auto scalar_costs = run_dp(cost, k, &scalar, {RowMinimaMethod::kDivideConquer, false});
      EXPECT_EQ(simd_costs.back(), scalar_costs.back());
      EXPECT_EQ(backtrack(simd, b.values.size(), k), backtrack(scalar, b.values.size(), k));
    }
  }
  // Runs of six zero-weight values: the splits at a run's values tie exactly (their ranges hold the same
  // weight and moments), across the lanes and across the two running minima (splits 4 apart) that the SIMD
  // scan keeps; both scans must keep the leftmost split of every row.
  std::vector<double> grid, ones;
  for (int i = 0; i < 300; ++i) {
    grid.push_back(i);
    ones.push_back(i % 10 >= 3 && i % 10 <= 8 ? 0.0 : 1.0);
  }
  const RangeCost cost(grid, ones);
  for (const std::size_t k : {2u, 3u, 4u, 7u}) {
    std::vector<double> prev(grid.size() + 1 + RangeCost::kPadding), simd_cur(prev.size()), scalar_cur(prev.size());
    std::vector<uint32_t> simd_split(grid.size() + 2), scalar_split(grid.size() + 2);
    for (std::size_t i = 1; i <= grid.size(); ++i) prev[i] = cost(0, i);
    solve_layer(cost, 2, grid.size(), prev.data(), nullptr, simd_cur.data(), simd_split.data(),
                {RowMinimaMethod::kDivideConquer, true});
    solve_layer(cost, 2, grid.size(), prev.data(), nullptr, scalar_cur.data(), scalar_split.data(),
                {RowMinimaMethod::kDivideConquer, false});
    EXPECT_EQ(simd_cur, scalar_cur);
    EXPECT_EQ(simd_split, scalar_split);
    SplitTable simd(k, grid.size()), scalar(k, grid.size());
    EXPECT_EQ(run_dp(cost, k, &simd, {RowMinimaMethod::kDivideConquer, true}).back(),
              run_dp(cost, k, &scalar, {RowMinimaMethod::kDivideConquer, false}).back());
    EXPECT_EQ(backtrack(simd, grid.size(), k), backtrack(scalar, grid.size(), k)) << "k = " << k;
  }
}

TEST(Kmeans1dDp, SmawkAndDivideConquerReachTheSameOptimumOnLargeBlocks) {
  std::mt19937 rng(9);
  for (const std::size_t n : {500u, 5000u}) {
    const RandomBlock b = random_sorted_block(rng, n, n == 500u);
    const RangeCost cost(b.values, b.weights);
    const double total = cost(0, b.values.size());
    for (const std::size_t k : {3u, 16u, 64u}) {
      SplitTable dc(k, b.values.size()), smawk(k, b.values.size());
      const double dc_cost = run_dp(cost, k, &dc, {RowMinimaMethod::kDivideConquer, true}).back();
      const double smawk_cost = run_dp(cost, k, &smawk, {RowMinimaMethod::kSmawk, true}).back();
      EXPECT_NEAR(dc_cost, smawk_cost, 1e-12 * total) << "n = " << n << ", k = " << k;
      const std::vector<uint32_t> bounds = backtrack(dc, b.values.size(), k);
      ASSERT_EQ(bounds.size(), k + 1);
      double sse = 0;
      for (std::size_t t = 0; t < k; ++t) {
        EXPECT_LT(bounds[t], bounds[t + 1]);
        sse += static_cast<double>(group_sse(b.values, b.weights, bounds[t], bounds[t + 1]));
      }
      EXPECT_NEAR(sse, dc_cost, 1e-11 * total);
    }
  }
}

TEST(Kmeans1dDp, BacktrackFollowsTheSplitTable) {
  SplitTable table(3, 6);  // layers 2 and 3, rows 0..6
  table.layer(3)[6] = 4;  // last cluster [4, 6)
  table.layer(2)[4] = 1;  // middle cluster [1, 4)
  EXPECT_EQ(backtrack(table, 6, 3), (std::vector<uint32_t>{0, 1, 4, 6}));
}

TEST(Kmeans1d, LargeBlocksAreWellFormedAndDeterministic) {
  std::mt19937 rng(11);
  const RandomBlock b = random_sorted_block(rng, 20000, true);
  for (const int k : {16, 256}) {
    const ScalarClustering first = cluster_1d_optimal(b.values, b.weights, k);
    const ScalarClustering second = cluster_1d_optimal(b.values, b.weights, k);
    expect_well_formed(first, b.values, b.weights, k);
    EXPECT_EQ(first.centroids, second.centroids);
    EXPECT_EQ(first.labels, second.labels);
    EXPECT_EQ(first.sse, second.sse);
    const std::vector<double> costs = optimal_costs_1d(b.values, b.weights, k);
    EXPECT_NEAR(costs.back(), first.sse, 1e-9 * first.sse + 1e-12 * costs.front());
    for (int c = 1; c < k; ++c) EXPECT_LE(costs[c], costs[c - 1] * (1 + 1e-12)) << "c = " << c;
  }
}

// ----- validation --------------------------------------------------------------------------------------------

std::string error_of(const std::vector<double>& v, const std::vector<double>& w, int k) {
  try {
    cluster_1d_optimal(v, w, k);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Kmeans1d, RejectsBadInput) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_NE(error_of({1, 2}, {1, 1}, 0).find("at least 1, got 0"), std::string::npos);
  EXPECT_NE(error_of({1, 2}, {1}, 2).find("2 values but 1 weights"), std::string::npos);
  EXPECT_NE(error_of({}, {}, 2).find("no values"), std::string::npos);
  EXPECT_NE(error_of({1, 2}, {1, -1}, 2).find("weight 1 is -1"), std::string::npos);
  EXPECT_NE(error_of({1, 2}, {nan, 1}, 2).find("weight 0 is nan"), std::string::npos);
  EXPECT_NE(error_of({1, 2, 2}, {1, 1, 1}, 2).find("strictly ascending"), std::string::npos);
  EXPECT_NE(error_of({3, 2}, {1, 1}, 2).find("strictly ascending"), std::string::npos);
  EXPECT_NE(error_of({1, nan}, {1, 1}, 2).find("value 1 is nan"), std::string::npos);
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_NE(error_of({-inf, 2}, {1, 1}, 2).find("value 0 is -inf"), std::string::npos);
  EXPECT_NE(error_of({1, 2, 3}, {1, 1, inf}, 2).find("weight 2 is inf"), std::string::npos);
  EXPECT_NE(error_of({nan}, {1}, 1).find("value 0 is nan"), std::string::npos);
  EXPECT_THROW(optimal_centroids_1d(std::vector<double>{2, 1}, std::vector<double>{1, 1}, 2), Error);
  // Every position of longer inputs, odd and even (the check reads them two at a time).
  for (std::size_t at = 0; at < 9; ++at) {
    std::vector<double> v{1, 2, 3, 4, 5, 6, 7, 8, 9}, w(9, 1.0);
    v[at] = nan;
    EXPECT_NE(error_of(v, w, 2).find("value " + std::to_string(at) + " is nan"), std::string::npos) << at;
    v[at] = at == 0 ? v[1] : v[at - 1];
    EXPECT_NE(error_of(v, w, 2).find("strictly ascending"), std::string::npos) << at;
    v = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    w[at] = -inf;
    EXPECT_NE(error_of(v, w, 2).find("weight " + std::to_string(at) + " is -inf"), std::string::npos) << at;
  }
  EXPECT_THROW(optimal_costs_1d(std::vector<double>{1, 2}, std::vector<double>{1, 1}, 0), Error);
}

TEST(Kmeans1d, OptimalCostsBeyondTheValueCountAreZero) {
  const std::vector<double> costs = optimal_costs_1d(std::vector<double>{0, 1, 3}, std::vector<double>{1, 1, 1}, 5);
  ASSERT_EQ(costs.size(), 5u);
  EXPECT_NEAR(costs[0], 14.0 / 3.0, 1e-12);
  EXPECT_NEAR(costs[1], 0.5, 1e-12);
  EXPECT_EQ(costs[2], 0.0);
  EXPECT_EQ(costs[3], 0.0);
  EXPECT_EQ(costs[4], 0.0);
}

}  // namespace
}  // namespace palettize
