// reduce_to_distinct (histogram and sorting paths) and the reference's fast-mode rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "clustering/distinct_internal.hpp"
#include "palettize/clustering.hpp"
#include "palettize/dtype.hpp"
#include "palettize/error.hpp"

namespace palettize {
namespace {

using distinct_detail::DistinctMethod;
using distinct_detail::reduce_to_distinct_using;

// Straightforward reference: an ordered map from value to (weight summed in element order).
DistinctValues reference_distinct(const std::vector<float>& x, const std::vector<float>& sensitivities) {
  std::map<float, double> weight_of;
  for (std::size_t e = 0; e < x.size(); ++e) {
    const float key = x[e] == 0.0f ? 0.0f : x[e];
    weight_of[key] += sensitivities.empty() ? 1.0 : static_cast<double>(sensitivities[e]);
  }
  DistinctValues out;
  std::map<float, uint32_t> id_of;
  for (const auto& [value, weight] : weight_of) {
    id_of[value] = static_cast<uint32_t>(out.values.size());
    out.values.push_back(value);
    out.weights.push_back(weight);
  }
  for (const float v : x) out.inverse.push_back(id_of[v == 0.0f ? 0.0f : v]);
  return out;
}

void expect_identical(const DistinctValues& a, const DistinctValues& b) {
  ASSERT_EQ(a.values.size(), b.values.size());
  for (std::size_t i = 0; i < a.values.size(); ++i) {
    // Bit equality: -0 must come out as +0 on both sides.
    EXPECT_EQ(std::signbit(a.values[i]), std::signbit(b.values[i])) << "value " << i;
    EXPECT_EQ(a.values[i], b.values[i]) << "value " << i;
    EXPECT_EQ(a.weights[i], b.weights[i]) << "weight " << i;
  }
  EXPECT_EQ(a.inverse, b.inverse);
}

std::vector<float> fp16_block(std::size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::student_t_distribution<float> t(5.0f);
  std::vector<float> x(n);
  for (float& v : x) v = f16_to_f32(f32_to_f16(0.02f * t(rng)));
  return x;
}

std::vector<float> random_sensitivities(std::size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 3.0f);
  std::vector<float> s(n);
  for (std::size_t e = 0; e < n; ++e) s[e] = (e % 7 == 0) ? 0.0f : u(rng);
  return s;
}

TEST(ReduceToDistinct, SmallExample) {
  const std::vector<float> x = {3, -1, 3, 0, -0.0f, 2};
  const DistinctValues d = reduce_to_distinct(x);
  EXPECT_EQ(d.values, (std::vector<double>{-1, 0, 2, 3}));
  EXPECT_EQ(d.weights, (std::vector<double>{1, 2, 1, 2}));
  EXPECT_EQ(d.inverse, (std::vector<uint32_t>{3, 0, 3, 1, 1, 2}));
  EXPECT_FALSE(std::signbit(d.values[1]));
}

TEST(ReduceToDistinct, SensitivitiesAreSummedPerValue) {
  const std::vector<float> x = {1, 2, 1, 1, 2};
  const std::vector<float> s = {0.5f, 0.25f, 2.0f, 0.0f, 1.0f};
  for (const DistinctMethod method : {DistinctMethod::kHistogram, DistinctMethod::kSort}) {
    const DistinctValues d = reduce_to_distinct_using(x, s, method);
    EXPECT_EQ(d.values, (std::vector<double>{1, 2}));
    EXPECT_EQ(d.weights, (std::vector<double>{2.5, 1.25}));
    EXPECT_EQ(d.inverse, (std::vector<uint32_t>{0, 1, 0, 0, 1}));
  }
}

TEST(ReduceToDistinct, ZeroSensitivityKeepsTheValueWithWeightZero) {
  const std::vector<float> x = {1, 5};
  const std::vector<float> s = {1.0f, 0.0f};
  const DistinctValues d = reduce_to_distinct(x, s);
  EXPECT_EQ(d.values, (std::vector<double>{1, 5}));
  EXPECT_EQ(d.weights, (std::vector<double>{1, 0}));
}

TEST(ReduceToDistinct, EmptyBlockGivesNothing) {
  const DistinctValues d = reduce_to_distinct({});
  EXPECT_TRUE(d.values.empty());
  EXPECT_TRUE(d.inverse.empty());
}

TEST(ReduceToDistinct, HistogramAndSortAgreeOnFp16Blocks) {
  for (const std::size_t n : {1u, 5u, 63u, 64u, 1000u, 4096u, 40003u}) {
    const std::vector<float> x = fp16_block(n, static_cast<uint32_t>(n));
    const std::vector<float> s = random_sensitivities(n, static_cast<uint32_t>(n) + 1);
    for (const bool weighted : {false, true}) {
      const std::vector<float> sens = weighted ? s : std::vector<float>{};
      SCOPED_TRACE("n = " + std::to_string(n) + (weighted ? ", weighted" : ""));
      const DistinctValues by_histogram = reduce_to_distinct_using(x, sens, DistinctMethod::kHistogram);
      const DistinctValues by_sort = reduce_to_distinct_using(x, sens, DistinctMethod::kSort);
      expect_identical(by_histogram, by_sort);
      expect_identical(by_histogram, reduce_to_distinct_using(x, sens, DistinctMethod::kHistogram, false));
      expect_identical(by_histogram, reference_distinct(x, sens));
      expect_identical(by_histogram, reduce_to_distinct(x, sens));
    }
  }
}

TEST(ReduceToDistinct, Fp16EdgeValuesThroughTheHistogram) {
  const float tiny = std::ldexp(1.0f, -24), smallest_normal = std::ldexp(1.0f, -14);
  std::vector<float> x = {65504.0f, -65504.0f, tiny, -tiny, smallest_normal, smallest_normal - tiny,
                          0.0f, -0.0f, 1.0f, -1.0f, 1.0f + std::ldexp(1.0f, -10), 3 * tiny};
  const std::vector<float> base = x;
  while (x.size() < 40000) x.insert(x.end(), base.begin(), base.end());
  x.push_back(-tiny);  // a tail past the last multiple of 8
  const DistinctValues by_histogram = reduce_to_distinct_using(x, {}, DistinctMethod::kHistogram);
  expect_identical(by_histogram, reference_distinct(x, {}));
  expect_identical(by_histogram, reduce_to_distinct_using(x, {}, DistinctMethod::kSort));
  expect_identical(by_histogram, reduce_to_distinct_using(x, {}, DistinctMethod::kHistogram, false));
}

TEST(ReduceToDistinct, BFloatBlocksUseTheHistogramToo) {
  // Values bf16 holds but fp16 does not (beyond the fp16 range, or too small).
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> exponent(-100, 100);
  std::vector<float> x(40005);
  for (float& v : x) v = bf16_to_f32(f32_to_bf16(std::ldexp(1.2345f, exponent(rng)) * (rng() % 2 ? 1.0f : -1.0f)));
  x[17] = -0.0f;
  x[40004] = 0.0f;
  const std::vector<float> s = random_sensitivities(x.size(), 3);
  const DistinctValues by_histogram = reduce_to_distinct_using(x, s, DistinctMethod::kHistogram);
  expect_identical(by_histogram, reference_distinct(x, s));
  expect_identical(by_histogram, reduce_to_distinct_using(x, s, DistinctMethod::kSort));
  expect_identical(by_histogram, reduce_to_distinct_using(x, s, DistinctMethod::kHistogram, false));
}

TEST(ReduceToDistinct, ArbitraryFloatsAreSorted) {
  for (const std::size_t n : {10u, 3000u, 70000u}) {
    std::mt19937 rng(static_cast<uint32_t>(n));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(n);
    for (std::size_t e = 0; e < n; ++e) x[e] = (e % 3 == 0) ? x[e / 2] : normal(rng);  // with repeats
    x[0] = -0.0f;
    x[n - 1] = 0.0f;
    const std::vector<float> s = random_sensitivities(n, 11);
    expect_identical(reduce_to_distinct(x, s), reference_distinct(x, s));
    expect_identical(reduce_to_distinct(x), reference_distinct(x, {}));
  }
}

TEST(ReduceToDistinct, ALargeBlockWithOneNonFp16ValueFallsBackCorrectly) {
  for (const std::size_t odd : {0u, 3000u, 49999u}) {  // in the first vector, in the middle, in the tail
    std::vector<float> x = fp16_block(49999 + 1, 5);
    x[odd] = 0.1f;  // neither fp16 nor bf16: the histogram attempts must give up and sort instead
    for (const bool simd : {true, false}) {
      expect_identical(reduce_to_distinct_using(x, {}, DistinctMethod::kAuto, simd), reference_distinct(x, {}));
    }
  }
}

TEST(ReduceToDistinct, Fp16SubnormalsAndBFloatLookalikes) {
  // bf16-exact values that fp16 holds too, then a tiny one only bf16 holds: the block is bf16, not fp16.
  std::vector<float> x = {0.5f, -2.0f, 3.0f, 0.0f};
  while (x.size() < 40000) x.push_back(static_cast<float>(static_cast<int>(x.size() % 97) - 48));
  x.push_back(std::ldexp(1.0f, -30));
  for (const bool simd : {true, false}) {
    expect_identical(reduce_to_distinct_using(x, {}, DistinctMethod::kHistogram, simd), reference_distinct(x, {}));
  }
  // fp16 subnormals (multiples of 2^-24 below 2^-14) fit fp16 exactly but not bf16 when their mantissa is long.
  std::vector<float> y;
  for (int m = -1023; y.size() < 40000; m = m == 1023 ? -1023 : m + 1) y.push_back(std::ldexp(static_cast<float>(m), -24));
  for (const bool simd : {true, false}) {
    const DistinctValues d = reduce_to_distinct_using(y, {}, DistinctMethod::kHistogram, simd);
    EXPECT_EQ(d.values.size(), 2047u);
    expect_identical(d, reference_distinct(y, {}));
  }
}

std::string error_of(const std::vector<float>& x, const std::vector<float>& s, DistinctMethod method) {
  try {
    reduce_to_distinct_using(x, s, method);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ReduceToDistinct, RejectsNonFiniteValuesNamingTheElement) {
  for (const DistinctMethod method : {DistinctMethod::kAuto, DistinctMethod::kHistogram, DistinctMethod::kSort}) {
    std::vector<float> x(40000, 1.0f);
    x[39999] = 0.1f;  // neither fp16 nor bf16, so every path is tried
    x[123] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_NE(error_of(x, {}, method).find("element 123 is nan"), std::string::npos) << error_of(x, {}, method);
    x[123] = 1.0f;
    x[7] = -std::numeric_limits<float>::infinity();
    EXPECT_NE(error_of(x, {}, method).find("element 7 is -inf"), std::string::npos) << error_of(x, {}, method);
    const std::vector<float> small = {1.0f, std::numeric_limits<float>::infinity()};
    EXPECT_NE(error_of(small, {}, method).find("element 1 is inf"), std::string::npos);
  }
}

TEST(ReduceToDistinct, RejectsBadSensitivities) {
  const std::vector<float> x = {1, 2, 3};
  EXPECT_NE(error_of(x, {1, -0.5f, 1}, DistinctMethod::kAuto).find("sensitivity of element 1 is -0.5"),
            std::string::npos);
  EXPECT_NE(error_of(x, {1, 1, std::nanf("")}, DistinctMethod::kAuto).find("sensitivity of element 2 is nan"),
            std::string::npos);
  EXPECT_NE(error_of(x, {std::numeric_limits<float>::infinity(), 1, 1}, DistinctMethod::kAuto)
                .find("sensitivity of element 0 is inf"),
            std::string::npos);
  EXPECT_NE(error_of(x, {1, 1}, DistinctMethod::kAuto).find("3 values but 2 sensitivities"), std::string::npos);
}

uint32_t bits_of(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

// Golden values from numpy: np.round(float16(x).astype(float32) * float32(10**p)) / float32(10**p).
TEST(FastModeRounding, MatchesNumpy) {
  struct Case {
    float x;
    int precision;
    uint32_t expected_bits;
  };
  const std::vector<Case> cases = {
      {0.123456f, 4, 1039986065u},  {0.25f, 1, 1045220557u},       {0.75f, 1, 1061997773u},
      {2.5f, 0, 1073741824u},       {-1.5f, 0, 3221225472u},       {3.14159265f, 2, 1078523331u},
      {-0.000123f, 4, 3100751639u}, {65504.0f, 4, 1199562752u},    {1e-7f, 4, 0u},
      {6.103515625e-05f, 4, 953267991u}, {-5e-05f, 4, 3100751639u}, {123.456f, -1, 1123024896u},
  };
  for (const Case& c : cases) {
    std::vector<float> x = {c.x};
    apply_fast_mode_rounding(x, c.precision);
    EXPECT_EQ(bits_of(x[0]), c.expected_bits) << c.x << " at precision " << c.precision << " gave " << x[0];
  }
}

TEST(FastModeRounding, RejectsValuesOutsideTheFp16RangeAndBadPrecision) {
  std::vector<float> x = {1.0f, 70000.0f};
  EXPECT_THROW(apply_fast_mode_rounding(x, 4), Error);
  std::vector<float> nan = {std::nanf("")};
  EXPECT_THROW(apply_fast_mode_rounding(nan, 4), Error);
  std::vector<float> ok = {1.0f};
  EXPECT_THROW(apply_fast_mode_rounding(ok, 11), Error);
}

}  // namespace
}  // namespace palettize
