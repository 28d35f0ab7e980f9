#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <set>

#include "palettize/engine.hpp"
#include "palettize/error.hpp"
#include "palettize/lut_quant.hpp"

namespace palettize {
namespace {

PalettizationSpec make_spec(int n_bits, PalettizationGranularity granularity = PerTensorGranularity{},
                            int64_t cluster_dim = 1, bool per_channel_scale = false) {
  PalettizationSpec spec;
  spec.n_bits = n_bits;
  spec.granularity = granularity;
  spec.cluster_dim = cluster_dim;
  spec.enable_per_channel_scale = per_channel_scale;
  return spec;
}

PalettizationSpec with_lut(PalettizationSpec spec, QuantDtype dtype, QScheme scheme = QScheme::symmetric) {
  QuantizationSpec qspec;
  qspec.dtype = dtype;
  qspec.qscheme = scheme;
  spec.lut_qspec = qspec;
  return spec;
}

std::vector<float> random_values(std::size_t n, uint32_t seed, double scale = 1.0) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, static_cast<float>(scale));
  std::vector<float> values(n);
  for (auto& v : values) v = normal(rng);
  return values;
}

double mse_of(const Tensor& original, const PalettizedTensor& palettized) {
  const Tensor decoded = decode(palettized);
  return compare(original.view(), decoded.view()).mse;
}

const std::vector<QuantDtype> kLutDtypes = {QuantDtype::int8, QuantDtype::uint8, QuantDtype::float8_e4m3fn,
                                            QuantDtype::float8_e5m2};
const std::vector<DType> kWeightDtypes = {DType::F32, DType::F16, DType::BF16};

TEST(Engine, PerTensorSmallMatrixEveryDtypeAndLutDtype) {
  for (DType dtype : kWeightDtypes) {
    const Tensor w = make_tensor(dtype, {2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6});
    std::vector<PalettizationSpec> specs = {make_spec(2)};
    for (QuantDtype q : kLutDtypes) specs.push_back(with_lut(make_spec(2), q));
    for (const auto& spec : specs) {
      const PalettizedTensor p = palettize(w.view(), spec);
      EXPECT_EQ(p.lut_shape, (Shape{1, 1, 4, 1}));
      EXPECT_EQ(p.index_shape, (Shape{2, 3}));
      const Tensor decoded = decode(p);
      EXPECT_EQ(decoded.dtype, dtype);
      EXPECT_EQ(decoded.shape, w.shape);
      EXPECT_LT(mse_of(w, p), 0.5);
    }
  }
}

TEST(Engine, FewerDistinctValuesThanEntriesPadsWithTheLastCentroid) {
  const Tensor w = make_tensor(DType::F32, {2, 3}, std::vector<float>{1, 1, 2, 2, 1, 2});
  const PalettizedTensor p = palettize(w.view(), make_spec(2));
  EXPECT_EQ(p.lut, (std::vector<float>{1, 2, 2, 2}));
  for (uint8_t index : p.indices) EXPECT_LT(index, 2);
  EXPECT_EQ(mse_of(w, p), 0.0);
}

TEST(Engine, AtMostTwoPowNDistinctValuesAreReproducedExactly) {
  std::vector<float> values(64);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>((i * 7) % 16) * 0.37f - 2.0f;
  for (DType dtype : kWeightDtypes) {
    const Tensor w = make_tensor(dtype, {8, 8}, values);
    const PalettizedTensor p = palettize(w.view(), make_spec(4));
    EXPECT_EQ(compare(w.view(), decode(p).view()).sse, 0.0) << dtype_name(dtype);
  }
}

TEST(Engine, GroupedGranularitiesEveryLutDtype) {
  const Tensor w = make_tensor(DType::F32, {4, 4}, random_values(16, 3));
  for (int axis : {0, 1}) {
    const int n_bits = axis == 0 ? 1 : 2;
    std::vector<PalettizationSpec> specs = {make_spec(n_bits, PerGroupedChannelGranularity{axis, 2})};
    for (QuantDtype q : kLutDtypes) specs.push_back(with_lut(specs.front(), q));
    for (const auto& spec : specs) {
      const PalettizedTensor p = palettize(w.view(), spec);
      EXPECT_EQ(p.num_luts(), 2);
      EXPECT_EQ(p.lut_shape, axis == 0 ? (Shape{2, 1, 1 << n_bits, 1}) : (Shape{1, 2, 1 << n_bits, 1}));
      EXPECT_LT(mse_of(w, p), 2.0);
    }
  }
}

TEST(Engine, EachGroupGetsItsOwnLut) {
  // Rows 0-1 live near 0, rows 2-3 near 100: with per-group LUTs both groups are exact at 1 bit.
  const Tensor w = make_tensor(DType::F32, {4, 2}, std::vector<float>{0, 1, 1, 0, 100, 101, 101, 100});
  const PalettizedTensor p = palettize(w.view(), make_spec(1, PerGroupedChannelGranularity{0, 2}));
  EXPECT_EQ(p.lut, (std::vector<float>{0, 1, 100, 101}));
  EXPECT_EQ(mse_of(w, p), 0.0);
}

TEST(Engine, LutSizesMatchTheNumberOfBlocks) {
  for (int64_t g : {2, 4}) {
    const PalettizedTensor p = palettize(make_tensor(DType::F32, {4, 7}, random_values(28, 5)).view(),
                                         make_spec(2, PerGroupedChannelGranularity{0, g}));
    EXPECT_EQ(static_cast<int64_t>(p.lut.size()), (4 / g) * 4);
  }
  for (int64_t g : {3, 6}) {
    const PalettizedTensor p = palettize(make_tensor(DType::F32, {2, 6}, random_values(12, 6)).view(),
                                         make_spec(2, PerGroupedChannelGranularity{1, g}));
    EXPECT_EQ(static_cast<int64_t>(p.lut.size()), (6 / g) * 4);
  }
}

TEST(Engine, PerChannelScaleReferenceExample) {
  const Tensor w = make_tensor(DType::F32, {3, 4}, std::vector<float>{1, 2, -3, .5f, -5, 1, 2, -1, .1f, -.2f, .15f, 0});
  const PalettizedTensor p = palettize(w.view(), make_spec(4, PerTensorGranularity{}, 1, true));
  EXPECT_EQ(p.channel_scale, (std::vector<float>{3, 5, 0.2f}));
  for (float entry : p.lut) EXPECT_LE(std::fabs(entry), 1.0f);
}

TEST(Engine, PerChannelScaleOfZeroWeightIsOneAndDecodesToZero) {
  const Tensor w = make_tensor(DType::F16, {3, 5}, std::vector<float>(15, 0.0f));
  const PalettizedTensor p = palettize(w.view(), make_spec(2, PerTensorGranularity{}, 1, true));
  EXPECT_EQ(p.channel_scale, (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(to_f32(decode(p).view()), std::vector<float>(15, 0.0f));
}

TEST(Engine, PerChannelScaleKeepsSmallRowsAccurate) {
  const Tensor w = make_tensor(DType::F32, {2, 3}, std::vector<float>{100, 101, 102, 0.01f, 0.014f, 0.018f});
  const PalettizedTensor p = palettize(w.view(), make_spec(2, PerTensorGranularity{}, 1, true));
  EXPECT_LT(mse_of(w, p), 1.0);
  for (DType dtype : kWeightDtypes) {
    for (Shape shape : {Shape{4, 8}, Shape{16, 32}, Shape{8, 4, 3, 3}, Shape{32, 16, 5}, Shape{1, 10}, Shape{10, 1}}) {
      const Tensor t = make_tensor(dtype, shape, random_values(static_cast<std::size_t>(shape_numel(shape)), 9));
      const PalettizedTensor q = palettize(t.view(), make_spec(4, PerTensorGranularity{}, 1, true));
      EXPECT_EQ(static_cast<int64_t>(q.channel_scale.size()), shape[0]);
      EXPECT_LT(mse_of(t, q), 0.5);
    }
  }
}

TEST(Engine, VectorShapesAndQuality) {
  for (int64_t cd : {2, 3}) {
    const Tensor w = make_tensor(DType::F32, {6, 8}, random_values(48, 11));
    const PalettizedTensor p = palettize(w.view(), make_spec(2, PerTensorGranularity{}, cd));
    EXPECT_EQ(p.lut_shape, (Shape{1, 1, 4, cd}));
    EXPECT_EQ(p.index_shape, (Shape{6 / cd, 8}));
    EXPECT_LT(mse_of(w, p), 1.0);
  }
  for (int64_t cd : {2, 4}) {
    for (int axis : {0, 1}) {
      const Tensor w = make_tensor(DType::F32, {12, 16}, random_values(192, 12));
      const PalettizedTensor p = palettize(w.view(), make_spec(2, PerGroupedChannelGranularity{axis, 4}, cd));
      EXPECT_EQ(p.lut_shape, axis == 0 ? (Shape{3, 1, 4, cd}) : (Shape{1, 4, 4, cd}));
      EXPECT_EQ(p.index_shape, (Shape{12 / cd, 16}));
    }
  }
}

// Vectors run along output channels: a weight whose (even row, odd row) pairs take only 4 distinct values
// is reproduced exactly at 2 bits with cluster_dim 2, also for conv weights grouped along input channels.
TEST(Engine, VectorsPairOutputChannelsAtTheSamePosition) {
  const std::vector<std::pair<float, float>> pairs = {{1, -1}, {2, 5}, {-3, 0.5f}, {4, 4}};
  for (Shape shape : {Shape{8, 6}, Shape{8, 2, 3, 3}}) {
    const int64_t rest = shape_numel(shape) / shape[0];
    std::vector<float> values(static_cast<std::size_t>(shape_numel(shape)));
    for (int64_t o = 0; o < shape[0] / 2; ++o)
      for (int64_t r = 0; r < rest; ++r) {
        const auto& pair = pairs[static_cast<std::size_t>((o * 3 + r) % 4)];
        values[(2 * o) * rest + r] = pair.first;
        values[(2 * o + 1) * rest + r] = pair.second;
      }
    const Tensor w = make_tensor(DType::F32, shape, values);
    for (const auto& granularity : {PalettizationGranularity{PerTensorGranularity{}},
                                    PalettizationGranularity{PerGroupedChannelGranularity{1, 2}}}) {
      const PalettizedTensor p = palettize(w.view(), make_spec(2, granularity, 2));
      EXPECT_EQ(compare(w.view(), decode(p).view()).sse, 0.0) << shape_to_string(shape);
    }
  }
}

TEST(Engine, VectorsWithLutQuantAndChannelScale) {
  const Tensor w = make_tensor(DType::F16, {8, 8}, random_values(64, 13));
  for (QuantDtype q : kLutDtypes) {
    EXPECT_LT(mse_of(w, palettize(w.view(), with_lut(make_spec(3, PerTensorGranularity{}, 2), q))), 0.5);
  }
  for (const auto& granularity : {PalettizationGranularity{PerTensorGranularity{}},
                                  PalettizationGranularity{PerGroupedChannelGranularity{0, 4}},
                                  PalettizationGranularity{PerGroupedChannelGranularity{1, 4}}}) {
    EXPECT_LT(mse_of(w, palettize(w.view(), make_spec(3, granularity, 2, true))), 0.5);
  }
}

TEST(Engine, LutQuantizationWorkedExample) {
  // §3.8: LUT [1,2,3,4] quantized to int8 symmetric dequantizes to [1.0039, 2.0078, 3.0118, 3.9843].
  const Tensor w = make_tensor(DType::F32, {2, 2}, std::vector<float>{1, 2, 3, 4});
  const PalettizedTensor p = palettize(w.view(), with_lut(make_spec(2), QuantDtype::int8));
  const std::vector<float> expected = {1.0039f, 2.0078f, 3.0118f, 3.9843f};
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(p.lut[i], expected[i], 1e-4);
  EXPECT_EQ(p.quantized_lut, (std::vector<uint8_t>{32, 64, 96, 127}));
  ASSERT_EQ(p.lut_zero_point.size(), 1u);
  EXPECT_EQ(p.lut_zero_point[0], 0);
  const PalettizedTensor asym = palettize(w.view(), with_lut(make_spec(2), QuantDtype::int8, QScheme::asymmetric));
  EXPECT_EQ(asym.lut_zero_point[0], -128);
  EXPECT_NEAR(asym.lut[3], 4.0f, 1e-4);
}

// After LUT quantization every weight points at its nearest dequantized entry (the reference keeps the
// pre-quantization labels; re-assigning can only lower the error).
TEST(Engine, IndicesPointAtTheNearestFinalEntry) {
  const Tensor w = make_tensor(DType::F32, {16, 16}, random_values(256, 17));
  for (QuantDtype q : kLutDtypes) {
    const PalettizedTensor p = palettize(w.view(), with_lut(make_spec(3), q));
    const std::vector<float> values = to_f32(w.view());
    for (std::size_t i = 0; i < values.size(); ++i) {
      const double chosen = std::fabs(values[i] - p.lut[p.indices[i]]);
      for (float entry : p.lut) EXPECT_LE(chosen, std::fabs(values[i] - entry) + 1e-12);
    }
  }
}

TEST(Engine, QuantizedCodesDequantizeToTheStoredLut) {
  const Tensor w = make_tensor(DType::BF16, {8, 16}, random_values(128, 19));
  for (QuantDtype q : kLutDtypes) {
    const PalettizedTensor p = palettize(w.view(), with_lut(make_spec(4, PerGroupedChannelGranularity{0, 4}), q));
    ASSERT_EQ(p.quantized_lut.size(), p.lut.size());
    for (std::size_t i = 0; i < p.lut.size(); ++i) {
      const auto block = static_cast<std::size_t>(static_cast<int64_t>(i) / p.lut_entries());
      LutQuantParams params{p.lut_scale[block], p.lut_zero_point.empty() ? 0 : p.lut_zero_point[block]};
      EXPECT_EQ(p.lut[i], round_to_dtype(DType::BF16, dequantize_lut_code(p.quantized_lut[i], params, *p.spec.lut_qspec)));
    }
  }
}

TEST(Engine, ScalarErrorIsTheExactOptimumForFloat32) {
  // 12 distinct values, 4 clusters: compare with brute force over all contiguous partitions.
  const std::vector<float> values = {-3.5f, -1, -0.75f, 0, 0.1f, 0.2f, 2, 2.5f, 7, 7.25f, 9, 30};
  const Tensor w = make_tensor(DType::F32, {3, 4}, values);
  const PalettizedTensor p = palettize(w.view(), make_spec(2));
  const double engine_sse = compare(w.view(), decode(p).view()).sse;
  double best = INFINITY;
  auto cost = [&](std::size_t a, std::size_t b) {
    double mean = 0;
    for (std::size_t i = a; i < b; ++i) mean += values[i];
    mean /= static_cast<double>(b - a);
    double c = 0;
    for (std::size_t i = a; i < b; ++i) c += (values[i] - mean) * (values[i] - mean);
    return c;
  };
  for (std::size_t i = 1; i < 12; ++i)
    for (std::size_t j = i + 1; j < 12; ++j)
      for (std::size_t k = j + 1; k < 12; ++k) best = std::min(best, cost(0, i) + cost(i, j) + cost(j, k) + cost(k, 12));
  EXPECT_NEAR(engine_sse, best, best * 1e-6);
}

TEST(Engine, UniformSensitivitiesEqualNone) {
  const Tensor w = make_tensor(DType::F16, {8, 8}, random_values(64, 23));
  const PalettizedTensor plain = palettize(w.view(), make_spec(2));
  const PalettizedTensor uniform = palettize(w.view(), make_spec(2), {}, std::vector<float>(64, 0.5f));
  EXPECT_EQ(plain.lut, uniform.lut);
  EXPECT_EQ(plain.indices, uniform.indices);
}

TEST(Engine, SensitivitiesPullCentroidsTowardsImportantWeights) {
  const Tensor w = make_tensor(DType::F32, {2, 4}, std::vector<float>{1, 2, 3, 4, 100, 101, 102, 103});
  std::vector<float> sensitivities = {100, 100, 100, 100, 0.01f, 0.01f, 0.01f, 0.01f};
  const PalettizedTensor p = palettize(w.view(), make_spec(2), {}, sensitivities);
  EXPECT_GE(std::count_if(p.lut.begin(), p.lut.end(), [](float c) { return c <= 50; }), 3);
}

TEST(Engine, OutputIsIdenticalForAnyThreadCount) {
  const Tensor w = make_tensor(DType::F16, {64, 32}, random_values(2048, 29));
  const std::vector<PalettizationSpec> specs = {
      make_spec(4, PerGroupedChannelGranularity{0, 4}),
      with_lut(make_spec(3, PerGroupedChannelGranularity{1, 8}, 1, true), QuantDtype::uint8),
      make_spec(4, PerGroupedChannelGranularity{0, 8}, 2),
      make_spec(3, PerTensorGranularity{}, 4)};
  for (const auto& spec : specs) {
    PalettizeOptions one, many;
    one.threads = 1;
    many.threads = 4;
    one.seed = many.seed = 7;
    const PalettizedTensor a = palettize(w.view(), spec, one);
    const PalettizedTensor b = palettize(w.view(), spec, many);
    EXPECT_EQ(a.lut, b.lut);
    EXPECT_EQ(a.indices, b.indices);
    EXPECT_EQ(a.quantized_lut, b.quantized_lut);
    EXPECT_EQ(a.lut_scale, b.lut_scale);
    EXPECT_EQ(decode(a).data, decode(b).data);
  }
}

TEST(Engine, LayoutPredictsTheOutputShapes) {
  const Shape shape = {16, 4, 3, 3};
  const PalettizationSpec spec = make_spec(3, PerGroupedChannelGranularity{1, 2}, 2);
  const PalettizedLayout layout = palettized_layout(shape, spec);
  const PalettizedTensor p = palettize(make_tensor(DType::F32, shape, random_values(576, 31)).view(), spec);
  EXPECT_EQ(layout.lut_shape, p.lut_shape);
  EXPECT_EQ(layout.index_shape, p.index_shape);
  EXPECT_EQ(layout.num_luts, p.num_luts());
  EXPECT_EQ(layout.num_indices, static_cast<int64_t>(p.indices.size()));
  EXPECT_EQ(layout.packed_index_bytes, (288 * 3 + 7) / 8);
}

TEST(Engine, SizeInBitsCountsEveryPart) {
  const Tensor w = make_tensor(DType::F16, {8, 8}, random_values(64, 37));
  EXPECT_EQ(palettized_size_bits(palettize(w.view(), make_spec(4))), 64 * 4 + 16 * 16);
  EXPECT_EQ(palettized_size_bits(palettize(w.view(), with_lut(make_spec(2, PerTensorGranularity{}, 1, true),
                                                              QuantDtype::int8))),
            64 * 2 + 4 * 8 + 32 + 8 + 8 * 16);
}

template <typename Fn>
void expect_error(Fn&& fn, const std::string& fragment) {
  try {
    fn();
    FAIL() << "expected an Error containing: " << fragment;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

// The finiteness scan runs in chunks of 2^18 elements on several threads: the tensor's first bad element is
// named whatever the thread count, the dtype and the spec (the 16-bit pattern path and the float one).
TEST(Engine, FirstNonFiniteWeightIsNamedWhateverTheThreadCount) {
  for (const DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    Tensor w = make_tensor(dtype, {1024, 1024}, std::vector<float>(1024 * 1024, 0.5f));
    store_from_f32(dtype, w.data.data(), 3 * 262144 + 5, NAN);
    store_from_f32(dtype, w.data.data(), 262144 + 7, -INFINITY);
    store_from_f32(dtype, w.data.data(), 1048575, INFINITY);
    for (const PalettizationSpec& spec :
         {make_spec(2), make_spec(4, PerGroupedChannelGranularity{0, 1}), make_spec(3, PerGroupedChannelGranularity{0, 16}),
          make_spec(2, PerTensorGranularity{}, 1, true)}) {
      for (const int threads : {1, 2, 4}) {
        PalettizeOptions options;
        options.threads = threads;
        expect_error([&] { palettize(w.view(), spec, options); }, "holds -inf at element 262151;");
      }
    }
    // With importances too.
    expect_error([&] { palettize(w.view(), make_spec(2), {}, std::vector<float>(1024 * 1024, 1.0f)); },
                 "holds -inf at element 262151;");
  }
}

TEST(Engine, BadInputsAreClearErrors) {
  const Tensor ok = make_tensor(DType::F32, {2, 2}, std::vector<float>{1, 2, 3, 4});
  Tensor nan = ok;
  store_from_f32(DType::F32, nan.data.data(), 2, NAN);
  expect_error([&] { palettize(nan.view(), make_spec(2)); }, "NaN and infinite weights");
  Tensor inf = ok;
  store_from_f32(DType::F32, inf.data.data(), 1, INFINITY);
  expect_error([&] { palettize(inf.view(), make_spec(2)); }, "at element 1");
  const Tensor empty = make_tensor(DType::F32, {0, 4}, std::vector<float>{});
  expect_error([&] { palettize(empty.view(), make_spec(2)); }, "empty tensor");
  TensorView ints{DType::I32, {2, 2}, ok.view().data};
  expect_error([&] { palettize(ints, make_spec(2)); }, "dtype I32");
  expect_error([&] { palettize(ok.view(), make_spec(5)); }, "n_bits");
  expect_error([&] { palettize(ok.view(), make_spec(2), {}, std::vector<float>(3, 1)); }, "sensitivities hold 3");
  expect_error([&] { palettize(ok.view(), make_spec(2), {}, std::vector<float>{1, -1, 1, 1}); }, "sensitivity -1");
  TensorView short_view{DType::F32, {2, 2}, ok.view().data.subspan(0, 8)};
  expect_error([&] { palettize(short_view, make_spec(2)); }, "[2, 2]");
  EXPECT_THROW(palettize(ok.view(), make_spec(2, PerTensorGranularity{}, 3)), IncompatibleSpecError);
}

TEST(Engine, DecodeRefusesInconsistentParts) {
  const Tensor w = make_tensor(DType::F32, {4, 4}, random_values(16, 41));
  PalettizedTensor p = palettize(w.view(), make_spec(2));
  PalettizedTensor bad_index = p;
  bad_index.indices[3] = 4;
  expect_error([&] { decode(bad_index); }, "index 3 is 4");
  PalettizedTensor short_lut = p;
  short_lut.lut.pop_back();
  expect_error([&] { decode(short_lut); }, "the LUT holds 3");
  PalettizedTensor bad_shape = p;
  bad_shape.lut_shape = {1, 4, 1};
  expect_error([&] { decode(bad_shape); }, "LUT shape");
}

TEST(Engine, CompareComputesErrorMetrics) {
  const Tensor a = make_tensor(DType::F32, {1, 4}, std::vector<float>{1, 2, 3, 4});
  const Tensor b = make_tensor(DType::F32, {1, 4}, std::vector<float>{1, 2, 3, 2});
  const ErrorMetrics m = compare(a.view(), b.view());
  EXPECT_EQ(m.sse, 4.0);
  EXPECT_EQ(m.mse, 1.0);
  EXPECT_EQ(m.max_abs_err, 2.0);
  EXPECT_NEAR(m.snr_db, 10 * std::log10(30.0 / 4.0), 1e-12);
  EXPECT_TRUE(std::isinf(compare(a.view(), a.view()).snr_db));
}

// Index buffers from 4 MiB on start on a 2 MiB boundary (huge pages); smaller ones come from the default
// allocator. Both kinds hold what is written, across growth from one kind to the other and back.
TEST(Engine, LargeIndexBuffersAreHugePageAlignedAndHoldTheirBytes) {
  const std::size_t large = detail::kHugePageBufferBytes + 12345;
  IndexVector indices(large);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(indices.data()) % (std::size_t{2} << 20), 0u);
  for (std::size_t i = 0; i < indices.size(); ++i) indices[i] = static_cast<uint8_t>(i * 7);
  indices.resize(2 * large);
  for (std::size_t i = 0; i < large; ++i) ASSERT_EQ(indices[i], static_cast<uint8_t>(i * 7)) << i;
  indices.resize(1000);
  indices.shrink_to_fit();
  for (std::size_t i = 0; i < indices.size(); ++i) ASSERT_EQ(indices[i], static_cast<uint8_t>(i * 7)) << i;
  IndexVector small(1000, 3);
  EXPECT_TRUE(std::all_of(small.begin(), small.end(), [](uint8_t v) { return v == 3; }));
}

}  // namespace
}  // namespace palettize
