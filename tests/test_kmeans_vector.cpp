// Weighted vector k-means (cluster_vectors) and its pieces: merging identical points, k-means++ seeding,
// Lloyd with Hamerly bounds. Checked against brute force: exhaustive assignment, a plain Lloyd loop written
// here, and the exact optimum over all labelings of tiny inputs.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <vector>

#include "clustering/kmeans_vector_internal.hpp"
#include "palettize/clustering.hpp"
#include "palettize/error.hpp"

namespace palettize {
namespace {

using kmeans_detail::WeightedPointSet;

double distance2(const float* point, const double* centroid, int dim) {
  double sum = 0;
  for (int j = 0; j < dim; ++j) sum += (point[j] - centroid[j]) * (point[j] - centroid[j]);
  return sum;
}

// Weighted SSE of the original points under a clustering result, recomputed from scratch.
double recomputed_sse(const std::vector<float>& points, int dim, const std::vector<float>& weights,
                      const VectorClustering& result) {
  double sse = 0;
  for (std::size_t i = 0; i < result.labels.size(); ++i) {
    const double w = weights.empty() ? 1.0 : weights[i];
    sse += w * distance2(&points[i * dim], &result.centroids[std::size_t(result.labels[i]) * dim], dim);
  }
  return sse;
}

std::size_t nearest_centroid(const float* point, const std::vector<double>& centroids, int dim) {
  const std::size_t k = centroids.size() / dim;
  std::size_t best = 0;
  for (std::size_t c = 1; c < k; ++c) {
    if (distance2(point, &centroids[c * dim], dim) < distance2(point, &centroids[best * dim], dim)) best = c;
  }
  return best;
}

bool all_finite(const std::vector<double>& values) {
  return std::all_of(values.begin(), values.end(), [](double v) { return std::isfinite(v); });
}

// ---- examples ----

TEST(ClusterVectors, RecoversWellSeparatedClusters) {
  const int dim = 3;
  const double centers[4][3] = {{0, 0, 0}, {100, 0, 0}, {0, 100, 0}, {0, 0, 100}};
  std::vector<float> points;
  std::vector<int> truth;
  for (int p = 0; p < 200; ++p) {
    const int cluster = (p * 7) % 4;
    for (int j = 0; j < dim; ++j) points.push_back(static_cast<float>(centers[cluster][j] + ((p * 13 + j * 5) % 11 - 5) * 0.1));
    truth.push_back(cluster);
  }
  const VectorClustering result = cluster_vectors(points, dim, {}, 4, {});
  ASSERT_EQ(result.centroids.size(), 4u * dim);
  // Same partition as the truth, and every centroid is its cluster's mean.
  std::map<int, uint32_t> label_of_truth;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    auto [it, inserted] = label_of_truth.emplace(truth[i], result.labels[i]);
    EXPECT_EQ(it->second, result.labels[i]) << "point " << i;
  }
  EXPECT_EQ(label_of_truth.size(), 4u);
  for (auto [cluster, label] : label_of_truth) {
    for (int j = 0; j < dim; ++j) {
      double sum = 0;
      int count = 0;
      for (std::size_t i = 0; i < truth.size(); ++i) {
        if (truth[i] == cluster) sum += points[i * dim + j], ++count;
      }
      EXPECT_NEAR(result.centroids[label * dim + j], sum / count, 1e-9);
    }
  }
  EXPECT_NEAR(result.sse, recomputed_sse(points, dim, {}, result), 1e-9 * result.sse);
}

TEST(ClusterVectors, KAtLeastNGivesEveryPointItsOwnCentroid) {
  const std::vector<float> points = {0.1f, 0.2f, 3.5f, -1.25f, 7.0f, 7.0f, -2.0f, 0.3f, 1e-3f, 5e4f};
  const VectorClustering result = cluster_vectors(points, 2, {}, 16, {});
  EXPECT_EQ(result.centroids.size(), points.size());  // k_eff = N = 5
  EXPECT_EQ(result.sse, 0.0);
  for (std::size_t i = 0; i < 5; ++i) {
    for (int j = 0; j < 2; ++j) EXPECT_EQ(result.centroids[result.labels[i] * 2 + j], points[i * 2 + j]);
  }
}

TEST(ClusterVectors, HeavyWeightPointBecomesItsOwnCentroid) {
  // On a line at 0, 1, 2 with k=2, {0,1} {2} and {0} {1,2} tie without weights; a heavy end point keeps
  // its own centroid and the light points pair up (SSE 0.5 against 10/11).
  const std::vector<float> points = {0, 0, 1, 0, 2, 0};
  const VectorClustering heavy_right = cluster_vectors(points, 2, std::vector<float>{1, 1, 10}, 2, {});
  EXPECT_EQ(heavy_right.labels[0], heavy_right.labels[1]);
  EXPECT_EQ(heavy_right.centroids[heavy_right.labels[2] * 2], 2.0);
  EXPECT_DOUBLE_EQ(heavy_right.sse, 0.5);
  const VectorClustering heavy_left = cluster_vectors(points, 2, std::vector<float>{10, 1, 1}, 2, {});
  EXPECT_EQ(heavy_left.labels[1], heavy_left.labels[2]);
  EXPECT_EQ(heavy_left.centroids[heavy_left.labels[0] * 2], 0.0);
  EXPECT_DOUBLE_EQ(heavy_left.sse, 0.5);
}

TEST(ClusterVectors, OneClusterIsTheWeightedMean) {
  const std::vector<float> points = {0, 4, 1, 0};
  const VectorClustering result = cluster_vectors(points, 2, std::vector<float>{1, 3}, 1, {});
  EXPECT_EQ(result.centroids, (std::vector<double>{0.75, 1.0}));
  EXPECT_DOUBLE_EQ(result.sse, 1 * (0.75 * 0.75 + 9) + 3 * (0.25 * 0.25 + 1));
}

TEST(ClusterVectors, SameInputAndSeedGiveIdenticalOutput) {
  std::vector<float> points;
  std::vector<float> weights;
  for (int i = 0; i < 3000; ++i) {
    points.push_back(std::sin(i * 0.37f) * 10);
    points.push_back(std::cos(i * 1.13f) * std::sin(i * 0.05f));
    weights.push_back(1 + (i % 7));
  }
  VectorClusteringOptions options;
  options.seed = 42;
  const VectorClustering a = cluster_vectors(points, 2, weights, 16, options);
  const VectorClustering b = cluster_vectors(points, 2, weights, 16, options);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.centroids, b.centroids);
  EXPECT_EQ(a.sse, b.sse);
}

TEST(ClusterVectors, AllEqualPointsGiveZeroSseAndNoNan) {
  const std::vector<float> points(40, 2.5f);  // 10 points of dim 4
  const VectorClustering result = cluster_vectors(points, 4, {}, 8, {});
  EXPECT_EQ(result.centroids.size(), 8u * 4);
  EXPECT_EQ(result.sse, 0.0);
  for (double c : result.centroids) EXPECT_EQ(c, 2.5);
}

TEST(ClusterVectors, FewerDistinctPointsThanClustersUseEachOne) {
  std::vector<float> points;
  const float distinct[3][2] = {{0, 0}, {1, 5}, {-4, 2}};
  for (int i = 0; i < 30; ++i) points.insert(points.end(), distinct[i % 3], distinct[i % 3] + 2);
  const VectorClustering result = cluster_vectors(points, 2, {}, 8, {});
  EXPECT_EQ(result.sse, 0.0);
  ASSERT_EQ(result.centroids.size(), 16u);
  std::set<std::pair<double, double>> used;
  for (std::size_t c = 0; c < 8; ++c) used.emplace(result.centroids[2 * c], result.centroids[2 * c + 1]);
  EXPECT_EQ(used.size(), 3u);  // the three points, the other centroids repeat them
}

TEST(ClusterVectors, ZeroWeightsNeverGiveNan) {
  const std::vector<float> points = {0, 0, 1, 1, 2, 2, 3, 3, 10, 10, 11, 11};
  const std::vector<float> all_zero(6, 0.0f);
  const VectorClustering none = cluster_vectors(points, 2, all_zero, 3, {});
  EXPECT_TRUE(all_finite(none.centroids));
  EXPECT_EQ(none.sse, 0.0);
  const std::vector<float> some_zero = {0, 1, 0, 1, 0, 1};
  const VectorClustering some = cluster_vectors(points, 2, some_zero, 4, {});
  EXPECT_TRUE(all_finite(some.centroids));
  EXPECT_EQ(some.sse, 0.0);  // three weighted points, four clusters
}

TEST(ClusterVectors, RejectsBadInput) {
  const std::vector<float> points = {0, 1, 2, 3};
  const VectorClusteringOptions options;
  EXPECT_THROW(cluster_vectors(points, 0, {}, 2, options), Error);
  EXPECT_THROW(cluster_vectors(points, 3, {}, 2, options), Error);  // 4 values are not points of dim 3
  EXPECT_THROW(cluster_vectors({}, 2, {}, 2, options), Error);
  EXPECT_THROW(cluster_vectors(points, 2, {}, 0, options), Error);
  EXPECT_THROW(cluster_vectors(points, 2, std::vector<float>{1}, 2, options), Error);
  EXPECT_THROW(cluster_vectors(points, 2, std::vector<float>{1, -1}, 2, options), Error);
  EXPECT_THROW(cluster_vectors(points, 2, std::vector<float>{1, INFINITY}, 2, options), Error);
  EXPECT_THROW(cluster_vectors(points, 2, std::vector<float>{NAN, 1}, 2, options), Error);
  EXPECT_THROW(cluster_vectors(std::vector<float>{0, NAN}, 2, {}, 2, options), Error);
  VectorClusteringOptions no_restarts;
  no_restarts.restarts = 0;
  EXPECT_THROW(cluster_vectors(points, 2, {}, 2, no_restarts), Error);
  try {
    cluster_vectors(points, 2, std::vector<float>{1, -1}, 2, options);
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("weight 1"), std::string::npos) << error.what();
  }
}

TEST(MergeIdenticalPoints, FoldsSignedZerosAndSumsWeights) {
  const std::vector<float> points = {0.0f, 1.0f, -0.0f, 1.0f, 2.0f, 2.0f, 0.0f, 1.0f};
  const std::vector<float> weights = {1.5f, 2.0f, 0.0f, 3.0f};
  const WeightedPointSet set = kmeans_detail::merge_identical_points(points, 2, weights);
  ASSERT_EQ(set.size(), 2u);
  EXPECT_EQ(set.coords, (std::vector<float>{0.0f, 1.0f, 2.0f, 2.0f}));
  EXPECT_FALSE(std::signbit(set.coords[0]));
  EXPECT_EQ(set.weights, (std::vector<double>{6.5, 0.0}));
  EXPECT_EQ(set.inverse, (std::vector<uint32_t>{0, 0, 1, 0}));
}

TEST(RestartRandom, StreamIsPinnedAndDiffersPerRestart) {
  // Outputs must not depend on the standard library: mt19937_64 is specified bit for bit and the doubles
  // are built by hand. A change here changes every vector LUT palettize writes for a given seed.
  kmeans_detail::RestartRandom first(0, 0);
  kmeans_detail::RestartRandom second(0, 1);
  EXPECT_EQ(first.next_uniform(), 0.88044110599998249);
  EXPECT_EQ(first.next_uniform(), 0.90380926740016898);
  EXPECT_EQ(second.next_uniform(), 0.96947182721440694);
  EXPECT_EQ(second.next_uniform(), 0.61440827918917429);
}

WeightedPointSet line_set(const std::vector<float>& xs, const std::vector<float>& weights) {
  return kmeans_detail::merge_identical_points(xs, 1, weights);
}

TEST(RunLloyd, ReseedsAnEmptyClusterAtTheWorstServedPoint) {
  // Centroid -100 gets no point; after the first update every point is 0.5 from its mean, the tie goes to
  // the lowest index (point 0), and the run ends at {0} {1} {10, 11} instead of keeping an idle centroid.
  const WeightedPointSet set = line_set({0, 1, 10, 11}, {});
  for (auto method : {kmeans_detail::AssignmentMethod::bounded, kmeans_detail::AssignmentMethod::exhaustive}) {
    const auto run = kmeans_detail::run_lloyd(set, {-100, 5, 6}, 300, method);
    EXPECT_TRUE(run.converged);
    EXPECT_EQ(run.centroids, (std::vector<double>{0, 1, 10.5}));
    EXPECT_EQ(run.sse, 0.5);
  }
}

TEST(RunLloyd, ReseedsAZeroWeightCluster) {
  // Centroid 50 holds only the zero-weight point 50: it is re-seeded like an empty one.
  const WeightedPointSet set = line_set({0, 1, 10, 11, 50}, {1, 1, 1, 1, 0});
  const auto run = kmeans_detail::run_lloyd(set, {50, 5, 6}, 300);
  EXPECT_EQ(run.centroids, (std::vector<double>{0, 1, 10.5}));
  EXPECT_EQ(run.sse, 0.5);
}

TEST(RunLloyd, ZeroWeightClusterWithNothingToGainTakesThePlainMean) {
  const WeightedPointSet set = line_set({0, 10, 50, 60}, {1, 1, 0, 0});
  const auto run = kmeans_detail::run_lloyd(set, {0, 10, 40}, 300);
  EXPECT_EQ(run.centroids, (std::vector<double>{0, 10, 55}));
  EXPECT_EQ(run.sse, 0.0);
}

// ---- properties ----

struct Problem {
  int dim = 2;
  int k = 2;
  std::vector<float> points;
  std::vector<float> weights;  // empty or one per point
  std::size_t count() const { return points.size() / dim; }
};

// Small problems: coordinates on a coarse grid (many duplicates and exact ties) or spread floats; weights
// absent, small integers (zeros included) or spread floats; dims 1-4 and 9 (the run-time dimension path).
rc::Gen<Problem> gen_problem(int max_points) {
  return rc::gen::exec([max_points] {
    Problem problem;
    problem.dim = *rc::gen::element(1, 2, 3, 4, 9);
    problem.k = *rc::gen::inRange(1, 10);
    const int count = *rc::gen::inRange(1, max_points + 1);
    const bool on_grid = *rc::gen::arbitrary<bool>();
    for (int i = 0; i < count * problem.dim; ++i) {
      problem.points.push_back(on_grid ? static_cast<float>(*rc::gen::inRange(-3, 4))
                                       : static_cast<float>(*rc::gen::inRange(-1000000, 1000000)) * 1e-4f);
    }
    const int weight_mode = *rc::gen::inRange(0, 3);
    for (int i = 0; weight_mode > 0 && i < count; ++i) {
      problem.weights.push_back(weight_mode == 1 ? static_cast<float>(*rc::gen::inRange(0, 6))
                                                 : static_cast<float>(*rc::gen::inRange(1, 1000000)) * 1e-3f);
    }
    return problem;
  });
}

// The textbook loop: exhaustive assignment (lowest index on ties), weighted means, until labels settle.
// Reports whether a cluster ever lost all its weight, where palettize re-seeds and this loop cannot go on.
struct PlainLloyd {
  std::vector<uint32_t> labels;
  bool starved = false;
};

PlainLloyd plain_lloyd(const WeightedPointSet& set, std::vector<double> centroids, int max_iterations) {
  const int dim = set.dim;
  const std::size_t k = centroids.size() / dim;
  PlainLloyd run;
  auto assign = [&] {
    std::vector<uint32_t> labels(set.size());
    for (std::size_t i = 0; i < set.size(); ++i) labels[i] = nearest_centroid(&set.coords[i * dim], centroids, dim);
    return labels;
  };
  run.labels = assign();
  for (int iteration = 0; iteration < max_iterations; ++iteration) {
    std::vector<double> sums(k * dim, 0.0);
    std::vector<double> mass(k, 0.0);
    for (std::size_t i = 0; i < set.size(); ++i) {
      for (int j = 0; j < dim; ++j) sums[run.labels[i] * dim + j] += set.weights[i] * set.coords[i * dim + j];
      mass[run.labels[i]] += set.weights[i];
    }
    for (std::size_t c = 0; c < k; ++c) {
      if (mass[c] == 0) {
        run.starved = true;
        return run;
      }
      for (int j = 0; j < dim; ++j) centroids[c * dim + j] = sums[c * dim + j] / mass[c];
    }
    std::vector<uint32_t> labels = assign();
    if (labels == run.labels) break;
    run.labels = std::move(labels);
  }
  return run;
}

RC_GTEST_PROP(ClusterVectorsProperty, BoundedAssignmentMatchesExhaustive, ()) {
  const Problem problem = *gen_problem(60);
  const WeightedPointSet set = kmeans_detail::merge_identical_points(problem.points, problem.dim, problem.weights);
  const int k = static_cast<int>(std::min<std::size_t>(problem.k, problem.count()));
  const std::vector<double> seeds = kmeans_detail::seed_kmeans_plus_plus(set, k, 7, 0);
  const auto bounded = kmeans_detail::run_lloyd(set, seeds, 300, kmeans_detail::AssignmentMethod::bounded);
  const auto exhaustive = kmeans_detail::run_lloyd(set, seeds, 300, kmeans_detail::AssignmentMethod::exhaustive);
  RC_ASSERT(bounded.labels == exhaustive.labels);
  RC_ASSERT(bounded.centroids == exhaustive.centroids);
  RC_ASSERT(bounded.iterations == exhaustive.iterations);
  RC_ASSERT(bounded.converged);
  RC_ASSERT(all_finite(bounded.centroids));
}

RC_GTEST_PROP(ClusterVectorsProperty, LloydMatchesPlainLoopWhenNoClusterStarves, ()) {
  const Problem problem = *gen_problem(40);
  // Integer weights keep every weighted mean exact, so both loops see bit-identical centroids.
  RC_PRE(std::all_of(problem.weights.begin(), problem.weights.end(), [](float w) { return w == std::floor(w); }));
  const WeightedPointSet set = kmeans_detail::merge_identical_points(problem.points, problem.dim, problem.weights);
  const int k = static_cast<int>(std::min<std::size_t>(problem.k, problem.count()));
  const std::vector<double> seeds = kmeans_detail::seed_kmeans_plus_plus(set, k, 11, 0);
  const PlainLloyd plain = plain_lloyd(set, seeds, 300);
  RC_PRE(!plain.starved);
  const auto ours = kmeans_detail::run_lloyd(set, seeds, 300);
  RC_ASSERT(ours.labels == plain.labels);

  VectorClusteringOptions options;
  options.seed = 11;
  const VectorClustering best = cluster_vectors(problem.points, problem.dim, problem.weights, problem.k, options);
  RC_ASSERT(best.sse <= ours.sse);  // restart 0 is one of the candidates
}

RC_GTEST_PROP(ClusterVectorsProperty, ResultIsConsistentAndNoWorseThanAnySeeding, ()) {
  const Problem problem = *gen_problem(60);
  VectorClusteringOptions options;
  options.seed = *rc::gen::arbitrary<uint64_t>();
  options.restarts = *rc::gen::inRange(1, 6);
  const VectorClustering result = cluster_vectors(problem.points, problem.dim, problem.weights, problem.k, options);
  const std::size_t k_eff = std::min<std::size_t>(problem.k, problem.count());
  RC_ASSERT(result.dim == problem.dim);
  RC_ASSERT(result.centroids.size() == k_eff * problem.dim);
  RC_ASSERT(result.labels.size() == problem.count());
  RC_ASSERT(all_finite(result.centroids));
  const double sse = recomputed_sse(problem.points, problem.dim, problem.weights, result);
  RC_ASSERT(std::fabs(result.sse - sse) <= 1e-9 * sse + 1e-12);
  // Every label names a nearest centroid.
  for (std::size_t i = 0; i < problem.count(); ++i) {
    const float* point = &problem.points[i * problem.dim];
    const std::size_t nearest = nearest_centroid(point, result.centroids, problem.dim);
    RC_ASSERT(distance2(point, &result.centroids[result.labels[i] * problem.dim], problem.dim) ==
              distance2(point, &result.centroids[nearest * problem.dim], problem.dim));
  }
  // Lloyd never increases the error, so the result beats the nearest-seed assignment of every restart.
  const WeightedPointSet set = kmeans_detail::merge_identical_points(problem.points, problem.dim, problem.weights);
  for (int restart = 0; restart < options.restarts; ++restart) {
    const std::vector<double> seeds = kmeans_detail::seed_kmeans_plus_plus(set, int(k_eff), options.seed, restart);
    double seeded_sse = 0;
    for (std::size_t i = 0; i < set.size(); ++i) {
      const float* point = &set.coords[i * set.dim];
      seeded_sse += set.weights[i] * distance2(point, &seeds[nearest_centroid(point, seeds, set.dim) * set.dim], set.dim);
    }
    RC_ASSERT(result.sse <= seeded_sse * (1 + 1e-12) + 1e-12);
  }
}

// Best weighted SSE over every labeling of a tiny problem (k^N of them).
double brute_force_optimum(const Problem& problem, int k) {
  const std::size_t n = problem.count();
  std::vector<int> labels(n, 0);
  double best = std::numeric_limits<double>::infinity();
  while (true) {
    double sse = 0;
    for (int c = 0; c < k; ++c) {
      for (int j = 0; j < problem.dim; ++j) {
        // Two passes (mean, then squared deviations): sum2 - sum^2/mass cancels and can leave ~1e-10
        // where the optimum is exactly 0, which once failed this test against an exact result.
        double mass = 0, sum = 0;
        for (std::size_t i = 0; i < n; ++i) {
          if (labels[i] != c) continue;
          const double w = problem.weights.empty() ? 1.0 : problem.weights[i];
          mass += w, sum += w * problem.points[i * problem.dim + j];
        }
        if (mass == 0) continue;
        const double mean = sum / mass;
        for (std::size_t i = 0; i < n; ++i) {
          if (labels[i] != c) continue;
          const double w = problem.weights.empty() ? 1.0 : problem.weights[i];
          const double d = problem.points[i * problem.dim + j] - mean;
          sse += w * d * d;
        }
      }
    }
    best = std::min(best, sse);
    std::size_t pos = 0;
    while (pos < n && ++labels[pos] == k) labels[pos++] = 0;
    if (pos == n) return best;
  }
}

RC_GTEST_PROP(ClusterVectorsProperty, NeverBelowTheBruteForceOptimum, ()) {
  Problem problem = *gen_problem(7);
  problem.k = *rc::gen::inRange(1, 4);
  const int k_eff = static_cast<int>(std::min<std::size_t>(problem.k, problem.count()));
  const VectorClustering result = cluster_vectors(problem.points, problem.dim, problem.weights, problem.k, {});
  const double optimum = brute_force_optimum(problem, k_eff);
  const double scale = 1e-9 * std::max(1.0, optimum);
  RC_ASSERT(result.sse >= optimum - scale);
  if (k_eff == 1) RC_ASSERT(result.sse <= optimum + scale);  // one cluster: the weighted mean is optimal
}

RC_GTEST_PROP(ClusterVectorsProperty, SeedsAreDistinctWeightedPointsWhilePossible, ()) {
  const Problem problem = *gen_problem(30);
  const WeightedPointSet set = kmeans_detail::merge_identical_points(problem.points, problem.dim, problem.weights);
  std::size_t weighted_points = 0;
  for (double w : set.weights) weighted_points += w > 0;
  const int k = static_cast<int>(std::min<std::size_t>(problem.k, set.size()));
  const std::vector<double> seeds = kmeans_detail::seed_kmeans_plus_plus(set, k, *rc::gen::arbitrary<uint64_t>(), 3);
  std::set<std::vector<double>> distinct;
  for (int c = 0; c < k; ++c) {
    const std::vector<double> seed(seeds.begin() + c * set.dim, seeds.begin() + (c + 1) * set.dim);
    distinct.insert(seed);
    std::size_t match = set.size();
    for (std::size_t i = 0; i < set.size(); ++i) {
      if (std::equal(seed.begin(), seed.end(), set.coords.begin() + i * set.dim)) match = i;
    }
    RC_ASSERT(match < set.size());  // every seed is one of the points
    if (static_cast<std::size_t>(k) <= weighted_points) RC_ASSERT(set.weights[match] > 0);
  }
  RC_ASSERT(distinct.size() == static_cast<std::size_t>(k));
}

}  // namespace
}  // namespace palettize
