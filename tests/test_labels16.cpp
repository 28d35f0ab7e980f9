// The labels of the 16-bit pattern path: with up to 16 LUT entries they are counted by comparing each
// weight with per-label thresholds (SIMD) instead of looked up per pattern. Either way every index must be
// the nearest LUT entry of its block, the lowest index among equal distances (§3.5), which these tests
// check element by element on the decoded LUTs.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "palettize/engine.hpp"
#include "palettize/tensor.hpp"

namespace palettize {
namespace {

PalettizationSpec grouped(int n_bits, int64_t group_size) {
  PalettizationSpec spec;
  spec.n_bits = n_bits;
  if (group_size > 0) spec.granularity = PerGroupedChannelGranularity{0, group_size};
  return spec;
}

// The lowest index among the entries nearest to x (F16/BF16 values and entries: the differences are exact).
uint8_t nearest_entry(double x, const float* lut, int64_t entries) {
  int64_t best = 0;
  for (int64_t e = 1; e < entries; ++e) {
    if (std::fabs(x - lut[e]) < std::fabs(x - lut[best])) best = e;
  }
  return static_cast<uint8_t>(best);
}

void expect_nearest_labels(const Tensor& w, const PalettizationSpec& spec, const std::string& label) {
  const PalettizedTensor p = palettize(w.view(), spec);
  const int64_t rows = w.shape[0], rest = w.numel() / rows, entries = p.lut_entries();
  const int64_t rows_per_lut = spec.is_grouped() ? std::get<PerGroupedChannelGranularity>(spec.granularity).group_size : rows;
  for (int64_t o = 0; o < rows; ++o) {
    const float* lut = p.lut.data() + (o / rows_per_lut) * entries;
    for (int64_t r = 0; r < rest; ++r) {
      const int64_t i = o * rest + r;
      const double x = load_as_f32(w.dtype, w.data.data(), i);
      ASSERT_EQ(int{p.indices[i]}, int{nearest_entry(x, lut, entries)}) << label << ", element " << i << " = " << x;
    }
  }
}

TEST(Labels16, EveryIndexIsTheNearestEntryForEveryWidthUpTo8Bits) {
  std::mt19937 rng(16);
  std::student_t_distribution<float> t(4.0f);
  // 37 x 1001: rows whose length is not a multiple of 32 (the compared part and the looked-up tail).
  std::vector<float> values(37 * 1001);
  for (float& v : values) v = 0.02f * t(rng);
  for (std::size_t i = 0; i < values.size(); i += 89) values[i] = (i % 2) ? -0.0f : 0.0f;
  for (const DType dtype : {DType::F16, DType::BF16}) {
    const Tensor w = make_tensor(dtype, {37, 1001}, values);
    for (const int n_bits : {1, 2, 3, 4, 6, 8}) {
      for (const int64_t group : {int64_t{0}, int64_t{1}, int64_t{37}}) {
        expect_nearest_labels(w, grouped(n_bits, group),
                              std::string(dtype_name(dtype)) + " n_bits " + std::to_string(n_bits) + " group " +
                                  std::to_string(group));
      }
      PalettizationSpec quantized = grouped(n_bits, 1);
      quantized.lut_qspec = QuantizationSpec{};  // int8 LUT: entries move, and may merge
      expect_nearest_labels(w, quantized, std::string(dtype_name(dtype)) + " int8 LUT, n_bits " + std::to_string(n_bits));
    }
  }
}

// Fewer distinct values than entries: the padded LUT repeats its last centroid, whose copies are never the
// lowest nearest index, so labels skip. -0 and +0 are one value: the same label on either side of a
// threshold at zero.
TEST(Labels16, SkippedLabelsAndSignedZerosGetTheNearestEntry) {
  const std::vector<float> pattern = {-0.5f, -0.0f, 0.0f, 0.25f, -0.0f, 0.75f, 0.0f, -0.5f};
  std::vector<float> values;
  for (int repeat = 0; repeat < 300; ++repeat) values.insert(values.end(), pattern.begin(), pattern.end());
  for (const DType dtype : {DType::F16, DType::BF16}) {
    const Tensor w = make_tensor(dtype, {8, 300}, values);
    for (const int n_bits : {1, 2, 4}) {
      for (const int64_t group : {int64_t{0}, int64_t{1}}) {
        expect_nearest_labels(w, grouped(n_bits, group),
                              std::string(dtype_name(dtype)) + " n_bits " + std::to_string(n_bits) + " group " +
                                  std::to_string(group));
      }
    }
    // Two values, zero the upper one: +0 is the first value of label 1, and -0 must follow it there.
    std::vector<float> two(2048);
    for (std::size_t i = 0; i < two.size(); ++i) two[i] = (i % 3 == 0) ? -1.0f : ((i % 3 == 1) ? 0.0f : -0.0f);
    const Tensor w2 = make_tensor(dtype, {1, 2048}, two);
    const PalettizedTensor p = palettize(w2.view(), grouped(1, 0));
    for (std::size_t i = 0; i < two.size(); ++i) {
      ASSERT_EQ(int{p.indices[i]}, i % 3 == 0 ? 0 : 1) << dtype_name(dtype) << " element " << i;
    }
  }
}

}  // namespace
}  // namespace palettize
