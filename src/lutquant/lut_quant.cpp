// LUT quantization (§3.8), the torch path of the reference: torchao's choose_qparams_affine_with_min_max
// followed by quantize/dequantize_affine. Every step is float32 arithmetic, in the reference's order, so
// that the codes match bit for bit (e.g. 2 / float32(4/255) = 127.49999 must round to 127).
#include "palettize/lut_quant.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "palettize/dtype.hpp"
#include "palettize/error.hpp"

namespace palettize {
namespace {

bool is_lut_dtype(QuantDtype dtype) {
  return dtype == QuantDtype::int8 || dtype == QuantDtype::uint8 || dtype == QuantDtype::float8_e4m3fn ||
         dtype == QuantDtype::float8_e5m2;
}

// The rules a QuantizationSpec must meet to quantize a LUT (§1.1, §1.3); the spec validation reports them
// with the reference's wording, this guard keeps the kernels from running on anything else.
void check_lut_qspec(const QuantizationSpec& qspec) {
  check(is_lut_dtype(qspec.dtype), "LUT quantization: unsupported dtype ", to_string(qspec.dtype),
        " (allowed: int8, uint8, float8_e4m3fn, float8_e5m2)");
  check(qspec.qformulation == QFormulation::zp, "LUT quantization: qformulation ",
        to_string(qspec.qformulation), " is not supported (only zp)");
  check(qspec.granularity.type == QuantGranularity::Type::per_tensor, "LUT quantization: granularity ",
        to_string(qspec.granularity.type), " is not supported (only per_tensor)");
  check(!is_float_quant_dtype(qspec.dtype) || qspec.qscheme == QScheme::symmetric,
        "LUT quantization: dtype ", to_string(qspec.dtype), " requires the symmetric qscheme, got ",
        to_string(qspec.qscheme));
}

// torch.round: half to even. std::nearbyint rounds half to even in the default rounding mode.
float round_half_even(float value) { return std::nearbyint(value); }

uint8_t fp8_bits(QuantDtype dtype, float value) {
  return dtype == QuantDtype::float8_e4m3fn ? f32_to_e4m3fn(value) : f32_to_e5m2(value);
}

float fp8_value(QuantDtype dtype, uint8_t bits) {
  return dtype == QuantDtype::float8_e4m3fn ? e4m3fn_to_f32(bits) : e5m2_to_f32(bits);
}

// The stored code as the integer the dtype means: int8 is two's complement.
int32_t int_code_value(QuantDtype dtype, uint8_t code) {
  return dtype == QuantDtype::int8 ? int32_t{static_cast<int8_t>(code)} : int32_t{code};
}

}  // namespace

LutQuantParams choose_lut_qparams(std::span<const float> lut, const QuantizationSpec& qspec) {
  check_lut_qspec(qspec);
  check(!lut.empty(), "LUT quantization: the LUT is empty");
  float min_v = 0.0f;  // the range always includes 0
  float max_v = 0.0f;
  for (float entry : lut) {
    check(std::isfinite(entry), "LUT quantization: LUT entry ", entry, " is not finite");
    min_v = std::min(min_v, entry);
    max_v = std::max(max_v, entry);
  }
  const QuantRange range = quant_range(qspec.dtype, qspec.qscheme);
  const float qmin = static_cast<float>(range.qmin);
  const float qmax = static_cast<float>(range.qmax);

  LutQuantParams params;
  if (qspec.qscheme == QScheme::asymmetric) {
    params.scale = std::max((max_v - min_v) / (qmax - qmin), FLT_EPSILON);
    const float zero_point = qmin - round_half_even(min_v / params.scale);
    params.zero_point = static_cast<int32_t>(std::clamp(zero_point, qmin, qmax));
  } else {
    const float max_abs = std::max(-min_v, max_v);
    params.scale = std::max(max_abs / ((qmax - qmin) / 2.0f), FLT_EPSILON);
    // Python's int() truncates toward zero: int8 -> 0, int8 clipping -> int(0.5) = 0, uint8 -> 128.
    params.zero_point = is_float_quant_dtype(qspec.dtype)
                            ? 0
                            : static_cast<int32_t>(std::trunc((range.qmax + range.qmin + 1) / 2));
  }
  return params;
}

std::vector<uint8_t> quantize_lut(std::span<const float> lut, const LutQuantParams& params,
                                  const QuantizationSpec& qspec) {
  check_lut_qspec(qspec);
  check(std::isfinite(params.scale) && params.scale > 0, "LUT quantization: scale ", params.scale,
        " is not a positive finite number");
  const QuantRange range = quant_range(qspec.dtype, qspec.qscheme);
  const float qmin = static_cast<float>(range.qmin);
  const float qmax = static_cast<float>(range.qmax);
  const bool is_fp8 = is_float_quant_dtype(qspec.dtype);
  std::vector<uint8_t> codes;
  codes.reserve(lut.size());
  for (float entry : lut) {
    check(std::isfinite(entry), "LUT quantization: LUT entry ", entry, " is not finite");
    const float scaled = entry / params.scale;  // true division, as the reference (not * (1/scale))
    if (is_fp8) {
      codes.push_back(fp8_bits(qspec.dtype, std::clamp(scaled, qmin, qmax)));
    } else {
      const float code = std::clamp(round_half_even(scaled) + static_cast<float>(params.zero_point), qmin, qmax);
      // int8 codes are stored as their two's complement byte.
      codes.push_back(static_cast<uint8_t>(static_cast<int32_t>(code)));
    }
  }
  return codes;
}

float dequantize_lut_code(uint8_t code, const LutQuantParams& params, const QuantizationSpec& qspec) {
  check_lut_qspec(qspec);
  if (is_float_quant_dtype(qspec.dtype)) return fp8_value(qspec.dtype, code) * params.scale;
  return static_cast<float>(int_code_value(qspec.dtype, code) - params.zero_point) * params.scale;
}

}  // namespace palettize
