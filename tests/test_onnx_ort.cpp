// Decode subgraphs executed by a real runtime: onnxruntime-node 1.30 (tests/ort/decode_check.js) must
// reproduce palettize::decode bit for bit for every bit width, granularity, vector size, per-channel
// scale, LUT dtype, weight dtype, opset and storage (initializer, Constant, Constant inside an If).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "onnx_test_support.hpp"
#include "palettize/engine.hpp"
#include "palettize/onnx_model.hpp"
#include "run_command.hpp"

namespace palettize {
namespace {

using onnx_test::Storage;

struct Variant {
  const char* name;
  int64_t cluster_dim;
  bool scaled;
  std::optional<QuantDtype> lut;
};

const Variant kVariants[] = {
    {"plain", 1, false, std::nullopt},
    {"scaled", 1, true, std::nullopt},
    {"vector2", 2, false, std::nullopt},
    {"int8lut", 1, true, QuantDtype::int8},
    {"uint8lut", 1, false, QuantDtype::uint8},
    {"e4m3lut", 1, true, QuantDtype::float8_e4m3fn},
    {"e5m2lut", 1, false, QuantDtype::float8_e5m2},
};

PalettizationSpec make_spec(int n_bits, int granularity, const Variant& v) {
  PalettizationSpec spec;
  spec.n_bits = n_bits;
  if (granularity == 1) spec.granularity = PerGroupedChannelGranularity{0, 2};
  if (granularity == 2) spec.granularity = PerGroupedChannelGranularity{1, 2};
  spec.cluster_dim = v.cluster_dim;
  spec.enable_per_channel_scale = v.scaled;
  if (v.lut) {
    QuantizationSpec q;
    q.dtype = *v.lut;
    q.qscheme = *v.lut == QuantDtype::uint8 ? QScheme::asymmetric : QScheme::symmetric;
    spec.lut_qspec = q;
  }
  return spec;
}

Tensor weights(DType dtype, const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> values(static_cast<std::size_t>(shape_numel(shape)));
  for (float& v : values) v = normal(rng);
  values[5] = -0.7f;
  return make_tensor(dtype, shape, values);
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// Writes case NAME.onnx (palettized weight model) and NAME.bin (decode() as float32).
void write_case(const std::filesystem::path& dir, const std::string& name, DType dtype, const Shape& shape,
                const PalettizationSpec& spec, Storage storage, int64_t opset, uint32_t seed) {
  const Tensor w = weights(dtype, shape, seed);
  const PalettizedTensor p = palettize(w.view(), spec);
  const std::string model_bytes = [&] {
    std::string s;
    onnx_test::weight_model(w.view(), storage, opset, true).SerializeToString(&s);
    return s;
  }();
  OnnxModel model = OnnxModel::from_bytes(std::as_bytes(std::span<const char>(model_bytes)), name);
  model.replace_with_palettized(storage == Storage::constant_in_if ? "w@main/If_0:then_branch" : "w", p);
  write_file(dir / (name + ".onnx"), model.serialize());
  const std::vector<float> expected = to_f32(decode(p).view());
  write_file(dir / (name + ".bin"), std::string(reinterpret_cast<const char*>(expected.data()), expected.size() * 4));
}

TEST(OnnxRuntime, DecodeSubgraphsMatchEngineDecodeBitForBit) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "palettize_test_onnx_ort";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  int count = 0;
  for (DType dtype : {DType::F32, DType::F16, DType::BF16})
    for (int n_bits : {1, 2, 3, 4, 6, 8})
      for (int granularity : {0, 1, 2})
        for (const Variant& v : kVariants) {
          // Opsets: the oldest the weight dtype allows (bfloat16 Cast needs 13), and 19 (FLOAT8 Cast).
          for (int64_t opset : {dtype == DType::BF16 ? int64_t{13} : int64_t{9}, int64_t{19}}) {
            const Storage storage = static_cast<Storage>(count % 3);
            // [6, 2, 5] has 60 (or 30 vector) indices: not whole packing periods of 8 (1, 3 bits) or 4
            // (6 bits), so the Slice path runs; [8, 6, 3] has 144 (or 72): whole periods.
            const Shape shape = count % 2 ? Shape{8, 6, 3} : Shape{6, 2, 5};
            char name[96];
            std::snprintf(name, sizeof name, "%04d_%s_n%d_g%d_%s_o%lld", count, std::string(dtype_name(dtype)).c_str(),
                          n_bits, granularity, v.name, static_cast<long long>(opset));
            write_case(dir, name, dtype, shape, make_spec(n_bits, granularity, v), storage, opset,
                       static_cast<uint32_t>(count));
            ++count;
          }
        }
  const test::CommandResult result = test::run_command(
      "node " + test::shell_quote(std::string(PALETTIZE_SOURCE_DIR) + "/tests/ort/decode_check.js") + " " +
      test::shell_quote(dir.string()));
  ASSERT_EQ(result.exit_code, 0) << "node tests/ort/decode_check.js failed (is node installed and "
                                    "onnxruntime-node in node_modules? run: npm ci --ignore-scripts)\n"
                                 << result.output;
  const nlohmann::json report = nlohmann::json::parse(result.output);
  ASSERT_EQ(static_cast<int>(report["cases"].size()), count);
  int failures = 0;
  for (const auto& c : report["cases"])
    if (!c["ok"].get<bool>()) {
      ADD_FAILURE() << c["name"] << ": " << c.value("error", "");
      if (++failures > 20) break;
    }
  if (!HasFailure()) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace palettize
