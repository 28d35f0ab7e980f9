// The fast paths of issue 5 against their plain references: the DP pruned by an upper bound against the
// full DP, the parallel 16-bit histogram of one-LUT tensors against the sequential path, the per-block
// decode against per-element stores, chunked error metrics, and the finiteness scan.
#include <gtest/gtest.h>

#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "clustering/kmeans1d_internal.hpp"
#include "palettize/clustering.hpp"
#include "palettize/engine.hpp"
#include "palettize/error.hpp"
#include "tensor/elements.hpp"

namespace palettize {
namespace {

using namespace kmeans1d_detail;

// ----- DP pruning ---------------------------------------------------------------------------------------

struct SortedBlock {
  std::vector<double> values, weights;
};

// Distinct fp16-like values (a heavy-tailed sample on the fp16 grid, so with duplicates merged into
// weights) or plain doubles with real weights, some of them zero.
SortedBlock random_sorted_block(std::mt19937& rng, std::size_t n, bool fp16_grid) {
  std::student_t_distribution<double> t(5.0);
  std::uniform_real_distribution<double> u(0.0, 3.0);
  std::vector<double> x(n);
  for (double& v : x) v = fp16_grid ? std::ldexp(std::nearbyint(std::ldexp(0.02 * t(rng), 16)), -16) : t(rng);
  std::sort(x.begin(), x.end());
  SortedBlock b;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double w = fp16_grid ? 1.0 : (i % 7 == 0 ? 0.0 : u(rng));
    if (!b.values.empty() && b.values.back() == x[i]) {
      b.weights.back() += w;
    } else {
      b.values.push_back(x[i]);
      b.weights.push_back(w);
    }
  }
  return b;
}

struct DpResult {
  double cost;
  std::vector<uint32_t> bounds;
};

DpResult solve(const SortedBlock& b, std::size_t k, double upper_bound) {
  const RangeCost cost(b.values, b.weights);
  SplitTable table(k, b.values.size());
  DpOptions options;
  options.upper_bound = upper_bound;
  const double optimum = run_dp(cost, k, &table, options).back();
  return {optimum, backtrack(table, b.values.size(), k)};
}

TEST(DpPruning, PrunedDpFindsTheSamePartitionAsTheFullDp) {
  std::mt19937 rng(3);
  for (const std::size_t n : {40u, 700u, 4096u, 30000u}) {
    for (const bool fp16_grid : {true, false}) {
      const SortedBlock b = random_sorted_block(rng, n, fp16_grid);
      const RangeCost cost(b.values, b.weights);
      // k = 3 to 7: the layers before the last start where the bound allows (first_rows in kmeans1d.cpp).
      for (const std::size_t k : {2u, 3u, 4u, 5u, 7u, 16u, 64u, 256u}) {
        if (k >= b.values.size()) continue;
        const DpResult full = solve(b, k, kInfinity);
        const double lloyd = lloyd_upper_bound(cost, b.values, k);
        EXPECT_GE(lloyd, full.cost * (1 - 1e-12)) << "n = " << n << ", k = " << k;
        // The Lloyd bound, and the tightest valid bound: the optimum itself.
        for (const double bound : {lloyd, full.cost}) {
          const DpResult pruned = solve(b, k, bound);
          EXPECT_EQ(pruned.cost, full.cost) << "n = " << n << ", k = " << k << ", bound = " << bound;
          EXPECT_EQ(pruned.bounds, full.bounds) << "n = " << n << ", k = " << k << ", bound = " << bound;
        }
      }
    }
  }
}

TEST(DpPruning, LayersStartWhereTheOptimumCanStillPass) {
  // Three far single values, then a group: the optimum at k = 4 is {0} {1000} {2000} {3000..}, whose last range
  // costs the whole optimum. With the optimum as the bound, layer 3 may start no later than row 3 (the last
  // range alone must fit the bound) and layer 2 no later than row 1 (layer 2's leftmost split at row 3), and
  // the optimal path passes through exactly those rows; starting either one row later loses it.
  SortedBlock b{{0, 1000, 2000}, {1, 1, 1}};
  for (int i = 0; i < 40; ++i) {
    b.values.push_back(3000 + i);
    b.weights.push_back(1 + i % 3);
  }
  const std::size_t n = b.values.size();
  const DpResult full = solve(b, 4, kInfinity);
  ASSERT_EQ(full.bounds, (std::vector<uint32_t>{0, 1, 2, 3, static_cast<uint32_t>(n)}));
  const DpResult pruned = solve(b, 4, full.cost);
  EXPECT_EQ(pruned.cost, full.cost);
  EXPECT_EQ(pruned.bounds, full.bounds);
}

TEST(DpPruning, BoundsFromAnyPartitionAreValid) {
  // A poor bound (one cluster for everything) prunes little; a bound below the optimum is not allowed,
  // but the same partition must come out of any bound at or above it.
  std::mt19937 rng(8);
  const SortedBlock b = random_sorted_block(rng, 3000, true);
  const RangeCost cost(b.values, b.weights);
  const DpResult full = solve(b, 16, kInfinity);
  for (const double bound : {cost(0, b.values.size()), full.cost * 1.5, full.cost * 1.01}) {
    const DpResult pruned = solve(b, 16, bound);
    EXPECT_EQ(pruned.cost, full.cost);
    EXPECT_EQ(pruned.bounds, full.bounds);
  }
}

TEST(DpPruning, LloydBoundOfFewValuesIsTheirPartitionCost) {
  const std::vector<double> values = {0, 1, 10, 11, 20, 21}, weights(6, 1.0);
  const RangeCost cost(values, weights);
  EXPECT_DOUBLE_EQ(lloyd_upper_bound(cost, values, 3), 1.5);  // three pairs, 0.5 each
  EXPECT_GE(lloyd_upper_bound(cost, values, 2), cluster_1d_optimal(values, weights, 2).sse);
}

// ----- bounded memory: halving the layers instead of a split table ------------------------------------------

double partition_sse(const SortedBlock& b, const std::vector<uint32_t>& bounds) {
  const RangeCost cost(b.values, b.weights);
  double total = 0;
  for (std::size_t t = 0; t + 1 < bounds.size(); ++t) total += cost(bounds[t], bounds[t + 1]);
  return total;
}

TEST(OptimalBounds, HalvingTheLayersFindsTheSameOptimumAsTheSplitTable) {
  std::mt19937 rng(12);
  for (const std::size_t n : {40u, 700u, 5000u, 30000u}) {
    for (const bool fp16_grid : {true, false}) {
      const SortedBlock b = random_sorted_block(rng, n, fp16_grid);
      const std::size_t u = b.values.size();
      for (const std::size_t k : {2u, 3u, 5u, 16u, 64u, 256u}) {
        if (k > u) continue;
        const std::vector<uint32_t> table = optimal_bounds(b.values, b.weights, k);
        const double optimum = partition_sse(b, table);
        // Budget 0 halves down to single clusters; 4 rows of splits halves until k <= 5.
        for (const std::size_t budget : {std::size_t{0}, 4 * (u + 2)}) {
          const std::vector<uint32_t> halved = optimal_bounds(b.values, b.weights, k, budget);
          ASSERT_EQ(halved.size(), k + 1);
          EXPECT_EQ(halved.front(), 0u);
          EXPECT_EQ(halved.back(), u);
          for (std::size_t t = 0; t < k; ++t) EXPECT_LT(halved[t], halved[t + 1]);
          EXPECT_NEAR(partition_sse(b, halved), optimum, 1e-12 * partition_sse(b, {0, static_cast<uint32_t>(u)}))
              << "n = " << n << ", k = " << k << ", budget = " << budget;
          // Real-valued weights leave no ties between partitions: the same partition.
          if (!fp16_grid) {
            EXPECT_EQ(halved, table) << "n = " << n << ", k = " << k << ", budget = " << budget;
          }
        }
      }
    }
  }
}

// ----- the 16-bit path of one-LUT tensors -------------------------------------------------------------------

std::vector<float> heavy_tailed(std::size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::student_t_distribution<float> t(5.0f);
  std::vector<float> values(n);
  for (float& v : values) v = 0.02f * t(rng);
  return values;
}

PalettizationSpec per_tensor(int n_bits) {
  PalettizationSpec spec;
  spec.n_bits = n_bits;
  return spec;
}

// Scalar specs of `n_bits`, one per granularity.
std::vector<PalettizationSpec> at_granularities(int n_bits, const std::vector<PalettizationGranularity>& granularities) {
  std::vector<PalettizationSpec> specs;
  for (const PalettizationGranularity& g : granularities) {
    specs.push_back(per_tensor(n_bits));
    specs.back().granularity = g;
  }
  return specs;
}

TEST(Scalar16, LargeBlocksCountOnEveryThreadWithTheSequentialResult) {
  // Over a million elements in one LUT: counted on all threads; uniform sensitivities take the
  // sequential weighted path, whose weights (sums of ones) equal the counts exactly.
  const std::vector<float> values = heavy_tailed(1100 * 1000, 4);
  for (const DType dtype : {DType::F16, DType::BF16}) {
    const Tensor w = make_tensor(dtype, {1100, 1000}, values);
    const std::vector<float> ones(values.size(), 1.0f);
    for (const int n_bits : {2, 4, 6}) {
      PalettizeOptions one;
      one.threads = 1;
      const PalettizedTensor reference = palettize(w.view(), per_tensor(n_bits), one, ones);
      for (const int threads : {1, 2, 3}) {
        PalettizeOptions options;
        options.threads = threads;
        const PalettizedTensor p = palettize(w.view(), per_tensor(n_bits), options);
        EXPECT_EQ(p.lut, reference.lut) << dtype_name(dtype) << " n_bits " << n_bits << " threads " << threads;
        EXPECT_EQ(p.indices, reference.indices) << dtype_name(dtype) << " n_bits " << n_bits;
      }
    }
  }
}

// Each block's LUT against the plain route: reduce_to_distinct on the block's values, optimal_centroids_1d,
// each centroid rounded to F16. Blocks of 65,536 elements read their patterns off the counts, blocks of 4,096
// mark them while counting; the calls alternate weighted and unweighted on one thread, which reuses its bins,
// so a bin left over from the block or call before would change a LUT. Every block holds +0 and -0, which
// both routes count as one value (the 16-bit path counts -0 in +0's bin).
TEST(Scalar16, BlockLutsMatchTheDistinctValueRouteWeightedOrNotOneCallAfterAnother) {
  std::vector<float> values = heavy_tailed(32 * 4096, 7);
  for (float& v : values) v = f16_to_f32(f32_to_f16(v));
  for (std::size_t i = 0; i < values.size(); i += 61) values[i] = (i / 61) % 2 == 0 ? 0.0f : -0.0f;
  const Tensor w = make_tensor(DType::F16, {32, 4096}, values);
  std::mt19937 rng(8);
  std::uniform_real_distribution<float> u(0.1f, 2.0f);
  std::vector<float> first(values.size()), second(values.size());
  for (float& s : first) s = u(rng);
  for (float& s : second) s = u(rng);
  PalettizeOptions one;
  one.threads = 1;
  for (const int64_t group : {16, 1}) {
    PalettizationSpec spec;
    spec.n_bits = 4;
    spec.granularity = PerGroupedChannelGranularity{0, group};
    const int64_t block_size = group * 4096;
    for (const std::vector<float>* sensitivities : {&first, static_cast<std::vector<float>*>(nullptr), &second,
                                                    static_cast<std::vector<float>*>(nullptr)}) {
      const std::span<const float> s = sensitivities ? std::span<const float>(*sensitivities) : std::span<const float>();
      const PalettizedTensor p = palettize(w.view(), spec, one, s);
      for (int64_t b = 0; b < 32 / group; ++b) {
        const std::span<const float> x(values.data() + b * block_size, static_cast<std::size_t>(block_size));
        const DistinctValues distinct = reduce_to_distinct(x, s.empty() ? s : s.subspan(b * block_size, block_size));
        const std::vector<double> centroids = optimal_centroids_1d(distinct.values, distinct.weights, 16);
        ASSERT_EQ(centroids.size(), 16u);
        for (std::size_t e = 0; e < 16; ++e) {
          EXPECT_EQ(p.lut[b * 16 + e], f16_to_f32(f32_to_f16(static_cast<float>(centroids[e]))))
              << "group " << group << (s.empty() ? " unweighted" : " weighted") << " block " << b << " entry " << e;
        }
      }
    }
  }
}

// ----- decode ---------------------------------------------------------------------------------------------

Tensor decode_per_element(const PalettizedTensor& p) {
  Tensor out{p.dtype, p.shape, std::vector<std::byte>(static_cast<std::size_t>(shape_numel(p.shape)) *
                                                      dtype_size(p.dtype))};
  const int64_t rows = p.shape[0], rest = shape_numel(p.shape) / p.shape[0];
  const int64_t cd = p.spec.cluster_dim, entries = p.lut_entries();
  const PalettizedLayout layout = palettized_layout(p.shape, p.spec);
  // Each index row o' covers output channels o'*cd .. o'*cd+cd-1; find each item's LUT by brute force
  // from the granularity.
  for (int64_t o = 0; o < rows / cd; ++o) {
    for (int64_t r = 0; r < rest; ++r) {
      int64_t block = 0;
      if (p.spec.is_grouped()) {
        const auto& g = std::get<PerGroupedChannelGranularity>(p.spec.granularity);
        const int64_t inner = rest / p.shape[1];
        block = g.axis == 0 ? o * cd / g.group_size : r / inner / g.group_size;
      }
      EXPECT_LT(block, layout.num_luts);
      const float* entry = p.lut.data() + block * entries + p.indices[o * rest + r] * cd;
      for (int64_t j = 0; j < cd; ++j) {
        const float scale = p.channel_scale.empty() ? 1.0f : p.channel_scale[o * cd + j];
        const float value = p.channel_scale.empty() ? entry[j] : entry[j] * scale;
        store_from_f32(p.dtype, out.data.data(), static_cast<std::size_t>((o * cd + j) * rest + r), value);
      }
    }
  }
  return out;
}

TEST(Decode, EqualsPerElementStoresForEveryLayout) {
  const std::vector<float> values = heavy_tailed(8 * 6 * 9, 5);
  std::vector<PalettizationSpec> specs;
  for (const bool scale : {false, true}) {
    for (const int64_t cd : {1, 2}) {
      for (const PalettizationGranularity g : std::vector<PalettizationGranularity>{
               PerTensorGranularity{}, PerGroupedChannelGranularity{0, 4}, PerGroupedChannelGranularity{1, 2}}) {
        PalettizationSpec spec = per_tensor(3);
        spec.granularity = g;
        spec.cluster_dim = cd;
        spec.enable_per_channel_scale = scale;
        specs.push_back(spec);
      }
    }
  }
  for (const DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    const Tensor w = make_tensor(dtype, {8, 6, 3, 3}, values);
    for (const PalettizationSpec& spec : specs) {
      const PalettizedTensor p = palettize(w.view(), spec);
      EXPECT_EQ(decode(p).data, decode_per_element(p).data) << dtype_name(dtype) << " " << spec.cluster_dim;
    }
  }
}

// ----- error metrics and the finiteness scan ---------------------------------------------------------------

TEST(Compare, ChunkedSumsDoNotDependOnTheThreadCount) {
  const std::vector<float> a = heavy_tailed(300000, 6), b = heavy_tailed(300000, 7);
  const Tensor x = make_tensor(DType::F16, {300, 1000}, a), y = make_tensor(DType::F32, {300, 1000}, b);
  ErrorMetrics one, two;
  tbb::task_arena(1).execute([&] { one = compare(x.view(), y.view()); });
  tbb::task_arena(2).execute([&] { two = compare(x.view(), y.view()); });
  EXPECT_EQ(one.sse, two.sse);
  EXPECT_EQ(one.signal, two.signal);
  EXPECT_EQ(one.max_abs_err, two.max_abs_err);
  double sse = 0, max_abs = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double e = static_cast<double>(load_as_f32(DType::F16, x.data.data(), i)) - b[i];
    sse += e * e;
    max_abs = std::max(max_abs, std::fabs(e));
  }
  EXPECT_NEAR(one.sse, sse, 1e-12 * sse);
  EXPECT_EQ(one.max_abs_err, max_abs);
}

TEST(Compare, SumsAreCloseToThePlainSumAndExactForExactData) {
  const std::vector<float> a = heavy_tailed(5003, 8), b = heavy_tailed(5003, 9);
  const Tensor x = make_tensor(DType::BF16, {5003}, a), y = make_tensor(DType::F32, {5003}, b);
  double sse = 0, signal = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double xi = load_as_f32(DType::BF16, x.data.data(), i);
    sse += (xi - b[i]) * (xi - b[i]);
    signal += xi * xi;
  }
  const ErrorMetrics m = compare(x.view(), y.view());
  EXPECT_NEAR(m.sse, sse, 1e-13 * sse);
  EXPECT_NEAR(m.signal, signal, 1e-13 * signal);
  // Small integers: every partial sum is exact, whatever the association.
  const Tensor ints = make_tensor(DType::F16, {7}, std::vector<float>{1, 2, 3, 4, 5, 6, 7});
  const Tensor zeros = make_tensor(DType::F16, {7}, std::vector<float>(7, 0.0f));
  const ErrorMetrics exact = compare(ints.view(), zeros.view());
  EXPECT_EQ(exact.sse, 140.0);
  EXPECT_EQ(exact.signal, 140.0);
  EXPECT_EQ(exact.max_abs_err, 7.0);
}

TEST(Compare, DecodedEqualsCompareOfTheDecodedTensorBitForBit) {
  // 150 x 1000 elements: chunks of 64 Ki elements end inside rows, and the tail chunk is short.
  const std::vector<float> values = heavy_tailed(150 * 1000, 13);
  std::vector<PalettizationSpec> specs =
      at_granularities(4, {PerTensorGranularity{}, PerGroupedChannelGranularity{0, 1},
                           PerGroupedChannelGranularity{0, 6}, PerGroupedChannelGranularity{1, 100}});
  specs.push_back(specs[1]);
  specs.back().enable_per_channel_scale = true;
  specs.push_back(specs[0]);
  specs.back().cluster_dim = 2;
  for (const DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    const Tensor w = make_tensor(dtype, {150, 1000}, values);
    for (const PalettizationSpec& spec : specs) {
      const PalettizedTensor p = palettize(w.view(), spec);
      const ErrorMetrics expected = compare(w.view(), decode(p).view());
      const ErrorMetrics fused = compare_decoded(w.view(), p);
      EXPECT_EQ(fused.count, expected.count);
      EXPECT_EQ(fused.sse, expected.sse) << dtype_name(dtype);
      EXPECT_EQ(fused.signal, expected.signal) << dtype_name(dtype);
      EXPECT_EQ(fused.max_abs_err, expected.max_abs_err) << dtype_name(dtype);
      EXPECT_EQ(fused.snr_db, expected.snr_db) << dtype_name(dtype);
    }
    const Tensor other_shape = make_tensor(dtype, {1000, 150}, values);
    EXPECT_THROW(compare_decoded(other_shape.view(), palettize(w.view(), specs[0])), Error);
    // Rows of an odd length: row segments start and end off the 4-lane pattern, inside and across chunks.
    const Tensor odd = make_tensor(dtype, {66, 1001}, std::vector<float>(values.begin(), values.begin() + 66 * 1001));
    for (std::size_t s = 0; s < 3; ++s) {
      const PalettizedTensor p = palettize(odd.view(), specs[s]);
      const ErrorMetrics expected = compare(odd.view(), decode(p).view());
      const ErrorMetrics fused = compare_decoded(odd.view(), p);
      EXPECT_EQ(fused.sse, expected.sse) << dtype_name(dtype) << " spec " << s;
      EXPECT_EQ(fused.signal, expected.signal) << dtype_name(dtype) << " spec " << s;
      EXPECT_EQ(fused.max_abs_err, expected.max_abs_err) << dtype_name(dtype) << " spec " << s;
    }
  }
}

// palettize_measured sums the error of F16/BF16 scalar blocks over their distinct patterns: the same terms
// as compare(decode) in another order, so equal up to rounding; the same max and count exactly, the same
// palettized tensor, and the same bits for any thread count. Other cases are compare_decoded itself.
TEST(Compare, MeasuredPalettizationMatchesCompareOfTheDecodedTensor) {
  std::vector<float> values = heavy_tailed(1024 * 1024, 29);
  for (std::size_t i = 0; i < values.size(); i += 997) values[i] = (i % 2 == 0) ? 0.0f : -0.0f;
  std::vector<float> sensitivities(values.size());
  for (std::size_t i = 0; i < sensitivities.size(); ++i) sensitivities[i] = static_cast<float>(i % 5);
  std::vector<PalettizationSpec> specs =
      at_granularities(3, {PerTensorGranularity{}, PerGroupedChannelGranularity{0, 1},
                           PerGroupedChannelGranularity{0, 16}, PerGroupedChannelGranularity{1, 256}});
  specs.push_back(specs[2]);
  specs.back().lut_qspec = QuantizationSpec{};  // int8 LUT
  const std::size_t summed_specs = specs.size();
  specs.push_back(specs[1]);
  specs.back().enable_per_channel_scale = true;
  specs.push_back(specs[0]);
  specs.back().cluster_dim = 2;
  for (const DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    for (std::size_t s = 0; s < specs.size(); ++s) {
      // The whole 2^20 elements for one LUT per 16-bit tensor (counted on all threads), else the first 2^16.
      const Shape shape = s == 0 && dtype != DType::F32 ? Shape{1024, 1024} : Shape{128, 512};
      const Tensor w = make_tensor(dtype, shape, std::vector<float>(values.begin(), values.begin() + shape_numel(shape)));
      for (const bool weighted : {false, true}) {
        const std::span<const float> importances =
            weighted ? std::span<const float>(sensitivities).first(w.numel()) : std::span<const float>();
        PalettizeOptions options;
        options.vector_restarts = 1;  // cluster_dim 2: any clustering will do, so a short one
        options.vector_max_iterations = 5;
        options.threads = 1;
        const MeasuredPalettization measured = palettize_measured(w.view(), specs[s], options, importances);
        options.threads = 3;
        const MeasuredPalettization threads3 = palettize_measured(w.view(), specs[s], options, importances);
        const PalettizedTensor plain = palettize(w.view(), specs[s], options, importances);
        const std::string label = std::string(dtype_name(dtype)) + " spec " + std::to_string(s) +
                                  (weighted ? " weighted" : "");
        ASSERT_EQ(measured.palettized.indices, plain.indices) << label;
        ASSERT_EQ(measured.palettized.lut, plain.lut) << label;
        EXPECT_EQ(threads3.error.sse, measured.error.sse) << label;
        EXPECT_EQ(threads3.error.signal, measured.error.signal) << label;
        const ErrorMetrics expected = compare(w.view(), decode(plain).view());
        EXPECT_EQ(measured.error.count, expected.count) << label;
        EXPECT_EQ(measured.error.max_abs_err, expected.max_abs_err) << label;
        if (dtype != DType::F32 && s < summed_specs) {
          EXPECT_NEAR(measured.error.sse, expected.sse, 1e-12 * expected.sse) << label;
          EXPECT_NEAR(measured.error.signal, expected.signal, 1e-12 * expected.signal) << label;
          EXPECT_NEAR(measured.error.snr_db, expected.snr_db, 1e-9) << label;
          EXPECT_NEAR(measured.error.mse, expected.mse, 1e-12 * expected.mse) << label;
        } else {
          const ErrorMetrics decoded = compare_decoded(w.view(), plain);
          EXPECT_EQ(measured.error.sse, decoded.sse) << label;
          EXPECT_EQ(measured.error.signal, decoded.signal) << label;
          EXPECT_EQ(measured.error.snr_db, decoded.snr_db) << label;
        }
      }
    }
  }
}

TEST(Elements, FirstNonFiniteFindsEveryPosition) {
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity()};
  for (const DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    for (const float special : specials) {
      for (const std::size_t at : {0u, 4095u, 4096u, 9999u}) {
        std::vector<float> values = heavy_tailed(10000, 10);
        values[at] = special;
        const Tensor w = make_tensor(dtype, {10000}, values);
        EXPECT_EQ(elements::first_non_finite(dtype, w.data.data(), values.size()), at) << dtype_name(dtype);
        EXPECT_THROW(palettize(w.view(), per_tensor(2)), Error);
      }
    }
    const Tensor finite = make_tensor(dtype, {10000}, heavy_tailed(10000, 11));
    EXPECT_EQ(elements::first_non_finite(dtype, finite.data.data(), 10000), 10000u);
  }
  // The largest finite values are finite.
  const Tensor big = make_tensor(DType::F16, {2}, std::vector<float>{65504.0f, -65504.0f});
  EXPECT_EQ(elements::first_non_finite(DType::F16, big.data.data(), 2), 2u);
}

TEST(Elements, TableReadersMatchLoadAsF32OnEveryPattern) {
  std::vector<std::byte> bytes(65536 * 2);
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const auto pattern = static_cast<uint16_t>(bits);
    std::memcpy(bytes.data() + bits * 2, &pattern, 2);
  }
  const elements::F16Reader f16{bytes.data()};
  const elements::BF16Reader bf16{bytes.data()};
  for (std::size_t i = 0; i < 65536; ++i) {
    const float a = f16.load(i), b = load_as_f32(DType::F16, bytes.data(), i);
    const float c = bf16.load(i), d = load_as_f32(DType::BF16, bytes.data(), i);
    EXPECT_TRUE(std::memcmp(&a, &b, 4) == 0 || (std::isnan(a) && std::isnan(b))) << i;
    EXPECT_TRUE(std::memcmp(&c, &d, 4) == 0 || (std::isnan(c) && std::isnan(d))) << i;
  }
}

}  // namespace
}  // namespace palettize
