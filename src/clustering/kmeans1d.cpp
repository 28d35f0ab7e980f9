// Exact weighted 1-D k-means: a k-layer dynamic program over the sorted distinct values whose layers are
// row-minima problems on totally monotone matrices (see kmeans1d_internal.hpp for the recurrence).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "clustering/kmeans1d_internal.hpp"
#include "palettize/clustering.hpp"
#include "palettize/error.hpp"
#include "tensor/lane_sums.hpp"

namespace palettize {
namespace kmeans1d_detail {
namespace {

// The weighted mean of values [begin, end), or the plain mean when they weigh nothing, computed as an
// offset from the first value.
double mean_of(std::span<const double> values, std::span<const double> weights, std::size_t begin,
               std::size_t end) {
  const double first = values[begin];
  const double total_weight = sum_in_four_lanes<0>(weights.data(), nullptr, 0, begin, end);
  if (total_weight > 0) return first + sum_in_four_lanes<1>(weights.data(), values.data(), first, begin, end) / total_weight;
  // All weights zero (rare): the plain mean.
  return first + sum_in_four_lanes<1>(nullptr, values.data(), first, begin, end) / static_cast<double>(end - begin);
}

}  // namespace

RangeCost::RangeCost(std::span<const double> values, std::span<const double> weights)
    : n_values_(values.size()),
      weight_(values.size() + 1 + kPadding, 0.0),
      first_(values.size() + 1 + kPadding, 0.0),
      second_(values.size() + 1 + kPadding, 0.0) {
  const std::size_t n = values.size();
  if (n > 0) center_ = mean_of(values, weights, 0, n);
  const double center = center_;
  // Running sums in registers: read back from the arrays, each step would wait on its own store.
  double weight_sum = 0, first_sum = 0, second_sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double y = values[i] - center;
    const double wy = weights[i] * y;
    min_weight_ = std::min(min_weight_, weights[i]);
    weight_[i + 1] = weight_sum += weights[i];
    first_[i + 1] = first_sum += wy;
    second_[i + 1] = second_sum += wy * y;
  }
  for (std::size_t i = n + 1; i < weight_.size(); ++i) {
    weight_[i] = weight_[n];
    first_[i] = first_[n];
    second_[i] = second_[n];
  }
}

RangeCost RangeCost::restricted_to(std::span<const uint32_t> positions) const {
  RangeCost restricted;
  restricted.n_values_ = positions.size() - 1;
  restricted.min_weight_ = min_weight_;  // a group weighs at least its lightest value
  restricted.center_ = center_;
  const std::size_t entries = positions.size() + kPadding;
  restricted.weight_.resize(entries);
  restricted.first_.resize(entries);
  restricted.second_.resize(entries);
  double* const weight = restricted.weight_.data();
  double* const first = restricted.first_.data();
  double* const second = restricted.second_.data();
  for (std::size_t t = 0; t < entries; ++t) {
    const uint32_t at = positions[std::min(t, positions.size() - 1)];
    weight[t] = weight_[at];
    first[t] = first_[at];
    second[t] = second_[at];
  }
  return restricted;
}

namespace {

void solve_layer_smawk(const RangeCost& cost, std::size_t c, std::size_t row_begin, std::size_t row_end,
                       const double* prev, double* cur, uint32_t* split) {
  const std::size_t first_split = c - 1;
  auto value = [&](std::size_t r, std::size_t col) {
    const std::size_t row = row_begin + r, j = first_split + col;
    return j < row ? prev[j] + cost(j, row) : kInfinity;
  };
  const std::size_t rows = row_end - row_begin + 1;
  std::vector<uint32_t> argmin(rows);
  smawk_row_minima(rows, row_end - first_split, value, argmin.data());
  for (std::size_t r = 0; r < rows; ++r) {
    cur[row_begin + r] = value(r, argmin[r]);
    split[row_begin + r] = static_cast<uint32_t>(first_split + argmin[r]);
  }
}

// Returns the last row solved (see solve_rows_divide_conquer); SMAWK solves every row and prunes nothing.
std::size_t solve_rows(const RangeCost& cost, const LayerTask& task, const DpOptions& options) {
  if (options.method == RowMinimaMethod::kSmawk) {
    solve_layer_smawk(cost, task.c, task.row_begin, task.row_end, task.prev, task.cur, task.split);
    task.split[task.row_end + 1] = task.split[task.row_end];
    return task.row_end;
  }
  return solve_rows_divide_conquer(cost, task, options.allow_simd);
}

}  // namespace

void solve_layer(const RangeCost& cost, std::size_t c, std::size_t row_end, const double* prev,
                 const uint32_t* prev_split, double* cur, uint32_t* split, const DpOptions& options) {
  const std::vector<uint32_t> layer_one_splits(prev_split ? 0 : row_end + 1, 0);
  solve_rows(cost, {c, c, row_end, prev, prev_split ? prev_split : layer_one_splits.data(), cur, split}, options);
}

namespace {

// The first row of layer k-1 that an optimal k-partition can pass through: its last range, [row, U), alone
// costs at most the bound. cost(i, U) does not increase with i, and rounding can only blur that below the
// optimal row (which costs at least the prune margin less than the limit), so the binary search never
// passes it.
std::size_t first_row_within_suffix_cost(const RangeCost& cost, std::size_t lowest, double limit) {
  const std::size_t n = cost.size();
  std::size_t lo = lowest, hi = n - 1;  // cost(n - 1, n) = 0: hi always qualifies
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo) / 2;
    if (cost(mid, n) <= limit) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

// The first rows of layers 0..k that an optimal k-partition can pass through (pruning with a table):
// layer k-1 from the cost of the last range alone; with k = 4, layer 2 from the leftmost optimal split of
// layer 2 at layer 3's first row (solved from the closed-form layer 1), since a row's split is non-decreasing
// in both the row and the layer. Every other layer starts at c. On the benchmark's 2-bit g16 blocks layer 3
// keeps rows [0.70 U, 0.94 U] instead of [0, 0.94 U], and layer 2 rows [0.14 U, 0.84 U] instead of
// [0, 0.84 U] (bench/performance_notes.md, session 12).
std::vector<std::size_t> first_rows(const RangeCost& cost, std::size_t k, double limit, const double* layer1,
                                    const uint32_t* layer1_splits, double* scratch_values, uint32_t* scratch_splits,
                                    const DpOptions& options) {
  std::vector<std::size_t> first(k + 1);
  for (std::size_t c = 0; c <= k; ++c) first[c] = c;
  if (k < 3 || !std::isfinite(limit)) return first;  // no bound (or nothing before the last layer to cut)
  first[k - 1] = first_row_within_suffix_cost(cost, k - 1, limit);
  if (k == 4 && first[3] > 2) {
    const LayerTask row_of_layer2{2, first[3], first[3], layer1, layer1_splits, scratch_values, scratch_splits};
    solve_rows_divide_conquer(cost, row_of_layer2, options.allow_simd);
    first[2] = std::max<std::size_t>(2, scratch_splits[first[3]]);
  }
  return first;
}

}  // namespace

std::vector<double> run_dp(const RangeCost& cost, std::size_t k, SplitTable* table, const DpOptions& options) {
  const std::size_t n = cost.size();
  std::vector<double> prev(n + 1 + RangeCost::kPadding, 0.0), cur(n + 1 + RangeCost::kPadding, 0.0);
  // Layer 1 splits (all 0) and, without a table, the splits of the last two layers.
  std::vector<uint32_t> rolling_prev(n + 2, 0), rolling_cur(table ? 0 : n + 2, 0);
  std::vector<double> costs(k, std::numeric_limits<double>::quiet_NaN());
  for (std::size_t i = 1; i <= n; ++i) prev[i] = cost(0, i);
  costs[0] = prev[n];

  const uint32_t* prev_split = rolling_prev.data();
  const bool prune = table != nullptr && options.method == RowMinimaMethod::kDivideConquer;
  const double prune_above = prune ? prune_limit(cost, options.upper_bound) : kInfinity;
  // Without pruning the limit is infinite and every layer starts at c; the scratch split row is only used
  // with a table.
  const std::vector<std::size_t> first = first_rows(cost, k, prune_above, prev.data(), rolling_prev.data(),
                                                    cur.data(), prune ? table->layer(2) : nullptr, options);
  std::size_t split_end = n;  // the last row the previous layer solved
  for (std::size_t c = 2; c <= k; ++c) {
    // With a table only the rows an optimal k-partition passes through matter: c clusters must leave at
    // least k - c values for the rest, the last range must fit the bound, and the last layer needs row U
    // alone.
    const std::size_t row_end = table ? n - (k - c) : n;
    const std::size_t row_begin = (table && c == k) ? n : first[c];
    uint32_t* split = table ? table->layer(c) : rolling_cur.data();
    const LayerTask task{c,     row_begin,   row_end,    prev.data(), prev_split, cur.data(),
                         split, split_end,   prune_above, first[c - 1]};
    split_end = solve_rows(cost, task, options);
    if (row_end == n) costs[c - 1] = cur[n];
    std::swap(prev, cur);
    if (table == nullptr) std::swap(rolling_prev, rolling_cur);
    prev_split = table ? split : rolling_prev.data();
  }
  return costs;
}

std::vector<uint32_t> backtrack(const SplitTable& table, std::size_t n_values, std::size_t k) {
  std::vector<uint32_t> bounds(k + 1, 0);
  bounds[k] = static_cast<uint32_t>(n_values);
  for (std::size_t c = k; c >= 2; --c) bounds[c - 1] = table.layer(c)[bounds[c]];
  return bounds;
}

}  // namespace kmeans1d_detail

namespace {

using kmeans1d_detail::DpOptions;
using kmeans1d_detail::RangeCost;

// The conditions validate_1d_input reports on, without branches and two at a time where SSE2 is there (every
// block of a checkpoint passes through here and is nearly always valid; GCC does not vectorise these
// comparisons itself). Strictly ascending values with finite ends are all finite; NaN fails every comparison.
bool values_and_weights_valid(std::span<const double> values, std::span<const double> weights) {
  constexpr double kMax = std::numeric_limits<double>::max();
  const std::size_t n = values.size();
  bool valid = std::fabs(values[0]) <= kMax && std::fabs(values[n - 1]) <= kMax;
  std::size_t ascending_from = 1, weights_from = 0;
#if defined(__SSE2__)
  __m128d all = _mm_castsi128_pd(_mm_set1_epi32(-1));
  for (; ascending_from + 2 <= n; ascending_from += 2) {
    const double* at = values.data() + ascending_from;
    all = _mm_and_pd(all, _mm_cmplt_pd(_mm_loadu_pd(at - 1), _mm_loadu_pd(at)));
  }
  const __m128d zero = _mm_setzero_pd(), max = _mm_set1_pd(kMax);
  for (; weights_from + 2 <= n; weights_from += 2) {
    const __m128d two = _mm_loadu_pd(weights.data() + weights_from);
    all = _mm_and_pd(all, _mm_and_pd(_mm_cmpge_pd(two, zero), _mm_cmple_pd(two, max)));
  }
  valid &= _mm_movemask_pd(all) == 3;
#endif
  for (std::size_t i = ascending_from; i < n; ++i) valid &= values[i - 1] < values[i];
  for (std::size_t i = weights_from; i < n; ++i) valid &= weights[i] >= 0 && weights[i] <= kMax;
  return valid;
}

void validate_1d_input(const char* function, std::span<const double> values, std::span<const double> weights,
                       int k) {
  check(k >= 1, function, ": the number of clusters must be at least 1, got ", k);
  check(values.size() == weights.size(), function, ": ", values.size(), " values but ", weights.size(),
        " weights");
  check(!values.empty(), function, ": no values to cluster");
  check(values.size() < std::numeric_limits<uint32_t>::max(), function, ": ", values.size(),
        " distinct values is more than 32-bit indices can address");
  if (values_and_weights_valid(values, weights)) return;
  // Find and name the first offending value.
  for (std::size_t i = 0; i < values.size(); ++i) {
    check(std::isfinite(values[i]), function, ": value ", i, " is ", values[i], " (values must be finite)");
    // Guarded by `if`: check() evaluates its message arguments even when the condition holds.
    if (i > 0) {
      check(values[i - 1] < values[i], function, ": values must be strictly ascending, but value ", i - 1, " = ",
            values[i - 1], " and value ", i, " = ", values[i]);
    }
    check(std::isfinite(weights[i]) && weights[i] >= 0, function, ": weight ", i, " is ", weights[i],
          " (weights must be finite and non-negative)");
  }
}

// Centroid of values [begin, end): the weighted mean, or the plain mean for zero total weight, kept inside
// the range, so centroids stay strictly ascending.
double range_centroid(std::span<const double> values, std::span<const double> weights, std::size_t begin,
                      std::size_t end) {
  return std::clamp(kmeans1d_detail::mean_of(values, weights, begin, end), values[begin], values[end - 1]);
}

std::vector<uint32_t> validated_optimal_bounds(const char* function, std::span<const double> values,
                                               std::span<const double> weights, int k) {
  validate_1d_input(function, values, weights, k);
  const std::size_t k_eff = std::min<std::size_t>(static_cast<std::size_t>(k), values.size());
  return kmeans1d_detail::optimal_bounds(values, weights, k_eff);
}

std::vector<double> centroids_of(std::span<const double> values, std::span<const double> weights,
                                 const std::vector<uint32_t>& bounds) {
  std::vector<double> centroids(bounds.size() - 1);
  for (std::size_t t = 0; t < centroids.size(); ++t) {
    centroids[t] = range_centroid(values, weights, bounds[t], bounds[t + 1]);
  }
  return centroids;
}

}  // namespace

ScalarClustering cluster_1d_optimal(std::span<const double> values, std::span<const double> weights, int k) {
  const std::vector<uint32_t> bounds = validated_optimal_bounds("cluster_1d_optimal", values, weights, k);
  ScalarClustering result;
  result.centroids = centroids_of(values, weights, bounds);
  result.labels.resize(values.size());
  for (std::size_t t = 0; t < result.centroids.size(); ++t) {
    for (std::size_t i = bounds[t]; i < bounds[t + 1]; ++i) {
      result.labels[i] = static_cast<uint32_t>(t);
      const double d = values[i] - result.centroids[t];
      result.sse += weights[i] * d * d;
    }
  }
  return result;
}

std::vector<double> optimal_centroids_1d(std::span<const double> values, std::span<const double> weights, int k) {
  const std::vector<uint32_t> bounds = validated_optimal_bounds("optimal_centroids_1d", values, weights, k);
  return centroids_of(values, weights, bounds);
}

std::vector<double> optimal_costs_1d(std::span<const double> values, std::span<const double> weights, int k_max) {
  validate_1d_input("optimal_costs_1d", values, weights, k_max);
  const std::size_t n = values.size();
  std::vector<double> costs(static_cast<std::size_t>(k_max), 0.0);
  // With as many clusters as values every value is its own centroid: exactly 0, whatever rounding says.
  const std::size_t k_dp = std::min<std::size_t>(static_cast<std::size_t>(k_max), n - 1);
  if (k_dp == 0) return costs;
  const RangeCost cost(values, weights);
  const std::vector<double> dp = kmeans1d_detail::run_dp(cost, k_dp, nullptr, DpOptions{});
  std::copy(dp.begin(), dp.end(), costs.begin());
  return costs;
}

}  // namespace palettize
