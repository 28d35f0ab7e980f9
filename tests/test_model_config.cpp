// Model config: parsing (YAML and JSON), error messages, eligibility and rule precedence.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "palettize/error.hpp"
#include "palettize/model_config.hpp"
#include "palettize/spec_json.hpp"
#include "palettize/tensor.hpp"

namespace palettize {
namespace {

const Shape kMatrix{64, 32};  // 2048 elements: eligible under the default min_elements

std::string error_of(auto&& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  return "<no error>";
}

PalettizationSpec spec_with_bits(int n_bits) {
  PalettizationSpec spec;
  spec.n_bits = n_bits;
  return spec;
}

TEST(ModelConfig, OmittedGlobalMeansTheDefaultSpecAsInTheReference) {
  const ModelConfig config = model_config_from_yaml("min_elements: 10\n", "c.yaml");
  ASSERT_TRUE(config.global.has_value());
  EXPECT_EQ(*config.global, default_weight_palettization_spec());
  EXPECT_EQ(config.min_elements, 10);
  EXPECT_TRUE(config.rules.empty());
}

TEST(ModelConfig, NullGlobalLeavesUnmatchedTensorsDense) {
  const ModelConfig config = model_config_from_yaml("global: null\n", "c.yaml");
  EXPECT_FALSE(config.global.has_value());
  const SpecDecision decision = resolve_tensor_spec(config, "w", DType::F32, kMatrix);
  EXPECT_TRUE(decision.eligible);
  EXPECT_FALSE(decision.spec.has_value());
  EXPECT_EQ(decision.skip_reason, "global is null and no rule matches");
}

TEST(ModelConfig, PartialSpecsFillDefaults) {
  const ModelConfig config = model_config_from_yaml(
      "global:\n"
      "  n_bits: 6\n"
      "  granularity: {type: per_grouped_channel, group_size: 8}\n",
      "c.yaml");
  PalettizationSpec expected;
  expected.n_bits = 6;
  expected.granularity = PerGroupedChannelGranularity{std::nullopt, 8};
  EXPECT_EQ(*config.global, expected);
}

TEST(ModelConfig, PresetNamesAreAcceptedAsSpecs) {
  const ModelConfig config = model_config_from_yaml(
      "global: w8\n"
      "rules:\n"
      "  - {pattern: 'enc.*', spec: w4}\n",
      "c.yaml");
  EXPECT_EQ(*config.global, preset_spec("w8"));
  EXPECT_EQ(*config.rules.at(0).spec, preset_spec("w4"));
}

TEST(ModelConfig, LaterMatchingRuleWinsOverEarlierRulesAndGlobal) {
  const ModelConfig config = model_config_from_yaml(
      "global: {n_bits: 2}\n"
      "rules:\n"
      "  - pattern: 'layers\\..*'\n"
      "    spec: {n_bits: 4}\n"
      "  - pattern: 'layers\\.1\\..*'\n"
      "    spec: {n_bits: 8}\n"
      "  - pattern: '.*\\.norm\\..*'\n"
      "    spec: null\n",
      "c.yaml");
  EXPECT_EQ(resolve_tensor_spec(config, "head.weight", DType::F32, kMatrix).spec, spec_with_bits(2));
  EXPECT_EQ(resolve_tensor_spec(config, "layers.0.weight", DType::F32, kMatrix).spec, spec_with_bits(4));
  const SpecDecision later = resolve_tensor_spec(config, "layers.1.weight", DType::F16, kMatrix);
  EXPECT_EQ(later.spec, spec_with_bits(8));
  EXPECT_EQ(later.origin, "rules[1] (pattern 'layers\\.1\\..*')");
  const SpecDecision disabled = resolve_tensor_spec(config, "layers.1.norm.weight", DType::F32, kMatrix);
  EXPECT_FALSE(disabled.spec.has_value());
  EXPECT_EQ(disabled.skip_reason, "disabled by rules[2] (pattern '.*\\.norm\\..*')");
}

TEST(ModelConfig, PatternsMatchTheWholeName) {
  const ModelConfig config = model_config_from_yaml(
      "global: null\nrules:\n  - {pattern: 'attn', spec: {n_bits: 3}}\n", "c.yaml");
  EXPECT_FALSE(resolve_tensor_spec(config, "layer.attn.weight", DType::F32, kMatrix).spec.has_value());
  EXPECT_EQ(resolve_tensor_spec(config, "attn", DType::F32, kMatrix).spec, spec_with_bits(3));
}

TEST(ModelConfig, EligibilityComesBeforeRules) {
  const ModelConfig config = model_config_from_yaml(
      "min_elements: 100\nrules:\n  - {pattern: '.*', spec: {n_bits: 8}}\n", "c.yaml");
  const SpecDecision integer = resolve_tensor_spec(config, "ids", DType::I64, kMatrix);
  EXPECT_FALSE(integer.eligible);
  EXPECT_EQ(integer.skip_reason, "dtype I64 is not a floating type (F32, F16, BF16)");
  const SpecDecision vector = resolve_tensor_spec(config, "bias", DType::F32, Shape{4096});
  EXPECT_FALSE(vector.eligible);
  EXPECT_EQ(vector.skip_reason, "rank 1 < 2");
  const SpecDecision small = resolve_tensor_spec(config, "tiny", DType::BF16, Shape{9, 11});
  EXPECT_FALSE(small.eligible);
  EXPECT_EQ(small.skip_reason, "99 elements < min_elements 100");
  EXPECT_TRUE(resolve_tensor_spec(config, "exact", DType::BF16, Shape{10, 10}).spec.has_value());
  EXPECT_FALSE(resolve_tensor_spec(config, "f64", DType::F64, kMatrix).eligible);
}

TEST(ModelConfig, DefaultMinElementsIs1024) {
  const ModelConfig config;
  EXPECT_EQ(config.min_elements, 1024);
  EXPECT_FALSE(resolve_tensor_spec(config, "w", DType::F32, Shape{31, 33}).eligible);
  EXPECT_TRUE(resolve_tensor_spec(config, "w", DType::F32, Shape{32, 32}).eligible);
}

TEST(ModelConfig, JsonFilesAreAccepted) {
  const ModelConfig config = model_config_from_json_text(
      R"({"global": null, "rules": [{"pattern": "a.*", "spec": {"n_bits": 1}}], "min_elements": 0})", "c.json");
  EXPECT_FALSE(config.global.has_value());
  EXPECT_EQ(config.min_elements, 0);
  EXPECT_EQ(config.rules.at(0).spec, spec_with_bits(1));
}

TEST(ModelConfig, QuotedScalarsStayStrings) {
  const std::string message = error_of([] { model_config_from_yaml("global: {n_bits: '4'}\n", "c.yaml"); });
  EXPECT_NE(message.find("c.yaml:1: global: "), std::string::npos) << message;
}

TEST(ModelConfig, ToJsonRoundTrips) {
  const ModelConfig config = model_config_from_yaml(
      "global: w6\nmin_elements: 7\nrules:\n  - {pattern: 'x', spec: null}\n  - {pattern: 'y.*', spec: w8}\n",
      "c.yaml");
  const nlohmann::json json = model_config_to_json(config);
  const ModelConfig again = model_config_from_json(json, "again");
  EXPECT_EQ(model_config_to_json(again), json);
  EXPECT_EQ(json["rules"][0]["spec"], nullptr);
  EXPECT_EQ(json["rules"][1]["pattern"], "y.*");
}

TEST(ModelConfig, ShortcutsMakeAGlobalOnlyConfig) {
  const ModelConfig config = model_config_for_global(preset_spec("w4"), "--preset w4");
  EXPECT_EQ(*config.global, preset_spec("w4"));
  EXPECT_TRUE(config.rules.empty());
  EXPECT_EQ(config.min_elements, 1024);
  EXPECT_EQ(config.source, "--preset w4");
}

struct BadConfig {
  const char* text;
  const char* expected_message_part;
};

class BadYamlConfig : public testing::TestWithParam<BadConfig> {};

TEST_P(BadYamlConfig, IsAnErrorNamingFileLineAndKey) {
  const std::string message = error_of([] { model_config_from_yaml(GetParam().text, "bad.yaml"); });
  EXPECT_NE(message.find(GetParam().expected_message_part), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(
    Messages, BadYamlConfig,
    testing::Values(
        BadConfig{"", "bad.yaml: config: the config is empty"},
        BadConfig{"- 1\n- 2\n", "bad.yaml:1: config: expected a mapping with keys global, rules, min_elements, got a list"},
        BadConfig{"globl: w4\n", "bad.yaml:1: globl: unknown key 'globl'. Allowed keys: global, rules, min_elements"},
        BadConfig{"global: w5\n", "bad.yaml:1: global: "},
        BadConfig{"global: 4\n", "bad.yaml:1: global: expected a spec mapping, a preset name (w4, w6, w8, default) or null, got an integer"},
        BadConfig{"global: {n_bits: 5}\n", "bad.yaml:1: global: "},
        BadConfig{"global: {nbits: 4}\n", "bad.yaml:1: global: "},
        BadConfig{"min_elements: -1\n", "bad.yaml:1: min_elements: expected a non-negative integer, got -1"},
        BadConfig{"min_elements: 1.5\n", "bad.yaml:1: min_elements: expected a non-negative integer, got 1.5"},
        BadConfig{"min_elements: many\n", "bad.yaml:1: min_elements: expected a non-negative integer, got a string"},
        BadConfig{"rules: {pattern: x}\n", "bad.yaml:1: rules: expected a list of {pattern, spec}, got a mapping"},
        BadConfig{"rules:\n  - 3\n", "bad.yaml:2: rules[0]: expected a mapping {pattern, spec}, got an integer"},
        BadConfig{"rules:\n  - {pattern: x}\n", "bad.yaml:2: rules[0]: missing key 'spec'"},
        BadConfig{"rules:\n  - {spec: w4}\n", "bad.yaml:2: rules[0]: missing key 'pattern'"},
        BadConfig{"rules:\n  - {pattern: x, spec: w4, when: y}\n", "rules[0].when: unknown key 'when'. Allowed keys: pattern, spec"},
        BadConfig{"rules:\n  - {pattern: '', spec: w4}\n", "bad.yaml:2: rules[0].pattern: expected a non-empty regex string, got a string"},
        BadConfig{"rules:\n  - pattern: 'a(b'\n    spec: w4\n", "bad.yaml:2: rules[0].pattern: invalid regex 'a(b': "},
        BadConfig{"rules:\n  - pattern: x\n    spec:\n      n_bits: 4\n      cluster_dim: 0\n", "bad.yaml:4: rules[0].spec: "},
        BadConfig{"global: w4\nglobal: w8\n", "bad.yaml:2: duplicate key 'global'"},
        BadConfig{"global: [unclosed\n", "bad.yaml:"},
        BadConfig{"a: 1\n---\nb: 2\n", "bad.yaml: expected one YAML document, found 2"}));

TEST(ModelConfig, JsonSyntaxErrorsNameTheFile) {
  const std::string message = error_of([] { model_config_from_json_text("{\"global\": ", "bad.json"); });
  EXPECT_NE(message.find("bad.json: invalid JSON: "), std::string::npos) << message;
  const std::string unknown = error_of([] { model_config_from_json_text(R"({"rule": []})", "bad.json"); });
  EXPECT_NE(unknown.find("bad.json: rule: unknown key 'rule'"), std::string::npos) << unknown;
}

TEST(ModelConfig, LoadPicksTheParserByExtensionAndNamesMissingFiles) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "palettize_test_model_config";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "c.yml") << "global: w8\n";
  std::ofstream(dir / "c.json") << R"({"global": "w6"})";
  EXPECT_EQ(*load_model_config(dir / "c.yml").global, preset_spec("w8"));
  EXPECT_EQ(*load_model_config(dir / "c.json").global, preset_spec("w6"));
  EXPECT_EQ(load_model_config(dir / "c.json").source, (dir / "c.json").string());
  const std::string missing = error_of([&] { load_model_config(dir / "nope.yaml"); });
  EXPECT_NE(missing.find("nope.yaml: cannot open the config file"), std::string::npos) << missing;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace palettize
