// PalettizationSpec / QuantizationSpec: defaults, every validation rule with its exact wording, enum
// names, quantization ranges, axis resolution and presets (ports §8 "Spec / granularity").
#include <gtest/gtest.h>

#include <string>

#include "error_message.hpp"
#include "granularity_builders.hpp"
#include "palettize/error.hpp"
#include "palettize/spec.hpp"

namespace palettize {
namespace {

using testing::error_message;
using testing::per_block;
using testing::per_channel;

PalettizationSpec with_lut(QuantizationSpec qspec) {
  PalettizationSpec spec;
  spec.lut_qspec = qspec;
  return spec;
}

const QuantDtype kLutDtypes[] = {QuantDtype::int8, QuantDtype::uint8, QuantDtype::float8_e4m3fn,
                                 QuantDtype::float8_e5m2};

TEST(SpecDefaults, MatchTheReference) {
  const PalettizationSpec spec;
  EXPECT_EQ(spec.n_bits, 4);
  EXPECT_FALSE(spec.lut_qspec.has_value());
  EXPECT_TRUE(std::holds_alternative<PerTensorGranularity>(spec.granularity));
  EXPECT_EQ(spec.cluster_dim, 1);
  EXPECT_FALSE(spec.enable_per_channel_scale);
  EXPECT_EQ(spec.lut_size(), 16);
  EXPECT_FALSE(spec.is_grouped());
  EXPECT_NO_THROW(spec.validate());
  EXPECT_EQ(default_weight_palettization_spec(), spec);
}

TEST(SpecDefaults, QuantizationSpecDefaults) {
  const QuantizationSpec qspec;
  EXPECT_EQ(qspec.dtype, QuantDtype::int8);
  EXPECT_EQ(qspec.qscheme, QScheme::symmetric);
  EXPECT_EQ(qspec.qformulation, QFormulation::zp);
  EXPECT_EQ(qspec.granularity.type, QuantGranularity::Type::per_tensor);
}

TEST(SpecValidation, AcceptsEverySupportedNBits) {
  for (int n_bits : {1, 2, 3, 4, 6, 8}) {
    PalettizationSpec spec;
    spec.n_bits = n_bits;
    EXPECT_NO_THROW(spec.validate()) << n_bits;
    EXPECT_EQ(spec.lut_size(), int64_t{1} << n_bits);
  }
}

TEST(SpecValidation, RejectsUnsupportedNBitsWithExactMessage) {
  for (int n_bits : {-1, 0, 5, 7, 9, 16}) {
    PalettizationSpec spec;
    spec.n_bits = n_bits;
    EXPECT_EQ(error_message([&] { spec.validate(); }),
              "n_bits must be one of {1, 2, 3, 4, 6, 8}, got " + std::to_string(n_bits));
  }
}

TEST(SpecValidation, RejectsNonPositiveClusterDim) {
  for (int64_t cluster_dim : {-1, 0}) {
    PalettizationSpec spec;
    spec.cluster_dim = cluster_dim;
    EXPECT_EQ(error_message([&] { spec.validate(); }),
              "cluster_dim must be a positive integer, got " + std::to_string(cluster_dim));
  }
}

TEST(SpecValidation, VectorClusteringWithPerChannelScaleIsAllowed) {
  PalettizationSpec spec;
  spec.cluster_dim = 4;
  spec.enable_per_channel_scale = true;
  EXPECT_NO_THROW(spec.validate());
}

TEST(SpecValidation, GroupedGranularityAcceptsAxisZeroOneOrUnset) {
  for (std::optional<int> axis : {std::optional<int>{}, std::optional<int>{0}, std::optional<int>{1}}) {
    PalettizationSpec spec;
    spec.granularity = PerGroupedChannelGranularity{.axis = axis, .group_size = 8};
    EXPECT_NO_THROW(spec.validate());
    EXPECT_TRUE(spec.is_grouped());
  }
}

// The reference has no positivity check on group_size (0 crashes it later, negatives make no blocks).
TEST(SpecValidation, RejectsGroupSizeBelowOne) {
  for (int64_t group_size : {0, -3}) {
    PalettizationSpec spec;
    spec.granularity = PerGroupedChannelGranularity{.axis = 0, .group_size = group_size};
    EXPECT_EQ(error_message([&] { spec.validate(); }), "group_size must be >= 1, got " + std::to_string(group_size));
  }
}

TEST(SpecValidation, RejectsGroupedAxisOutsideZeroOne) {
  for (int axis : {2, -1}) {
    PalettizationSpec spec;
    spec.granularity = PerGroupedChannelGranularity{.axis = axis, .group_size = 4};
    EXPECT_EQ(error_message([&] { spec.validate(); }), "axis must be 0, 1 or unset, got " + std::to_string(axis));
  }
}

TEST(SpecValidation, ChecksRulesInOrder) {
  PalettizationSpec spec;
  spec.n_bits = 5;
  spec.cluster_dim = 0;
  spec.granularity = PerGroupedChannelGranularity{.axis = 2, .group_size = 0};
  spec.lut_qspec = QuantizationSpec{.dtype = QuantDtype::int4};
  EXPECT_EQ(error_message([&] { spec.validate(); }), "n_bits must be one of {1, 2, 3, 4, 6, 8}, got 5");
  spec.n_bits = 4;
  EXPECT_EQ(error_message([&] { spec.validate(); }), "cluster_dim must be a positive integer, got 0");
  spec.cluster_dim = 1;
  EXPECT_EQ(error_message([&] { spec.validate(); }), "group_size must be >= 1, got 0");
  spec.granularity = PerGroupedChannelGranularity{.axis = 2, .group_size = 1};
  EXPECT_EQ(error_message([&] { spec.validate(); }), "axis must be 0, 1 or unset, got 2");
  spec.granularity = PerTensorGranularity{};
  EXPECT_NE(error_message([&] { spec.validate(); }).find("lut_qspec.dtype must be one of"), std::string::npos);
}

// ---- lut_qspec ----

TEST(LutQSpec, EverySupportedDtypeSymmetricIsAccepted) {
  for (QuantDtype dtype : kLutDtypes) {
    EXPECT_NO_THROW(with_lut({.dtype = dtype, .qscheme = QScheme::symmetric}).validate()) << to_string(dtype);
  }
}

TEST(LutQSpec, IntegerDtypesAcceptEveryScheme) {
  for (QuantDtype dtype : {QuantDtype::int8, QuantDtype::uint8}) {
    for (QScheme scheme : {QScheme::symmetric, QScheme::asymmetric, QScheme::symmetric_with_clipping}) {
      EXPECT_NO_THROW(with_lut({.dtype = dtype, .qscheme = scheme}).validate()) << to_string(dtype);
    }
  }
}

TEST(LutQSpec, Fp8RequiresSymmetricWithExactMessage) {
  for (QuantDtype dtype : {QuantDtype::float8_e4m3fn, QuantDtype::float8_e5m2}) {
    for (QScheme scheme : {QScheme::asymmetric, QScheme::symmetric_with_clipping}) {
      const QuantizationSpec qspec{.dtype = dtype, .qscheme = scheme};
      const std::string expected = "FP quantization (dtype=" + std::string(to_string(dtype)) +
                                   ") requires symmetric quantization scheme, got qscheme=" +
                                   std::string(to_string(scheme)) + ". Valid option: 'symmetric'";
      EXPECT_EQ(error_message([&] { qspec.validate(); }), expected);
      EXPECT_EQ(error_message([&] { with_lut(qspec).validate(); }), expected);
    }
  }
}

TEST(LutQSpec, Fp8AsymmetricIsRefusedBeforeLutRules) {
  // Per-channel and MINVAL would also be refused, but QuantizationSpec's own rule comes first.
  QuantizationSpec qspec{.dtype = QuantDtype::float8_e4m3fn, .qscheme = QScheme::asymmetric};
  qspec.granularity = per_channel(0);
  const std::string message = error_message([&] { with_lut(qspec).validate(); });
  EXPECT_NE(message.find("symmetric"), std::string::npos) << message;
  EXPECT_EQ(message.find("PerTensorGranularity"), std::string::npos) << message;
}

TEST(LutQSpec, FpDtypesRequireZeroPointFormulation) {
  const QuantizationSpec qspec{.dtype = QuantDtype::float8_e5m2, .qformulation = QFormulation::minval};
  EXPECT_EQ(error_message([&] { qspec.validate(); }),
            "FP quantization (dtype=float8_e5m2) requires zero-point quantization formulation, "
            "got qformulation=minval. Valid option: 'zp'");
}

TEST(LutQSpec, RejectsDtypesOutsideTheLutSet) {
  for (QuantDtype dtype : {QuantDtype::int4, QuantDtype::int2, QuantDtype::uint4, QuantDtype::uint2}) {
    const QuantizationSpec qspec{.dtype = dtype};
    EXPECT_NO_THROW(qspec.validate());  // a valid QuantizationSpec, only palettization refuses it
    EXPECT_EQ(error_message([&] { with_lut(qspec).validate(); }),
              "lut_qspec.dtype must be one of {int8, uint8, float8_e4m3fn, float8_e5m2}, got " +
                  std::string(to_string(dtype)));
  }
  const QuantizationSpec fp4{.dtype = QuantDtype::float4_e2m1fn_x2};
  EXPECT_EQ(error_message([&] { with_lut(fp4).validate(); }),
            "lut_qspec.dtype must be one of {int8, uint8, float8_e4m3fn, float8_e5m2}, got float4_e2m1fn_x2");
}

TEST(LutQSpec, RejectsNonPerTensorGranularity) {
  QuantizationSpec channelwise;
  channelwise.granularity = per_channel(0);
  EXPECT_EQ(error_message([&] { with_lut(channelwise).validate(); }),
            "lut_qspec.granularity must be PerTensorGranularity, got PerChannelGranularity");
  QuantizationSpec blockwise;
  blockwise.granularity = per_block(1, 32);
  EXPECT_EQ(error_message([&] { with_lut(blockwise).validate(); }),
            "lut_qspec.granularity must be PerTensorGranularity, got PerBlockGranularity");
}

TEST(LutQSpec, RejectsMinval) {
  for (QuantDtype dtype : {QuantDtype::int8, QuantDtype::uint8}) {
    const QuantizationSpec qspec{.dtype = dtype, .qformulation = QFormulation::minval};
    EXPECT_NO_THROW(qspec.validate());
    EXPECT_EQ(error_message([&] { with_lut(qspec).validate(); }),
              "lut_qspec.qformulation=MINVAL is not supported for palettization. "
              "Use lut_qspec.qformulation=ZP instead.");
  }
}

TEST(LutQSpec, LutRulesRunInReferenceOrder) {
  QuantizationSpec qspec{.dtype = QuantDtype::int4, .qformulation = QFormulation::minval};
  qspec.granularity = per_channel(0);
  EXPECT_NE(error_message([&] { with_lut(qspec).validate(); }).find("lut_qspec.dtype"), std::string::npos);
  qspec.dtype = QuantDtype::uint8;
  EXPECT_NE(error_message([&] { with_lut(qspec).validate(); }).find("lut_qspec.granularity"), std::string::npos);
  qspec.granularity = {};
  EXPECT_NE(error_message([&] { with_lut(qspec).validate(); }).find("MINVAL"), std::string::npos);
}

TEST(LutQSpec, GranularityFieldsMustMatchItsType) {
  QuantizationSpec qspec;
  qspec.granularity.axis = 0;
  EXPECT_EQ(error_message([&] { qspec.validate(); }), "per_tensor granularity takes no axis, got axis=0");
  qspec.granularity = per_block(0, std::nullopt);
  EXPECT_EQ(error_message([&] { qspec.validate(); }), "per_block granularity requires block_size");
  qspec.granularity = per_block(0, 0);
  EXPECT_EQ(error_message([&] { qspec.validate(); }), "per_block block_size must be > 0, got 0");
  qspec.granularity = per_channel(0);
  qspec.granularity.block_size = 4;
  EXPECT_EQ(error_message([&] { qspec.validate(); }), "per_channel granularity takes no block_size, got block_size=4");
}

TEST(LutQSpec, OutOfRangeEnumValuesAreErrorsNotCrashes) {
  QuantizationSpec qspec;
  qspec.dtype = static_cast<QuantDtype>(99);
  EXPECT_THROW(qspec.validate(), Error);
  qspec = {};
  qspec.qscheme = static_cast<QScheme>(7);
  EXPECT_THROW(qspec.validate(), Error);
}

// ---- enum names ----

TEST(EnumNames, DtypesRoundTrip) {
  for (QuantDtype dtype : {QuantDtype::int8, QuantDtype::uint8, QuantDtype::float8_e4m3fn, QuantDtype::float8_e5m2,
                           QuantDtype::int4, QuantDtype::int2, QuantDtype::uint4, QuantDtype::uint2,
                           QuantDtype::float4_e2m1fn_x2}) {
    EXPECT_EQ(quant_dtype_from_string(to_string(dtype)), dtype);
  }
  EXPECT_EQ(to_string(QuantDtype::float8_e4m3fn), "float8_e4m3fn");
}

TEST(EnumNames, DtypeAliases) {
  EXPECT_EQ(quant_dtype_from_string("float8_e4m3"), QuantDtype::float8_e4m3fn);
  EXPECT_EQ(quant_dtype_from_string("float4_e2m1fn"), QuantDtype::float4_e2m1fn_x2);
}

TEST(EnumNames, UnknownDtypeListsTheAllowedNames) {
  EXPECT_EQ(error_message([] { quant_dtype_from_string("float32"); }),
            "Unsupported dtype: float32. Allowed dtypes: float4_e2m1fn_x2, float8_e4m3fn, float8_e5m2, int2, int4, "
            "int8, uint2, uint4, uint8");
  EXPECT_THROW(quant_dtype_from_string("INT8"), Error);  // names are case-sensitive, as torch's
  EXPECT_THROW(quant_dtype_from_string(""), Error);
}

TEST(EnumNames, SchemesAndFormulations) {
  for (QScheme scheme : {QScheme::symmetric, QScheme::asymmetric, QScheme::symmetric_with_clipping}) {
    EXPECT_EQ(qscheme_from_string(to_string(scheme)), scheme);
  }
  for (QFormulation formulation : {QFormulation::zp, QFormulation::minval}) {
    EXPECT_EQ(qformulation_from_string(to_string(formulation)), formulation);
  }
  EXPECT_EQ(error_message([] { qscheme_from_string("affine"); }),
            "Unsupported qscheme: affine. Allowed qschemes: symmetric, asymmetric, symmetric_with_clipping");
  EXPECT_EQ(error_message([] { qformulation_from_string("ZP"); }),
            "Unsupported qformulation: ZP. Allowed qformulations: zp, minval");
  EXPECT_EQ(to_string(QuantGranularity::Type::per_tensor), "per_tensor");
  EXPECT_EQ(to_string(QuantGranularity::Type::per_channel), "per_channel");
  EXPECT_EQ(to_string(QuantGranularity::Type::per_block), "per_block");
}

TEST(EnumNames, FloatDtypes) {
  EXPECT_TRUE(is_float_quant_dtype(QuantDtype::float8_e4m3fn));
  EXPECT_TRUE(is_float_quant_dtype(QuantDtype::float8_e5m2));
  EXPECT_TRUE(is_float_quant_dtype(QuantDtype::float4_e2m1fn_x2));
  EXPECT_FALSE(is_float_quant_dtype(QuantDtype::int8));
  EXPECT_FALSE(is_float_quant_dtype(QuantDtype::uint8));
}

// ---- quantization ranges (§1.3) ----

void expect_range(QuantDtype dtype, QScheme scheme, double qmin, double qmax) {
  const QuantRange range = quant_range(dtype, scheme);
  EXPECT_EQ(range.qmin, qmin) << to_string(dtype) << " " << to_string(scheme);
  EXPECT_EQ(range.qmax, qmax) << to_string(dtype) << " " << to_string(scheme);
}

TEST(QuantRanges, LutDtypes) {
  expect_range(QuantDtype::int8, QScheme::symmetric, -128, 127);
  expect_range(QuantDtype::int8, QScheme::asymmetric, -128, 127);
  expect_range(QuantDtype::int8, QScheme::symmetric_with_clipping, -127, 127);
  for (QScheme scheme : {QScheme::symmetric, QScheme::asymmetric, QScheme::symmetric_with_clipping}) {
    expect_range(QuantDtype::uint8, scheme, 0, 255);
  }
  expect_range(QuantDtype::float8_e4m3fn, QScheme::symmetric, -448, 448);
  expect_range(QuantDtype::float8_e5m2, QScheme::symmetric, -57344, 57344);
}

TEST(QuantRanges, NarrowDtypes) {
  expect_range(QuantDtype::int4, QScheme::symmetric, -8, 7);
  expect_range(QuantDtype::int4, QScheme::symmetric_with_clipping, -7, 7);
  expect_range(QuantDtype::int2, QScheme::asymmetric, -2, 1);
  expect_range(QuantDtype::int2, QScheme::symmetric_with_clipping, -1, 1);
  expect_range(QuantDtype::uint4, QScheme::symmetric_with_clipping, 0, 15);
  expect_range(QuantDtype::uint2, QScheme::asymmetric, 0, 3);
  expect_range(QuantDtype::float4_e2m1fn_x2, QScheme::symmetric, -6, 6);
}

// ---- axis resolution and presets ----

TEST(Axis, ResolvesUnsetAxisToZero) {
  PalettizationSpec spec;
  EXPECT_EQ(spec.resolved_axis(), 0);
  EXPECT_EQ(spec.with_resolved_axis(), spec);

  spec.granularity = PerGroupedChannelGranularity{.axis = std::nullopt, .group_size = 4};
  EXPECT_EQ(spec.resolved_axis(), 0);
  const PalettizationSpec resolved = spec.with_resolved_axis();
  EXPECT_EQ(std::get<PerGroupedChannelGranularity>(resolved.granularity).axis, std::optional<int>{0});
  EXPECT_EQ(std::get<PerGroupedChannelGranularity>(resolved.granularity).group_size, 4);
  EXPECT_NE(resolved, spec);
}

TEST(Axis, ExplicitAxisIsKept) {
  PalettizationSpec spec;
  spec.granularity = PerGroupedChannelGranularity{.axis = 1, .group_size = 2};
  EXPECT_EQ(spec.resolved_axis(), 1);
  EXPECT_EQ(spec.with_resolved_axis(), spec);
}

TEST(Presets, W4AndW6AreGroupedOnAxisZeroBySixteen) {
  for (auto [name, n_bits] : {std::pair{"w4", 4}, std::pair{"w6", 6}}) {
    const PalettizationSpec spec = preset_spec(name);
    EXPECT_EQ(spec.n_bits, n_bits);
    const PalettizationGranularity expected = PerGroupedChannelGranularity{.axis = 0, .group_size = 16};
    EXPECT_EQ(spec.granularity, expected);
    EXPECT_FALSE(spec.lut_qspec.has_value());
    EXPECT_EQ(spec.cluster_dim, 1);
    EXPECT_FALSE(spec.enable_per_channel_scale);
    EXPECT_NO_THROW(spec.validate());
  }
}

TEST(Presets, W8IsPerTensorAndDefaultIsTheDefaultSpec) {
  PalettizationSpec w8;
  w8.n_bits = 8;
  EXPECT_EQ(preset_spec("w8"), w8);
  EXPECT_EQ(preset_spec("default"), default_weight_palettization_spec());
}

TEST(Presets, UnknownNameListsTheAvailableOnes) {
  EXPECT_EQ(error_message([] { preset_spec("w5"); }), "Unknown preset 'w5'. Available presets: default, w4, w6, w8");
  EXPECT_THROW(preset_spec("W4"), Error);
}

}  // namespace
}  // namespace palettize
