// LUT quantization (§3.8): the reference's worked values, hand-computed FP8 cases, edge LUTs and
// properties of the affine round trip.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cfloat>
#include <cmath>
#include <vector>

#include "palettize/dtype.hpp"
#include "palettize/error.hpp"
#include "palettize/lut_quant.hpp"

namespace palettize {
namespace {

QuantizationSpec lut_spec(QuantDtype dtype, QScheme scheme) {
  QuantizationSpec spec;
  spec.dtype = dtype;
  spec.qscheme = scheme;
  return spec;
}

// Codes as the integers they stand for (int8 is two's complement).
std::vector<int> int_codes(const std::vector<uint8_t>& codes, QuantDtype dtype) {
  std::vector<int> values;
  for (uint8_t code : codes) values.push_back(dtype == QuantDtype::int8 ? int{static_cast<int8_t>(code)} : int{code});
  return values;
}

std::vector<float> dequantize_all(const std::vector<uint8_t>& codes, const LutQuantParams& params,
                                  const QuantizationSpec& spec) {
  std::vector<float> values;
  for (uint8_t code : codes) values.push_back(dequantize_lut_code(code, params, spec));
  return values;
}

struct WorkedCase {
  QuantDtype dtype;
  QScheme scheme;
  float scale;
  int zero_point;
  std::vector<int> codes;
  std::vector<float> dequantized;
};

void expect_case(const std::vector<float>& lut, const WorkedCase& expected) {
  const QuantizationSpec spec = lut_spec(expected.dtype, expected.scheme);
  const LutQuantParams params = choose_lut_qparams(lut, spec);
  EXPECT_EQ(params.scale, expected.scale);
  EXPECT_EQ(params.zero_point, expected.zero_point);
  const std::vector<uint8_t> codes = quantize_lut(lut, params, spec);
  if (is_float_quant_dtype(expected.dtype)) {
    EXPECT_EQ(std::vector<int>(codes.begin(), codes.end()), expected.codes);
  } else {
    EXPECT_EQ(int_codes(codes, expected.dtype), expected.codes);
  }
  const std::vector<float> values = dequantize_all(codes, params, spec);
  ASSERT_EQ(values.size(), expected.dequantized.size());
  for (std::size_t i = 0; i < values.size(); ++i) EXPECT_NEAR(values[i], expected.dequantized[i], 1e-4) << i;
}

const std::vector<float> kWorkedLut = {1, 2, 3, 4};

TEST(LutQuantWorked, Int8Symmetric) {
  expect_case(kWorkedLut, {QuantDtype::int8, QScheme::symmetric, 4.0f / 127.5f, 0, {32, 64, 96, 127},
                           {1.0039f, 2.0078f, 3.0118f, 3.9843f}});
}

TEST(LutQuantWorked, Int8AsymmetricRoundsInFloat32) {
  // 2 / float32(4/255) = 127.49999 in float32, so the code of 2 is 127 - 128 = -1, not 0.
  expect_case(kWorkedLut, {QuantDtype::int8, QScheme::asymmetric, 4.0f / 255.0f, -128, {-64, -1, 63, 127},
                           {1.0039f, 1.9922f, 2.9961f, 4.0f}});
}

TEST(LutQuantWorked, Uint8Symmetric) {
  expect_case(kWorkedLut, {QuantDtype::uint8, QScheme::symmetric, 4.0f / 127.5f, 128, {160, 192, 224, 255},
                           {1.0039f, 2.0078f, 3.0118f, 3.9843f}});
}

TEST(LutQuantWorked, Uint8Asymmetric) {
  expect_case(kWorkedLut, {QuantDtype::uint8, QScheme::asymmetric, 4.0f / 255.0f, 0, {64, 127, 191, 255},
                           {1.0039f, 1.9922f, 2.9961f, 4.0f}});
}

TEST(LutQuantWorked, Int8SymmetricWithClipping) {
  // scale 4/127; x/scale = 31.75, 63.5, 95.25, 127.0 -> 32, 64 (half to even), 95, 127.
  const float scale = 4.0f / 127.0f;
  expect_case(kWorkedLut, {QuantDtype::int8, QScheme::symmetric_with_clipping, scale, 0, {32, 64, 95, 127},
                           {32 * scale, 64 * scale, 95 * scale, 127 * scale}});
}

TEST(LutQuantWorked, Float8E4m3fn) {
  // scale 4/448; x/scale = 111.99999, 223.99998, 336.0, 447.99997 -> 112, 224, 320 (336 is the midpoint of
  // 320 and 352; 320 has the even mantissa), 448. Bits: 0x6E, 0x76, 0x7A, 0x7E.
  expect_case(kWorkedLut, {QuantDtype::float8_e4m3fn, QScheme::symmetric, 4.0f / 448.0f, 0,
                           {0x6E, 0x76, 0x7A, 0x7E}, {1.0f, 2.0f, 2.857143f, 4.0f}});
}

TEST(LutQuantWorked, Float8E5m2) {
  // scale 4/57344; x/scale = 14335.999, 28671.998, 43008.0, 57343.996 -> 14336, 28672, 40960 (nearer than
  // 49152), 57344. Bits: 0x73, 0x77, 0x79, 0x7B.
  expect_case(kWorkedLut, {QuantDtype::float8_e5m2, QScheme::symmetric, 4.0f / 57344.0f, 0,
                           {0x73, 0x77, 0x79, 0x7B}, {1.0f, 2.0f, 2.857143f, 4.0f}});
}

TEST(LutQuantEdges, AllZeroLutUsesEpsilonScale) {
  const std::vector<float> lut(4, 0.0f);
  for (QuantDtype dtype : {QuantDtype::int8, QuantDtype::uint8, QuantDtype::float8_e4m3fn, QuantDtype::float8_e5m2}) {
    for (QScheme scheme : {QScheme::symmetric, QScheme::asymmetric}) {
      if (is_float_quant_dtype(dtype) && scheme != QScheme::symmetric) continue;
      const QuantizationSpec spec = lut_spec(dtype, scheme);
      const LutQuantParams params = choose_lut_qparams(lut, spec);
      EXPECT_EQ(params.scale, FLT_EPSILON);
      for (float value : dequantize_all(quantize_lut(lut, params, spec), params, spec)) EXPECT_EQ(value, 0.0f);
    }
  }
}

TEST(LutQuantEdges, NegativeOnlyLut) {
  const std::vector<float> lut = {-4, -1};
  // Symmetric: range [-4, 0] -> scale 4/127.5; -4/scale = -127.49999 -> -127, -1/scale = -31.874998 -> -32.
  const float sym_scale = 4.0f / 127.5f;
  expect_case(lut, {QuantDtype::int8, QScheme::symmetric, sym_scale, 0, {-127, -32}, {-127 * sym_scale, -32 * sym_scale}});
  // Asymmetric: zp = -128 - round(-254.99998) = 127; codes -128 and round(-63.749996) + 127 = 63.
  expect_case(lut, {QuantDtype::int8, QScheme::asymmetric, 4.0f / 255.0f, 127, {-128, 63}, {-4.0f, -1.0039f}});
  expect_case(lut, {QuantDtype::uint8, QScheme::asymmetric, 4.0f / 255.0f, 255, {0, 191}, {-4.0f, -1.0039f}});
}

TEST(LutQuantErrors, RejectsNonLutSpecs) {
  const std::vector<float> lut = {1, 2};
  for (QuantDtype dtype : {QuantDtype::int4, QuantDtype::int2, QuantDtype::uint4, QuantDtype::uint2,
                           QuantDtype::float4_e2m1fn_x2}) {
    EXPECT_THROW(choose_lut_qparams(lut, lut_spec(dtype, QScheme::symmetric)), Error) << to_string(dtype);
  }
  QuantizationSpec minval = lut_spec(QuantDtype::int8, QScheme::symmetric);
  minval.qformulation = QFormulation::minval;
  EXPECT_THROW(choose_lut_qparams(lut, minval), Error);
  QuantizationSpec per_channel = lut_spec(QuantDtype::int8, QScheme::symmetric);
  per_channel.granularity.type = QuantGranularity::Type::per_channel;
  EXPECT_THROW(choose_lut_qparams(lut, per_channel), Error);
  EXPECT_THROW(choose_lut_qparams(lut, lut_spec(QuantDtype::float8_e4m3fn, QScheme::asymmetric)), Error);
  EXPECT_THROW(choose_lut_qparams({}, lut_spec(QuantDtype::int8, QScheme::symmetric)), Error);
  const std::vector<float> with_nan = {1, NAN};
  EXPECT_THROW(choose_lut_qparams(with_nan, lut_spec(QuantDtype::int8, QScheme::symmetric)), Error);
  try {
    choose_lut_qparams(lut, lut_spec(QuantDtype::int4, QScheme::symmetric));
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("int4"), std::string::npos) << error.what();
  }
}

// ---- properties ----

struct SchemeChoice {
  QuantDtype dtype;
  QScheme scheme;
};

const std::vector<SchemeChoice> kAllSchemes = {
    {QuantDtype::int8, QScheme::symmetric},          {QuantDtype::int8, QScheme::asymmetric},
    {QuantDtype::int8, QScheme::symmetric_with_clipping}, {QuantDtype::uint8, QScheme::symmetric},
    {QuantDtype::uint8, QScheme::asymmetric},        {QuantDtype::uint8, QScheme::symmetric_with_clipping},
    {QuantDtype::float8_e4m3fn, QScheme::symmetric}, {QuantDtype::float8_e5m2, QScheme::symmetric}};

rc::Gen<std::vector<float>> gen_lut() {
  // Entries over a wide range of magnitudes; sign mode 0 mixes signs, 1 makes all positive, 2 all negative.
  return rc::gen::mapcat(rc::gen::pair(rc::gen::inRange(-30, 20), rc::gen::inRange(0, 3)), [](std::pair<int, int> choice) {
    const float magnitude = std::ldexp(1.0f, choice.first);
    const int sign_mode = choice.second;
    return rc::gen::container<std::vector<float>>(
        rc::gen::map(rc::gen::inRange(-1000000, 1000001), [magnitude, sign_mode](int v) {
          const float value = magnitude * static_cast<float>(v) / 1e6f;
          return sign_mode == 0 ? value : sign_mode == 1 ? std::fabs(value) : -std::fabs(value);
        }));
  });
}

RC_GTEST_PROP(LutQuantProperty, IntCodesInRangeAndRoundTripWithinHalfStep, ()) {
  const std::vector<float> lut = *gen_lut().as("lut");
  RC_PRE(!lut.empty());
  const SchemeChoice choice = *rc::gen::elementOf(std::vector<SchemeChoice>(kAllSchemes.begin(), kAllSchemes.begin() + 6));
  const QuantizationSpec spec = lut_spec(choice.dtype, choice.scheme);
  const LutQuantParams params = choose_lut_qparams(lut, spec);
  const QuantRange range = quant_range(choice.dtype, choice.scheme);
  RC_ASSERT(params.scale >= FLT_EPSILON);
  RC_ASSERT(params.zero_point >= range.qmin && params.zero_point <= range.qmax);
  const std::vector<uint8_t> codes = quantize_lut(lut, params, spec);
  RC_ASSERT(codes.size() == lut.size());
  const std::vector<int> values = int_codes(codes, choice.dtype);
  for (std::size_t i = 0; i < lut.size(); ++i) {
    RC_ASSERT(values[i] >= range.qmin && values[i] <= range.qmax);
    const double unclamped = std::nearbyint(double(lut[i]) / params.scale) + params.zero_point;
    if (unclamped < range.qmin - 0.5 || unclamped > range.qmax + 0.5) continue;  // clipped on purpose
    const float restored = dequantize_lut_code(codes[i], params, spec);
    // Half a step, plus the float32 rounding of the division and of (q - zp) * scale.
    RC_ASSERT(std::fabs(double(restored) - lut[i]) <= 0.5 * params.scale * (1 + 1e-4) + 2e-7 * std::fabs(lut[i]));
  }
  // 0 is exactly representable: its code is the zero point and decodes to 0.
  const std::vector<float> zero = {0.0f};
  const std::vector<uint8_t> zero_code = quantize_lut(zero, params, spec);
  RC_ASSERT(int_codes(zero_code, choice.dtype)[0] == params.zero_point);
  RC_ASSERT(dequantize_lut_code(zero_code[0], params, spec) == 0.0f);
}

RC_GTEST_PROP(LutQuantProperty, Fp8RoundTripWithinHalfUlp, ()) {
  const std::vector<float> lut = *gen_lut().as("lut");
  RC_PRE(!lut.empty());
  const bool e4m3 = *rc::gen::arbitrary<bool>();
  const QuantizationSpec spec = lut_spec(e4m3 ? QuantDtype::float8_e4m3fn : QuantDtype::float8_e5m2, QScheme::symmetric);
  const LutQuantParams params = choose_lut_qparams(lut, spec);
  const int mantissa_bits = e4m3 ? 3 : 2;
  const double half_min_subnormal = std::ldexp(1.0, e4m3 ? -10 : -17);
  const std::vector<uint8_t> codes = quantize_lut(lut, params, spec);
  for (std::size_t i = 0; i < lut.size(); ++i) {
    const float restored = dequantize_lut_code(codes[i], params, spec);
    RC_ASSERT(std::isfinite(restored));
    const double scaled_error = std::fabs(double(restored) - lut[i]) / params.scale;
    const double allowed = std::max(std::fabs(double(lut[i]) / params.scale) * std::ldexp(1.0, -(mantissa_bits + 1)),
                                    half_min_subnormal);
    RC_ASSERT(scaled_error <= allowed * (1 + 1e-5) + 1e-6);
  }
  // The largest magnitude maps onto the format's maximum (unless the scale was clamped up to epsilon).
  double max_abs = 0;
  for (float v : lut) max_abs = std::max(max_abs, std::fabs(double(v)));
  if (params.scale > FLT_EPSILON) {
    const QuantRange range = quant_range(spec.dtype, spec.qscheme);
    RC_ASSERT(std::fabs(max_abs / params.scale - range.qmax) <= range.qmax * 1e-6);
  }
}

}  // namespace
}  // namespace palettize
