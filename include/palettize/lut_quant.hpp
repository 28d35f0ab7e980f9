#pragma once
// LUT quantization (§3.8): one (scale, zero point) per LUT, range always including 0, reference formulas
// computed in float32 with round-half-to-even.
#include <cstdint>
#include <span>
#include <vector>

#include "palettize/spec.hpp"

namespace palettize {

struct LutQuantParams {
  float scale = 1;
  int32_t zero_point = 0;  // 0 and unused for FP8
};

// Scale and zero point for one LUT (all its entries, padded ones included).
LutQuantParams choose_lut_qparams(std::span<const float> lut, const QuantizationSpec& qspec);

// Quantized codes as raw bytes: int8 as two's complement, uint8 as is, FP8 as its bit pattern.
std::vector<uint8_t> quantize_lut(std::span<const float> lut, const LutQuantParams& params,
                                  const QuantizationSpec& qspec);
// float32 value of one code: (q - zp) * scale for int dtypes, fp8(q) * scale for FP8.
float dequantize_lut_code(uint8_t code, const LutQuantParams& params, const QuantizationSpec& qspec);

}  // namespace palettize
