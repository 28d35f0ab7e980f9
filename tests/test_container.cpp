// Container v1: part layout, encode/load round trips (hand-built and engine-built palettized tensors, single
// and sharded files), and hostile containers that must produce palettize::Error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "io_test_helpers.hpp"
#include "palettize/container.hpp"
#include "palettize/lut_quant.hpp"
#include "palettize/packing.hpp"
#include "palettize/spec_json.hpp"

namespace palettize {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::error_message;
using testing::ScratchDir;

PalettizationSpec grouped(int n_bits, int axis, int64_t group_size) {
  PalettizationSpec spec;
  spec.n_bits = n_bits;
  spec.granularity = PerGroupedChannelGranularity{axis, group_size};
  return spec;
}

QuantizationSpec qspec(QuantDtype dtype, QScheme scheme = QScheme::symmetric) {
  QuantizationSpec q;
  q.dtype = dtype;
  q.qscheme = scheme;
  return q;
}

bool is_nan_code(QuantDtype dtype, uint8_t code) {
  if (dtype == QuantDtype::float8_e4m3fn) return (code & 0x7F) == 0x7F;
  if (dtype == QuantDtype::float8_e5m2) return (code & 0x7C) == 0x7C;  // infinities and NaNs
  return false;
}

// A valid palettized tensor with random parts, built without the engine.
PalettizedTensor hand_built(DType dtype, Shape shape, PalettizationSpec spec, uint32_t seed) {
  std::mt19937 rng(seed);
  spec = spec.with_resolved_axis();
  const PalettizedLayout layout = palettized_layout(shape, spec);
  PalettizedTensor p;
  p.dtype = dtype;
  p.shape = shape;
  p.spec = spec;
  p.lut_shape = layout.lut_shape;
  p.index_shape = layout.index_shape;
  const std::size_t entries = static_cast<std::size_t>(layout.num_luts * p.lut_entries());
  for (int64_t i = 0; i < layout.num_indices; ++i) p.indices.push_back(uint8_t(rng() % spec.lut_size()));
  std::uniform_real_distribution<float> uniform(-2, 2);
  if (!spec.lut_qspec) {
    for (std::size_t i = 0; i < entries; ++i) p.lut.push_back(round_to_dtype(dtype, uniform(rng)));
  } else {
    const QuantizationSpec& q = *spec.lut_qspec;
    for (std::size_t i = 0; i < entries; ++i) {
      uint8_t code = 0;
      do code = uint8_t(rng()); while (is_nan_code(q.dtype, code));
      p.quantized_lut.push_back(code);
    }
    for (int64_t b = 0; b < layout.num_luts; ++b) {
      p.lut_scale.push_back(std::ldexp(1.0f + float(rng() % 100) / 128.0f, is_float_quant_dtype(q.dtype) ? -12 : -7));
      if (!is_float_quant_dtype(q.dtype)) {
        p.lut_zero_point.push_back(q.dtype == QuantDtype::int8 ? int32_t(rng() % 256) - 128 : int32_t(rng() % 256));
      }
    }
    for (std::size_t i = 0; i < entries; ++i) {
      const std::size_t b = i / static_cast<std::size_t>(p.lut_entries());
      const LutQuantParams params{p.lut_scale[b], p.lut_zero_point.empty() ? 0 : p.lut_zero_point[b]};
      p.lut.push_back(round_to_dtype(dtype, dequantize_lut_code(p.quantized_lut[i], params, q)));
    }
  }
  if (spec.enable_per_channel_scale) {
    for (int64_t o = 0; o < shape[0]; ++o) p.channel_scale.push_back(round_to_dtype(dtype, 0.25f + float(o)));
  }
  validate(p);
  return p;
}

void expect_same(const PalettizedTensor& a, const PalettizedTensor& b) {
  EXPECT_EQ(a.dtype, b.dtype);
  EXPECT_EQ(a.shape, b.shape);
  EXPECT_EQ(a.spec, b.spec);
  EXPECT_EQ(a.lut_shape, b.lut_shape);
  EXPECT_EQ(a.index_shape, b.index_shape);
  EXPECT_EQ(a.lut, b.lut);
  EXPECT_EQ(a.indices, b.indices);
  EXPECT_EQ(a.quantized_lut, b.quantized_lut);
  EXPECT_EQ(a.lut_scale, b.lut_scale);
  EXPECT_EQ(a.lut_zero_point, b.lut_zero_point);
  EXPECT_EQ(a.channel_scale, b.channel_scale);
}

struct Case {
  std::string name;
  DType dtype;
  Shape shape;
  PalettizationSpec spec;
};

std::vector<Case> cases() {
  std::vector<Case> all;
  PalettizationSpec per_tensor;
  per_tensor.n_bits = 2;
  all.push_back({"per_tensor_f32", DType::F32, {4, 6}, per_tensor});
  for (int n : {1, 2, 3, 4, 6, 8}) {
    PalettizationSpec spec = grouped(n, 0, 2);
    spec.enable_per_channel_scale = true;
    all.push_back({"grouped0_n" + std::to_string(n), DType::F16, {4, 6}, spec});
  }
  all.push_back({"conv_axis1_bf16", DType::BF16, {2, 4, 3, 3}, grouped(3, 1, 2)});
  PalettizationSpec vector = per_tensor;
  vector.cluster_dim = 2;
  all.push_back({"vector_cd2", DType::F32, {4, 2}, vector});
  PalettizationSpec vector_grouped = grouped(2, 0, 4);
  vector_grouped.cluster_dim = 2;
  vector_grouped.enable_per_channel_scale = true;
  all.push_back({"vector_grouped", DType::BF16, {8, 3}, vector_grouped});
  const std::pair<QuantDtype, QScheme> lut_dtypes[] = {{QuantDtype::int8, QScheme::symmetric},
                                                       {QuantDtype::int8, QScheme::asymmetric},
                                                       {QuantDtype::uint8, QScheme::asymmetric},
                                                       {QuantDtype::float8_e4m3fn, QScheme::symmetric},
                                                       {QuantDtype::float8_e5m2, QScheme::symmetric}};
  for (const auto& [dtype, scheme] : lut_dtypes) {
    PalettizationSpec spec = grouped(4, 1, 3);
    spec.lut_qspec = qspec(dtype, scheme);
    spec.enable_per_channel_scale = dtype == QuantDtype::int8;
    all.push_back({"lut_" + std::string(to_string(dtype)) + "_" + std::string(to_string(scheme)), DType::F16, {2, 6}, spec});
  }
  PalettizationSpec rank1 = per_tensor;
  all.push_back({"rank1", DType::F32, {5}, rank1});
  return all;
}

TEST(ContainerLayout, PartsOfAQuantizedScaledConv) {
  PalettizationSpec spec = grouped(4, 1, 2);
  spec.lut_qspec = qspec(QuantDtype::uint8, QScheme::asymmetric);
  spec.enable_per_channel_scale = true;
  const ContainerEntry entry = make_container_entry("conv.weight", DType::F16, {8, 4, 3, 3}, spec);
  EXPECT_EQ(entry.lut_shape, (Shape{1, 2, 1, 1, 16, 1}));
  EXPECT_EQ(entry.index_shape, (Shape{8, 4, 3, 3}));
  const auto parts = container_parts(entry);
  ASSERT_EQ(parts.size(), 5u);
  EXPECT_EQ(parts[0].name, "conv.weight.lut");
  EXPECT_EQ(parts[0].dtype, DType::U8);
  EXPECT_EQ(parts[1].name, "conv.weight.indices");
  EXPECT_EQ(parts[1].shape, (Shape{8 * 4 * 9 * 4 / 8}));
  EXPECT_EQ(parts[2].name, "conv.weight.lut_scale");
  EXPECT_EQ(parts[2].dtype, DType::F32);
  EXPECT_EQ(parts[2].shape, (Shape{1, 2, 1, 1, 1, 1}));
  EXPECT_EQ(parts[3].name, "conv.weight.lut_zero_point");
  EXPECT_EQ(parts[3].dtype, DType::U8);
  EXPECT_EQ(parts[4].name, "conv.weight.channel_scale");
  EXPECT_EQ(parts[4].dtype, DType::F16);
  EXPECT_EQ(parts[4].shape, (Shape{8, 1, 1, 1}));
}

TEST(ContainerLayout, UnresolvedAxisIsRecordedAsZero) {
  PalettizationSpec spec;
  spec.granularity = PerGroupedChannelGranularity{std::nullopt, 2};
  const ContainerEntry entry = make_container_entry("w", DType::F32, {4, 4}, spec);
  EXPECT_EQ(std::get<PerGroupedChannelGranularity>(entry.spec.granularity).axis, 0);
  const auto json = container_entry_json(entry);
  EXPECT_EQ(json["spec"]["granularity"]["axis"], 0);
  EXPECT_EQ(json["index_shape"], nlohmann::json::parse("[4,4]"));
  EXPECT_EQ(json["dtype"], "F32");
}

TEST(ContainerLayout, IncompatibleSpecKeepsItsTypeAndNamesTheTensor) {
  try {
    make_container_entry("layer.w", DType::F32, {6, 4}, grouped(4, 0, 4));
    FAIL() << "expected IncompatibleSpecError";
  } catch (const IncompatibleSpecError& error) {
    EXPECT_THAT(error.what(), HasSubstr("tensor 'layer.w' of shape [6, 4]"));
  }
  EXPECT_THAT(error_message([] { make_container_entry("w", DType::I8, {4, 4}, PalettizationSpec{}); }),
              HasSubstr("not palettizable"));
  EXPECT_THAT(error_message([] { make_container_entry("w", DType::F32, {0, 4}, PalettizationSpec{}); }),
              HasSubstr("elements"));
  EXPECT_THAT(error_message([] { make_container_entry("w", DType::F32, {}, PalettizationSpec{}); }),
              HasSubstr("rank 0"));
}

TEST(ContainerNames, ClashesAreErrors) {
  const ContainerEntry entry = make_container_entry("x", DType::F32, {4, 4}, PalettizationSpec{});
  const std::vector<std::string> names{"x", "x.lut"};
  EXPECT_THAT(error_message([&] { check_container_names(names, std::span(&entry, 1)); }),
              HasSubstr("would need a tensor named 'x.lut' but the input already has one"));
  const std::vector<std::string> fine{"x", "y"};
  EXPECT_NO_THROW(check_container_names(fine, std::span(&entry, 1)));
  EXPECT_THAT(error_message([&] { container_metadata({{"palettize.version", "1"}}, std::span(&entry, 1)); }),
              HasSubstr("already a palettize container"));
  const Metadata metadata = container_metadata({{"format", "pt"}}, std::span(&entry, 1));
  EXPECT_EQ(metadata.at("palettize.version"), "1");
  EXPECT_EQ(metadata.at("format"), "pt");
  EXPECT_TRUE(nlohmann::json::parse(metadata.at("palettize.tensors")).contains("x"));
}

// Writes `palettized` tensors plus a pass-through tensor as one container file (or shards).
void write_container(const std::filesystem::path& path, const std::vector<std::pair<ContainerEntry, PalettizedTensor>>& items,
                     const Tensor& bias) {
  std::vector<ContainerEntry> entries;
  std::vector<NamedTensor> tensors{{"bias", bias}};
  for (const auto& [entry, p] : items) {
    entries.push_back(entry);
    for (auto& part : encode_palettized(entry, p)) tensors.push_back(std::move(part));
  }
  write_safetensors(path, tensors, container_metadata({{"format", "pt"}}, entries));
}

TEST(ContainerRoundTrip, HandBuiltTensorsThroughOneFile) {
  ScratchDir dir;
  std::vector<std::pair<ContainerEntry, PalettizedTensor>> items;
  uint32_t seed = 1;
  for (const Case& c : cases()) {
    items.emplace_back(make_container_entry(c.name, c.dtype, c.shape, c.spec), hand_built(c.dtype, c.shape, c.spec, seed++));
  }
  const Tensor bias = make_tensor(DType::F32, {3}, std::vector<float>{1, 2, 3});
  write_container(dir / "c.safetensors", items, bias);

  Checkpoint checkpoint(dir / "c.safetensors");
  EXPECT_TRUE(is_container(checkpoint.shard(0).metadata()));
  const auto entries = read_container_entries(checkpoint);
  ASSERT_EQ(entries.size(), items.size());
  for (const auto& [entry, original] : items) {
    SCOPED_TRACE(entry.name);
    auto found = std::find_if(entries.begin(), entries.end(), [&](const auto& e) { return e.name == entry.name; });
    ASSERT_NE(found, entries.end());
    EXPECT_EQ(found->spec, entry.spec);
    EXPECT_EQ(found->lut_shape, entry.lut_shape);
    const PalettizedTensor loaded = load_palettized(*found, checkpoint);
    expect_same(loaded, original);
    EXPECT_EQ(decode(loaded).data, decode(original).data);
  }
  EXPECT_EQ(checkpoint.view("bias").data.size(), 12u);
}

TEST(ContainerRoundTrip, ShardedContainerEntriesComeFromEachShard) {
  ScratchDir dir;
  const Case a = cases()[0];
  const Case b = cases()[8];
  const ContainerEntry entry_a = make_container_entry(a.name, a.dtype, a.shape, a.spec);
  const ContainerEntry entry_b = make_container_entry(b.name, b.dtype, b.shape, b.spec);
  std::vector<ShardPlan> plans{{"s1.safetensors", container_parts(entry_a), container_metadata({}, std::span(&entry_a, 1))},
                               {"s2.safetensors", container_parts(entry_b), container_metadata({}, std::span(&entry_b, 1))}};
  plans[1].tensors.push_back({"dense", DType::F32, {2}});
  const PalettizedTensor pa = hand_built(a.dtype, a.shape, a.spec, 7);
  const PalettizedTensor pb = hand_built(b.dtype, b.shape, b.spec, 8);
  {
    CheckpointWriter writer(dir / "m.safetensors.index.json", plans, false);
    for (const auto& part : encode_palettized(entry_a, pa)) writer.write_tensor(part.name, part.tensor.data);
    for (const auto& part : encode_palettized(entry_b, pb)) writer.write_tensor(part.name, part.tensor.data);
    writer.write_tensor("dense", std::vector<std::byte>(8));
    writer.commit();
  }
  Checkpoint checkpoint(dir / "m.safetensors.index.json");
  const auto entries = read_container_entries(checkpoint);
  ASSERT_EQ(entries.size(), 2u);
  expect_same(load_palettized(entries[0].name == a.name ? entries[0] : entries[1], checkpoint), pa);
  expect_same(load_palettized(entries[0].name == b.name ? entries[0] : entries[1], checkpoint), pb);
}

TEST(ContainerRoundTrip, EngineOutputSurvivesBitForBit) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0, 0.05f);
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    std::vector<float> values(static_cast<std::size_t>(shape_numel(c.shape)));
    for (float& v : values) v = normal(rng);
    const Tensor weight = make_tensor(c.dtype, c.shape, values);
    const PalettizedTensor p = palettize(weight.view(), c.spec);
    const ContainerEntry entry = make_container_entry(c.name, c.dtype, c.shape, c.spec);
    const auto parts = encode_palettized(entry, p);
    TensorLookup lookup = [&](const std::string& name) -> std::optional<TensorView> {
      for (const auto& part : parts) {
        if (part.name == name) return part.tensor.view();
      }
      return std::nullopt;
    };
    const PalettizedTensor loaded = load_palettized(entry, lookup, "memory");
    expect_same(loaded, p);
    EXPECT_EQ(decode(loaded).data, decode(p).data);
  }
}

TEST(ContainerEncode, RefusesMismatchedPalettizedTensors) {
  const Case c = cases()[1];
  const ContainerEntry entry = make_container_entry(c.name, c.dtype, c.shape, c.spec);
  PalettizedTensor p = hand_built(c.dtype, c.shape, c.spec, 1);
  PalettizedTensor wrong_dtype = p;
  wrong_dtype.dtype = DType::F32;
  EXPECT_THAT(error_message([&] { encode_palettized(entry, wrong_dtype); }), HasSubstr("but the container entry is"));
  PalettizedTensor short_lut = p;
  short_lut.lut.pop_back();
  EXPECT_THAT(error_message([&] { encode_palettized(entry, short_lut); }), HasSubstr("the LUT holds"));
  PalettizedTensor inexact = p;
  inexact.lut[0] = 1.0f + 1.0f / 4096;  // not an F16 value
  EXPECT_THAT(error_message([&] { encode_palettized(entry, inexact); }), HasSubstr("not exactly representable in F16"));
  PalettizedTensor no_scale = p;
  no_scale.channel_scale.clear();
  EXPECT_THAT(error_message([&] { encode_palettized(entry, no_scale); }), HasSubstr("channel scales"));
}

// docs/FORMAT.md section 5, verbatim.
TEST(ContainerFormatDoc, WorkedExampleMetadataAndParts) {
  PalettizationSpec spec = grouped(2, 0, 2);
  spec.enable_per_channel_scale = true;
  const ContainerEntry entry = make_container_entry("w", DType::F16, {4, 3}, spec);
  const Metadata metadata = container_metadata({}, std::span(&entry, 1));
  EXPECT_EQ(metadata.at("palettize.tensors"),
            R"({"w":{"dtype":"F16","index_shape":[4,3],"shape":[4,3],"spec":{"cluster_dim":1,)"
            R"("enable_per_channel_scale":true,"granularity":{"axis":0,"group_size":2,"type":"per_grouped_channel"},)"
            R"("lut_qspec":null,"n_bits":2}}})");
  const auto parts = container_parts(entry);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].shape, (Shape{2, 1, 4, 1}));
  EXPECT_EQ(parts[1].shape, (Shape{3}));
  EXPECT_EQ(parts[2].shape, (Shape{4, 1}));
  // Section 3.1's bitstream example.
  EXPECT_EQ(pack_indices(std::vector<uint8_t>{5, 1, 7}, 3), (std::vector<uint8_t>{0xCD, 0x01}));
}

// An independent numpy decoder written from docs/FORMAT.md must reproduce the engine's decode bit for bit.
TEST(ContainerFormatDoc, IndependentPythonDecoderAgrees) {
  if (std::system("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") != 0) GTEST_SKIP() << "no numpy";
  ScratchDir dir;
  std::vector<std::pair<ContainerEntry, PalettizedTensor>> items;
  uint32_t seed = 11;
  for (const Case& c : cases()) {
    items.emplace_back(make_container_entry(c.name, c.dtype, c.shape, c.spec), hand_built(c.dtype, c.shape, c.spec, seed++));
  }
  PalettizationSpec conv = grouped(2, 1, 2);
  conv.cluster_dim = 2;
  conv.enable_per_channel_scale = true;
  conv.lut_qspec = qspec(QuantDtype::uint8, QScheme::asymmetric);
  items.emplace_back(make_container_entry("conv", DType::BF16, {4, 4, 2, 3}, conv),
                     hand_built(DType::BF16, {4, 4, 2, 3}, conv, 99));
  write_container(dir / "c.safetensors", items, make_tensor(DType::F32, {1}, std::vector<float>{0}));
  std::filesystem::create_directory(dir / "out");
  const std::string command = "/usr/bin/python3 " PALETTIZE_SOURCE_DIR "/tests/format_decoder.py " +
                              (dir / "c.safetensors").string() + " " + (dir / "out").string();
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  for (const auto& [entry, p] : items) {
    EXPECT_EQ(testing::read_bytes(dir / "out" / (entry.name + ".bin")), decode(p).data) << entry.name;
  }
}

// ---- hostile containers ----

class HostileContainer : public ::testing::Test {
 protected:
  HostileContainer() {
    PalettizationSpec spec = grouped(3, 0, 2);
    spec.lut_qspec = qspec(QuantDtype::int8);
    spec.enable_per_channel_scale = true;
    entry_ = make_container_entry("w", DType::F16, {4, 3}, spec);
    tensors_ = encode_palettized(entry_, hand_built(DType::F16, {4, 3}, spec, 5));
    metadata_ = container_metadata({}, std::span(&entry_, 1));
  }
  NamedTensor& part(const std::string& name) {
    for (auto& t : tensors_) {
      if (t.name == name) return t;
    }
    throw std::runtime_error("no part " + name);
  }
  void set_entry_field(const std::string& key, nlohmann::json value) {
    auto json = nlohmann::json::parse(metadata_.at("palettize.tensors"));
    json["w"][key] = std::move(value);
    metadata_["palettize.tensors"] = json.dump();
  }
  // Writes the (modified) container and returns the error of reading every palettized tensor back.
  std::string load_error() {
    write_safetensors(dir_ / "c.safetensors", tensors_, metadata_, true);
    return error_message([&] {
      Checkpoint checkpoint(dir_ / "c.safetensors");
      for (const auto& entry : read_container_entries(checkpoint)) load_palettized(entry, checkpoint);
    });
  }
  ScratchDir dir_;
  ContainerEntry entry_;
  std::vector<NamedTensor> tensors_;
  Metadata metadata_;
};

TEST_F(HostileContainer, ValidBaselineLoads) {
  write_safetensors(dir_ / "c.safetensors", tensors_, metadata_);
  Checkpoint checkpoint(dir_ / "c.safetensors");
  EXPECT_NO_THROW(load_palettized(read_container_entries(checkpoint).at(0), checkpoint));
}

TEST_F(HostileContainer, VersionAndKeys) {
  metadata_["palettize.version"] = "2";
  EXPECT_THAT(load_error(), HasSubstr("unsupported palettize container version \"2\""));
  metadata_.erase("palettize.version");
  EXPECT_THAT(load_error(), HasSubstr("but no \"palettize.version\""));
  metadata_["palettize.version"] = "1";
  metadata_.erase("palettize.tensors");
  EXPECT_THAT(load_error(), HasSubstr("but no \"palettize.tensors\""));
}

TEST_F(HostileContainer, TensorsJson) {
  metadata_["palettize.tensors"] = "{";
  EXPECT_THAT(load_error(), HasSubstr("invalid JSON"));
  metadata_["palettize.tensors"] = "[]";
  EXPECT_THAT(load_error(), HasSubstr("must be a JSON object"));
  metadata_["palettize.tensors"] = R"({"w":{},"w":{}})";
  EXPECT_THAT(load_error(), HasSubstr("duplicate JSON key \"w\""));
  metadata_["palettize.tensors"] = R"({"w":3})";
  EXPECT_THAT(load_error(), HasSubstr("palettized tensor 'w': description must be a JSON object"));
}

TEST_F(HostileContainer, EntryFields) {
  const Metadata valid = metadata_;
  set_entry_field("extra", 1);
  EXPECT_THAT(load_error(), HasSubstr("unexpected key \"extra\""));
  metadata_ = valid;
  set_entry_field("dtype", "I8");
  EXPECT_THAT(load_error(), HasSubstr("not palettizable"));
  metadata_ = valid;
  set_entry_field("dtype", "F99");
  EXPECT_THAT(load_error(), HasSubstr("unknown dtype 'F99'"));
  metadata_ = valid;
  set_entry_field("shape", nlohmann::json::parse("[4,-3]"));
  EXPECT_THAT(load_error(), HasSubstr("non-negative integers"));
  metadata_ = valid;
  set_entry_field("shape", nlohmann::json::parse("[4294967296,4294967296,4294967296]"));
  EXPECT_THAT(load_error(), HasSubstr("more elements than a 64-bit count can hold"));
  metadata_ = valid;
  set_entry_field("index_shape", nlohmann::json::parse("[2,3]"));
  EXPECT_THAT(load_error(), HasSubstr("index_shape [2, 3] differs from [4, 3]"));
  metadata_ = valid;
  set_entry_field("spec", nlohmann::json::parse(R"({"n_bits":5})"));
  EXPECT_THAT(load_error(), HasSubstr("palettized tensor 'w'"));
  metadata_ = valid;
  set_entry_field("spec", nlohmann::json::parse(R"({"granularity":{"type":"per_grouped_channel","group_size":2}})"));
  EXPECT_THAT(load_error(), HasSubstr("axis must be recorded"));
  metadata_ = valid;
  set_entry_field("spec", nlohmann::json::parse(R"({"granularity":{"type":"per_grouped_channel","axis":0,"group_size":3}})"));
  EXPECT_THAT(load_error(), HasSubstr("palettized tensor 'w'"));
}

TEST_F(HostileContainer, MissingPart) {
  std::erase_if(tensors_, [](const NamedTensor& t) { return t.name == "w.indices"; });
  EXPECT_THAT(load_error(), HasSubstr("part 'w.indices' of palettized tensor 'w' is missing"));
}

TEST_F(HostileContainer, IndexStreamTooShort) {
  Tensor& indices = part("w.indices").tensor;
  indices.data.pop_back();
  indices.shape[0] -= 1;
  EXPECT_THAT(load_error(), HasSubstr("part 'w.indices' has shape [4], expected [5]"));
}

TEST_F(HostileContainer, LutShapeDisagreesWithSpec) {
  Tensor& lut = part("w.lut").tensor;
  lut.shape = {2, 1, 4, 2};  // same byte count, wrong layout
  EXPECT_THAT(load_error(), HasSubstr("part 'w.lut' has shape [2, 1, 4, 2], expected [2, 1, 8, 1]"));
  lut.shape = {2, 1, 8, 1};
  lut.dtype = DType::U8;
  EXPECT_THAT(load_error(), HasSubstr("part 'w.lut' has dtype U8, expected I8"));
}

TEST_F(HostileContainer, BadScales) {
  Tensor& scale = part("w.lut_scale").tensor;
  const float bad_values[] = {0.0f, -1.0f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()};
  for (float bad : bad_values) {
    std::memcpy(scale.data.data(), &bad, 4);
    EXPECT_THAT(load_error(), HasSubstr("LUT scale 0 is")) << bad;
  }
}

TEST_F(HostileContainer, NonFiniteChannelScale) {
  store_from_f32(DType::F16, part("w.channel_scale").tensor.data.data(), 1, std::numeric_limits<float>::infinity());
  EXPECT_THAT(load_error(), HasSubstr("channel scale 1 is inf"));
}

TEST_F(HostileContainer, DequantizedLutOverflowsTheDtype) {
  const float huge = 1e30f;
  std::memcpy(part("w.lut_scale").tensor.data.data(), &huge, 4);
  part("w.lut").tensor.data[0] = std::byte{100};
  part("w.lut_zero_point").tensor.data[0] = std::byte{0};
  EXPECT_THAT(load_error(), HasSubstr("dequantizes to inf"));
}

TEST_F(HostileContainer, DenseTensorUnderThePalettizedName) {
  tensors_.push_back({"w", make_tensor(DType::F16, {4, 3}, std::vector<float>(12))});
  EXPECT_THAT(load_error(), HasSubstr("also stored as a dense tensor"));
}

TEST(HostileContainerPlain, NanLutEntryAndFp8NanCode) {
  ScratchDir dir;
  PalettizationSpec spec;
  spec.n_bits = 1;
  const ContainerEntry entry = make_container_entry("w", DType::F32, {2, 2}, spec);
  auto parts = encode_palettized(entry, hand_built(DType::F32, {2, 2}, spec, 1));
  store_from_f32(DType::F32, parts[0].tensor.data.data(), 1, std::numeric_limits<float>::quiet_NaN());
  TensorLookup lookup = [&](const std::string& name) -> std::optional<TensorView> {
    for (const auto& part : parts) {
      if (part.name == name) return part.tensor.view();
    }
    return std::nullopt;
  };
  EXPECT_THAT(error_message([&] { load_palettized(entry, lookup, "f"); }), HasSubstr("LUT entry 1 is nan"));

  spec.lut_qspec = qspec(QuantDtype::float8_e4m3fn);
  const ContainerEntry fp8 = make_container_entry("w", DType::F32, {2, 2}, spec);
  parts = encode_palettized(fp8, hand_built(DType::F32, {2, 2}, spec, 1));
  parts[0].tensor.data[1] = std::byte{0x7F};  // E4M3FN NaN
  EXPECT_THAT(error_message([&] { load_palettized(fp8, lookup, "f"); }), HasSubstr("LUT code 127 at entry 1 dequantizes to nan"));
}

}  // namespace
}  // namespace palettize
