// The JSON form of a spec: shape, defaults, round trips over the whole spec space, and every reject
// (unknown fields, missing/unknown "type", wrong JSON types, bad text). Ports §1.2 and §8 "model_dump".
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <string>
#include <vector>

#include "error_message.hpp"
#include "granularity_builders.hpp"
#include "palettize/error.hpp"
#include "palettize/spec.hpp"
#include "palettize/spec_json.hpp"

namespace palettize {
namespace {

using testing::error_message;
using testing::per_block;
using testing::per_channel;

using nlohmann::json;

std::string parse_error(std::string_view text) {
  return error_message([&] { parse_spec_json(text); });
}

void expect_parse_error_contains(std::string_view text, std::string_view fragment) {
  const std::string message = parse_error(text);
  EXPECT_NE(message.find(fragment), std::string::npos) << "text: " << text << "\nmessage: " << message;
}

// ---- shape ----

TEST(SpecJson, DefaultSpecShape) {
  const json expected = json::parse(R"({"n_bits":4,"lut_qspec":null,"granularity":{"type":"per_tensor"},
                                        "cluster_dim":1,"enable_per_channel_scale":false})");
  EXPECT_EQ(spec_to_json(PalettizationSpec{}), expected);
}

TEST(SpecJson, FullSpecShape) {
  PalettizationSpec spec;
  spec.n_bits = 2;
  spec.lut_qspec = QuantizationSpec{.dtype = QuantDtype::uint8, .qscheme = QScheme::asymmetric};
  spec.granularity = PerGroupedChannelGranularity{.axis = 1, .group_size = 8};
  spec.cluster_dim = 2;
  spec.enable_per_channel_scale = true;
  const json expected = json::parse(R"({"n_bits":2,
      "lut_qspec":{"dtype":"uint8","qscheme":"asymmetric","qformulation":"zp","granularity":{"type":"per_tensor"}},
      "granularity":{"type":"per_grouped_channel","axis":1,"group_size":8},
      "cluster_dim":2,"enable_per_channel_scale":true})");
  EXPECT_EQ(spec_to_json(spec), expected);
}

TEST(SpecJson, UnsetGroupedAxisIsNull) {
  PalettizationSpec spec;
  spec.granularity = PerGroupedChannelGranularity{.axis = std::nullopt, .group_size = 16};
  EXPECT_TRUE(spec_to_json(spec)["granularity"]["axis"].is_null());
  EXPECT_EQ(parse_spec_json(spec_to_json_string(spec)), spec);
}

TEST(SpecJson, CompactStringIsStableAndKeySorted) {
  const std::string text = spec_to_json_string(preset_spec("w4"));
  EXPECT_EQ(text,
            R"({"cluster_dim":1,"enable_per_channel_scale":false,)"
            R"("granularity":{"axis":0,"group_size":16,"type":"per_grouped_channel"},"lut_qspec":null,"n_bits":4})");
  EXPECT_EQ(spec_to_json_string(preset_spec("w4")), text);
}

TEST(SpecJson, QSpecGranularityShapes) {
  QuantizationSpec qspec;
  qspec.granularity = per_channel(0);
  EXPECT_EQ(qspec_to_json(qspec)["granularity"], json::parse(R"({"type":"per_channel","axis":0})"));
  qspec.granularity = per_block(1, 32);
  EXPECT_EQ(qspec_to_json(qspec)["granularity"], json::parse(R"({"type":"per_block","axis":1,"block_size":32})"));
  EXPECT_EQ(qspec_from_json(qspec_to_json(qspec)), qspec);
  qspec.granularity = per_channel(std::nullopt);
  EXPECT_EQ(qspec_from_json(qspec_to_json(qspec)), qspec);
}

// ---- defaults and accepted forms ----

TEST(SpecJson, EmptyObjectIsTheDefaultSpec) { EXPECT_EQ(parse_spec_json("{}"), default_weight_palettization_spec()); }

TEST(SpecJson, MissingFieldsTakeDefaults) {
  const PalettizationSpec spec = parse_spec_json(R"({"n_bits": 2, "enable_per_channel_scale": true})");
  PalettizationSpec expected;
  expected.n_bits = 2;
  expected.enable_per_channel_scale = true;
  EXPECT_EQ(spec, expected);
}

TEST(SpecJson, DictGranularityBuildsGroupedChannel) {
  const PalettizationSpec spec =
      parse_spec_json(R"({"granularity": {"type": "per_grouped_channel", "axis": 1, "group_size": 8}})");
  const PalettizationGranularity expected = PerGroupedChannelGranularity{.axis = 1, .group_size = 8};
  EXPECT_EQ(spec.granularity, expected);
}

TEST(SpecJson, GroupedAxisMayBeMissingOrNull) {
  const PalettizationGranularity unset{PerGroupedChannelGranularity{.axis = std::nullopt, .group_size = 4}};
  EXPECT_EQ(parse_spec_json(R"({"granularity":{"type":"per_grouped_channel","group_size":4}})").granularity, unset);
  EXPECT_EQ(parse_spec_json(R"({"granularity":{"type":"per_grouped_channel","axis":null,"group_size":4}})").granularity,
            unset);
}

TEST(SpecJson, PerTensorAcceptsNullAxisAsTheReferenceDumpsIt) {
  EXPECT_EQ(parse_spec_json(R"({"granularity":{"axis":null,"type":"per_tensor"}})"), PalettizationSpec{});
}

TEST(SpecJson, LutQSpecFieldsDefaultToInt8SymmetricZpPerTensor) {
  const PalettizationSpec spec = parse_spec_json(R"({"lut_qspec": {}})");
  ASSERT_TRUE(spec.lut_qspec.has_value());
  EXPECT_EQ(*spec.lut_qspec, QuantizationSpec{});
  const PalettizationSpec asym = parse_spec_json(R"({"lut_qspec": {"dtype": "int8", "qscheme": "asymmetric"}})");
  EXPECT_EQ(asym.lut_qspec->qscheme, QScheme::asymmetric);
  EXPECT_EQ(parse_spec_json(R"({"lut_qspec": null})"), PalettizationSpec{});
}

TEST(SpecJson, LutDtypeAlias) {
  const PalettizationSpec spec = parse_spec_json(R"({"lut_qspec": {"dtype": "float8_e4m3"}})");
  EXPECT_EQ(spec.lut_qspec->dtype, QuantDtype::float8_e4m3fn);
}

TEST(SpecJson, QSpecFromJsonValidatesQuantizationRulesOnly) {
  // A valid QuantizationSpec that palettization would refuse: qspec_from_json accepts it.
  EXPECT_EQ(qspec_from_json(json::parse(R"({"dtype":"int4"})")).dtype, QuantDtype::int4);
  EXPECT_NE(error_message([] { qspec_from_json(json::parse(R"({"dtype":"float8_e5m2","qscheme":"asymmetric"})")); })
                .find("requires symmetric quantization scheme"),
            std::string::npos);
}

// ---- round trips ----

std::vector<PalettizationGranularity> all_granularities() {
  return {PerTensorGranularity{}, PerGroupedChannelGranularity{.axis = std::nullopt, .group_size = 1},
          PerGroupedChannelGranularity{.axis = 0, .group_size = 16},
          PerGroupedChannelGranularity{.axis = 1, .group_size = 3}};
}

std::vector<std::optional<QuantizationSpec>> all_lut_qspecs() {
  std::vector<std::optional<QuantizationSpec>> qspecs{std::nullopt};
  for (QuantDtype dtype : {QuantDtype::int8, QuantDtype::uint8}) {
    for (QScheme scheme : {QScheme::symmetric, QScheme::asymmetric, QScheme::symmetric_with_clipping}) {
      qspecs.push_back(QuantizationSpec{.dtype = dtype, .qscheme = scheme});
    }
  }
  qspecs.push_back(QuantizationSpec{.dtype = QuantDtype::float8_e4m3fn});
  qspecs.push_back(QuantizationSpec{.dtype = QuantDtype::float8_e5m2});
  return qspecs;
}

TEST(SpecJsonRoundTrip, EveryCombination) {
  int checked = 0;
  for (int n_bits : {1, 2, 3, 4, 6, 8}) {
    for (const auto& granularity : all_granularities()) {
      for (const auto& lut_qspec : all_lut_qspecs()) {
        for (bool per_channel_scale : {false, true}) {
          for (int64_t cluster_dim : {1, 2, 4}) {
            const PalettizationSpec spec{.n_bits = n_bits, .lut_qspec = lut_qspec, .granularity = granularity,
                                         .cluster_dim = cluster_dim, .enable_per_channel_scale = per_channel_scale};
            ASSERT_NO_THROW(spec.validate());
            EXPECT_EQ(spec_from_json(spec_to_json(spec)), spec) << spec_to_json_string(spec);
            EXPECT_EQ(parse_spec_json(spec_to_json_string(spec)), spec) << spec_to_json_string(spec);
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, 6 * 4 * 9 * 2 * 3);
}

TEST(SpecJsonRoundTrip, Presets) {
  for (const char* name : {"default", "w4", "w6", "w8"}) {
    EXPECT_EQ(parse_spec_json(spec_to_json_string(preset_spec(name))), preset_spec(name)) << name;
  }
}

// Any spec, valid or not: JSON reading either gives the spec back or fails exactly as validate() does.
RC_GTEST_PROP(SpecJsonProperty, ReadingAgreesWithValidate, ()) {
  PalettizationSpec spec;
  spec.n_bits = *rc::gen::inRange(-1, 10);
  spec.cluster_dim = *rc::gen::inRange<int64_t>(-1, 5);
  spec.enable_per_channel_scale = *rc::gen::arbitrary<bool>();
  if (*rc::gen::arbitrary<bool>()) {
    std::optional<int> axis;
    if (*rc::gen::arbitrary<bool>()) axis = *rc::gen::inRange(-1, 3);
    spec.granularity = PerGroupedChannelGranularity{.axis = axis, .group_size = *rc::gen::inRange<int64_t>(-2, 40)};
  }
  if (*rc::gen::arbitrary<bool>()) {
    QuantizationSpec qspec;
    qspec.dtype = static_cast<QuantDtype>(*rc::gen::inRange(0, 9));
    qspec.qscheme = static_cast<QScheme>(*rc::gen::inRange(0, 3));
    qspec.qformulation = static_cast<QFormulation>(*rc::gen::inRange(0, 2));
    const int type = *rc::gen::inRange(0, 3);
    if (type == 1) qspec.granularity = per_channel(0);
    if (type == 2) qspec.granularity = per_block(1, 8);
    spec.lut_qspec = qspec;
  }
  std::string validate_message;
  try {
    spec.validate();
  } catch (const Error& error) {
    validate_message = error.what();
  }
  try {
    const PalettizationSpec read = parse_spec_json(spec_to_json_string(spec));
    RC_ASSERT(validate_message.empty());
    RC_ASSERT(read == spec);
  } catch (const Error& error) {
    RC_ASSERT(std::string(error.what()) == validate_message);
  }
}

// ---- rejects ----

TEST(SpecJsonRejects, UnknownTopLevelField) {
  EXPECT_EQ(parse_error(R"({"n_bits": 4, "nbits": 4})"),
            "Unknown field 'nbits' in PalettizationSpec. Allowed fields: n_bits, lut_qspec, granularity, cluster_dim, "
            "enable_per_channel_scale");
}

TEST(SpecJsonRejects, UnknownNestedFields) {
  EXPECT_EQ(parse_error(R"({"granularity": {"type": "per_grouped_channel", "group_size": 4, "size": 4}})"),
            "Unknown field 'size' in per_grouped_channel granularity. Allowed fields: type, axis, group_size");
  EXPECT_EQ(parse_error(R"({"granularity": {"type": "per_tensor", "group_size": 4}})"),
            "Unknown field 'group_size' in per_tensor granularity. Allowed fields: type, axis");
  EXPECT_EQ(parse_error(R"({"lut_qspec": {"dtype": "int8", "quant_min": -128}})"),
            "Unknown field 'quant_min' in lut_qspec. Allowed fields: dtype, qscheme, qformulation, granularity");
  EXPECT_EQ(parse_error(R"({"lut_qspec": {"granularity": {"type": "per_tensor", "block_size": 2}}})"),
            "Unknown field 'block_size' in per_tensor granularity. Allowed fields: type, axis");
}

TEST(SpecJsonRejects, GranularityWithoutType) {
  EXPECT_EQ(parse_error(R"({"granularity": {"axis": 0, "group_size": 16}})"),
            "Missing type key in dict for PalettizationGranularity");
  EXPECT_EQ(parse_error(R"({"lut_qspec": {"granularity": {"axis": 0}}})"),
            "Missing type key in dict for QuantizationGranularity");
}

TEST(SpecJsonRejects, UnknownGranularityTypeListsTheRegisteredOnes) {
  EXPECT_EQ(parse_error(R"({"granularity": {"type": "per_channel", "axis": 0}})"),
            "No object is registered with key: per_channel in registry PalettizationGranularity. "
            "Registered: per_tensor, per_grouped_channel");
  EXPECT_EQ(parse_error(R"({"lut_qspec": {"granularity": {"type": "per_group"}}})"),
            "No object is registered with key: per_group in registry QuantizationGranularity. "
            "Registered: per_tensor, per_channel, per_block");
}

TEST(SpecJsonRejects, MissingRequiredFields) {
  EXPECT_EQ(parse_error(R"({"granularity": {"type": "per_grouped_channel", "axis": 0}})"),
            "Missing required field 'group_size' in per_grouped_channel granularity");
  EXPECT_EQ(parse_error(R"({"lut_qspec": {"granularity": {"type": "per_block", "axis": 0}}})"),
            "Missing required field 'block_size' in per_block granularity");
}

TEST(SpecJsonRejects, PerTensorWithAnAxis) {
  EXPECT_EQ(parse_error(R"({"granularity": {"type": "per_tensor", "axis": 0}})"),
            "per_tensor granularity takes no axis (null only), got 0");
}

TEST(SpecJsonRejects, WrongJsonTypesNameFieldExpectedAndActual) {
  EXPECT_EQ(parse_error(R"({"n_bits": "4"})"), R"(n_bits must be an integer, got string "4")");
  EXPECT_EQ(parse_error(R"({"n_bits": 4.0})"), "n_bits must be an integer, got number 4.0");
  EXPECT_EQ(parse_error(R"({"n_bits": true})"), "n_bits must be an integer, got boolean true");
  EXPECT_EQ(parse_error(R"({"n_bits": null})"), "n_bits must be an integer, got null null");
  EXPECT_EQ(parse_error(R"({"cluster_dim": [2]})"), "cluster_dim must be an integer, got array [2]");
  EXPECT_EQ(parse_error(R"({"enable_per_channel_scale": "not_a_bool"})"),
            R"(enable_per_channel_scale must be a boolean, got string "not_a_bool")");
  EXPECT_EQ(parse_error(R"({"granularity": "per_tensor"})"), "granularity must be an object, got string");
  EXPECT_EQ(parse_error(R"({"granularity": {"type": 1}})"), "granularity.type must be a string, got number 1");
  EXPECT_EQ(parse_error(R"({"granularity": {"type": "per_grouped_channel", "group_size": "16"}})"),
            R"(granularity.group_size must be an integer, got string "16")");
  EXPECT_EQ(parse_error(R"({"granularity": {"type": "per_grouped_channel", "axis": 0.5, "group_size": 16}})"),
            "granularity.axis must be an integer, got number 0.5");
  EXPECT_EQ(parse_error(R"({"lut_qspec": "int8"})"), "lut_qspec must be an object, got string");
  EXPECT_EQ(parse_error(R"({"lut_qspec": {"dtype": 8}})"), "lut_qspec.dtype must be a string, got number 8");
  EXPECT_EQ(parse_error(R"({"lut_qspec": {"qscheme": null}})"), "lut_qspec.qscheme must be a string, got null null");
  EXPECT_EQ(parse_error(R"({"lut_qspec": {"granularity": {"type": "per_block", "block_size": "8"}}})"),
            R"(lut_qspec.granularity.block_size must be an integer, got string "8")");
  EXPECT_EQ(parse_error("[]"), "spec must be an object, got array");
}

// pydantic's lax bool would take these; we only take JSON booleans (see read_bool in spec_json.cpp).
TEST(SpecJsonRejects, PerChannelScaleAcceptsOnlyJsonBooleans) {
  for (const char* text : {R"({"enable_per_channel_scale": 0})", R"({"enable_per_channel_scale": 1})",
                           R"({"enable_per_channel_scale": "true"})", R"({"enable_per_channel_scale": null})"}) {
    expect_parse_error_contains(text, "enable_per_channel_scale must be a boolean");
  }
}

TEST(SpecJsonRejects, UnknownEnumNames) {
  expect_parse_error_contains(R"({"lut_qspec": {"dtype": "int3"}})", "Unsupported dtype: int3. Allowed dtypes:");
  expect_parse_error_contains(R"({"lut_qspec": {"qscheme": "sym"}})", "Unsupported qscheme: sym");
  expect_parse_error_contains(R"({"lut_qspec": {"qformulation": "MINVAL"}})", "Unsupported qformulation: MINVAL");
}

TEST(SpecJsonRejects, ValidationRulesApplyAfterReading) {
  for (int n_bits : {-1, 0, 5, 7, 9}) {
    EXPECT_EQ(parse_error(R"({"n_bits": )" + std::to_string(n_bits) + "}"),
              "n_bits must be one of {1, 2, 3, 4, 6, 8}, got " + std::to_string(n_bits));
  }
  EXPECT_EQ(parse_error(R"({"cluster_dim": 0})"), "cluster_dim must be a positive integer, got 0");
  EXPECT_EQ(parse_error(R"({"cluster_dim": -1})"), "cluster_dim must be a positive integer, got -1");
  EXPECT_EQ(parse_error(R"({"granularity": {"type": "per_grouped_channel", "group_size": 0}})"),
            "group_size must be >= 1, got 0");
  EXPECT_EQ(parse_error(R"({"granularity": {"type": "per_grouped_channel", "axis": 2, "group_size": 4}})"),
            "axis must be 0, 1 or unset, got 2");
  EXPECT_EQ(parse_error(R"({"lut_qspec": {"dtype": "int4"}})"),
            "lut_qspec.dtype must be one of {int8, uint8, float8_e4m3fn, float8_e5m2}, got int4");
  EXPECT_EQ(parse_error(R"({"lut_qspec": {"granularity": {"type": "per_channel", "axis": 0}}})"),
            "lut_qspec.granularity must be PerTensorGranularity, got PerChannelGranularity");
  EXPECT_EQ(parse_error(R"({"lut_qspec": {"qformulation": "minval"}})"),
            "lut_qspec.qformulation=MINVAL is not supported for palettization. Use lut_qspec.qformulation=ZP instead.");
  expect_parse_error_contains(R"({"lut_qspec": {"dtype": "float8_e4m3fn", "qscheme": "asymmetric"}})", "symmetric");
}

TEST(SpecJsonRejects, HugeIntegersReportTheirRealValue) {
  EXPECT_EQ(parse_error(R"({"n_bits": 4294967300})"), "n_bits must be one of {1, 2, 3, 4, 6, 8}, got 4294967300");
  EXPECT_EQ(parse_error(R"({"granularity": {"type": "per_grouped_channel", "axis": -4294967296, "group_size": 4}})"),
            "axis must be 0, 1 or unset, got -4294967296");
  EXPECT_EQ(parse_error(R"({"cluster_dim": 18446744073709551615})"),
            "cluster_dim is out of the int64 range, got 18446744073709551615");
}

TEST(SpecJsonRejects, BadJsonTextCarriesTheParserPosition) {
  const std::string message = parse_error(R"({"n_bits": 4,})");
  EXPECT_EQ(message.rfind("Invalid spec JSON: ", 0), 0u) << message;
  EXPECT_NE(message.find("line 1, column 14"), std::string::npos) << message;
  expect_parse_error_contains("", "Invalid spec JSON: ");
  expect_parse_error_contains(R"({"n_bits": 4} trailing)", "Invalid spec JSON: ");
}

TEST(SpecJsonRejects, DuplicateKeys) {
  EXPECT_EQ(parse_error(R"({"n_bits": 4, "n_bits": 2})"), "Invalid spec JSON: duplicate key 'n_bits'");
  EXPECT_EQ(parse_error(R"({"granularity": {"type": "per_tensor", "type": "per_tensor"}})"),
            "Invalid spec JSON: duplicate key 'type'");
  // The same key in sibling objects is fine.
  EXPECT_NO_THROW(parse_spec_json(R"({"granularity": {"type": "per_tensor"}, "lut_qspec": {"granularity": {"type":
                                   "per_tensor"}}})"));
}

}  // namespace
}  // namespace palettize
