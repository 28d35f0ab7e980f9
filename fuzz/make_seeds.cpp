// Writes the seed corpora of the fuzz targets, fuzz/corpus/<target>/<seed>, with the library's own writers
// and the test suite's fixtures (specs and configs as the tests write them, models like tests/onnx_test_support
// builds). Seeds stay small (a few KiB) so the fuzzer mutates structure, not bulk data.
// Usage: fuzz_make_seeds <corpus root>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "onnx_test_support.hpp"
#include "palettize/container.hpp"
#include "palettize/onnx_model.hpp"
#include "palettize/spec_json.hpp"

namespace palettize::fuzz {
namespace {

namespace fs = std::filesystem;

class SeedWriter {
 public:
  SeedWriter(fs::path root, const std::string& target) : directory_(std::move(root) / target) {
    fs::create_directories(directory_);
  }
  void write(const std::string& name, const void* data, std::size_t size) {
    std::ofstream out(directory_ / name, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) throw std::runtime_error("cannot write seed " + (directory_ / name).string());
  }
  void write(const std::string& name, const std::string& text) { write(name, text.data(), text.size()); }
  void write(const std::string& name, const std::vector<std::byte>& bytes) { write(name, bytes.data(), bytes.size()); }

 private:
  fs::path directory_;
};

Tensor ramp(DType dtype, Shape shape, float step) {
  std::vector<float> values(static_cast<std::size_t>(shape_numel(shape)));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = step * static_cast<float>((i * 7919) % 23) - 1.0f;
  return make_tensor(dtype, std::move(shape), values);
}

std::vector<std::byte> file_bytes(const std::vector<NamedTensor>& tensors, const Metadata& metadata) {
  std::vector<TensorDecl> decls;
  for (const NamedTensor& t : tensors) decls.push_back({t.name, t.tensor.dtype, t.tensor.shape});
  std::vector<std::byte> bytes = safetensors_header(decls, metadata);
  for (const NamedTensor& t : tensors) bytes.insert(bytes.end(), t.tensor.data.begin(), t.tensor.data.end());
  return bytes;
}

// Specs as the tests spell them: presets, every granularity, vectors, LUT quantization, channel scales.
const std::vector<std::pair<std::string, std::string>>& spec_texts() {
  static const std::vector<std::pair<std::string, std::string>> specs{
      {"default", R"({"n_bits":4})"},
      {"one_bit", R"({"n_bits":1})"},
      {"three_bits_grouped_axis1", R"({"n_bits":3,"granularity":{"type":"per_grouped_channel","axis":1,"group_size":4}})"},
      {"w4_grouped", R"({"n_bits":4,"granularity":{"type":"per_grouped_channel","axis":0,"group_size":4}})"},
      {"vector", R"({"n_bits":2,"cluster_dim":2})"},
      {"int8_lut_scaled", R"({"n_bits":2,"lut_qspec":{"dtype":"int8","qscheme":"symmetric","qformulation":"zp",)"
                          R"("granularity":{"type":"per_tensor"}},"enable_per_channel_scale":true})"},
      {"uint8_lut", R"({"n_bits":3,"lut_qspec":{"dtype":"uint8","qscheme":"asymmetric"}})"},
      {"e4m3_lut", R"({"n_bits":2,"lut_qspec":{"dtype":"float8_e4m3fn"}})"},
      {"e5m2_lut_vector", R"({"n_bits":1,"cluster_dim":2,"lut_qspec":{"dtype":"float8_e5m2"}})"},
      {"six_bits", R"({"n_bits":6,"granularity":{"type":"per_tensor"},"cluster_dim":1,"enable_per_channel_scale":false})"},
  };
  return specs;
}

void write_spec_seeds(const fs::path& root) {
  SeedWriter seeds(root, "fuzz_spec_json");
  for (const auto& [name, text] : spec_texts()) seeds.write(name + ".json", text);
  for (const char* preset : {"w4", "w6", "w8", "default"}) {
    seeds.write(std::string("preset_") + preset + ".json", spec_to_json_string(preset_spec(preset)));
  }
}

void write_config_seeds(const fs::path& root) {
  SeedWriter seeds(root, "fuzz_model_config");
  seeds.write("global_and_rules.yaml",
              "global:\n  n_bits: 6\n  granularity: {type: per_grouped_channel, group_size: 8}\n"
              "rules:\n  - pattern: 'model\\.layers\\.[0-9]+\\..*'\n    spec: w4\n"
              "  - {pattern: 'lm_head.*', spec: null}\n"
              "min_elements: 10\n");
  seeds.write("null_global.yaml", "global: null\nrules:\n  - {pattern: 'conv.*', spec: {n_bits: 2, cluster_dim: 2}}\n");
  seeds.write("lut_qspec.yaml",
              "global: {n_bits: 4, lut_qspec: {dtype: int8, qscheme: symmetric}, enable_per_channel_scale: true}\n");
  seeds.write("preset.yaml", "global: w8\nmin_elements: 0\n");
  seeds.write("anchors.yaml", "global: &s {n_bits: 3}\nrules:\n  - {pattern: a, spec: *s}\n  - {pattern: b|c, spec: *s}\n");
  seeds.write("config.json",
              R"({"global": {"n_bits": 4}, "rules": [{"pattern": ".*bias", "spec": null},)"
              R"( {"pattern": "w[0-9]", "spec": "w6"}], "min_elements": 1024})");
}

// A small palettized checkpoint for `spec`, plus one dense tensor passed through.
std::vector<std::byte> container_file(const std::string& spec_text, DType dtype, uint32_t seed) {
  const PalettizationSpec spec = parse_spec_json(spec_text);
  const Shape shape{8, 4};
  ContainerEntry entry = make_container_entry("w", dtype, shape, spec);
  PalettizeOptions options;
  options.threads = 1;
  options.seed = seed;
  std::vector<NamedTensor> tensors = encode_palettized(entry, palettize(ramp(dtype, shape, 0.25f).view(), spec, options));
  tensors.push_back({"bias", ramp(DType::F32, {4}, 0.5f)});
  return file_bytes(tensors, container_metadata({{"note", "seed"}}, std::span(&entry, 1)));
}

std::vector<std::byte> with_override(const std::string& override_text, const std::vector<std::byte>& file) {
  std::vector<std::byte> bytes{std::byte(override_text.size() & 0xFF), std::byte(override_text.size() >> 8)};
  for (char c : override_text) bytes.push_back(std::byte(c));
  bytes.insert(bytes.end(), file.begin(), file.end());
  return bytes;
}

void write_container_and_safetensors_seeds(const fs::path& root) {
  SeedWriter containers(root, "fuzz_container");
  SeedWriter plain(root, "fuzz_safetensors");
  const std::array<DType, 3> dtypes{DType::F32, DType::F16, DType::BF16};
  uint32_t seed = 0;
  for (const auto& [name, text] : spec_texts()) {
    const std::vector<std::byte> file = container_file(text, dtypes[seed % dtypes.size()], seed);
    containers.write(name + ".bin", with_override("", file));
    if (seed % 3 == 0) plain.write("container_" + name + ".safetensors", file);
    ++seed;
  }
  // The same file with its entry JSON up front, where the fuzzer edits it directly.
  const PalettizationSpec spec = parse_spec_json(R"({"n_bits":2,"cluster_dim":2})");
  const ContainerEntry entry = make_container_entry("w", DType::F32, {8, 4}, spec);
  const std::string entry_json = nlohmann::json{{"w", container_entry_json(entry)}}.dump();
  containers.write("override_vector.bin", with_override(entry_json, container_file(R"({"n_bits":2,"cluster_dim":2})",
                                                                                     DType::F32, 1)));

  plain.write("empty.safetensors", file_bytes({}, {}));
  plain.write("metadata_only.safetensors", file_bytes({}, {{"format", "pt"}, {"k", "v"}}));
  std::vector<NamedTensor> mixed{{"a.f32", ramp(DType::F32, {2, 3}, 1)},
                                 {"b.f16", ramp(DType::F16, {4}, 1)},
                                 {"c.bf16", ramp(DType::BF16, {1, 1, 2}, 1)},
                                 {"scalar", ramp(DType::F32, {}, 1)},
                                 {"empty", ramp(DType::F32, {0, 5}, 1)}};
  Tensor ints{DType::I64, {2}, std::vector<std::byte>(16, std::byte{1})};
  mixed.push_back({"ints", ints});
  Tensor bytes{DType::U8, {3}, std::vector<std::byte>(3, std::byte{2})};
  mixed.push_back({"u8", bytes});
  plain.write("mixed_dtypes.safetensors", file_bytes(mixed, {{"format", "pt"}}));
}

void write_onnx_seeds(const fs::path& root) {
  SeedWriter seeds(root, "fuzz_onnx");
  const Tensor f32 = ramp(DType::F32, {8, 4}, 0.25f);
  const Tensor f16 = ramp(DType::F16, {4, 4}, 0.5f);
  const std::vector<std::pair<std::string, onnx::ModelProto>> models{
      {"initializer_f32", onnx_test::weight_model(f32.view(), onnx_test::Storage::initializer, 13)},
      {"constant_f16", onnx_test::weight_model(f16.view(), onnx_test::Storage::constant, 7)},
      {"constant_in_if", onnx_test::weight_model(f32.view(), onnx_test::Storage::constant_in_if, 17)},
  };
  for (const auto& [name, model] : models) {
    const std::string bytes = model.SerializeAsString();
    seeds.write(name + ".onnx", bytes);
    // The same model with its weights replaced by decode subgraphs, as compress writes it.
    OnnxModel palettized = OnnxModel::from_bytes(std::as_bytes(std::span<const char>(bytes)), name);
    std::vector<std::string> keys;
    for (const OnnxTensor& tensor : palettized.palettizable_tensors()) keys.push_back(tensor.key);
    for (const std::string& key : keys) {
      PalettizeOptions options;
      options.threads = 1;
      const PalettizationSpec spec = parse_spec_json(name == "initializer_f32" ? R"({"n_bits":2,"cluster_dim":2})"
                                                                                 : R"({"n_bits":1})");
      palettized.replace_with_palettized(key, palettize(palettized.find(key)->view, spec, options));
    }
    seeds.write(name + "_palettized.onnx", palettized.serialize());
  }
}

// Decoder inputs follow fuzz_decoder.cpp's reading order: [absurd-count switch] dtype rank dims... n_bits
// cluster_dim channel_scale granularity [group_size] lut_qspec count_error wrong_width, then the packed
// indices, LUT floats and scales as raw bytes.
void write_decoder_seeds(const fs::path& root) {
  SeedWriter seeds(root, "fuzz_decoder");
  std::mt19937 rng(6);
  const std::vector<std::pair<std::string, std::vector<uint8_t>>> heads{
      {"f32_4x4_per_tensor_4bit", {1, 0, 1, 4, 4, 3, 1, 0, 0, 0, 0, 1}},
      {"f16_8x2_vector_2bit", {1, 1, 1, 8, 2, 1, 2, 0, 0, 0, 0, 1}},
      {"bf16_grouped_axis0_scaled", {1, 2, 1, 8, 3, 1, 1, 1, 1, 4, 0, 0, 1}},
      {"f32_conv_grouped_axis1_int8", {1, 0, 3, 4, 4, 2, 2, 2, 1, 0, 2, 2, 1, 0, 1}},
      {"f32_3bit_e4m3", {1, 0, 1, 5, 6, 2, 1, 0, 0, 3, 0, 1}},
      {"f16_8bit_uint8", {1, 1, 0, 16, 5, 1, 0, 0, 2, 0, 1}},
      {"absurd_count", {0, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 4, 1, 2, 3, 4}},
  };
  for (const auto& [name, head] : heads) {
    std::vector<uint8_t> bytes = head;
    // Small LUT-like floats (so the LUT is finite) interleaved with arbitrary index bytes.
    for (int i = 0; i < 96; ++i) {
      const float value = static_cast<float>(static_cast<int>(rng() % 64) - 32) / 16.0f;
      const auto* raw = reinterpret_cast<const uint8_t*>(&value);
      bytes.insert(bytes.end(), raw, raw + sizeof value);
    }
    seeds.write(name + ".bin", bytes.data(), bytes.size());
  }
}

}  // namespace
}  // namespace palettize::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus root>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];
  palettize::fuzz::write_spec_seeds(root);
  palettize::fuzz::write_config_seeds(root);
  palettize::fuzz::write_container_and_safetensors_seeds(root);
  palettize::fuzz::write_onnx_seeds(root);
  palettize::fuzz::write_decoder_seeds(root);
  return 0;
}
