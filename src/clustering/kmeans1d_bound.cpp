// An upper bound on the optimal 1-D k-means cost for pruning the DP (DpOptions::upper_bound): the cost of
// the partition Lloyd's iterations reach from weighted-quantile boundaries. Any partition into at most k
// ranges costs at least the optimum, so the bound is valid whatever Lloyd converges to; the closer it is,
// the more rows the DP skips.
#include <algorithm>
#include <vector>

#include "clustering/kmeans1d_internal.hpp"

namespace palettize::kmeans1d_detail {
namespace {

constexpr int kMaxIterations = 16;

double partition_cost(const RangeCost& cost, const std::vector<std::size_t>& bounds) {
  double total = 0;
  for (std::size_t t = 0; t + 1 < bounds.size(); ++t) {
    if (bounds[t] < bounds[t + 1]) total += cost(bounds[t], bounds[t + 1]);
  }
  return total;
}

// Boundaries t/k of the way through the total weight (by count when all weights are zero), found in the
// cost's own prefix sums.
std::vector<std::size_t> quantile_bounds(const RangeCost& cost, std::size_t k) {
  const std::size_t n = cost.size();
  const double* weight = cost.weight_prefix();
  const double total = weight[n];
  std::vector<std::size_t> bounds(k + 1, n);
  bounds[0] = 0;
  for (std::size_t t = 1; t < k; ++t) {
    if (total > 0) {
      const double mass = total * static_cast<double>(t) / static_cast<double>(k);
      bounds[t] = static_cast<std::size_t>(std::lower_bound(weight + 1, weight + n + 1, mass) - weight);
    } else {
      bounds[t] = (n * t + k - 1) / k;
    }
  }
  return bounds;
}

// One Lloyd step: every boundary moves to the midpoint between the means of its two neighbouring ranges.
// The means come from the cost's prefix sums, which are centred on cost.center().
std::vector<std::size_t> lloyd_step(const RangeCost& cost, std::span<const double> values,
                                    const std::vector<std::size_t>& bounds) {
  const double* weight_prefix = cost.weight_prefix();
  const double* first_prefix = cost.first_prefix();
  std::vector<double> means;
  for (std::size_t t = 0; t + 1 < bounds.size(); ++t) {
    const std::size_t begin = bounds[t], end = bounds[t + 1];
    if (begin == end) continue;
    const double weight = weight_prefix[end] - weight_prefix[begin];
    means.push_back(weight > 0 ? cost.center() + (first_prefix[end] - first_prefix[begin]) / weight
                               : (values[begin] + values[end - 1]) / 2);
  }
  std::vector<std::size_t> next(bounds.size(), values.size());
  next[0] = 0;
  for (std::size_t t = 1; t < means.size(); ++t) {
    const double midpoint = (means[t - 1] + means[t]) / 2;
    next[t] = static_cast<std::size_t>(std::lower_bound(values.begin(), values.end(), midpoint) - values.begin());
    next[t] = std::max(next[t], next[t - 1]);
  }
  return next;
}

}  // namespace

// The Lloyd iterations read the prefix sums the DP already has: computing their own (uncentred) sums was
// 8 % of a 2-bit g16 run (bench/performance_notes.md, session 12).
double lloyd_upper_bound(const RangeCost& cost, std::span<const double> values, std::size_t k) {
  std::vector<std::size_t> bounds = quantile_bounds(cost, k);
  double best = partition_cost(cost, bounds);
  for (int iteration = 0; iteration < kMaxIterations; ++iteration) {
    std::vector<std::size_t> next = lloyd_step(cost, values, bounds);
    if (next == bounds) break;
    bounds = std::move(next);
    best = std::min(best, partition_cost(cost, bounds));
  }
  return best;
}

}  // namespace palettize::kmeans1d_detail
