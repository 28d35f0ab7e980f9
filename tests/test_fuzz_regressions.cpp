// Every defect the fuzz targets (fuzz/) or their sanitizer builds found, as a test that failed before its
// fix. The raw inputs also live in fuzz/corpus/<target>/regression-*, so every fuzz run replays them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <nlohmann/json.hpp>

#include "onnx_test_support.hpp"
#include "palettize/clustering.hpp"
#include "palettize/error.hpp"
#include "palettize/model_config.hpp"
#include "palettize/onnx_model.hpp"
#include "palettize/spec_json.hpp"
#include "text/utf8.hpp"

namespace palettize {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string error_of(auto&& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  return "<no palettize::Error>";
}

// ---- sanitizer findings ----

// kmeans1d.cpp validated "values ascending" with check(i == 0 || values[i - 1] < values[i], ..., values[i - 1]):
// check() evaluates its message arguments eagerly, so values[-1] was formed for i == 0 (UBSan: pointer
// overflow in std::span::operator[]) on every call. Found by fuzz_make_seeds under -fsanitize=undefined;
// this test fails only in the sanitizer builds, which is where the defect showed.
TEST(FuzzRegressions, ClusteringValidatesWithoutTouchingAnElementBeforeTheFirst) {
  const std::vector<double> values{0.5};
  const std::vector<double> weights{1.0};
  EXPECT_EQ(cluster_1d_optimal(values, weights, 2).centroids, std::vector<double>{0.5});
  EXPECT_THAT(error_of([] {
                const std::vector<double> unsorted{2.0, 1.0};
                const std::vector<double> ones{1.0, 1.0};
                cluster_1d_optimal(unsorted, ones, 2);
              }),
              HasSubstr("values must be strictly ascending, but value 0 = 2 and value 1 = 1"));
}

// ---- fuzz_spec_json, fuzz_model_config: numbers beyond double ----

// nlohmann::json reports a number it cannot hold as out_of_range 406, not parse_error, and only parse_error
// was caught: {"e_bits":2887e887...} (the fuzzer's input) escaped as an internal failure.
TEST(FuzzRegressions, SpecJsonNumberBeyondDoubleIsAnError) {
  EXPECT_THAT(error_of([] { parse_spec_json(R"({"e_bits":2887e887})"); }),
              HasSubstr("Invalid spec JSON: [json.exception.out_of_range.406] number overflow parsing '2887e887'"));
  EXPECT_THAT(error_of([] { parse_spec_json(R"({"n_bits":-1e999})"); }), HasSubstr("number overflow"));
}

TEST(FuzzRegressions, ConfigNumberBeyondDoubleIsAnError) {
  EXPECT_THAT(error_of([] { model_config_from_json_text(R"({"global": {"n_bits": 1e999}})", "c.json"); }),
              HasSubstr("c.json: invalid JSON: [json.exception.out_of_range.406] number overflow"));
  // YAML: std::stod threw std::out_of_range for the plain scalar 1e999. Now it stays a string, which the
  // type check then names.
  EXPECT_THAT(error_of([] { model_config_from_yaml("global: {n_bits: 1e999}\n", "c.yaml"); }),
              HasSubstr("c.yaml:1: global: n_bits must be an integer"));
  EXPECT_THAT(error_of([] { model_config_from_yaml("min_elements: -1e-999\n", "c.yaml"); }),
              HasSubstr("c.yaml:1: min_elements: expected a non-negative integer"));
  EXPECT_EQ(model_config_from_yaml("min_elements: +12\n", "c.yaml").min_elements, 12);
}

// ---- fuzz_model_config ----

// A YAML config with bytes that are not UTF-8: yaml-cpp passed them through, and the first JSON dump of the
// value (here an error message quoting it) threw nlohmann::json::type_error 316 instead of palettize::Error.
TEST(FuzzRegressions, YamlConfigThatIsNotUtf8IsAnErrorNamingTheLine) {
  const std::string crash = "global: {n_bits: 41 lu_per_c\xff\xff\xff\xff\xff\xff\xff\xffhannel_s ra:ctle.ue}\n";
  EXPECT_EQ(error_of([&] { model_config_from_yaml(crash, "c.yaml"); }), "c.yaml:1: invalid YAML: not UTF-8 (byte 28)");
  EXPECT_THAT(error_of([] { model_config_from_yaml("global: w4\nrules:\n  - {pattern: \"a\xc3\", spec: w8}\n", "c.yaml"); }),
              HasSubstr("c.yaml:3: invalid YAML: not UTF-8"));
  // Valid multi-byte text is still fine.
  const ModelConfig config = model_config_from_yaml("rules:\n  - {pattern: \"gewichte_\xc3\xa4.*\", spec: w8}\n", "c.yaml");
  EXPECT_EQ(config.rules.at(0).pattern, "gewichte_\xc3\xa4.*");
  EXPECT_NO_THROW(model_config_to_json(config).dump());
}

// yaml-cpp 0.7's LoadAll never returned on this input: it kept appending empty documents (and memory).
// Before the fix this test hung until ctest's timeout killed it.
TEST(FuzzRegressions, YamlThatMadeLoadAllLoopForeverIsRefused) {
  const std::string hang = R"({"_bits": 4}, "rules: [{"pagl)";
  EXPECT_THAT(error_of([&] { model_config_from_yaml(hang, "c.yaml"); }), HasSubstr("c.yaml"));
  EXPECT_EQ(error_of([] { model_config_from_yaml("a: 1\n---\nb: 2\n---\nc: 3\n", "c.yaml"); }),
            "c.yaml: expected one YAML document, found 2 or more");
  EXPECT_THAT(error_of([] { model_config_from_yaml("", "c.yaml"); }), HasSubstr("the config is empty"));
}

// An alias inside the node it names made the YAML-to-JSON conversion recurse until the stack overflowed
// (fuzz_model_config, CI's 20 s run); aliases of aliases expand exponentially. Both are refused.
TEST(FuzzRegressions, YamlAliasCycleAndAliasBombAreRefused) {
  EXPECT_EQ(error_of([] { model_config_from_yaml("global: &s {n_bits: 4, spec: *s}\n", "c.yaml"); }),
            "c.yaml:1: invalid YAML: nested more than 64 levels deep (an alias inside the node it names?)");
  std::string bomb = "a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n";
  for (int i = 1; i < 8; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev;
    for (int j = 1; j < 10; ++j) bomb += ", " + prev;
    bomb += "]\n";
  }
  EXPECT_THAT(error_of([&] { model_config_from_yaml(bomb, "c.yaml"); }),
              HasSubstr("invalid YAML: more than 100000 values once aliases are expanded"));
  std::string deep_but_fine = "global: {n_bits: 4}\nx: ";
  for (int i = 0; i < 60; ++i) deep_but_fine += "[";
  for (int i = 0; i < 60; ++i) deep_but_fine += "]";
  EXPECT_THAT(error_of([&] { model_config_from_yaml(deep_but_fine, "c.yaml"); }), HasSubstr("unknown key"));
}

// std::regex_match recurses once per character: a rule like 'model\.layers\.[0-9]+\..*' against the
// 50 000-byte name a hostile checkpoint may hold overflowed the stack (SIGSEGV) in resolve_tensor_spec.
TEST(FuzzRegressions, OverlongTensorNameIsRefusedBeforeRegexMatching) {
  const ModelConfig config = model_config_from_yaml("rules:\n  - {pattern: 'model\\.layers\\.[0-9]+\\..*', spec: w4}\n",
                                                    "c.yaml");
  const Shape shape{64, 64};
  const std::string hostile = "model.layers.0." + std::string(50'000, 'x');
  EXPECT_EQ(error_of([&] { resolve_tensor_spec(config, hostile, DType::F32, shape); }),
            "tensor '" + hostile.substr(0, 64) + "...': its name has 50015 bytes, more than the 1024 bytes config "
            "rules are matched against");
  const std::string longest = "model.layers.0." + std::string(kMaxRuleMatchedNameBytes - 15, 'x');
  EXPECT_TRUE(resolve_tensor_spec(config, longest, DType::F32, shape).spec.has_value());
  // Without rules nothing is matched, so any name goes; ineligible tensors are never matched either.
  EXPECT_TRUE(resolve_tensor_spec(model_config_from_yaml("global: w8\n", "c.yaml"), hostile, DType::F32, shape).spec);
  EXPECT_FALSE(resolve_tensor_spec(config, hostile, DType::I64, shape).eligible);
  // The message's prefix of the name ends on a character boundary (here a 2-byte 'ä' straddles byte 64).
  const std::string accented = std::string(63, 'a') + "\xc3\xa4" + std::string(2000, 'b');
  EXPECT_TRUE(utf8::is_valid(error_of([&] { resolve_tensor_spec(config, accented, DType::F32, shape); })));
}

// The UTF-8 check agrees with nlohmann::json, which decides what can be written as JSON.
RC_GTEST_PROP(FuzzRegressions, Utf8CheckAgreesWithTheJsonWriter, (const std::vector<uint8_t>& bytes)) {
  const std::string text(bytes.begin(), bytes.end());
  bool json_accepts = true;
  try {
    (void)nlohmann::json(text).dump();
  } catch (const nlohmann::json::type_error&) {
    json_accepts = false;
  }
  RC_ASSERT(utf8::is_valid(text) == json_accepts);
}

TEST(FuzzRegressions, Utf8CheckOnTheBoundaries) {
  EXPECT_TRUE(utf8::is_valid("\xf4\x8f\xbf\xbf"));   // U+10FFFF
  EXPECT_FALSE(utf8::is_valid("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(utf8::is_valid("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(utf8::is_valid("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(utf8::is_valid("\xe2\x82"));          // truncated
  EXPECT_EQ(utf8::find_invalid("ok\xe2\x82\xac\xff"), 5u);
}

// ---- fuzz_onnx ----

onnx::ModelProto constant_in_if_model() {
  const Tensor weight = make_tensor(DType::F32, {8, 4}, std::vector<float>(32, 0.5f));
  return onnx_test::weight_model(weight.view(), onnx_test::Storage::constant_in_if, 13);
}

OnnxModel load(const onnx::ModelProto& proto) {
  const std::string bytes = proto.SerializeAsString();
  return OnnxModel::from_bytes(std::as_bytes(std::span<const char>(bytes)), "m.onnx");
}

// ONNX does not require names to be UTF-8. A tensor whose key (here through its If branch's attribute name,
// "els\xff\xff\xff\tanch2" in the fuzzer's input) was not UTF-8 got palettized, and writing the palettize
// metadata threw nlohmann::json::type_error 316 after the graph had already been changed.
TEST(FuzzRegressions, OnnxTensorWhoseNameIsNotUtf8IsRefusedBeforeTheModelChanges) {
  onnx::ModelProto proto = constant_in_if_model();
  proto.mutable_graph()->mutable_node(1)->mutable_attribute(1)->set_name("els\xff\xff\xff\tanch2");
  OnnxModel model = load(proto);
  const PalettizationSpec spec = parse_spec_json(R"({"n_bits":1})");
  std::vector<std::string> keys;
  for (const OnnxTensor& tensor : model.palettizable_tensors()) keys.push_back(tensor.key);
  ASSERT_EQ(keys.size(), 2u);
  const std::string before = model.serialize();
  for (const std::string& key : keys) {
    if (utf8::is_valid(key)) continue;
    EXPECT_THAT(error_of([&] { model.replace_with_palettized(key, palettize(model.find(key)->view, spec)); }),
                HasSubstr("m.onnx: tensor 2 of 2 cannot be palettized: its name, graph path or Constant node name "
                          "is not valid UTF-8"));
  }
  EXPECT_EQ(model.serialize(), before);
}

TEST(FuzzRegressions, OnnxInitializerOrConstantNodeNameNotUtf8IsRefused) {
  const Tensor weight = make_tensor(DType::F32, {4, 4}, std::vector<float>(16, 0.25f));
  onnx::ModelProto initializer = onnx_test::weight_model(weight.view(), onnx_test::Storage::initializer, 13);
  initializer.mutable_graph()->mutable_initializer(0)->set_name("w\xc3");
  initializer.mutable_graph()->mutable_node(0)->set_input(0, "w\xc3");
  onnx::ModelProto constant = onnx_test::weight_model(weight.view(), onnx_test::Storage::constant, 13);
  constant.mutable_graph()->mutable_node(0)->set_name("const\xff");
  const PalettizationSpec spec = parse_spec_json(R"({"n_bits":1})");
  for (const onnx::ModelProto& proto : {initializer, constant}) {
    OnnxModel model = load(proto);
    ASSERT_EQ(model.palettizable_tensors().size(), 1u);
    const OnnxTensor& tensor = model.palettizable_tensors()[0];
    EXPECT_THAT(error_of([&] { model.replace_with_palettized(tensor.key, palettize(tensor.view, spec)); }),
                HasSubstr("is not valid UTF-8"));
  }
}

// Two float initializers named alike in one graph got the same key, so find(key) and replace_with_palettized
// reached the first one only (fuzz_onnx's invariant find(tensor.key) == &tensor, 10-minute run).
TEST(FuzzRegressions, OnnxTensorDefinedTwiceInOneGraphIsRefused) {
  const Tensor weight = make_tensor(DType::F32, {4, 4}, std::vector<float>(16, 0.25f));
  onnx::ModelProto proto = onnx_test::weight_model(weight.view(), onnx_test::Storage::initializer, 13);
  *proto.mutable_graph()->add_initializer() = proto.graph().initializer(0);
  EXPECT_THAT(error_of([&] { load(proto); }),
              HasSubstr("tensor 'w' is defined more than once in main"));
}

// Text with NUL bytes makes yaml-cpp guess a UTF-16/32 encoding and transcode; the scalars it produced were
// not UTF-8, and echoing one in a JSON error message threw nlohmann::json::type_error 316 (fuzz_model_config,
// 10-minute run; the input is fuzz/corpus/fuzz_model_config/regression-not-utf8-escape.yaml).
TEST(FuzzRegressions, YamlDecodedToSomethingNotUtf8IsRefused) {
  const std::string text("global:\n  n_bits: uuu{\"g\x1f\0n8\0_ib\x1f\x1f\0\"u", 37);
  EXPECT_EQ(error_of([&] { model_config_from_yaml(text, "c.yaml"); }),
            "c.yaml:2: invalid YAML: a string is not UTF-8 once decoded");
}

// libstdc++ parses a back-reference number or repeat count by multiplying by ten without an overflow check:
// '\1111111111111111111' was signed overflow inside <regex> (UBSan, fuzz_model_config, 10-minute run; the
// input is fuzz/corpus/fuzz_model_config/regression-backreference-overflow.yaml). Long patterns also
// overflowed the stack of std::regex's recursive compiler. Both are refused before compiling.
TEST(FuzzRegressions, RulePatternWithAHugeNumberOrLengthIsRefusedBeforeCompiling) {
  const std::string digits(19, '1');
  EXPECT_EQ(error_of([&] { make_tensor_rule("od(l\\" + digits + ")", std::nullopt); }),
            "invalid regex 'od(l\\" + digits + ")': a back-reference or repeat count of 19 digits (at most 9)");
  EXPECT_THAT(error_of([&] { make_tensor_rule("a{" + digits + "}", std::nullopt); }),
              HasSubstr("a back-reference or repeat count of 19 digits"));
  EXPECT_THAT(error_of([&] { make_tensor_rule("a{1," + digits + "}", std::nullopt); }),
              HasSubstr("a back-reference or repeat count of 19 digits"));
  // Digits elsewhere are literal text, not numbers std::regex parses: names hold long numbers at times.
  EXPECT_NO_THROW(make_tensor_rule("layer_" + digits + "\\.w", std::nullopt));
  EXPECT_NO_THROW(make_tensor_rule("x[{]" + digits + "|y,\\{" + digits, std::nullopt));
  // Nine digits pass this check; std::regex then refuses to build a billion states itself.
  EXPECT_THAT(error_of([] { make_tensor_rule("a{1,999999999}", std::nullopt); }), Not(HasSubstr("digits")));
  const std::string nested = std::string(kMaxRulePatternBytes / 2 + 1, '(') + std::string(kMaxRulePatternBytes / 2 + 1, ')');
  EXPECT_THAT(error_of([&] { make_tensor_rule(nested, std::nullopt); }),
              HasSubstr("': 4098 bytes, more than the 4096 bytes a rule's pattern may have"));
  EXPECT_THAT(error_of([&] { model_config_from_yaml("rules:\n  - {pattern: 'a\\" + digits + "', spec: w4}\n", "c.yaml"); }),
              HasSubstr("c.yaml:2: rules[0].pattern: invalid regex"));
}

// A graph where a Constant and another node both computed 'w' (not single-assignment) was accepted; after
// the Constant became a decode subgraph, re-reading our own output found the other producer first and
// failed (fuzz_onnx's invariant reread_own_output, 10-minute run; the input is
// fuzz/corpus/fuzz_onnx/regression-two-producers.onnx). Such graphs are refused on load.
TEST(FuzzRegressions, OnnxValueComputedTwiceInOneGraphIsRefused) {
  const Tensor weight = make_tensor(DType::F32, {4, 4}, std::vector<float>(16, 0.25f));
  onnx::ModelProto twice = onnx_test::weight_model(weight.view(), onnx_test::Storage::constant, 13);
  *twice.mutable_graph()->add_node() = onnx_test::unary_node("Identity", "y", "w");
  EXPECT_EQ(error_of([&] { load(twice); }),
            "ONNX model m.onnx: value 'w' in graph main is computed by more than one node; ONNX graphs are "
            "single-assignment");
  onnx::ModelProto shadowed = onnx_test::weight_model(weight.view(), onnx_test::Storage::initializer, 13);
  *shadowed.mutable_graph()->add_node() = onnx_test::unary_node("Identity", "y", "w");
  EXPECT_THAT(error_of([&] { load(shadowed); }),
              HasSubstr("value 'w' in graph main is a graph input or initializer and also computed by a node"));
  // An optional output left empty is no definition, and may be left empty by several nodes.
  onnx::ModelProto optional = onnx_test::weight_model(weight.view(), onnx_test::Storage::initializer, 13);
  for (int i = 0; i < 2; ++i) {
    onnx::NodeProto node = onnx_test::unary_node("Dropout", "y", "d" + std::to_string(i));
    node.add_output("");
    *optional.mutable_graph()->add_node() = node;
  }
  EXPECT_EQ(load(optional).palettizable_tensors().size(), 1u);
}

}  // namespace
}  // namespace palettize
