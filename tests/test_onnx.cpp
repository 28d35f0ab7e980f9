#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "onnx/decode_graph.hpp"
#include "onnx_test_support.hpp"
#include "palettize/engine.hpp"
#include "palettize/error.hpp"
#include "palettize/onnx_model.hpp"
#include "palettize/spec_json.hpp"

namespace palettize {
namespace {

using onnx_test::Storage;

std::string bytes_of(const onnx::ModelProto& model) {
  std::string s;
  model.SerializeToString(&s);
  return s;
}

OnnxModel load_proto(const onnx::ModelProto& model) {
  const std::string s = bytes_of(model);
  return OnnxModel::from_bytes(std::as_bytes(std::span<const char>(s)), "test.onnx");
}

onnx::ModelProto parse(const std::string& bytes) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes));
  return m;
}

Tensor random_tensor(DType dtype, Shape shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> values(static_cast<std::size_t>(shape_numel(shape)));
  for (float& v : values) v = normal(rng);
  if (values.size() > 3) values[3] = 0.9f;  // an outlier, as real weights have
  return make_tensor(dtype, std::move(shape), values);
}

bool same_bytes(const Tensor& a, const Tensor& b) { return a.dtype == b.dtype && a.shape == b.shape && a.data == b.data; }

// The graph holding the decode subgraph of the weight "w" in a weight_model().
const onnx::GraphProto& weight_graph(const onnx::ModelProto& model, Storage storage) {
  if (storage != Storage::constant_in_if) return model.graph();
  return model.graph().node(1).attribute(0).g();
}

struct DecodeCase {
  DType dtype = DType::F32;
  Shape shape;
  PalettizationSpec spec;
  Storage storage = Storage::initializer;
  int64_t opset = 13;
  uint32_t seed = 1;
};

std::string describe(const DecodeCase& c) {
  return std::string(dtype_name(c.dtype)) + " " + shape_to_string(c.shape) + " " + spec_to_json_string(c.spec) +
         " storage " + std::to_string(static_cast<int>(c.storage)) + " opset " + std::to_string(c.opset);
}

// palettize -> replace -> serialize -> execute the decode subgraph -> compare with decode(), then reload,
// read the parts back and decompress.
void check_round_trip(const DecodeCase& c) {
  SCOPED_TRACE(describe(c));
  const Tensor w = random_tensor(c.dtype, c.shape, c.seed);
  const PalettizedTensor p = palettize(w.view(), c.spec);
  const Tensor expected = decode(p);

  OnnxModel model = load_proto(onnx_test::weight_model(w.view(), c.storage, c.opset));
  const std::string key = c.storage == Storage::constant_in_if ? "w@main/If_0:then_branch" : "w";
  ASSERT_NE(model.find(key), nullptr);
  model.replace_with_palettized(key, p);
  EXPECT_EQ(model.find(key), nullptr);
  const std::string bytes = model.serialize();

  const onnx::ModelProto proto = parse(bytes);
  onnx_test::Interpreter interpreter(weight_graph(proto, c.storage));
  const onnx_test::Value value = interpreter.eval("w");
  EXPECT_EQ(value.type, onnx_test::onnx_type(c.dtype));
  EXPECT_TRUE(same_bytes(onnx_test::to_tensor(value, c.dtype), expected));

  OnnxModel reloaded = OnnxModel::from_bytes(std::as_bytes(std::span<const char>(bytes)), "reloaded.onnx");
  EXPECT_EQ(reloaded.palettized_keys(), std::vector<std::string>{key});
  const PalettizedTensor back = reloaded.palettized_tensor(key);
  EXPECT_EQ(back.indices, p.indices);
  EXPECT_EQ(back.lut, p.lut);
  EXPECT_EQ(back.channel_scale, p.channel_scale);
  EXPECT_EQ(back.quantized_lut, p.quantized_lut);

  // The LUT and scales are float initializers of the palettized model, but not weights.
  const std::size_t dense_before = reloaded.palettizable_tensors().size();
  reloaded.decompress();
  EXPECT_TRUE(reloaded.palettized_keys().empty());
  EXPECT_EQ(reloaded.palettizable_tensors().size(), dense_before + 1);
  const OnnxTensor* restored = reloaded.find(key);
  ASSERT_NE(restored, nullptr);
  EXPECT_EQ(restored->kind, c.storage == Storage::initializer ? "initializer" : "Constant");
  EXPECT_EQ(restored->view.shape, expected.shape);
  EXPECT_TRUE(std::equal(restored->view.data.begin(), restored->view.data.end(), expected.data.begin(),
                         expected.data.end()));
  const onnx::ModelProto dense = parse(reloaded.serialize());
  EXPECT_EQ(dense.metadata_props_size(), 0);
  EXPECT_EQ(weight_graph(dense, c.storage).node_size(), c.storage == Storage::initializer ? 1 : 2)
      << "only the weight (initializer or Constant) and its Identity remain";
}

PalettizationSpec spec_of(int n_bits, PalettizationGranularity granularity = PerTensorGranularity{},
                          int64_t cluster_dim = 1, bool scaled = false, std::optional<QuantDtype> lut = {}) {
  PalettizationSpec spec;
  spec.n_bits = n_bits;
  spec.granularity = granularity;
  spec.cluster_dim = cluster_dim;
  spec.enable_per_channel_scale = scaled;
  if (lut) {
    QuantizationSpec q;
    q.dtype = *lut;
    q.qscheme = *lut == QuantDtype::uint8 ? QScheme::asymmetric : QScheme::symmetric;
    spec.lut_qspec = q;
  }
  return spec;
}

TEST(OnnxDecode, EveryBitWidthPerTensor) {
  for (int n : {1, 2, 3, 4, 6, 8})
    for (DType dtype : {DType::F32, DType::F16, DType::BF16})
      check_round_trip({dtype, {16, 9}, spec_of(n), Storage::initializer, 13, static_cast<uint32_t>(n)});
}

TEST(OnnxDecode, IndexCountNotAMultipleOfThePackingPeriod) {
  // 5 x 7 = 35 indices: 3-bit periods hold 8, 6-bit periods 4, 1-bit periods 8.
  for (int n : {1, 3, 6}) check_round_trip({DType::F32, {5, 7}, spec_of(n), Storage::initializer, 9, 7});
  for (int n : {1, 3, 6}) check_round_trip({DType::F16, {5, 7}, spec_of(n), Storage::initializer, 13, 8});
}

TEST(OnnxDecode, GroupedChannelsBothAxesVectorsScalesAndQuantizedLuts) {
  const PerGroupedChannelGranularity axis0{0, 4}, axis1{1, 2};
  check_round_trip({DType::F16, {8, 6, 3, 3}, spec_of(4, axis0), Storage::initializer, 15, 1});
  check_round_trip({DType::F16, {8, 6, 3, 3}, spec_of(3, axis1), Storage::initializer, 15, 2});
  check_round_trip({DType::F32, {8, 6}, spec_of(2, PerTensorGranularity{}, 2), Storage::constant, 11, 3});
  check_round_trip({DType::F32, {8, 6}, spec_of(2, axis0, 2), Storage::constant, 11, 4});
  check_round_trip({DType::BF16, {8, 6}, spec_of(4, axis0, 1, true), Storage::initializer, 13, 5});
  check_round_trip({DType::F16, {8, 6}, spec_of(6, axis1, 1, true), Storage::constant_in_if, 16, 6});
  for (QuantDtype q : {QuantDtype::int8, QuantDtype::uint8, QuantDtype::float8_e4m3fn, QuantDtype::float8_e5m2})
    for (int64_t opset : {9, 19})
      check_round_trip({DType::F16, {8, 6}, spec_of(4, axis0, 1, true, q), Storage::initializer, opset, 7});
}

RC_GTEST_PROP(OnnxDecode, DecodeSubgraphEqualsEngineDecode, ()) {
  DecodeCase c;
  c.dtype = *rc::gen::element(DType::F32, DType::F16, DType::BF16);
  const int64_t groups = *rc::gen::inRange<int64_t>(1, 4);
  const int64_t cluster_dim = *rc::gen::element<int64_t>(1, 1, 2);
  const int64_t out_channels = groups * cluster_dim * *rc::gen::inRange<int64_t>(1, 4);
  const int64_t in_channels = *rc::gen::inRange<int64_t>(1, 5) * 2;
  c.shape = {out_channels, in_channels};
  if (*rc::gen::arbitrary<bool>()) c.shape.push_back(*rc::gen::inRange<int64_t>(1, 4));
  PalettizationGranularity granularity = PerTensorGranularity{};
  switch (*rc::gen::inRange(0, 3)) {
    case 1: granularity = PerGroupedChannelGranularity{0, out_channels / groups}; break;
    case 2: granularity = PerGroupedChannelGranularity{1, 2}; break;
    default: break;
  }
  const bool scaled = cluster_dim == 1 && *rc::gen::arbitrary<bool>();
  const auto lut = *rc::gen::element<std::optional<QuantDtype>>(std::nullopt, std::nullopt, QuantDtype::int8,
                                                                 QuantDtype::uint8, QuantDtype::float8_e4m3fn,
                                                                 QuantDtype::float8_e5m2);
  c.spec = spec_of(*rc::gen::element(1, 2, 3, 4, 6, 8), granularity, cluster_dim, scaled, lut);
  c.storage = *rc::gen::element(Storage::initializer, Storage::constant, Storage::constant_in_if);
  c.opset = c.dtype == DType::BF16 ? *rc::gen::element<int64_t>(13, 19) : *rc::gen::element<int64_t>(9, 13, 19);
  c.seed = *rc::gen::arbitrary<uint32_t>();
  try {
    palettized_layout(c.shape, c.spec);
  } catch (const IncompatibleSpecError&) {
    RC_DISCARD("spec does not fit the shape");
  }
  check_round_trip(c);
  RC_ASSERT(!::testing::Test::HasFailure());
}

TEST(OnnxDecode, PackingPeriods) {
  EXPECT_EQ(onnx_io::packing_period(1).indices, 8);
  EXPECT_EQ(onnx_io::packing_period(1).bytes, 1);
  EXPECT_EQ(onnx_io::packing_period(3).indices, 8);
  EXPECT_EQ(onnx_io::packing_period(3).bytes, 3);
  EXPECT_EQ(onnx_io::packing_period(6).indices, 4);
  EXPECT_EQ(onnx_io::packing_period(6).bytes, 3);
  EXPECT_EQ(onnx_io::packing_period(8).indices, 1);
}

// ---- Reading ----

onnx::ModelProto mixed_model() {
  const Tensor a = random_tensor(DType::F32, {4, 8}, 1);
  onnx::ModelProto model = onnx_test::weight_model(a.view(), Storage::constant_in_if, 16);
  onnx::GraphProto* g = model.mutable_graph();
  // A float initializer with typed float_data, an F16 one with int32_data, an INT64 one, and an
  // initializer that is also a graph input (a default, not a weight).
  onnx::TensorProto typed;
  typed.set_name("typed");
  typed.set_data_type(1);
  typed.add_dims(2);
  typed.add_dims(2);
  for (float v : {1.0f, -2.0f, 3.5f, 0.25f}) typed.add_float_data(v);
  *g->add_initializer() = typed;
  onnx::TensorProto half;
  half.set_name("half");
  half.set_data_type(10);
  half.add_dims(3);
  for (float v : {1.0f, -0.5f, 2.0f}) half.add_int32_data(f32_to_f16(v));
  *g->add_initializer() = half;
  onnx::TensorProto ints;
  ints.set_name("ints");
  ints.set_data_type(7);
  ints.add_dims(1);
  ints.add_int64_data(5);
  *g->add_initializer() = ints;
  const Tensor input_default = random_tensor(DType::F32, {2}, 2);
  *g->add_initializer() = onnx_test::tensor_proto("overridable", input_default.view());
  onnx_test::add_value_info(g->mutable_input(), "overridable", 1, {2});
  return model;
}

TEST(OnnxRead, InitializersConstantsAndSubgraphs) {
  const OnnxModel model = load_proto(mixed_model());
  std::vector<std::string> keys;
  for (const OnnxTensor& t : model.palettizable_tensors()) keys.push_back(t.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"typed", "half", "w@main/If_0:then_branch", "w@main/If_0:else_branch"}));
  const OnnxTensor* typed = model.find("typed");
  ASSERT_NE(typed, nullptr);
  EXPECT_EQ(typed->kind, "initializer");
  EXPECT_EQ(to_f32(typed->view), (std::vector<float>{1.0f, -2.0f, 3.5f, 0.25f}));
  const OnnxTensor* half = model.find("half");
  ASSERT_NE(half, nullptr);
  EXPECT_EQ(half->view.dtype, DType::F16);
  EXPECT_EQ(to_f32(half->view), (std::vector<float>{1.0f, -0.5f, 2.0f}));
  const OnnxTensor* in_if = model.find("w@main/If_0:else_branch");
  ASSERT_NE(in_if, nullptr);
  EXPECT_EQ(in_if->name, "w");
  EXPECT_EQ(in_if->kind, "Constant");
  EXPECT_EQ(in_if->view.shape, (Shape{4, 8}));
  EXPECT_EQ(model.opset(), 16);
}

TEST(OnnxRead, SiblingSubgraphsPalettizedIndependently) {
  OnnxModel model = load_proto(mixed_model());
  const OnnxTensor* w = model.find("w@main/If_0:else_branch");
  ASSERT_NE(w, nullptr);
  const PalettizedTensor p = palettize(w->view, spec_of(2));
  model.replace_with_palettized("w@main/If_0:else_branch", p);
  EXPECT_NE(model.find("w@main/If_0:then_branch"), nullptr);
  const std::string bytes = model.serialize();
  const onnx::ModelProto proto = parse(bytes);
  onnx_test::Interpreter else_branch(proto.graph().node(1).attribute(1).g());
  EXPECT_TRUE(same_bytes(onnx_test::to_tensor(else_branch.eval("w"), DType::F32), decode(p)));
  OnnxModel reloaded = OnnxModel::from_bytes(std::as_bytes(std::span<const char>(bytes)), "x.onnx");
  reloaded.decompress();
  EXPECT_NE(reloaded.find("w@main/If_0:else_branch"), nullptr);
}

TEST(OnnxRead, BeforeIrVersion4InitializersListedAsInputsAreWeights) {
  const Tensor w = random_tensor(DType::F32, {6, 8}, 9);
  onnx::ModelProto proto = onnx_test::weight_model(w.view(), Storage::initializer, 7);
  proto.set_ir_version(3);
  onnx_test::add_value_info(proto.mutable_graph()->mutable_input(), "w", 1, {6, 8});
  OnnxModel model = load_proto(proto);
  ASSERT_NE(model.find("w"), nullptr);
  const PalettizedTensor p = palettize(w.view(), spec_of(3));
  model.replace_with_palettized("w", p);
  const onnx::ModelProto out = parse(model.serialize());
  EXPECT_EQ(out.graph().input_size(), 0) << "a computed value is no graph input";
  EXPECT_EQ(out.ir_version(), 4);
  onnx_test::Interpreter interpreter(out.graph());
  EXPECT_TRUE(same_bytes(onnx_test::to_tensor(interpreter.eval("w"), DType::F32), decode(p)));
}

TEST(OnnxRead, ExternalDataIsAnError) {
  onnx::ModelProto model = mixed_model();
  onnx::TensorProto* t = model.mutable_graph()->mutable_initializer(0);
  t->clear_float_data();
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* location = t->add_external_data();
  location->set_key("location");
  location->set_value("weights.bin");
  try {
    load_proto(model);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("external"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("typed"), std::string::npos) << e.what();
  }
}

TEST(OnnxRead, DataLengthMismatchIsAnError) {
  onnx::ModelProto model = mixed_model();
  model.mutable_graph()->mutable_initializer(1)->add_int32_data(0);  // 4 values for 3 elements
  EXPECT_THROW(load_proto(model), Error);
  onnx::ModelProto raw = mixed_model();
  onnx::TensorProto* t = raw.mutable_graph()->mutable_initializer(0);
  t->clear_float_data();
  t->set_raw_data(std::string(15, '\0'));
  EXPECT_THROW(load_proto(raw), Error);
}

TEST(OnnxRead, NotAnOnnxFileIsAnError) {
  const std::string junk = "this is not a protobuf \xff\xff\xff";
  EXPECT_THROW(OnnxModel::from_bytes(std::as_bytes(std::span<const char>(junk)), "junk.onnx"), Error);
  EXPECT_THROW(OnnxModel::load("/nonexistent/model.onnx"), Error);
}

TEST(OnnxRead, OldOpsetIsAnError) {
  const Tensor a = random_tensor(DType::F32, {4, 4}, 1);
  EXPECT_THROW(load_proto(onnx_test::weight_model(a.view(), Storage::initializer, 6)), Error);
}

// ---- Writing ----

TEST(OnnxWrite, ReplaceChecksKeyAndShape) {
  OnnxModel model = load_proto(mixed_model());
  const Tensor other = random_tensor(DType::F32, {2, 2}, 3);
  const PalettizedTensor p = palettize(other.view(), spec_of(1));
  EXPECT_THROW(model.replace_with_palettized("nope", p), Error);
  EXPECT_THROW(model.replace_with_palettized("w@main/If_0:then_branch", p), Error);  // shape differs
  model.replace_with_palettized("typed", p);
  EXPECT_THROW(model.replace_with_palettized("typed", p), Error);  // already palettized
  EXPECT_EQ(model.palettized_keys(), std::vector<std::string>{"typed"});
}

TEST(OnnxWrite, DecodeSubgraphsInOneGraphShareConstantsAndDecompressCleanly) {
  const Tensor a = random_tensor(DType::F16, {8, 12}, 11), b = random_tensor(DType::F16, {8, 12}, 12);
  onnx::ModelProto proto = onnx_test::weight_model(a.view(), Storage::initializer, 13);
  *proto.mutable_graph()->add_initializer() = onnx_test::tensor_proto("b", b.view());
  *proto.mutable_graph()->add_node() = onnx_test::unary_node("Identity", "b", "y2");
  onnx_test::add_value_info(proto.mutable_graph()->mutable_output(), "y2", 10, {8, 12});
  OnnxModel model = load_proto(proto);
  QuantizationSpec fp8;
  fp8.dtype = QuantDtype::float8_e4m3fn;
  PalettizationSpec spec = spec_of(3, PerGroupedChannelGranularity{0, 4});
  spec.lut_qspec = fp8;
  const PalettizedTensor pa = palettize(a.view(), spec), pb = palettize(b.view(), spec);
  model.replace_with_palettized("w", pa);
  const std::size_t one = model.serialize().size();
  model.replace_with_palettized("b", pb);
  const std::size_t two = model.serialize().size();
  // The second subgraph adds its parts, nodes and metadata but no second FP8 table, shapes or divisors.
  EXPECT_LT(two - one, one - 96 * 3 / 8 - 600) << "one: " << one << " two: " << two;
  const onnx::ModelProto palettized = parse(model.serialize());
  onnx_test::Interpreter interpreter(palettized.graph());
  EXPECT_TRUE(same_bytes(onnx_test::to_tensor(interpreter.eval("w"), DType::F16), decode(pa)));
  EXPECT_TRUE(same_bytes(onnx_test::to_tensor(interpreter.eval("b"), DType::F16), decode(pb)));
  model.decompress();
  const onnx::ModelProto dense = parse(model.serialize());
  EXPECT_EQ(dense.graph().initializer_size(), 2);
  EXPECT_EQ(dense.graph().node_size(), 2);
  EXPECT_EQ(model.palettizable_tensors().size(), 2u);
}

TEST(OnnxWrite, FileShrinksToPackedIndicesPlusSmallOverhead) {
  const Tensor w = random_tensor(DType::F16, {256, 512}, 4);
  OnnxModel model = load_proto(onnx_test::weight_model(w.view(), Storage::initializer, 15));
  const std::size_t dense_size = model.serialize().size();
  const PalettizedTensor p = palettize(w.view(), spec_of(4, PerGroupedChannelGranularity{0, 16}));
  model.replace_with_palettized("w", p);
  const std::size_t size = model.serialize().size();
  const std::size_t payload = 256 * 512 / 2 + 16 * 16 * 2;  // indices + 16 LUTs of 16 F16 entries
  EXPECT_GT(size, payload);
  EXPECT_LT(size, payload + 1500) << "decode subgraph + metadata overhead; dense model was " << dense_size;
}

TEST(OnnxWrite, SaveIsCrashSafeAndRefusesToOverwrite) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "palettize_test_onnx_save";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const Tensor w = random_tensor(DType::F32, {8, 8}, 5);
  OnnxModel model = load_proto(onnx_test::weight_model(w.view(), Storage::initializer, 13));
  model.replace_with_palettized("w", palettize(w.view(), spec_of(2)));
  const auto path = dir / "out.onnx";
  model.save(path);
  EXPECT_THROW(model.save(path), Error);
  model.save(path, true);
  const OnnxModel loaded = OnnxModel::load(path);
  EXPECT_EQ(loaded.palettized_keys(), std::vector<std::string>{"w"});
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1u) << "no temporary file left behind";
  std::filesystem::remove_all(dir);
}

TEST(OnnxWrite, IsOnnxPath) {
  EXPECT_TRUE(is_onnx_path("a/model.onnx"));
  EXPECT_TRUE(is_onnx_path("MODEL.ONNX"));
  EXPECT_FALSE(is_onnx_path("model.safetensors"));
  EXPECT_FALSE(is_onnx_path("onnx"));
}

}  // namespace
}  // namespace palettize
