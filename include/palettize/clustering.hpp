#pragma once
// Clustering kernels: exact weighted 1-D k-means and weighted vector k-means. Pure math: no threads, no I/O.
#include <cstdint>
#include <span>
#include <vector>

namespace palettize {

// A block reduced to its distinct values: ascending `values`, the weight of each (occurrence count, or the
// sum of the sensitivities of its occurrences) and, for every input element, the position of its value.
struct DistinctValues {
  std::vector<double> values;
  std::vector<double> weights;
  std::vector<uint32_t> inverse;
};

// Sorts and merges equal values (-0 and +0 are one value). `sensitivities` is empty (weights = counts)
// or has one non-negative finite weight per element. Throws Error on NaN/Inf input.
DistinctValues reduce_to_distinct(std::span<const float> x, std::span<const float> sensitivities = {});

// The reference's "fast mode" (§3.3): cast to fp16, then round to `precision` decimals in float32
// (half to even). Changes the data; off by default in palettize.
void apply_fast_mode_rounding(std::span<float> x, int precision);

struct ScalarClustering {
  std::vector<double> centroids;  // ascending; size = min(k, number of distinct values)
  std::vector<uint32_t> labels;   // one per distinct value, indexes `centroids`
  double sse = 0;                 // weighted sum of squared errors of the optimum
};

// Globally optimal weighted 1-D k-means under squared error, over sorted distinct `values` with
// non-negative `weights`. Exact dynamic program over the distinct values (monotone row minima), so the
// result is the optimum up to floating-point rounding. Ranges with zero total weight cost nothing and
// take the unweighted mean of their values as centroid.
ScalarClustering cluster_1d_optimal(std::span<const double> values, std::span<const double> weights, int k);

// The centroids of cluster_1d_optimal alone (bit-identical), without its labels and SSE: what a LUT needs.
std::vector<double> optimal_centroids_1d(std::span<const double> values, std::span<const double> weights, int k);

// Optimal SSE for every cluster count 1..k_max (entry c-1 is the best SSE with c clusters); entries
// beyond the number of distinct values are 0. One DP run: used for rate/distortion curves.
std::vector<double> optimal_costs_1d(std::span<const double> values, std::span<const double> weights, int k_max);

struct VectorClusteringOptions {
  uint64_t seed = 0;
  int restarts = 5;          // independent k-means++ seedings; the lowest SSE wins
  int max_iterations = 300;  // Lloyd iterations per restart (stops earlier when labels settle)
};

struct VectorClustering {
  int dim = 0;
  std::vector<double> centroids;  // k_eff x dim, row-major; k_eff = min(k, number of points)
  std::vector<uint32_t> labels;   // one per point
  double sse = 0;                 // weighted sum of squared Euclidean errors
};

// Weighted k-means on `points` (N x dim, row-major) with one non-negative weight per point (empty = 1):
// k-means++ seeding, Lloyd to convergence, several restarts, empty clusters re-seeded from the worst-served
// point (never NaN). Deterministic for a given seed.
VectorClustering cluster_vectors(std::span<const float> points, int dim, std::span<const float> weights, int k,
                                 const VectorClusteringOptions& options);

}  // namespace palettize
