// private: include only from src/ and tests/
#pragma once
// Encodes one block: cluster its items, build the LUT (pad, round to the weight dtype, quantize), then give
// every item the index of its nearest final LUT entry.
#include <cstdint>
#include <span>
#include <vector>

#include "palettize/dtype.hpp"
#include "palettize/engine.hpp"
#include "palettize/lut_quant.hpp"

namespace palettize {

struct BlockData {
  std::vector<float> values;         // items x cd, in the clustering domain (divided by channel scales)
  std::vector<float> sensitivities;  // items x cd, or empty
};

struct EncodedBlock {
  std::vector<float> lut;            // 2^n x cd, final (dequantized, dtype-rounded) entries
  std::vector<uint8_t> codes;        // 2^n x cd quantized codes, only with lut_qspec
  LutQuantParams qparams;            // only with lut_qspec
  std::vector<uint8_t> labels;       // one per item
};

EncodedBlock encode_block(BlockData block, const PalettizationSpec& spec, DType dtype,
                          const PalettizeOptions& options, uint64_t block_seed);

}  // namespace palettize
