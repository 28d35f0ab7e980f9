// private: include only from src/ and tests/
#pragma once
// Encodes one block: cluster its items, build the LUT (pad, round to the weight dtype, quantize), then give
// every item the index of its nearest final LUT entry.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "palettize/clustering.hpp"
#include "palettize/dtype.hpp"
#include "palettize/engine.hpp"
#include "palettize/lut_quant.hpp"

namespace palettize {

struct BlockData {
  std::vector<float> values;         // items x cd, in the clustering domain (divided by channel scales)
  std::vector<float> sensitivities;  // items x cd, or empty
};

// The decoded block's error against its original values: sums over the block's elements.
struct BlockErrorSums {
  double sse = 0, signal = 0, max_abs_err = 0;
};

struct EncodedBlock {
  std::vector<float> lut;            // 2^n x cd, final (dequantized, dtype-rounded) entries
  std::vector<uint8_t> codes;        // 2^n x cd quantized codes, only with lut_qspec
  LutQuantParams qparams;            // only with lut_qspec
  std::vector<uint8_t> labels;       // one per item
  // Set by encoders that know each distinct value's count (the 16-bit pattern path): the error summed over
  // distinct values, count x squared error, instead of over elements.
  std::optional<BlockErrorSums> error;
};

// Shared steps of the scalar encoders.
// Centroids (k_eff x cd) -> 2^n LUT rows (missing rows repeat the last centroid, §3.5), rounded to `dtype`.
std::vector<float> padded_lut(const std::vector<double>& centroids, int64_t cd, int64_t lut_rows, DType dtype);
// Replaces the LUT by its quantized-then-dequantized entries and records codes and parameters.
void quantize_lut_in_place(EncodedBlock& encoded, const QuantizationSpec& qspec, DType dtype);
// LUT entries for sorted distinct values (nearest final entry; among equal entries the lowest index).
EncodedBlock encode_distinct_values(const DistinctValues& distinct, const PalettizationSpec& spec, DType dtype,
                                    std::vector<uint8_t>& nearest);

EncodedBlock encode_block(BlockData block, const PalettizationSpec& spec, DType dtype,
                          const PalettizeOptions& options, uint64_t block_seed);

}  // namespace palettize
