// Lloyd iterations for weighted vector k-means, with Hamerly's bounds to skip most distance computations
// once clusters settle. The assignment step is the hot loop (millions of points, up to 256 centroids), so
// the point dimension is a template parameter for the usual cluster_dim values and nothing is allocated
// per iteration except when a starved cluster must be re-seeded.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

#include "clustering/kmeans_vector_internal.hpp"

namespace palettize::kmeans_detail {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// Dim > 0 fixes the dimension at compile time; Dim == 0 reads it at run time.
template <int Dim>
inline double point_distance2(const float* point, const double* centroid, int dim) {
  const int size = Dim > 0 ? Dim : dim;
  double sum = 0;
  for (int j = 0; j < size; ++j) {
    const double diff = static_cast<double>(point[j]) - centroid[j];
    sum += diff * diff;
  }
  return sum;
}

inline double centroid_distance(const double* a, const double* b, int dim) {
  double sum = 0;
  for (int j = 0; j < dim; ++j) sum += (a[j] - b[j]) * (a[j] - b[j]);
  return std::sqrt(sum);
}

template <int Dim>
class LloydSolver {
 public:
  LloydSolver(const WeightedPointSet& set, std::vector<double> centroids, AssignmentMethod method)
      : set_(set),
        dim_(set.dim),
        k_(static_cast<int>(centroids.size() / static_cast<std::size_t>(set.dim))),
        method_(method),
        centroids_(std::move(centroids)),
        previous_(centroids_.size()),
        sums_(centroids_.size()),
        cluster_weight_(k_),
        cluster_count_(k_),
        cluster_member_(k_),
        shift_(k_),
        half_gap_(k_),
        distances_(k_),
        columns_(centroids_.size()),
        labels_(set.size()),
        upper_(set.size()),
        lower_(set.size()) {
    double max_abs = 0;
    for (float x : set.coords) max_abs = std::max(max_abs, static_cast<double>(std::fabs(x)));
    // Every centroid stays in the points' convex hull, so no distance exceeds 2 sqrt(dim) max_abs; each
    // bound update adds a rounding error of a few ulps of that. The margin grows with the iterations.
    margin_step_ = 64 * DBL_EPSILON * 2 * std::sqrt(static_cast<double>(dim_)) * max_abs;
  }

  LloydRun run(int max_iterations) {
    store_columns();
    assign_all();
    LloydRun run;
    while (run.iterations < max_iterations) {
      update_centroids();
      ++run.iterations;
      const bool changed = method_ == AssignmentMethod::bounded ? assign_bounded(run.iterations) : assign_all();
      if (!changed) {
        run.converged = true;
        break;
      }
    }
    run.sse = weighted_sse(set_, centroids_, labels_);
    run.centroids = std::move(centroids_);
    run.labels = std::move(labels_);
    return run;
  }

 private:
  const float* point(std::size_t i) const { return &set_.coords[i * dim_]; }
  double* centroid(int c) { return &centroids_[static_cast<std::size_t>(c) * dim_]; }

  // Full scan of one point: nearest centroid (lowest index on ties) and the two smallest distances. The
  // distances go to a buffer first, from centroids stored one coordinate after another, so that the loops
  // vectorize and the minima are found without a dependency chain through every centroid. Each distance
  // is summed in the same order as point_distance2, so both give bit-identical values.
  void scan(std::size_t i) {
    const float* x = point(i);
    double* distances = distances_.data();
    if constexpr (Dim > 0) {
      double coordinates[Dim];
      for (int j = 0; j < Dim; ++j) coordinates[j] = x[j];
      const double* columns = columns_.data();
      const std::size_t k = static_cast<std::size_t>(k_);
      for (std::size_t c = 0; c < k; ++c) {
        double sum = 0;
        for (int j = 0; j < Dim; ++j) {
          const double diff = coordinates[j] - columns[j * k + c];
          sum += diff * diff;
        }
        distances[c] = sum;
      }
    } else {
      std::fill(distances, distances + k_, 0.0);
      for (int j = 0; j < dim_; ++j) {
        const double coordinate = x[j];
        const double* column = &columns_[static_cast<std::size_t>(j) * k_];
        for (int c = 0; c < k_; ++c) {
          const double diff = coordinate - column[c];
          distances[c] += diff * diff;
        }
      }
    }
    double best_d2 = 0;
    double second_d2 = 0;
    two_smallest(distances, k_, best_d2, second_d2);
    const auto best = std::find(distances, distances + k_, best_d2) - distances;
    labels_[i] = static_cast<uint32_t>(best);
    upper_[i] = std::sqrt(best_d2);
    lower_[i] = std::sqrt(second_d2);
  }

  // The two smallest values (equal when the smallest repeats), in four independent lanes so that the
  // loop is not one long latency chain through every centroid.
  static void two_smallest(const double* values, int count, double& smallest, double& second) {
    constexpr int kLanes = 4;
    double first[kLanes], next[kLanes];
    std::fill_n(first, kLanes, kInfinity);
    std::fill_n(next, kLanes, kInfinity);
    int c = 0;
    for (; c + kLanes <= count; c += kLanes) {
      for (int lane = 0; lane < kLanes; ++lane) {
        const double value = values[c + lane];
        next[lane] = std::min(next[lane], std::max(first[lane], value));
        first[lane] = std::min(first[lane], value);
      }
    }
    for (; c < count; ++c) {
      next[0] = std::min(next[0], std::max(first[0], values[c]));
      first[0] = std::min(first[0], values[c]);
    }
    smallest = first[0];
    second = next[0];
    for (int lane = 1; lane < kLanes; ++lane) {
      second = std::min({second, next[lane], std::max(smallest, first[lane])});
      smallest = std::min(smallest, first[lane]);
    }
  }

  void store_columns() {
    for (int c = 0; c < k_; ++c) {
      for (int j = 0; j < dim_; ++j) columns_[static_cast<std::size_t>(j) * k_ + c] = centroid(c)[j];
    }
  }

  bool assign_all() {
    bool changed = false;
    for (std::size_t i = 0; i < set_.size(); ++i) {
      const uint32_t before = labels_[i];
      scan(i);
      changed |= labels_[i] != before;
    }
    return changed;
  }

  // Hamerly: a point keeps its label when its distance to its centroid (upper bound) is below both half
  // the gap from that centroid to the next one and the lower bound on every other centroid's distance.
  bool assign_bounded(int iteration) {
    compute_half_gaps();
    const double margin = margin_step_ * (iteration + 1);
    bool changed = false;
    for (std::size_t i = 0; i < set_.size(); ++i) {
      const uint32_t label = labels_[i];
      const double bound = std::max(half_gap_[label], lower_[i]);
      if (upper_[i] + margin < bound) continue;
      upper_[i] = std::sqrt(point_distance2<Dim>(point(i), centroid(static_cast<int>(label)), dim_));
      if (upper_[i] + margin < bound) continue;
      scan(i);
      changed |= labels_[i] != label;
    }
    return changed;
  }

  void compute_half_gaps() {
    std::fill(half_gap_.begin(), half_gap_.end(), kInfinity);
    for (int a = 0; a < k_; ++a) {
      for (int b = a + 1; b < k_; ++b) {
        const double half = 0.5 * centroid_distance(centroid(a), centroid(b), dim_);
        half_gap_[a] = std::min(half_gap_[a], half);
        half_gap_[b] = std::min(half_gap_[b], half);
      }
    }
  }

  void update_centroids() {
    previous_ = centroids_;
    accumulate_weighted_sums();
    bool starved = false;
    for (int c = 0; c < k_; ++c) {
      if (cluster_weight_[c] > 0 && cluster_count_[c] == 1) {
        // A lone point: copy it, since (w x) / w need not round back to x.
        const float* x = point(cluster_member_[c]);
        for (int j = 0; j < dim_; ++j) centroid(c)[j] = x[j];
      } else if (cluster_weight_[c] > 0) {
        for (int j = 0; j < dim_; ++j) centroid(c)[j] = sums_[static_cast<std::size_t>(c) * dim_ + j] / cluster_weight_[c];
      } else {
        starved = true;
      }
    }
    if (starved) reseed_starved_clusters();
    store_columns();
    if (method_ == AssignmentMethod::bounded) shift_bounds();
  }

  void accumulate_weighted_sums() {
    std::fill(sums_.begin(), sums_.end(), 0.0);
    std::fill(cluster_weight_.begin(), cluster_weight_.end(), 0.0);
    std::fill(cluster_count_.begin(), cluster_count_.end(), 0);
    for (std::size_t i = 0; i < set_.size(); ++i) {
      const uint32_t c = labels_[i];
      const double w = set_.weights[i];
      const float* x = point(i);
      double* sum = &sums_[static_cast<std::size_t>(c) * dim_];
      for (int j = 0; j < dim_; ++j) sum[j] += w * x[j];
      cluster_weight_[c] += w;
      ++cluster_count_[c];
      cluster_member_[c] = i;
    }
  }

  // Clusters without weight move to the worst-served points (largest weight x squared distance to their
  // own new centroid), worst first, ties to the lower index. Points that are served perfectly gain nothing
  // from a centroid of their own; if too few points are left, an empty cluster stays where it was and a
  // zero-weight one takes the plain mean of its points, so no centroid is ever 0/0.
  void reseed_starved_clusters() {
    std::vector<double> cost(set_.size());
    std::vector<std::size_t> candidates;
    for (std::size_t i = 0; i < set_.size(); ++i) {
      if (set_.weights[i] == 0) continue;
      cost[i] = set_.weights[i] * point_distance2<Dim>(point(i), centroid(static_cast<int>(labels_[i])), dim_);
      if (cost[i] > 0) candidates.push_back(i);
    }
    std::vector<int> starved;
    for (int c = 0; c < k_; ++c) {
      if (!(cluster_weight_[c] > 0)) starved.push_back(c);
    }
    const std::size_t reseeds = std::min(starved.size(), candidates.size());
    std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(reseeds), candidates.end(),
                      [&](std::size_t a, std::size_t b) { return cost[a] > cost[b] || (cost[a] == cost[b] && a < b); });
    for (std::size_t r = 0; r < starved.size(); ++r) {
      double* target = centroid(starved[r]);
      if (r < reseeds) {
        const float* x = point(candidates[r]);
        for (int j = 0; j < dim_; ++j) target[j] = x[j];
      } else if (cluster_count_[starved[r]] > 0) {
        set_plain_mean(starved[r]);
      }
    }
  }

  void set_plain_mean(int cluster) {
    std::vector<double> sum(static_cast<std::size_t>(dim_), 0.0);
    for (std::size_t i = 0; i < set_.size(); ++i) {
      if (labels_[i] != static_cast<uint32_t>(cluster)) continue;
      for (int j = 0; j < dim_; ++j) sum[j] += point(i)[j];
    }
    for (int j = 0; j < dim_; ++j) centroid(cluster)[j] = sum[j] / static_cast<double>(cluster_count_[cluster]);
  }

  // Triangle inequality: a centroid that moved by s is at most s nearer or farther than before.
  void shift_bounds() {
    double largest = 0;
    double second = 0;
    int largest_cluster = -1;
    for (int c = 0; c < k_; ++c) {
      shift_[c] = centroid_distance(centroid(c), &previous_[static_cast<std::size_t>(c) * dim_], dim_);
      if (shift_[c] > largest) {
        second = largest;
        largest = shift_[c];
        largest_cluster = c;
      } else if (shift_[c] > second) {
        second = shift_[c];
      }
    }
    for (std::size_t i = 0; i < set_.size(); ++i) {
      const uint32_t label = labels_[i];
      upper_[i] += shift_[label];
      lower_[i] -= static_cast<int>(label) == largest_cluster ? second : largest;
    }
  }

  const WeightedPointSet& set_;
  const int dim_;
  const int k_;
  const AssignmentMethod method_;
  double margin_step_ = 0;
  std::vector<double> centroids_;
  std::vector<double> previous_;
  std::vector<double> sums_;
  std::vector<double> cluster_weight_;
  std::vector<std::size_t> cluster_count_;
  std::vector<std::size_t> cluster_member_;
  std::vector<double> shift_;
  std::vector<double> half_gap_;
  std::vector<double> distances_;  // one point's squared distance to every centroid
  std::vector<double> columns_;    // centroids transposed: coordinate j of centroid c at j * k + c
  std::vector<uint32_t> labels_;
  std::vector<double> upper_;
  std::vector<double> lower_;
};

template <int Dim>
LloydRun run_with(const WeightedPointSet& set, std::vector<double> centroids, int max_iterations,
                  AssignmentMethod method) {
  return LloydSolver<Dim>(set, std::move(centroids), method).run(max_iterations);
}

}  // namespace

LloydRun run_lloyd(const WeightedPointSet& set, std::vector<double> centroids, int max_iterations,
                   AssignmentMethod method) {
  switch (set.dim) {
    case 1: return run_with<1>(set, std::move(centroids), max_iterations, method);
    case 2: return run_with<2>(set, std::move(centroids), max_iterations, method);
    case 3: return run_with<3>(set, std::move(centroids), max_iterations, method);
    case 4: return run_with<4>(set, std::move(centroids), max_iterations, method);
    case 5: return run_with<5>(set, std::move(centroids), max_iterations, method);
    case 6: return run_with<6>(set, std::move(centroids), max_iterations, method);
    case 7: return run_with<7>(set, std::move(centroids), max_iterations, method);
    case 8: return run_with<8>(set, std::move(centroids), max_iterations, method);
    default: return run_with<0>(set, std::move(centroids), max_iterations, method);
  }
}

}  // namespace palettize::kmeans_detail
