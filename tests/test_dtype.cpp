// Narrow float conversions: exhaustive over every bit pattern of each narrow format, every rounding
// boundary between adjacent representable values, and a slow nearest-value oracle for arbitrary float32.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "palettize/dtype.hpp"
#include "palettize/error.hpp"

namespace palettize {
namespace {

struct NarrowFormat {
  const char* name;
  int exponent_bits;
  int mantissa_bits;
  bool has_infinity;
  float (*decode)(uint32_t);
  uint32_t (*encode)(float);

  int total_bits() const { return 1 + exponent_bits + mantissa_bits; }
  uint32_t pattern_count() const { return 1u << total_bits(); }
  uint32_t sign_bit() const { return 1u << (exponent_bits + mantissa_bits); }
  int bias() const { return (1 << (exponent_bits - 1)) - 1; }
  uint32_t exponent_field(uint32_t p) const { return (p >> mantissa_bits) & ((1u << exponent_bits) - 1); }
  uint32_t mantissa_field(uint32_t p) const { return p & ((1u << mantissa_bits) - 1); }
  bool exponent_all_ones(uint32_t p) const { return exponent_field(p) == (1u << exponent_bits) - 1; }

  bool is_nan_pattern(uint32_t p) const {
    if (has_infinity) return exponent_all_ones(p) && mantissa_field(p) != 0;
    return (p & ~sign_bit()) == sign_bit() - 1;  // E4M3FN: only all ones is NaN
  }
  bool is_infinity_pattern(uint32_t p) const {
    return has_infinity && exponent_all_ones(p) && mantissa_field(p) == 0;
  }
  // Largest finite magnitude pattern; one above it is infinity (or NaN for E4M3FN).
  uint32_t max_finite_pattern() const {
    return has_infinity ? (((1u << exponent_bits) - 1) << mantissa_bits) - 1 : sign_bit() - 2;
  }
};

const NarrowFormat kFormats[] = {
    {"F16", 5, 10, true, [](uint32_t p) { return f16_to_f32(static_cast<uint16_t>(p)); },
     [](float v) -> uint32_t { return f32_to_f16(v); }},
    {"BF16", 8, 7, true, [](uint32_t p) { return bf16_to_f32(static_cast<uint16_t>(p)); },
     [](float v) -> uint32_t { return f32_to_bf16(v); }},
    {"E4M3FN", 4, 3, false, [](uint32_t p) { return e4m3fn_to_f32(static_cast<uint8_t>(p)); },
     [](float v) -> uint32_t { return f32_to_e4m3fn(v); }},
    {"E5M2", 5, 2, true, [](uint32_t p) { return e5m2_to_f32(static_cast<uint8_t>(p)); },
     [](float v) -> uint32_t { return f32_to_e5m2(v); }},
};

// The value of a finite pattern straight from the format definition, in double.
double value_from_fields(const NarrowFormat& f, uint32_t p) {
  const double sign = (p & f.sign_bit()) != 0 ? -1.0 : 1.0;
  const int exponent = static_cast<int>(f.exponent_field(p));
  const double mantissa = static_cast<double>(f.mantissa_field(p));
  if (exponent == 0) return sign * std::ldexp(mantissa, 1 - f.bias() - f.mantissa_bits);
  return sign * std::ldexp(1.0 + std::ldexp(mantissa, -f.mantissa_bits), exponent - f.bias());
}

struct Candidate {
  double value;
  uint32_t pattern;
};

// Non-negative finite values in increasing order, then one virtual value a unit above the largest: the
// pattern right after it, which is infinity (NaN for E4M3FN). Rounding up onto it is overflow.
std::vector<Candidate> candidate_table(const NarrowFormat& f) {
  std::vector<Candidate> table;
  for (uint32_t p = 0; p <= f.max_finite_pattern(); ++p) table.push_back({value_from_fields(f, p), p});
  const double top_unit = std::ldexp(1.0, static_cast<int>(f.exponent_field(f.max_finite_pattern())) -
                                              f.bias() - f.mantissa_bits);
  table.push_back({table.back().value + top_unit, f.max_finite_pattern() + 1});
  return table;
}

// Slow reference: nearest candidate by exact double differences, ties to the even pattern.
uint32_t oracle_encode(const NarrowFormat& f, const std::vector<Candidate>& table, float value) {
  const uint32_t sign = std::signbit(value) ? f.sign_bit() : 0;
  const double magnitude = std::fabs(static_cast<double>(value));
  if (magnitude >= table.back().value) return sign | table.back().pattern;
  const auto upper = std::upper_bound(table.begin(), table.end(), magnitude,
                                      [](double v, const Candidate& c) { return v < c.value; });
  const Candidate& hi = *upper;
  const Candidate& lo = *(upper - 1);
  const double below = magnitude - lo.value;  // both exact: the operands are close and have few bits
  const double above = hi.value - magnitude;
  if (below < above) return sign | lo.pattern;
  if (above < below) return sign | hi.pattern;
  return sign | ((lo.pattern % 2 == 0) ? lo.pattern : hi.pattern);
}

std::string hex(uint32_t p) {
  char text[16];
  std::snprintf(text, sizeof(text), "0x%X", p);
  return text;
}

TEST(NarrowFloat, DecodeMatchesFieldDefinitionForEveryPattern) {
  for (const NarrowFormat& f : kFormats) {
    for (uint32_t p = 0; p < f.pattern_count(); ++p) {
      const float decoded = f.decode(p);
      SCOPED_TRACE(std::string(f.name) + " pattern " + hex(p));
      EXPECT_EQ(std::signbit(decoded), (p & f.sign_bit()) != 0);
      if (f.is_nan_pattern(p)) {
        EXPECT_TRUE(std::isnan(decoded));
      } else if (f.is_infinity_pattern(p)) {
        EXPECT_TRUE(std::isinf(decoded));
      } else {
        EXPECT_EQ(static_cast<double>(decoded), value_from_fields(f, p));
      }
    }
  }
}

TEST(NarrowFloat, EncodeInvertsDecodeForEveryPattern) {
  for (const NarrowFormat& f : kFormats) {
    for (uint32_t p = 0; p < f.pattern_count(); ++p) {
      const uint32_t round_trip = f.encode(f.decode(p));
      SCOPED_TRACE(std::string(f.name) + " pattern " + hex(p) + " came back as " + hex(round_trip));
      if (f.is_nan_pattern(p)) {
        EXPECT_TRUE(f.is_nan_pattern(round_trip));
        EXPECT_EQ(round_trip & f.sign_bit(), p & f.sign_bit());
        // Quiet NaN: the top mantissa bit is set (E4M3FN's only NaN has every bit set anyway).
        EXPECT_NE(round_trip & (1u << (f.mantissa_bits - 1)), 0u);
      } else {
        EXPECT_EQ(round_trip, p);
      }
    }
  }
}

TEST(NarrowFloat, PositivePatternsDecodeInIncreasingOrder) {
  for (const NarrowFormat& f : kFormats) {
    for (uint32_t p = 1; p <= f.max_finite_pattern(); ++p) {
      EXPECT_LT(f.decode(p - 1), f.decode(p)) << f.name << " pattern " << hex(p);
    }
  }
}

// For every pair of adjacent representable magnitudes (including zero and the overflow step): the exact
// midpoint ties to the even pattern, and one float32 ulp either side rounds to the nearer value. This covers
// the subnormal/normal boundary, values around half the smallest subnormal, and the overflow threshold.
TEST(NarrowFloat, EveryMidpointAndItsFloat32NeighboursRoundCorrectly) {
  for (const NarrowFormat& f : kFormats) {
    const std::vector<Candidate> table = candidate_table(f);
    for (std::size_t i = 0; i + 1 < table.size(); ++i) {
      const Candidate& lo = table[i];
      const Candidate& hi = table[i + 1];
      const double exact_midpoint = (lo.value + hi.value) / 2;
      const auto midpoint = static_cast<float>(exact_midpoint);
      ASSERT_EQ(static_cast<double>(midpoint), exact_midpoint) << f.name << " midpoint not a float32";
      const uint32_t tie = lo.pattern % 2 == 0 ? lo.pattern : hi.pattern;
      const float just_below = std::nextafter(midpoint, 0.0f);
      const float just_above = std::nextafter(midpoint, std::numeric_limits<float>::infinity());
      for (const float sign : {1.0f, -1.0f}) {
        const uint32_t sign_bits = sign < 0 ? f.sign_bit() : 0;
        SCOPED_TRACE(std::string(f.name) + " between " + hex(lo.pattern) + " and " + hex(hi.pattern) +
                     (sign < 0 ? " negative" : " positive"));
        EXPECT_EQ(f.encode(sign * midpoint), sign_bits | tie);
        EXPECT_EQ(f.encode(sign * just_below), sign_bits | lo.pattern);
        EXPECT_EQ(f.encode(sign * just_above), sign_bits | hi.pattern);
      }
    }
  }
}

TEST(NarrowFloat, KnownValues) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xC000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65519.99f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);  // tie above the max goes to the even pattern: infinity
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)), 0x0400);
  EXPECT_EQ(f32_to_f16(0.1f), 0x2E66);
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3F808000u)), 0x3F80);  // tie, even stays
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3F818000u)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x00018000u)), 0x0002);  // float32 subnormal, tie to even
  EXPECT_EQ(f32_to_e4m3fn(1.0f), 0x38);
  EXPECT_EQ(f32_to_e4m3fn(448.0f), 0x7E);
  EXPECT_EQ(f32_to_e4m3fn(464.0f), 0x7E);  // tie between 448 (even) and the NaN slot
  EXPECT_EQ(f32_to_e4m3fn(464.01f), 0x7F);
  EXPECT_EQ(f32_to_e4m3fn(-1000.0f), 0xFF);
  EXPECT_EQ(f32_to_e4m3fn(std::ldexp(1.0f, -9)), 0x01);
  EXPECT_EQ(f32_to_e4m3fn(std::ldexp(1.0f, -6)), 0x08);
  EXPECT_EQ(f32_to_e5m2(1.0f), 0x3C);
  EXPECT_EQ(f32_to_e5m2(57344.0f), 0x7B);
  EXPECT_EQ(f32_to_e5m2(61440.0f), 0x7C);
  EXPECT_EQ(f32_to_e5m2(-1e9f), 0xFC);
  EXPECT_EQ(f32_to_e5m2(std::ldexp(1.0f, -16)), 0x01);
  EXPECT_EQ(e4m3fn_to_f32(0x7E), 448.0f);
  EXPECT_EQ(e5m2_to_f32(0x7B), 57344.0f);
  EXPECT_EQ(e4m3fn_to_f32(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(bf16_to_f32(0x0001), std::ldexp(1.0f, -133));
}

TEST(NarrowFloat, ZeroInfinityAndNan) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float signaling_nan = std::bit_cast<float>(0x7F800001u);  // payload lives only in low bits
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(-1e-30f), 0x8000);
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_e4m3fn(-0.0f), 0x80);
  EXPECT_EQ(f32_to_e5m2(-1e-30f), 0x80);
  EXPECT_EQ(f32_to_f16(inf), 0x7C00);
  EXPECT_EQ(f32_to_f16(-inf), 0xFC00);
  EXPECT_EQ(f32_to_bf16(inf), 0x7F80);
  EXPECT_EQ(f32_to_e5m2(-inf), 0xFC);
  EXPECT_EQ(f32_to_e4m3fn(inf), 0x7F);
  EXPECT_EQ(f32_to_e4m3fn(-inf), 0xFF);
  EXPECT_EQ(f32_to_f16(nan), 0x7E00);
  EXPECT_EQ(f32_to_f16(signaling_nan), 0x7E00);  // must not collapse into infinity
  EXPECT_EQ(f32_to_bf16(signaling_nan), 0x7FC0);
  EXPECT_EQ(f32_to_e5m2(signaling_nan), 0x7E);
  EXPECT_EQ(f32_to_e4m3fn(-nan), 0xFF);
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7C01)));
  EXPECT_TRUE(std::isnan(e4m3fn_to_f32(0xFF)));
  EXPECT_EQ(e4m3fn_to_f32(0x7E), 448.0f);  // same exponent as NaN, still finite
  EXPECT_TRUE(std::isinf(e5m2_to_f32(0xFC)));
}

// Every 4099th float32 bit pattern (about a million, spanning every exponent) against the oracle.
TEST(NarrowFloat, StridedSweepOverFloat32MatchesOracle) {
  for (const NarrowFormat& f : kFormats) {
    const std::vector<Candidate> table = candidate_table(f);
    for (uint64_t bits = 0; bits <= 0xFFFFFFFFu; bits += 4099) {
      const float value = std::bit_cast<float>(static_cast<uint32_t>(bits));
      if (std::isnan(value)) continue;
      ASSERT_EQ(f.encode(value), oracle_encode(f, table, value)) << f.name << " float32 bits " << hex(bits);
    }
  }
}

RC_GTEST_PROP(NarrowFloatProperty, AnyFloat32MatchesOracle, (uint32_t bits)) {
  const float value = std::bit_cast<float>(bits);
  RC_PRE(!std::isnan(value));
  for (const NarrowFormat& f : kFormats) {
    RC_ASSERT(f.encode(value) == oracle_encode(f, candidate_table(f), value));
  }
}

// Float32 values a few hundred thousand ulps around a representable narrow value: dense near boundaries.
RC_GTEST_PROP(NarrowFloatProperty, Float32NearRepresentableValuesMatchesOracle, ()) {
  for (const NarrowFormat& f : kFormats) {
    const auto pattern = *rc::gen::inRange<uint32_t>(0, f.max_finite_pattern() + 1);
    const auto offset = *rc::gen::inRange<int32_t>(-(1 << 18), 1 << 18);
    const uint32_t bits = std::bit_cast<uint32_t>(f.decode(pattern)) + static_cast<uint32_t>(offset);
    const float value = std::bit_cast<float>(bits);
    if (std::isnan(value)) continue;  // stepped below +0 into the NaN range
    RC_ASSERT(f.encode(value) == oracle_encode(f, candidate_table(f), value));
  }
}

TEST(DTypeNames, EveryNameRoundTrips) {
  const std::vector<std::pair<std::string, std::size_t>> expected = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I64", 8}, {"I32", 4},
      {"I16", 2}, {"I8", 1},  {"U64", 8}, {"U32", 4}, {"U16", 2},  {"U8", 1},   {"BOOL", 1}};
  for (const auto& [name, size] : expected) {
    const DType dtype = dtype_from_name(name);
    EXPECT_EQ(dtype_name(dtype), name);
    EXPECT_EQ(dtype_size(dtype), size) << name;
  }
}

TEST(DTypeNames, UnknownNameListsKnownNames) {
  try {
    dtype_from_name("F12");
    FAIL() << "expected an Error";
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("'F12'"), std::string::npos) << message;
    for (const char* known : {"F64", "F32", "BF16", "F8_E4M3", "F8_E5M2", "U8", "BOOL"}) {
      EXPECT_NE(message.find(known), std::string::npos) << message;
    }
  }
  EXPECT_THROW(dtype_from_name("f32"), Error);  // safetensors names are upper case
  EXPECT_THROW(dtype_from_name(""), Error);
}

TEST(DTypeNames, OnlyFloat32AndHalfFormatsArePalettizable) {
  for (const char* name : {"F32", "F16", "BF16"}) EXPECT_TRUE(is_palettizable(dtype_from_name(name)));
  for (const char* name : {"F64", "F8_E4M3", "F8_E5M2", "I8", "U8", "BOOL"}) {
    EXPECT_FALSE(is_palettizable(dtype_from_name(name))) << name;
  }
}

TEST(ElementAccess, StoreThenLoadAtUnalignedAddresses) {
  for (const DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    std::vector<std::byte> buffer(1 + 3 * dtype_size(dtype));
    std::byte* unaligned = buffer.data() + 1;
    const float values[] = {1.5f, -0.1f, 3.0e4f};
    for (std::size_t i = 0; i < 3; ++i) store_from_f32(dtype, unaligned, i, values[i]);
    for (std::size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(load_as_f32(dtype, unaligned, i), round_to_dtype(dtype, values[i])) << dtype_name(dtype);
    }
  }
}

TEST(ElementAccess, StoredBytesAreLittleEndianPatterns) {
  std::byte buffer[2];
  store_from_f32(DType::F16, buffer, 0, 1.0f);
  EXPECT_EQ(buffer[0], std::byte{0x00});
  EXPECT_EQ(buffer[1], std::byte{0x3C});
  store_from_f32(DType::BF16, buffer, 0, -2.0f);
  EXPECT_EQ(buffer[0], std::byte{0x00});
  EXPECT_EQ(buffer[1], std::byte{0xC0});
}

TEST(ElementAccess, RoundToDtype) {
  EXPECT_EQ(round_to_dtype(DType::F32, 0.1f), 0.1f);
  EXPECT_EQ(round_to_dtype(DType::F16, 0.1f), f16_to_f32(0x2E66));
  EXPECT_EQ(round_to_dtype(DType::BF16, 1.00390625f), 1.0f);  // tie between 1 and 1 + 2^-7 goes to 1
  EXPECT_EQ(round_to_dtype(DType::F16, 1e6f), std::numeric_limits<float>::infinity());
}

TEST(ElementAccess, NonPalettizableDtypesAreRejected) {
  std::byte buffer[8] = {};
  for (const DType dtype : {DType::F64, DType::I8, DType::F8_E4M3, DType::BOOL}) {
    EXPECT_THROW(load_as_f32(dtype, buffer, 0), Error);
    EXPECT_THROW(store_from_f32(dtype, buffer, 0, 1.0f), Error);
    EXPECT_THROW(round_to_dtype(dtype, 1.0f), Error);
  }
  try {
    round_to_dtype(DType::I32, 1.0f);
    FAIL() << "expected an Error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("I32"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace palettize
