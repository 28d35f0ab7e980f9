// private: include only from src/ and tests/
#pragma once
// Scalar blocks of F16/BF16 weights (no channel scale, no fast mode) clustered straight from their 16-bit
// patterns: a block's distinct values are the distinct patterns, found with a 65 536-bin histogram that only
// touches the bins it uses, and every weight's index is one table lookup by pattern. No float copy of the
// tensor is made, which is what keeps large checkpoints fast and small in memory.
#include <cstdint>
#include <span>

#include "blocking/blocking.hpp"
#include "engine/block_codec.hpp"

namespace palettize {

bool uses_16bit_patterns(DType dtype, const PalettizationSpec& spec, const PalettizeOptions& options);

// Encodes block `rect` and writes its indices into `indices` (row-major over the index tensor).
EncodedBlock encode_16bit_block(const TensorView& weight, const BlockLayout& layout, const BlockRect& rect,
                                std::span<const float> sensitivities, const PalettizationSpec& spec,
                                std::span<uint8_t> indices);

}  // namespace palettize
