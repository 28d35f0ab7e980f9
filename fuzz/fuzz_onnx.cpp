// Fuzz target: the ONNX reader, and the ONNX writer on whatever the reader accepted. Reads the model, reads
// every palettizable tensor, palettizes the first small ones and replaces them by decode subgraphs,
// serializes, reads the result back, decodes every stored palettized tensor and decompresses.
#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "palettize/onnx_model.hpp"
#include "palettize/spec_json.hpp"

namespace palettize::fuzz {
namespace {

constexpr int64_t kMaxPalettizedElements = 1024;  // keeps k-means cheap per input
constexpr std::size_t kMaxPalettizedTensors = 2;

void read_everything(const OnnxModel& model) {
  for (const OnnxTensor& tensor : model.palettizable_tensors()) {
    PALETTIZE_FUZZ_ASSERT(model.find(tensor.key) == &tensor);
    tensor.view.check_size();
    const std::vector<float> values = to_f32(tensor.view);
    PALETTIZE_FUZZ_ASSERT(static_cast<int64_t>(values.size()) == tensor.view.numel());
  }
  for (const std::string& key : model.palettized_keys()) {
    refuse_with_error_only([&] {
      const PalettizedTensor palettized = model.palettized_tensor(key);
      validate(palettized);
      const Tensor dense = decode(palettized);
      PALETTIZE_FUZZ_ASSERT(dense.shape == palettized.shape);
    });
  }
}

void palettize_small_tensors(OnnxModel& model) {
  const PalettizationSpec spec = parse_spec_json(R"({"n_bits":2})");
  std::vector<std::string> keys;
  for (const OnnxTensor& tensor : model.palettizable_tensors()) {
    if (keys.size() < kMaxPalettizedTensors && tensor.view.numel() <= kMaxPalettizedElements) keys.push_back(tensor.key);
  }
  for (const std::string& key : keys) {
    refuse_with_error_only([&] {
      const OnnxTensor* tensor = model.find(key);
      PALETTIZE_FUZZ_ASSERT(tensor != nullptr);
      PalettizeOptions options;
      options.threads = 1;
      model.replace_with_palettized(key, palettize(tensor->view, spec, options));
    });
  }
}

// A model this library wrote from one it accepted must read back: a refusal here is a writer bug.
OnnxModel reread_own_output(const std::string& written) {
  try {
    return OnnxModel::from_bytes(std::as_bytes(std::span<const char>(written)), "rewritten.onnx");
  } catch (const Error& error) {
    std::fprintf(stderr, "the reader refuses the writer's output: %s\n", error.what());
    std::abort();
  }
}

void run(const uint8_t* data, std::size_t size) {
  OnnxModel model = OnnxModel::from_bytes(as_bytes(data, size), "fuzz.onnx");
  read_everything(model);
  palettize_small_tensors(model);
  OnnxModel reread = reread_own_output(model.serialize());
  read_everything(reread);
  refuse_with_error_only([&] {
    reread.decompress();
    PALETTIZE_FUZZ_ASSERT(reread.palettized_keys().empty());
    read_everything(reread);
  });
}

}  // namespace
}  // namespace palettize::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  palettize::fuzz::refuse_with_error_only([&] { palettize::fuzz::run(data, size); });
  return 0;
}
