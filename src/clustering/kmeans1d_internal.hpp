// private: include only from src/ and tests/
// The pieces of the exact weighted 1-D k-means dynamic program (cluster_1d_optimal, optimal_costs_1d),
// exposed so that tests can check each one on its own: the range cost from prefix sums, the monotone
// row-minima solvers (SMAWK and divide and conquer), one DP layer, and the backtracking of the splits.
//
// Notation: U sorted distinct values x[0..U). D[c][i] is the least SSE of the first i values in c non-empty
// clusters; D[c][i] = min over splits j in [c-1, i-1] of D[c-1][j] + cost(j, i), where cost(j, i) is the
// SSE of x[j..i) around its weighted mean. cost satisfies the quadrangle inequality, so the leftmost
// optimal split is non-decreasing in i (and in c): each layer is a row-minima problem on a totally
// monotone matrix.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace palettize::kmeans1d_detail {

// Ranges of zero total weight cost nothing; a floor on the divisor keeps the formula branch-free (for a
// zero-weight range both sums are exactly zero, so the quotient is zero too).
inline constexpr double kWeightFloor = std::numeric_limits<double>::min();
inline constexpr double kInfinity = std::numeric_limits<double>::infinity();

// SSE of a range from its sums of w, w*y and w*y^2; clamped at 0 against cancellation. The SIMD kernel
// performs exactly these operations in this order, so both give bit-identical results.
inline double cost_from_sums(double weight, double first, double second) {
  const double divisor = weight > kWeightFloor ? weight : kWeightFloor;
  const double cost = second - (first * first) / divisor;
  return cost > 0 ? cost : 0.0;
}

// Prefix sums of w, w*y, w*y^2 in double with y = x - center, center = the weighted mean (the unweighted
// mean when all weights are zero): centering limits the cancellation in second - first^2 / weight.
class RangeCost {
 public:
  // Entries past U repeat entry U, so that a 4-wide SIMD step may read up to kPadding entries beyond
  // the last split it considers.
  static constexpr std::size_t kPadding = 3;

  RangeCost(std::span<const double> values, std::span<const double> weights);

  // The problem whose values are the groups [positions[t], positions[t+1]) of this one (positions
  // ascending, 0 first, size() last): its ranges cost exactly, bit for bit, what the same ranges cost here.
  RangeCost restricted_to(std::span<const uint32_t> positions) const;

  std::size_t size() const { return n_values_; }
  // SSE of values [begin, end) around their weighted mean.
  double operator()(std::size_t begin, std::size_t end) const {
    return cost_from_sums(weight_[end] - weight_[begin], first_[end] - first_[begin],
                          second_[end] - second_[begin]);
  }
  // The smallest weight of a single value (a lower bound on every range's weight); +infinity when empty.
  double min_weight() const { return min_weight_; }
  // The value the prefix sums are centred on: first_prefix sums w * (x - center()).
  double center() const { return center_; }
  const double* weight_prefix() const { return weight_.data(); }
  const double* first_prefix() const { return first_.data(); }
  const double* second_prefix() const { return second_.data(); }

 private:
  RangeCost() = default;

  std::size_t n_values_ = 0;
  double min_weight_ = kInfinity;
  double center_ = 0;
  std::vector<double> weight_, first_, second_;  // entry i sums values [0, i); U + 1 + kPadding entries
};

// ---------------------------------------------------------------------------------------------------
// Row minima of a totally monotone matrix: for rows r < r' and columns c < c', value(r, c) > value(r, c')
// implies value(r', c) > value(r', c'). Then the leftmost minimum of each row is non-decreasing, and both
// solvers return exactly the leftmost minimum of every row. +infinity entries are allowed where they keep
// that property (e.g. an upper-right staircase, as in the DP where split j >= row i is impossible).
// value(row, col) -> double; argmin has one entry per row.

// SMAWK (Aggarwal, Klawe, Moran, Shor, Wilber 1987): O(rows + cols) evaluations.
template <class Value>
class SmawkRowMinima {
 public:
  SmawkRowMinima(const Value& value, uint32_t* argmin) : value_(value), argmin_(argmin) {}

  void run(std::size_t rows, std::size_t cols) {
    if (rows == 0 || cols == 0) return;
    std::vector<uint32_t> row_ids(rows), col_ids(cols);
    for (std::size_t r = 0; r < rows; ++r) row_ids[r] = static_cast<uint32_t>(r);
    for (std::size_t c = 0; c < cols; ++c) col_ids[c] = static_cast<uint32_t>(c);
    // Per level: kept columns (<= rows at that level) and the odd rows (half of them); levels halve.
    scratch_.assign(3 * rows + 64, 0);
    kept_values_.assign(rows + 1, 0.0);
    solve(row_ids, col_ids, scratch_.data());
  }

 private:
  void solve(std::span<const uint32_t> rows, std::span<const uint32_t> cols, uint32_t* scratch) {
    if (rows.empty()) return;
    // REDUCE: keep at most rows.size() columns, dropping only columns that are the leftmost minimum of
    // no row. kept_values_[d] caches value(rows[d], kept[d]), the entry every later comparison at depth d
    // needs.
    uint32_t* kept = scratch;
    std::size_t n_kept = 0;
    for (const uint32_t col : cols) {
      while (n_kept > 0) {
        if (kept_values_[n_kept - 1] <= value_(rows[n_kept - 1], col)) break;
        --n_kept;
      }
      if (n_kept < rows.size()) {
        kept_values_[n_kept] = value_(rows[n_kept], col);
        kept[n_kept++] = col;
      }
    }
    uint32_t* odd_rows = kept + n_kept;
    const std::size_t n_odd = rows.size() / 2;
    for (std::size_t t = 0; t < n_odd; ++t) odd_rows[t] = rows[2 * t + 1];
    solve({odd_rows, n_odd}, {kept, n_kept}, odd_rows + n_odd);

    // INTERPOLATE: an even row's minimum lies between the minima of the odd rows around it.
    std::size_t pos = 0;
    for (std::size_t r = 0; r < rows.size(); r += 2) {
      const uint32_t stop = r + 1 < rows.size() ? argmin_[rows[r + 1]] : kept[n_kept - 1];
      double best = value_(rows[r], kept[pos]);
      uint32_t best_col = kept[pos];
      while (kept[pos] != stop) {
        ++pos;
        const double v = value_(rows[r], kept[pos]);
        if (v < best) {
          best = v;
          best_col = kept[pos];
        }
      }
      argmin_[rows[r]] = best_col;
    }
  }

  const Value& value_;
  uint32_t* argmin_;
  std::vector<uint32_t> scratch_;
  std::vector<double> kept_values_;
};

template <class Value>
void smawk_row_minima(std::size_t rows, std::size_t cols, const Value& value, uint32_t* argmin) {
  SmawkRowMinima<Value>(value, argmin).run(rows, cols);
}

// Divide and conquer on the middle row: O((rows + cols) log rows) evaluations, simple scans.
template <class Value>
void divide_conquer_row_minima(std::size_t rows, std::size_t cols, const Value& value, uint32_t* argmin) {
  if (rows == 0 || cols == 0) return;
  auto solve = [&](auto& self, std::size_t row_lo, std::size_t row_hi, std::size_t col_lo,
                   std::size_t col_hi) -> void {
    if (row_lo >= row_hi) return;
    const std::size_t mid = row_lo + (row_hi - row_lo) / 2;
    std::size_t best_col = col_lo;
    double best = value(mid, col_lo);
    for (std::size_t c = col_lo + 1; c <= col_hi; ++c) {
      const double v = value(mid, c);
      if (v < best) {
        best = v;
        best_col = c;
      }
    }
    argmin[mid] = static_cast<uint32_t>(best_col);
    self(self, row_lo, mid, col_lo, best_col);
    self(self, mid + 1, row_hi, best_col, col_hi);
  };
  solve(solve, 0, rows, 0, cols - 1);
}

// ---------------------------------------------------------------------------------------------------
// The dynamic program.

enum class RowMinimaMethod {
  kDivideConquer,  // D&C with the layer-to-layer bound opt[c-1][i] <= opt[c][i] and a SIMD scan
  kSmawk,          // SMAWK, O(U) per layer
};

struct DpOptions {
  RowMinimaMethod method = RowMinimaMethod::kDivideConquer;
  bool allow_simd = true;  // false forces the scalar scan (tests check both agree bit for bit)
  // The cost of some partition into at most k ranges (an upper bound on the optimum), or +infinity. With a
  // split table and divide and conquer, a layer stops at the first row whose cost exceeds it: D[c][i] is
  // non-decreasing in i, and a row of the optimal path costs at most the optimum, so no later row can be
  // on it; the next layer then considers only the splits kept. The last layers also start where the
  // optimum can still pass (first_rows in kmeans1d.cpp). See prune_limit() for the rounding margin.
  double upper_bound = kInfinity;
};

// The bound rows are compared with: upper_bound widened by far more than the rounding error of D values,
// so that rounding can never prune a row of the optimum. Range costs are differences of prefix sums, so
// their rounding scales with the block's whole second moment, not with the optimum: where the optimum is
// tiny beside it (a few far values, one cluster each, and a tight pair), a single value's range can cost
// 2e-6 from rounding where the optimum is 5e-7, which is a row's D above the bound before the optimal row
// that follows it. Hence a margin of (U + 2) * 2^-46 of the second moment on top of the relative 1e-9.
inline double prune_limit(const RangeCost& cost, double upper_bound) {
  const std::size_t n = cost.size();
  const double magnitude = cost.second_prefix()[n];
  return upper_bound + 1e-9 * upper_bound + std::ldexp(static_cast<double>(n + 2), -46) * magnitude;
}

// Leftmost optimal splits of the DP: splits[c][i] for layers c = 2..k (layer 1 has only split 0) and
// prefix lengths i = 0..U, plus one entry past U that the layer solver uses as scratch. k*U uint32: the
// only O(k*U) memory of the solver.
class SplitTable {
 public:
  // Left uninitialised: every entry the backtracking reads is written first, and zeroing tens of MiB
  // (k = 256, U = 65536) would cost as much as a good part of the DP.
  SplitTable(std::size_t k, std::size_t n_values)
      : stride_(n_values + 2), splits_(std::make_unique_for_overwrite<uint32_t[]>((k - 1) * stride_)) {}
  uint32_t* layer(std::size_t c) { return splits_.get() + (c - 2) * stride_; }
  const uint32_t* layer(std::size_t c) const { return splits_.get() + (c - 2) * stride_; }

 private:
  std::size_t stride_;
  std::unique_ptr<uint32_t[]> splits_;
};

// Rows [row_begin, row_end] of layer c: cur[i] = D[c][i] and split[i] = its leftmost optimal split.
// - prev = D[c-1], valid on [max(c-1, split_begin), row_end-1] and readable RangeCost::kPadding entries past
//   row_end;
// - prev_split[i] is a lower bound on the split of row i for i in [row_begin, row_end] (the splits of
//   layer c-1: the leftmost split is non-decreasing in c);
// - split must be writable on [c-1, row_end+1]; on return split[row_end+1] = split[row_end], so that the
//   array serves as prev_split for a next layer reaching one row further.
// - splits are taken no higher than split_end (the last row kept by the previous layer) and no lower than
//   split_begin (its first row; row_begin must lie above it);
// - rows after the first one costing more than prune_above are left unsolved (see DpOptions::upper_bound).
struct LayerTask {
  std::size_t c, row_begin, row_end;
  const double* prev;
  const uint32_t* prev_split;
  double* cur;
  uint32_t* split;
  std::size_t split_end = std::numeric_limits<std::size_t>::max();
  double prune_above = kInfinity;
  std::size_t split_begin = 0;
};

// Divide and conquer over the rows, level by level (all rows of one level are independent, so their scans
// overlap in the CPU), each row scanned between the splits of its nearest solved rows and no lower than
// prev_split. Returns the last row solved: row_end, or the first row found above task.prune_above (rows
// past it are unsolved; their split entries repeat its split, which keeps them valid lower bounds for the
// next layer).
std::size_t solve_rows_divide_conquer(const RangeCost& cost, const LayerTask& task, bool allow_simd);

// One whole layer (rows [c, row_end]) with either method; prev_split as in LayerTask, or null for c = 2.
void solve_layer(const RangeCost& cost, std::size_t c, std::size_t row_end, const double* prev,
                 const uint32_t* prev_split, double* cur, uint32_t* split, const DpOptions& options);

// Runs layers 1..k over the U values of `cost` (k <= U). Returns D[c][U] for c = 1..k. With a table,
// records the splits needed to backtrack the k-cluster optimum (layer c only solves the rows that an
// optimal k-partition can use); without one, every layer is solved on all rows (all D[c][U] exact) in
// O(U) memory.
std::vector<double> run_dp(const RangeCost& cost, std::size_t k, SplitTable* table, const DpOptions& options);

// The cost of a good partition of the values of `cost` into at most k ranges (Lloyd's iterations from
// weighted quantiles): a valid DpOptions::upper_bound.
double lloyd_upper_bound(const RangeCost& cost, std::span<const double> values, std::size_t k);

// Split tables above this many entries (128 MiB) are avoided by halving the layers (optimal_bounds): every
// block of a 16-bit checkpoint stays below it (k = 256 and U = 65 536 need 64 MiB), so only blocks of
// millions of distinct float32 values pay the halving's second pass.
inline constexpr std::size_t kMaxSplitTableEntries = std::size_t{1} << 25;

// From this many clusters on, optimal_bounds first tries Lagrangian relaxation (lagrangian_bounds): a few
// O(U log U) passes instead of k DP layers. Below it the layers are cheaper than the passes (measured on F16
// blocks of 4,096 and 65,536 values: at k = 4 the passes take 1.7 times as long, at k = 8 they are 1.3 to
// 1.5 times faster).
inline constexpr std::size_t kLagrangianMinClusters = 8;

// The buffers of a Lagrangian pass (kmeans1d_lagrangian.cpp), kept from one pass to the next. They only
// grow, so entries past the last pass's U + 1 are left from earlier passes.
struct PassBuffers {
  struct Candidate {
    uint32_t split, first_row;  // a candidate last split, and the first row it is the best split for
  };
  std::vector<double> best;  // best[i]: least cost + lambda * ranges over partitions of the first i values
  std::vector<Candidate> queue;
  std::vector<uint32_t> parent;  // parent[i]: where the last range of that optimum starts
};

// The lean comparison of a pass. For splits o < i and a row r > i, with w, f the weight and first-moment
// sums of the ranges [i, r) and [o, r) (w > 0), i's value best_i + cost(i, r) + lambda is below o's exactly
// when
//   x * (w_i * w_o) < f_i^2 * w_o - f_o^2 * w_i,   x = (best_i - best_o) + (second_o - second_i):
// both values times w_i * w_o, the row's second moment and lambda cancelled. No division, and x is computed
// once per pair of splits, not per row. Its rounding errors are of the size of those of the values
// themselves (a few units of 2^-53 of the terms' magnitude), so where the two forms disagree the values tie
// to within rounding and either choice is optimal to within rounding. The clamp of cost_from_sums at zero
// is left out for the same reason: it only ever removes rounding noise.
inline bool lean_takes_over(const RangeCost& cost, double x, std::size_t i, std::size_t o, std::size_t r) {
  const double* weight = cost.weight_prefix();
  const double* first = cost.first_prefix();
  const double wi = weight[r] - weight[i], wo = weight[r] - weight[o];
  const double fi = first[r] - first[i], fo = first[r] - first[o];
  return x * (wi * wo) < (fi * fi) * wo - (fo * fo) * wi;
}

// Whether a pass at `lambda` may compare by lean_takes_over: it multiplies where the values divide, so
// every range must weigh well above zero and the products must stay far from overflow and underflow. No
// value may weigh less than 2^-40 of the total (so that prefix sums keep its weight) or less than 2^-200
// (products of two weights would approach the subnormals), and the total weight squared times the largest x
// must stay below 2^900. Counts as weights always qualify; a block with a zero or a tiny
// weight compares its values as they are (value < value), as every pass did before.
bool lean_comparisons_are_safe(const RangeCost& cost, double lambda);

// One pass at price lambda per range: fills `buffers` and returns the number of ranges of the optimum of
// all values. The AVX2 comparisons perform the scalar ones' IEEE operations lane by lane, in either form:
// allow_simd does not change the result (tests check it bit for bit).
std::size_t lagrangian_pass(const RangeCost& cost, double lambda, bool allow_simd, PassBuffers& buffers);

// The optimal k-partition of the values of `cost` (k + 1 bounds, 0 first, U last) from a pass whose optimum
// has exactly k ranges; std::nullopt when no price was found that gives exactly k (ties), or the partition
// does not cost what the pass says within rounding (kmeans1d_lagrangian.cpp). `values` are the sorted
// values `cost` was built from (the price search starts on groups of them). O(U) memory.
std::optional<std::vector<uint32_t>> lagrangian_bounds(const RangeCost& cost, std::span<const double> values,
                                                       std::size_t k, bool allow_simd = true);

// The coarse problem on which lagrangian_bounds first finds its price, as groups of the sorted distinct
// `values` (positions, 0 first, U last): values that share a cell of equal width, at most U / 8 groups and
// at least 2 per cluster, or else every 8th value; std::nullopt when U / 8 < 2k (no coarse problem).
std::optional<std::vector<uint32_t>> coarse_groups(std::span<const double> values, std::size_t k);

// Boundaries of the optimal k-partition (1 <= k <= U): k+1 ascending entries, 0 first, U last. With a split
// table when (k-1) x (U+2) entries fit max_table_entries, otherwise by halving the layers (Hirschberg):
// O(U) memory and about twice the time (kmeans1d_bounds.cpp).
std::vector<uint32_t> optimal_bounds(std::span<const double> values, std::span<const double> weights, std::size_t k,
                                     std::size_t max_table_entries = kMaxSplitTableEntries);

// Cluster boundaries of the optimum: k+1 ascending entries, 0 first, U last; cluster t is [b[t], b[t+1]).
std::vector<uint32_t> backtrack(const SplitTable& table, std::size_t n_values, std::size_t k);

}  // namespace palettize::kmeans1d_detail
