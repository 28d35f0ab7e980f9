// The boundaries of the optimal k-partition, with the split table when it is small and by halving the
// layers (Hirschberg) when it is not: a block of millions of distinct float32 values and k = 256 would need
// gigabytes of (k-1) x U split entries.
//
// Halving: one forward pass keeps only two layers of splits, and for every row of layers h+1..k the row of
// layer h its optimal path passes through (its "ancestor"); the ancestor of row U in layer k is the
// boundary b_h of the optimum. The prefix [0, b_h) in h clusters and the suffix [b_h, U) in k-h clusters
// are then solved the same way. Each level of the recursion covers about half the layer x value cells of
// the one above, so the total work is about twice one DP, and the memory is O(U) whatever k.
//
// With many clusters, both are preceded by Lagrangian relaxation (kmeans1d_lagrangian.cpp), which finds the
// optimum in a few passes when a price per cluster singles out k.
#include <algorithm>
#include <numeric>
#include <optional>
#include <vector>

#include "clustering/kmeans1d_internal.hpp"

namespace palettize::kmeans1d_detail {
namespace {

std::vector<uint32_t> bounds_with_table(std::span<const double> values, std::span<const double> weights,
                                        std::size_t k) {
  const RangeCost cost(values, weights);
  SplitTable table(k, values.size());
  DpOptions options;
  options.upper_bound = lloyd_upper_bound(cost, values, k);
  run_dp(cost, k, &table, options);
  return backtrack(table, values.size(), k);
}

// The row of layer h on the optimal k-cluster path (1 <= h < k <= U): the DP of run_dp with a table (same
// rows, same pruning), but with rolling split arrays and the layer-h ancestor carried along.
std::size_t middle_boundary(std::span<const double> values, std::span<const double> weights, std::size_t k,
                            std::size_t h) {
  const RangeCost cost(values, weights);
  const std::size_t n = values.size();
  DpOptions options;
  const double prune_above = prune_limit(cost, lloyd_upper_bound(cost, values, k));
  std::vector<double> prev(n + 1 + RangeCost::kPadding, 0.0), cur(prev.size(), 0.0);
  std::vector<uint32_t> prev_split(n + 2, 0), split(n + 2, 0);
  std::vector<uint32_t> prev_ancestor(n + 2, 0), ancestor(n + 2, 0);
  for (std::size_t i = 1; i <= n; ++i) prev[i] = cost(0, i);
  std::size_t split_end = n;
  for (std::size_t c = 2; c <= k; ++c) {
    const std::size_t row_end = n - (k - c);
    const std::size_t row_begin = c == k ? n : c;
    const LayerTask task{c, row_begin, row_end, prev.data(), prev_split.data(), cur.data(), split.data(),
                         split_end, prune_above};
    split_end = solve_rows_divide_conquer(cost, task, options.allow_simd);
    if (c == h + 1) {
      std::copy(split.begin(), split.end(), ancestor.begin());
    } else if (c > h + 1) {
      for (std::size_t i = row_begin; i <= row_end + 1; ++i) ancestor[i] = prev_ancestor[split[i]];
    }
    std::swap(prev, cur);
    std::swap(prev_split, split);
    std::swap(prev_ancestor, ancestor);
  }
  return prev_ancestor[n];
}

void append_bounds(std::span<const double> values, std::span<const double> weights, std::size_t k,
                   std::size_t max_table_entries, std::size_t offset, std::vector<uint32_t>& bounds) {
  const std::size_t n = values.size();
  if (k == 1) {
    bounds.push_back(static_cast<uint32_t>(offset + n));
    return;
  }
  if (k == n) {
    for (std::size_t i = 1; i <= n; ++i) bounds.push_back(static_cast<uint32_t>(offset + i));
    return;
  }
  if (k >= kLagrangianMinClusters) {
    if (const auto part = lagrangian_bounds(RangeCost(values, weights), values, k)) {
      for (std::size_t t = 1; t < part->size(); ++t) bounds.push_back(static_cast<uint32_t>(offset + (*part)[t]));
      return;
    }
  }
  if ((k - 1) * (n + 2) <= max_table_entries) {
    const std::vector<uint32_t> part = bounds_with_table(values, weights, k);
    for (std::size_t t = 1; t < part.size(); ++t) bounds.push_back(static_cast<uint32_t>(offset + part[t]));
    return;
  }
  const std::size_t h = k / 2;
  const std::size_t middle = middle_boundary(values, weights, k, h);
  append_bounds(values.first(middle), weights.first(middle), h, max_table_entries, offset, bounds);
  append_bounds(values.subspan(middle), weights.subspan(middle), k - h, max_table_entries, offset + middle, bounds);
}

}  // namespace

std::vector<uint32_t> optimal_bounds(std::span<const double> values, std::span<const double> weights, std::size_t k,
                                     std::size_t max_table_entries) {
  std::vector<uint32_t> bounds{0};
  bounds.reserve(k + 1);
  append_bounds(values, weights, k, max_table_entries, 0, bounds);
  return bounds;
}

}  // namespace palettize::kmeans1d_detail
