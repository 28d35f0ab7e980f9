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

// Boundaries t/k of the way through the total weight (by count when all weights are zero).
std::vector<std::size_t> quantile_bounds(std::span<const double> weights, std::size_t k) {
  const std::size_t n = weights.size();
  double total = 0;
  for (double w : weights) total += w;
  std::vector<std::size_t> bounds(k + 1, n);
  bounds[0] = 0;
  double seen = 0;
  std::size_t t = 1;
  for (std::size_t i = 0; i < n && t < k; ++i) {
    seen += total > 0 ? weights[i] : 1.0;
    const double mass = total > 0 ? total : static_cast<double>(n);
    while (t < k && seen >= mass * static_cast<double>(t) / static_cast<double>(k)) bounds[t++] = i + 1;
  }
  return bounds;
}

// One Lloyd step: every boundary moves to the midpoint between the means of its two neighbouring ranges.
std::vector<std::size_t> lloyd_step(std::span<const double> values, const std::vector<double>& weight_prefix,
                                    const std::vector<double>& first_prefix, const std::vector<std::size_t>& bounds) {
  std::vector<double> means;
  for (std::size_t t = 0; t + 1 < bounds.size(); ++t) {
    const std::size_t begin = bounds[t], end = bounds[t + 1];
    if (begin == end) continue;
    const double weight = weight_prefix[end] - weight_prefix[begin];
    means.push_back(weight > 0 ? (first_prefix[end] - first_prefix[begin]) / weight
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

double lloyd_upper_bound(const RangeCost& cost, std::span<const double> values, std::span<const double> weights,
                         std::size_t k) {
  const std::size_t n = values.size();
  std::vector<double> weight_prefix(n + 1, 0.0), first_prefix(n + 1, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    weight_prefix[i + 1] = weight_prefix[i] + weights[i];
    first_prefix[i + 1] = first_prefix[i] + weights[i] * values[i];
  }
  std::vector<std::size_t> bounds = quantile_bounds(weights, k);
  double best = partition_cost(cost, bounds);
  for (int iteration = 0; iteration < kMaxIterations; ++iteration) {
    std::vector<std::size_t> next = lloyd_step(values, weight_prefix, first_prefix, bounds);
    if (next == bounds) break;
    bounds = std::move(next);
    best = std::min(best, partition_cost(cost, bounds));
  }
  return best;
}

}  // namespace palettize::kmeans1d_detail
