#include "engine/block_codec.hpp"

#include <algorithm>
#include <cmath>

#include "palettize/clustering.hpp"
#include "palettize/error.hpp"

namespace palettize {
namespace {

constexpr float kFp16Max = 65504.0f;

// Nearest entry of a non-decreasing scalar LUT; among equal entries the lowest index.
std::vector<uint8_t> nearest_scalar_entries(const std::vector<double>& values, const std::vector<float>& lut);

}  // namespace

// The reference casts centroids to the weight dtype, so LUT entries are rounded to it.
std::vector<float> padded_lut(const std::vector<double>& centroids, int64_t cd, int64_t lut_rows, DType dtype) {
  const int64_t rows = static_cast<int64_t>(centroids.size()) / cd;
  std::vector<float> lut(static_cast<std::size_t>(lut_rows * cd));
  for (int64_t row = 0; row < lut_rows; ++row) {
    const int64_t source = std::min(row, rows - 1);
    for (int64_t j = 0; j < cd; ++j) {
      lut[row * cd + j] = round_to_dtype(dtype, static_cast<float>(centroids[source * cd + j]));
    }
  }
  return lut;
}

void quantize_lut_in_place(EncodedBlock& encoded, const QuantizationSpec& qspec, DType dtype) {
  encoded.qparams = choose_lut_qparams(encoded.lut, qspec);
  encoded.codes = quantize_lut(encoded.lut, encoded.qparams, qspec);
  for (std::size_t i = 0; i < encoded.lut.size(); ++i) {
    encoded.lut[i] = round_to_dtype(dtype, dequantize_lut_code(encoded.codes[i], encoded.qparams, qspec));
  }
}

EncodedBlock encode_distinct_values(const DistinctValues& distinct, const PalettizationSpec& spec, DType dtype,
                                    std::vector<uint8_t>& nearest) {
  const std::vector<double> centroids =
      optimal_centroids_1d(distinct.values, distinct.weights, static_cast<int>(spec.lut_size()));
  EncodedBlock encoded;
  encoded.lut = padded_lut(centroids, 1, spec.lut_size(), dtype);
  if (spec.lut_qspec) quantize_lut_in_place(encoded, *spec.lut_qspec, dtype);
  nearest = nearest_scalar_entries(distinct.values, encoded.lut);
  return encoded;
}

namespace {

// Nearest entry of a non-decreasing scalar LUT to x; on a tie the lower entry, and among equal entries the
// lowest index. Rounding is monotone, so the entry never decreases as x grows.
std::size_t nearest_entry(double x, const std::vector<float>& lut) {
  const auto above = std::lower_bound(lut.begin(), lut.end(), x, [](float entry, double v) { return entry < v; });
  std::size_t pick;
  if (above == lut.end()) {
    pick = lut.size() - 1;
  } else if (above == lut.begin()) {
    pick = 0;
  } else {
    const auto hi = static_cast<std::size_t>(above - lut.begin());
    pick = (x - lut[hi - 1] <= static_cast<double>(lut[hi]) - x) ? hi - 1 : hi;
  }
  while (pick > 0 && lut[pick - 1] == lut[pick]) --pick;
  return pick;
}

// The values ascend and their entries never decrease, so the values of each entry are one run: its start
// is found by binary search (a few dozen lookups per entry instead of a branchy step per value).
std::vector<uint8_t> nearest_scalar_entries(const std::vector<double>& values, const std::vector<float>& lut) {
  check(std::is_sorted(lut.begin(), lut.end()), "internal error: a scalar LUT is not in ascending order");
  std::vector<uint8_t> nearest(values.size());
  auto run_begin = values.begin();
  for (std::size_t entry = 0; entry < lut.size() && run_begin != values.end(); ++entry) {
    const auto run_end = std::partition_point(run_begin, values.end(),
                                              [&](double x) { return nearest_entry(x, lut) <= entry; });
    std::fill(nearest.begin() + (run_begin - values.begin()), nearest.begin() + (run_end - values.begin()),
              static_cast<uint8_t>(entry));
    run_begin = run_end;
  }
  return nearest;
}

EncodedBlock encode_scalar_block(BlockData& block, const PalettizationSpec& spec, DType dtype,
                                 const PalettizeOptions& options) {
  if (options.enable_fast_kmeans_mode) {
    const bool in_fp16_range = std::all_of(block.values.begin(), block.values.end(),
                                           [](float x) { return std::fabs(x) <= kFp16Max; });
    if (in_fp16_range) apply_fast_mode_rounding(block.values, options.rounding_precision);
  }
  const DistinctValues distinct = reduce_to_distinct(block.values, block.sensitivities);
  std::vector<uint8_t> nearest;
  EncodedBlock encoded = encode_distinct_values(distinct, spec, dtype, nearest);
  encoded.labels.resize(distinct.inverse.size());
  for (std::size_t i = 0; i < distinct.inverse.size(); ++i) encoded.labels[i] = nearest[distinct.inverse[i]];
  return encoded;
}

// Weighted squared distance of one item to one LUT row; unweighted when the item carries no weight.
double item_distance(const float* item, const float* weights, const float* row, int64_t cd) {
  double weighted = 0, plain = 0, total_weight = 0;
  for (int64_t j = 0; j < cd; ++j) {
    const double d = static_cast<double>(item[j]) - row[j];
    plain += d * d;
    if (weights) {
      weighted += weights[j] * d * d;
      total_weight += weights[j];
    }
  }
  return (weights && total_weight > 0) ? weighted : plain;
}

EncodedBlock encode_vector_block(const BlockData& block, const PalettizationSpec& spec, DType dtype,
                                 const PalettizeOptions& options, uint64_t block_seed) {
  const int64_t cd = spec.cluster_dim;
  const int64_t items = static_cast<int64_t>(block.values.size()) / cd;
  std::vector<float> item_weights;
  if (!block.sensitivities.empty()) {
    item_weights.resize(static_cast<std::size_t>(items));
    for (int64_t t = 0; t < items; ++t) {
      double sum = 0;
      for (int64_t j = 0; j < cd; ++j) sum += block.sensitivities[t * cd + j];
      item_weights[t] = static_cast<float>(sum);
    }
  }
  VectorClusteringOptions vector_options;
  vector_options.seed = block_seed;
  vector_options.restarts = options.vector_restarts;
  vector_options.max_iterations = options.vector_max_iterations;
  const VectorClustering clusters = cluster_vectors(block.values, static_cast<int>(cd), item_weights,
                                                    static_cast<int>(spec.lut_size()), vector_options);

  EncodedBlock encoded;
  encoded.lut = padded_lut(clusters.centroids, cd, spec.lut_size(), dtype);
  if (spec.lut_qspec) quantize_lut_in_place(encoded, *spec.lut_qspec, dtype);

  encoded.labels.resize(static_cast<std::size_t>(items));
  const float* weights = block.sensitivities.empty() ? nullptr : block.sensitivities.data();
  for (int64_t t = 0; t < items; ++t) {
    const float* item = block.values.data() + t * cd;
    const float* item_w = weights ? weights + t * cd : nullptr;
    int64_t best = 0;
    double best_distance = item_distance(item, item_w, encoded.lut.data(), cd);
    for (int64_t row = 1; row < spec.lut_size(); ++row) {
      const double distance = item_distance(item, item_w, encoded.lut.data() + row * cd, cd);
      if (distance < best_distance) {
        best_distance = distance;
        best = row;
      }
    }
    encoded.labels[t] = static_cast<uint8_t>(best);
  }
  return encoded;
}

}  // namespace

EncodedBlock encode_block(BlockData block, const PalettizationSpec& spec, DType dtype,
                          const PalettizeOptions& options, uint64_t block_seed) {
  if (spec.cluster_dim == 1) return encode_scalar_block(block, spec, dtype, options);
  return encode_vector_block(block, spec, dtype, options, block_seed);
}

}  // namespace palettize
