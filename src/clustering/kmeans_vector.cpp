// Weighted vector k-means (cluster_dim > 1): input checks, merging of identical points, k-means++ seeding
// and the restart loop. The Lloyd iterations live in kmeans_lloyd.cpp.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "clustering/kmeans_vector_internal.hpp"
#include "palettize/clustering.hpp"
#include "palettize/error.hpp"

namespace palettize {
namespace kmeans_detail {
namespace {

constexpr uint32_t kEmptySlot = std::numeric_limits<uint32_t>::max();

uint64_t mix64(uint64_t x) {  // splitmix64 finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t hash_point(const uint32_t* bits, int dim) {
  uint64_t h = 0x9e3779b97f4a7c15ULL;
  for (int j = 0; j < dim; ++j) h = mix64(h ^ bits[j]);
  return h;
}

// Float bit patterns with -0 folded into +0, so that equal values hash and compare equal.
void canonical_bits(const float* point, int dim, uint32_t* bits) {
  for (int j = 0; j < dim; ++j) bits[j] = point[j] == 0.0f ? 0u : std::bit_cast<uint32_t>(point[j]);
}

double squared_distance(const float* point, const double* centroid, int dim) {
  double sum = 0;
  for (int j = 0; j < dim; ++j) {
    const double diff = static_cast<double>(point[j]) - centroid[j];
    sum += diff * diff;
  }
  return sum;
}

// Index drawn with probability mass(i) / total, where total = sum of mass(i) > 0. Only indices with a
// positive mass can be drawn; rounding that leaves the target past the last sum picks the last such index.
template <typename Mass>
std::size_t draw_index(std::size_t count, double total, double uniform, Mass mass) {
  const double target = uniform * total;
  double cumulative = 0;
  std::size_t last_positive = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const double m = mass(i);
    if (m <= 0) continue;
    cumulative += m;
    last_positive = i;
    if (cumulative > target) return i;
  }
  return last_positive;
}

}  // namespace

WeightedPointSet merge_identical_points(std::span<const float> points, int dim, std::span<const float> weights) {
  const std::size_t count = points.size() / static_cast<std::size_t>(dim);
  WeightedPointSet set;
  set.dim = dim;
  set.inverse.resize(count);
  const std::size_t capacity = std::bit_ceil(std::max<std::size_t>(2 * count, 16));
  std::vector<uint32_t> slots(capacity, kEmptySlot);
  std::vector<uint32_t> merged_bits;  // canonical bits of every merged point, to compare on collisions
  std::vector<uint32_t> bits(static_cast<std::size_t>(dim));
  for (std::size_t i = 0; i < count; ++i) {
    canonical_bits(points.data() + i * dim, dim, bits.data());
    std::size_t slot = hash_point(bits.data(), dim) & (capacity - 1);
    while (slots[slot] != kEmptySlot &&
           std::memcmp(&merged_bits[std::size_t{slots[slot]} * dim], bits.data(), sizeof(uint32_t) * dim) != 0) {
      slot = (slot + 1) & (capacity - 1);
    }
    const double weight = weights.empty() ? 1.0 : static_cast<double>(weights[i]);
    if (slots[slot] == kEmptySlot) {
      slots[slot] = static_cast<uint32_t>(set.weights.size());
      merged_bits.insert(merged_bits.end(), bits.begin(), bits.end());
      for (uint32_t b : bits) set.coords.push_back(std::bit_cast<float>(b));
      set.weights.push_back(weight);
    } else {
      set.weights[slots[slot]] += weight;
    }
    set.inverse[i] = slots[slot];
  }
  return set;
}

RestartRandom::RestartRandom(uint64_t seed, int restart)
    : engine_(mix64(mix64(seed) ^ (0x632be59bd9b4e019ULL * (static_cast<uint64_t>(restart) + 1)))) {}

double RestartRandom::next_uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

std::vector<double> seed_kmeans_plus_plus(const WeightedPointSet& set, int k, uint64_t seed, int restart) {
  const int dim = set.dim;
  const std::size_t count = set.size();
  RestartRandom random(seed, restart);
  std::vector<double> centroids(static_cast<std::size_t>(k) * dim);
  auto place = [&](int c, std::size_t point) {
    for (int j = 0; j < dim; ++j) centroids[std::size_t(c) * dim + j] = set.coords[point * dim + j];
  };

  double total_weight = 0;
  for (double w : set.weights) total_weight += w;
  const double first_uniform = random.next_uniform();
  const std::size_t first = total_weight > 0
                                ? draw_index(count, total_weight, first_uniform, [&](std::size_t i) { return set.weights[i]; })
                                : std::min(count - 1, static_cast<std::size_t>(first_uniform * double(count)));
  place(0, first);

  std::vector<double> nearest(count, std::numeric_limits<double>::infinity());
  for (int c = 1; c < k; ++c) {
    const double* latest = &centroids[std::size_t(c - 1) * dim];
    double weighted_total = 0;
    double plain_total = 0;
    for (std::size_t i = 0; i < count; ++i) {
      nearest[i] = std::min(nearest[i], squared_distance(&set.coords[i * dim], latest, dim));
      weighted_total += set.weights[i] * nearest[i];
      plain_total += nearest[i];
    }
    const double uniform = random.next_uniform();
    if (weighted_total > 0) {
      place(c, draw_index(count, weighted_total, uniform, [&](std::size_t i) { return set.weights[i] * nearest[i]; }));
    } else if (plain_total > 0) {  // only zero-weight points are left unserved
      place(c, draw_index(count, plain_total, uniform, [&](std::size_t i) { return nearest[i]; }));
    } else {  // every distinct point is already a centroid
      std::copy_n(latest, dim, &centroids[std::size_t(c) * dim]);
    }
  }
  return centroids;
}

double weighted_sse(const WeightedPointSet& set, std::span<const double> centroids,
                    std::span<const uint32_t> labels) {
  double sse = 0;
  for (std::size_t i = 0; i < set.size(); ++i) {
    if (set.weights[i] == 0) continue;
    sse += set.weights[i] * squared_distance(&set.coords[i * set.dim], &centroids[std::size_t(labels[i]) * set.dim],
                                             set.dim);
  }
  return sse;
}

}  // namespace kmeans_detail

namespace {

void check_vector_inputs(std::span<const float> points, int dim, std::span<const float> weights, int k,
                         const VectorClusteringOptions& options) {
  check(dim >= 1, "cluster_vectors: dim must be >= 1, got ", dim);
  check(points.size() % static_cast<std::size_t>(dim) == 0, "cluster_vectors: ", points.size(),
        " values do not split into points of dim ", dim);
  const std::size_t count = points.size() / static_cast<std::size_t>(dim);
  check(count >= 1, "cluster_vectors: no points to cluster");
  check(count <= std::numeric_limits<uint32_t>::max(), "cluster_vectors: ", count,
        " points exceed the 2^32-1 that labels can index");
  check(k >= 1, "cluster_vectors: k must be >= 1, got ", k);
  check(options.restarts >= 1, "cluster_vectors: restarts must be >= 1, got ", options.restarts);
  check(options.max_iterations >= 0, "cluster_vectors: max_iterations must be >= 0, got ", options.max_iterations);
  check(weights.empty() || weights.size() == count, "cluster_vectors: ", weights.size(), " weights for ", count,
        " points");
  for (std::size_t i = 0; i < points.size(); ++i) {
    check(std::isfinite(points[i]), "cluster_vectors: point ", i / dim, " has the non-finite coordinate ",
          points[i]);
  }
  for (std::size_t i = 0; i < weights.size(); ++i) {
    check(std::isfinite(weights[i]) && weights[i] >= 0, "cluster_vectors: weight ", i, " is ", weights[i],
          " (weights must be finite and non-negative)");
  }
}

}  // namespace

VectorClustering cluster_vectors(std::span<const float> points, int dim, std::span<const float> weights, int k,
                                 const VectorClusteringOptions& options) {
  using namespace kmeans_detail;
  check_vector_inputs(points, dim, weights, k, options);
  const std::size_t count = points.size() / static_cast<std::size_t>(dim);
  const int k_eff = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(k), count));
  const WeightedPointSet set = merge_identical_points(points, dim, weights);

  LloydRun best;
  for (int restart = 0; restart < options.restarts; ++restart) {
    LloydRun run = run_lloyd(set, seed_kmeans_plus_plus(set, k_eff, options.seed, restart), options.max_iterations);
    if (restart == 0 || run.sse < best.sse) best = std::move(run);  // ties keep the earliest restart
  }

  VectorClustering result;
  result.dim = dim;
  result.centroids = std::move(best.centroids);
  result.sse = best.sse;
  result.labels.resize(count);
  for (std::size_t i = 0; i < count; ++i) result.labels[i] = best.labels[set.inverse[i]];
  return result;
}

}  // namespace palettize
