// The optimal k-partition by Lagrangian relaxation, for many clusters: a few passes instead of k DP layers
// (kmeans1d_bounds.cpp falls back to the DP when this gives up).
//
// For a price lambda per cluster, F(i) = the least cost + lambda * (number of ranges) over all partitions of
// the first i values, with any number of ranges. That is one pass over the values, not k layers: the
// concave least-weight subsequence problem, solved with a queue of candidate last splits (the range cost is
// Monge, so a later split, once strictly better for some row, stays so for every later row). When the
// pass's optimum has exactly k ranges, it is an optimal k-partition: every k-partition Q has
// cost(Q) + lambda * k >= F(U). The optimal cost is convex in k, so such a lambda exists unless costs tie
// (then OPT is linear across k and no price singles k out); a few passes find it, starting from the price
// that works on a coarse problem whose values are groups of nearby values (coarse_groups below).
//
// Which optimum: on exact ties (two partitions of equal cost, as singletons in the tails of F16 blocks
// give at k = 256), a later split takes over only when strictly better, so each range starts at its
// leftmost optimal split, as in the DP. On the F16 test blocks at k = 8 to 256 the partitions are the DP's
// own, ties included; of the benchmark's blocks at k = 256, a few tied partitions come out otherwise (same
// SSE; the pass and the DP round apart). Before it is returned, the partition's cost is checked against the
// priced optimum F(U) - lambda * k; a mismatch beyond rounding, which would mean the queue went wrong, gives
// up instead.
//
// Which split takes over is decided without division where the weights allow (lean_takes_over in
// kmeans1d_internal.hpp): a pass spends most of its time waiting on these comparisons, and the lean form
// made it 1.2 times faster (bench/performance_notes.md, session 11).
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "clustering/kmeans1d_internal.hpp"
#include "palettize/error.hpp"
#include "tensor/cpu_features.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PALETTIZE_LAGRANGIAN_AVX2 1
#endif

namespace palettize::kmeans1d_detail {
namespace {

// Passes allowed to find a lambda whose optimum has exactly k ranges; without one, the caller runs the full
// DP (ties that make the count jump over k are the case this gives up on).
constexpr int kMaxPasses = 24;
// The price is first found on a coarse problem of at most 1/kCoarseShrink of the values, when that leaves
// at least kCoarseMinGroupsPerCluster groups per cluster (coarse_groups).
constexpr std::size_t kCoarseShrink = 8;
constexpr std::size_t kCoarseMinGroupsPerCluster = 2;
// Where a new split takes over from the last candidate is within 4 rows of where they are first compared in
// 3 of 4 cases (F16 blocks): those rows are compared four at a time, then galloping takes over.
constexpr int kLinearSteps = 4;

#ifdef PALETTIZE_LAGRANGIAN_AVX2
#define PALETTIZE_AVX2_INLINE __attribute__((target("avx2"), always_inline)) inline

// A split's prefix sums and best value in every lane, for comparing it over four rows at once.
struct SplitLanes {
  __m256d weight, first, second, best;

  PALETTIZE_AVX2_INLINE SplitLanes(const double* weight_prefix, const double* first_prefix,
                                   const double* second_prefix, std::size_t split, double split_best)
      : weight(_mm256_set1_pd(weight_prefix[split])), first(_mm256_set1_pd(first_prefix[split])),
        second(_mm256_set1_pd(second_prefix[split])), best(_mm256_set1_pd(split_best)) {}

  // best + cost(split, row) + lambda for four rows, as the pass's value() computes it: lane by lane the same
  // IEEE operations (cost_from_sums, no FMA), so the comparisons are bit-identical to the scalar ones.
  PALETTIZE_AVX2_INLINE __m256d values(__m256d row_weight, __m256d row_first, __m256d row_second,
                                       __m256d lambda) const {
    const __m256d range_weight = _mm256_sub_pd(row_weight, weight);
    const __m256d range_first = _mm256_sub_pd(row_first, first);
    const __m256d range_second = _mm256_sub_pd(row_second, second);
    const __m256d divisor = _mm256_max_pd(range_weight, _mm256_set1_pd(kWeightFloor));
    const __m256d quotient = _mm256_div_pd(_mm256_mul_pd(range_first, range_first), divisor);
    const __m256d range_cost = _mm256_max_pd(_mm256_sub_pd(range_second, quotient), _mm256_setzero_pd());
    return _mm256_add_pd(_mm256_add_pd(best, range_cost), lambda);
  }
};

// lean_takes_over for rows r..r+3 (r + 3 <= n), lane by lane the same IEEE operations. Bit t: row r + t.
PALETTIZE_AVX2_INLINE unsigned lean_taken_in_four_rows(const double* weight_prefix, const double* first_prefix,
                                                       std::size_t r, const SplitLanes& mine,
                                                       const SplitLanes& theirs, double x) {
  const __m256d weight = _mm256_loadu_pd(weight_prefix + r), first = _mm256_loadu_pd(first_prefix + r);
  const __m256d wi = _mm256_sub_pd(weight, mine.weight), wo = _mm256_sub_pd(weight, theirs.weight);
  const __m256d fi = _mm256_sub_pd(first, mine.first), fo = _mm256_sub_pd(first, theirs.first);
  const __m256d lhs = _mm256_mul_pd(_mm256_set1_pd(x), _mm256_mul_pd(wi, wo));
  const __m256d rhs = _mm256_sub_pd(_mm256_mul_pd(_mm256_mul_pd(fi, fi), wo), _mm256_mul_pd(_mm256_mul_pd(fo, fo), wi));
  return static_cast<unsigned>(_mm256_movemask_pd(_mm256_cmp_pd(lhs, rhs, _CMP_LT_OQ)));
}

// Bit t: `mine` is strictly better than `theirs` at row r + t (r + 3 <= n).
PALETTIZE_AVX2_INLINE unsigned taken_in_four_rows(const double* weight_prefix, const double* first_prefix,
                                                  const double* second_prefix, std::size_t r,
                                                  const SplitLanes& mine, const SplitLanes& theirs, double lambda) {
  const __m256d weight = _mm256_loadu_pd(weight_prefix + r), first = _mm256_loadu_pd(first_prefix + r),
                second = _mm256_loadu_pd(second_prefix + r), lanes_lambda = _mm256_set1_pd(lambda);
  const __m256d mine_values = mine.values(weight, first, second, lanes_lambda);
  const __m256d their_values = theirs.values(weight, first, second, lanes_lambda);
  return static_cast<unsigned>(_mm256_movemask_pd(_mm256_cmp_pd(mine_values, their_values, _CMP_LT_OQ)));
}
#endif

#define PALETTIZE_PASS_CLASS PassScalar
#define PALETTIZE_PASS_TARGET
#define PALETTIZE_PASS_SIMD 0
#include "clustering/kmeans1d_pass.inc"
#undef PALETTIZE_PASS_CLASS
#undef PALETTIZE_PASS_TARGET
#undef PALETTIZE_PASS_SIMD

#ifdef PALETTIZE_LAGRANGIAN_AVX2
#define PALETTIZE_PASS_CLASS PassAvx2
#define PALETTIZE_PASS_TARGET __attribute__((target("avx2")))
#define PALETTIZE_PASS_SIMD 1
#include "clustering/kmeans1d_pass.inc"
#undef PALETTIZE_PASS_CLASS
#undef PALETTIZE_PASS_TARGET
#undef PALETTIZE_PASS_SIMD
#endif

// The search for a price whose optimum has exactly k ranges. The optimal cost OPT(m) is convex in m, and a
// pass at price lambda lands on an m whose slopes bracket lambda, and tells OPT(m) (F(U) - lambda * m). Once
// passes have landed on both sides of k, the chord between the two points has a slope that lands strictly
// between them: on k itself when they are k's neighbours. Until then, the power law of k-means costs
// (OPT ~ C / k^2, marginal price 2 C / k^3) scales the price by the count's ratio cubed. Every guess is kept
// strictly inside the bracket of prices known to give more and fewer ranges, or the bracket is bisected.
class PriceSearch {
 public:
  explicit PriceSearch(std::size_t k) : k_(static_cast<double>(k)) {}

  // Records a pass at `lambda` that found `ranges` ranges with F(U) = `priced`; returns the next price.
  double next(double lambda, std::size_t ranges, double priced) {
    const double m = static_cast<double>(ranges);
    (m > k_ ? low_ : high_) = lambda;
    (m > k_ ? more_ : fewer_) = Point{m, priced - lambda * m};
    const double guess = !(more_.known() && fewer_.known()) ? lambda * (m / k_) * (m / k_) * (m / k_)
                         : more_.ranges - fewer_.ranges <= 2 ? chord()
                                                             : power_law_through_both();
    if (guess > low_ && guess < high_ && std::isfinite(guess)) return guess;
    if (!std::isfinite(high_)) return lambda * 4;
    if (low_ <= 0) return high_ / 4;
    return std::sqrt(low_ * high_);
  }

 private:
  struct Point {
    double ranges = 0, cost = 0;  // ranges 0: no pass yet
    bool known() const { return ranges > 0; }
  };

  double chord() const { return (fewer_.cost - more_.cost) / (more_.ranges - fewer_.ranges); }

  // The marginal price at k of the power law C / m^a through both points: a chord between counts far apart
  // has the slope of a count half-way between them.
  double power_law_through_both() const {
    const double a = std::log(fewer_.cost / more_.cost) / std::log(more_.ranges / fewer_.ranges);
    return a * more_.cost * std::pow(more_.ranges / k_, a) / k_;
  }

  double k_;
  double low_ = 0, high_ = kInfinity;  // prices known to give more / fewer than k ranges
  Point more_, fewer_;                 // the last pass that gave more / fewer than k ranges
};

// A price whose forward pass has exactly k ranges (its F left in buffers.best), starting the search at
// `lambda`; std::nullopt when none is found.
std::optional<double> exact_price(const RangeCost& cost, std::size_t k, double lambda, bool simd,
                                  PassBuffers& buffers) {
  PriceSearch search(k);
  for (int pass = 0; pass < kMaxPasses && lambda > 0 && std::isfinite(lambda); ++pass) {
    const std::size_t ranges = lagrangian_pass(cost, lambda, simd, buffers);
    if (ranges == k) return lambda;
    lambda = search.next(lambda, ranges, buffers.best[cost.size()]);
  }
  return std::nullopt;
}

// Groups of values that share a cell of width range / d (cells from the smallest value on), for
// d = d0, 2 d0, 4 d0 and 8 d0: the cells of each width halve those of the one before, so the finest cells are
// computed once (a cell per value and no dependence between values: a group kept from one value to the next
// would make the scan wait on it) and shifted for the others. Returns the group starts (0 first, U last) of
// the narrowest width that leaves at most `limit` groups, or nothing when even d0 leaves more.
constexpr int kWidthsPerScan = 4;

std::vector<uint32_t> narrowest_groups_within(std::span<const double> values, std::size_t d0, std::size_t limit) {
  const std::size_t n = values.size();
  const double lowest = values[0], range = values[n - 1] - lowest;
  if (!(range > 0)) return {};
  // Cell indices stay below 8 d0 + 1 <= U + 1: int32 keeps the loops vectorisable (SSE2 converts two doubles
  // to int32 at once). Kept per thread: a row's solve runs this once per coarse level.
  const double cells_per_unit = static_cast<double>(d0 << (kWidthsPerScan - 1)) / range;
  thread_local std::vector<int32_t> finest_cells;
  finest_cells.resize(n);
  int32_t* const cell = finest_cells.data();
  for (std::size_t i = 0; i < n; ++i) cell[i] = static_cast<int32_t>((values[i] - lowest) * cells_per_unit);
  // Cells never decrease along the sorted values, so value i starts a group of width w where its finest
  // cell differs from the previous value's in a bit at or above w's shift.
  uint32_t groups[kWidthsPerScan] = {1, 1, 1, 1};
  for (int w = 0; w < kWidthsPerScan; ++w) {
    const int32_t shift = kWidthsPerScan - 1 - w;
    uint32_t starts = 0;
    for (std::size_t i = 1; i < n; ++i) starts += (cell[i] >> shift) != (cell[i - 1] >> shift);
    groups[w] += starts;
  }
  int chosen = kWidthsPerScan;
  while (chosen > 0 && groups[chosen - 1] > limit) --chosen;
  if (chosen == 0) return {};
  const int shift = kWidthsPerScan - chosen;
  std::vector<uint32_t> starts(groups[chosen - 1] + 1);
  std::size_t count = 1;  // starts[0] = 0
  for (std::size_t i = 1; i < n; ++i) {
    starts[count] = static_cast<uint32_t>(i);  // kept only where a group starts
    count += (cell[i] >> shift) != (cell[i - 1] >> shift);
  }
  starts[count] = static_cast<uint32_t>(n);
  return starts;
}

// Where the price search starts: the exact price of the coarse problem (itself found the same way), or the
// power law from the one-cluster cost. (2 / k times the DP's Lloyd bound is a worse start: on the
// benchmark's heavy-tailed blocks that bound is about 1.75 times the optimum.)
double starting_price(const RangeCost& cost, std::span<const double> values, std::size_t k, bool simd,
                      PassBuffers& buffers) {
  const double kd = static_cast<double>(k);
  const double from_power_law = 2 * cost(0, cost.size()) / (kd * kd * kd);
  const std::optional<std::vector<uint32_t>> groups = coarse_groups(values, k);
  if (!groups) return from_power_law;
  const RangeCost coarse = cost.restricted_to(*groups);
  std::vector<double> group_values(groups->size() - 1);
  for (std::size_t g = 0; g < group_values.size(); ++g) group_values[g] = values[(*groups)[g]];
  return exact_price(coarse, k, starting_price(coarse, group_values, k, simd, buffers), simd, buffers)
      .value_or(from_power_law);
}

}  // namespace

// The coarse problem's groups. Its exact price is nearly always right for the full problem when its groups
// are narrow compared with the clusters, not merely few values each:
// - groups of equal width (cells of range / d, d a power of two that leaves at most U / kCoarseShrink
//   groups, the largest of the four tried) keep the tails, where the clusters hold few values, at nearly
//   full resolution;
// - groups of a fixed count of values take whole tail clusters into one group: on rows of the benchmark's
//   heavy-tailed F16 weights, the optimum of every 4th value costs 5-30 % more than the full one.
// On those rows (k = 16, 3,300 values) the price of the width groups is right for the full problem in 255
// of 256 rows (71 % of 850 shorter ISNet rows), which brings a row's passes from 2.1 full passes' worth to
// about 1.25 (bench/performance_notes.md, session 12). A block whose values bunch so that few width groups
// remain falls back to count groups.
std::optional<std::vector<uint32_t>> coarse_groups(std::span<const double> values, std::size_t k) {
  const std::size_t n = values.size(), limit = n / kCoarseShrink;
  if (limit < kCoarseMinGroupsPerCluster * k) return std::nullopt;
  // Cells of range / d hold the values in at most d + 1 groups: d0 always fits.
  std::vector<uint32_t> groups = narrowest_groups_within(values, std::bit_floor(limit - 1), limit);
  if (groups.size() > kCoarseMinGroupsPerCluster * k) return groups;
  std::vector<uint32_t> every_few;
  for (std::size_t i = 0; i < n; i += kCoarseShrink) every_few.push_back(static_cast<uint32_t>(i));
  every_few.push_back(static_cast<uint32_t>(n));
  return every_few;
}

bool lean_comparisons_are_safe(const RangeCost& cost, double lambda) {
  const std::size_t n = cost.size();
  if (n == 0) return false;
  const double total_weight = cost.weight_prefix()[n];
  const double largest_x = 3 * cost.second_prefix()[n] + 2 * lambda;  // |best| <= cost(0, n) + lambda
  return cost.min_weight() >= 0x1p-200 && cost.min_weight() >= std::ldexp(total_weight, -40) &&
         total_weight <= 0x1p200 && std::isfinite(largest_x) && total_weight * total_weight * largest_x <= 0x1p900;
}

std::size_t lagrangian_pass(const RangeCost& cost, double lambda, bool allow_simd, PassBuffers& buffers) {
  const bool lean = lean_comparisons_are_safe(cost, lambda);
#ifdef PALETTIZE_LAGRANGIAN_AVX2
  if (allow_simd && cpu_has_avx2()) {
    return lean ? PassAvx2<true>(cost, lambda, buffers).run() : PassAvx2<false>(cost, lambda, buffers).run();
  }
#endif
  (void)allow_simd;
  return lean ? PassScalar<true>(cost, lambda, buffers).run() : PassScalar<false>(cost, lambda, buffers).run();
}

std::optional<std::vector<uint32_t>> lagrangian_bounds(const RangeCost& cost, std::span<const double> values,
                                                       std::size_t k, bool allow_simd) {
  const std::size_t n = cost.size();
  check(values.size() == n, "lagrangian_bounds: ", values.size(), " values for a cost of ", n);
  const double total = cost(0, n);
  if (k < 2 || k >= n || !(total > 0)) return std::nullopt;
  // Kept per thread: a fresh set per block cost an allocation and a zero fill of 20 bytes per value that every
  // pass overwrites anyway (about 2 % of a 4-bit per-row run). Passes write every entry before reading it.
  thread_local PassBuffers buffers;
  const std::optional<double> lambda =
      exact_price(cost, k, starting_price(cost, values, k, allow_simd, buffers), allow_simd, buffers);
  if (!lambda) return std::nullopt;
  std::vector<uint32_t> bounds(k + 1, 0);
  std::size_t at = n;
  for (std::size_t t = k; t > 0; --t) {
    bounds[t] = static_cast<uint32_t>(at);
    at = buffers.parent[at];
  }
  double partition_cost = 0;
  for (std::size_t t = 0; t < k; ++t) partition_cost += cost(bounds[t], bounds[t + 1]);
  const double lambda_k = *lambda * static_cast<double>(k);
  const double optimum = buffers.best[n] - lambda_k;
  // Rounding: F sums about k range costs, each rounded relative to the total second moment (`total`).
  const double slack = 1e-9 * (optimum + lambda_k) + 1e-12 * static_cast<double>(k) * total;
  if (at != 0 || !(std::fabs(partition_cost - optimum) <= slack)) return std::nullopt;
  return bounds;
}

}  // namespace palettize::kmeans1d_detail
