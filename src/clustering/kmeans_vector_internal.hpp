// private: include only from src/ and tests/
// The pieces of weighted vector k-means (cluster_vectors), exposed so that tests can check each one
// against a brute-force version: merging identical points, k-means++ seeding and the Lloyd iterations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace palettize::kmeans_detail {

// The input points with identical points merged: k-means on the merged set with summed weights has the
// same objective as on the original points, and each iteration visits every distinct point only once.
struct WeightedPointSet {
  int dim = 0;
  std::vector<float> coords;      // size() x dim, row-major, in order of first occurrence; -0 stored as +0
  std::vector<double> weights;    // summed weights of the merged points
  std::vector<uint32_t> inverse;  // for every input point, the index of its merged point
  std::size_t size() const { return weights.size(); }
};

// `weights` empty means weight 1 per point. Inputs must already be validated (finite, non-negative).
WeightedPointSet merge_identical_points(std::span<const float> points, int dim, std::span<const float> weights);

// The uniform double in [0, 1) stream of one restart: std::mt19937_64 seeded from (seed, restart), turned
// into doubles by hand ((x >> 11) * 2^-53) because std distributions differ between standard libraries.
class RestartRandom {
 public:
  RestartRandom(uint64_t seed, int restart);
  double next_uniform();

 private:
  std::mt19937_64 engine_;  // its output sequence is fixed by the standard, unlike distributions
};

// k-means++ seeding: the first centroid is drawn with probability proportional to weight, each next one
// proportional to weight x squared distance to the nearest chosen centroid (D² sampling). Points already
// at distance 0 are never drawn while another point remains; when every point's weighted distance is 0,
// the draw falls back to unweighted D², and once every distinct point is a centroid the remaining
// centroids repeat the last one. Returns k x dim centroids.
std::vector<double> seed_kmeans_plus_plus(const WeightedPointSet& set, int k, uint64_t seed, int restart);

// How the assignment step finds each point's nearest centroid. `bounded` (Hamerly's bounds) skips points
// whose nearest centroid provably cannot have changed; `exhaustive` measures every distance. Both give the
// same labels: a point is skipped only with a safety margin far above the rounding error.
enum class AssignmentMethod { bounded, exhaustive };

struct LloydRun {
  std::vector<double> centroids;  // k x dim
  std::vector<uint32_t> labels;   // nearest centroid of every point (lowest index on ties)
  double sse = 0;
  int iterations = 0;             // centroid updates done
  bool converged = false;         // labels stopped changing before max_iterations
};

// Lloyd iterations from `centroids` (k x dim): assign, then (up to max_iterations times) move every
// centroid to the weighted mean of its points and assign again, until labels stop changing. A cluster
// with no weight is re-seeded at the point with the largest weighted squared distance to its centroid;
// when no point has a positive one it keeps its place (empty) or takes the plain mean of its points.
LloydRun run_lloyd(const WeightedPointSet& set, std::vector<double> centroids, int max_iterations,
                   AssignmentMethod method = AssignmentMethod::bounded);

// Weighted sum of squared distances of every point to the centroid its label names.
double weighted_sse(const WeightedPointSet& set, std::span<const double> centroids,
                    std::span<const uint32_t> labels);

}  // namespace palettize::kmeans_detail
