// Which values can end a cluster of the optimal k-partition, found by Lagrangian relaxation; the exact DP
// then runs on those positions alone (kmeans1d_bounds.cpp).
//
// For a price lambda per cluster, F(i) = the least cost + lambda * (number of ranges) over all partitions of
// the first i values, with any number of ranges. That is one pass over the values, not k layers: the
// concave least-weight subsequence problem, solved with a queue of candidate last splits (the range cost is
// Monge, so a later split, once better for some row, stays better for every later row). When the pass's
// optimum has exactly k ranges, it is an optimal k-partition (every k-partition Q has cost(Q) + lambda * k
// >= F(U)), and its cost is the optimum OPT. The optimal cost is convex in k, so such a lambda exists unless
// costs tie; a few passes find it, guided by the power law of k-means costs (OPT ~ C / k^2, so the marginal
// lambda ~ 2 C / k^3).
//
// Then with G(i), the same for the values from i on (a backward pass), any partition into k ranges with a
// boundary at i costs at least F(i) + G(i) - lambda * k (weak duality, on each side of i). Only positions
// where that is <= OPT can be boundaries of an optimal k-partition, of any optimal one: on the smooth
// distributions of weights a handful per boundary (17 of 3,370 values for k = 16, 540 of 14,300 for k = 256
// in the F16 benchmark blocks). The DP restricted to them (RangeCost::restricted_to) returns an optimal
// partition: every optimal partition survives, and the ranges cost bit for bit what they cost in the full
// DP. Unless two partitions tie exactly, it is the full DP's own (the benchmark outputs are byte-identical);
// on exact ties (small integers), either DP's rounding may pick a different one of the tied optima.
#include <algorithm>
#include <cmath>
#include <limits>

#include "clustering/kmeans1d_internal.hpp"

namespace palettize::kmeans1d_detail {
namespace {

// Passes allowed to find a lambda whose optimum has exactly k ranges; without one, the caller runs the full
// DP (ties that make the count jump over k are the case this gives up on).
constexpr int kMaxPasses = 24;

struct PassResult {
  std::vector<double> best;  // best[i]: least cost + lambda * ranges over partitions of the first i values
  std::size_t ranges = 0;    // ranges of the optimum of all n values
};

// `cost(j, i)`: the cost of values [j, i) of a Monge cost (j < i <= n).
template <class Cost>
PassResult lagrangian_pass(const Cost& cost, std::size_t n, double lambda) {
  PassResult result;
  result.best.assign(n + 1, 0.0);
  std::vector<uint32_t> ranges(n + 1, 0);
  // Candidate last splits, in order, each with the first row it is the best split for.
  struct Candidate {
    std::size_t split, first_row;
  };
  std::vector<Candidate> queue;
  queue.reserve(n + 1);
  std::size_t head = 0;
  queue.push_back({0, 1});
  const auto value = [&](std::size_t split, std::size_t row) { return result.best[split] + cost(split, row) + lambda; };
  for (std::size_t i = 1; i <= n; ++i) {
    while (queue.size() - head > 1 && queue[head + 1].first_row <= i) ++head;
    const std::size_t split = queue[head].split;
    result.best[i] = value(split, i);
    ranges[i] = ranges[split] + 1;
    if (i == n) break;
    // Split i, for rows after i: it replaces the candidates it beats from their first row on, and takes
    // over from the last one left where it starts to beat it (the difference is monotone: a galloping
    // search, as that row is usually about a cluster's width away, then binary search).
    while (true) {
      if (queue.size() == head) {
        queue.push_back({i, i + 1});
        break;
      }
      const Candidate last = queue.back();
      const std::size_t from = std::max(last.first_row, i + 1);
      if (value(i, from) <= value(last.split, from)) {
        queue.pop_back();
        continue;
      }
      std::size_t lo = from + 1, hi = n + 1;  // the first row in [lo, hi) where i beats it; n + 1: none
      for (std::size_t step = 1, passed = from; passed + step <= n; step *= 2) {
        if (value(i, passed + step) <= value(last.split, passed + step)) {
          hi = passed + step;
          break;
        }
        passed += step;
        lo = passed + 1;
      }
      while (lo < hi) {
        const std::size_t mid = lo + (hi - lo) / 2;
        if (value(i, mid) <= value(last.split, mid)) {
          hi = mid;
        } else {
          lo = mid + 1;
        }
      }
      if (lo <= n) queue.push_back({i, lo});
      break;
    }
  }
  result.ranges = ranges[n];
  return result;
}

// The next price to try: from the power law OPT(k) ~ C / k^2, whose marginal price is 2 C / k^3, scaled from
// the last pass's count; bisection (geometric) when that leaves the bracket.
double next_lambda(double lambda, std::size_t ranges, std::size_t k, double low, double high) {
  const double ratio = static_cast<double>(ranges) / static_cast<double>(k);
  const double guess = lambda * ratio * ratio * ratio;
  if (guess > low && guess < high && std::isfinite(guess)) return guess;
  if (!std::isfinite(high)) return lambda * 4;
  if (low <= 0) return high / 4;
  return std::sqrt(low * high);
}

}  // namespace

std::optional<std::vector<uint32_t>> boundary_candidates(const RangeCost& cost, std::size_t k) {
  const std::size_t n = cost.size();
  const double total = cost(0, n);
  if (k < 2 || k >= n || !(total > 0)) return std::nullopt;
  double lambda = 2 * total / (static_cast<double>(k) * static_cast<double>(k) * static_cast<double>(k));
  double low = 0, high = kInfinity;
  std::optional<PassResult> forward;
  for (int pass = 0; pass < kMaxPasses && lambda > 0 && std::isfinite(lambda); ++pass) {
    PassResult result = lagrangian_pass(cost, n, lambda);
    if (result.ranges == k) {
      forward = std::move(result);
      break;
    }
    (result.ranges > k ? low : high) = lambda;
    lambda = next_lambda(lambda, result.ranges, k, low, high);
  }
  if (!forward) return std::nullopt;

  // The same pass on the mirrored values: backward.best[n - i] is G(i), the suffix from value i on.
  const auto mirrored = [&cost, n](std::size_t j, std::size_t i) { return cost(n - i, n - j); };
  const PassResult backward = lagrangian_pass(mirrored, n, lambda);
  const double lambda_k = lambda * static_cast<double>(k);
  const double optimum = forward->best[n] - lambda_k;
  // The margin covers rounding: the D values differ by about k rounding errors of range costs, each relative
  // to the total second moment (`total`), far below this.
  const double limit = optimum + 1e-9 * (optimum + lambda_k) + 1e-12 * static_cast<double>(k) * total;
  std::vector<uint32_t> positions{0};
  for (std::size_t i = 1; i < n; ++i) {
    if (forward->best[i] + backward.best[n - i] - lambda_k <= limit) positions.push_back(static_cast<uint32_t>(i));
  }
  positions.push_back(static_cast<uint32_t>(n));
  // Fewer than k - 1 inner positions would contradict the optimum found (rounding beyond the margin):
  // refuse rather than return a wrong partition; more than half the values saves too little to be worth it.
  if (positions.size() < k + 1 || positions.size() > n / 2) return std::nullopt;
  return positions;
}

}  // namespace palettize::kmeans1d_detail
