// Fuzz target: model config text, read both as YAML and as JSON. An accepted config survives a round trip
// through model_config_to_json unchanged, and resolving tensors against it only ever throws Error.
#include <array>
#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "palettize/model_config.hpp"
#include "palettize/tensor.hpp"

namespace palettize::fuzz {
namespace {

struct SampleTensor {
  std::string name;
  DType dtype;
  Shape shape;
};

// Names as checkpoints hold them, including one a hostile checkpoint could hold.
const std::array<SampleTensor, 6>& sample_tensors() {
  static const std::array<SampleTensor, 6> samples{{
      {"model.layers.0." + std::string(50'000, 'x'), DType::F32, {64, 64}},
      {"model.layers.0.self_attn.q_proj.weight", DType::F32, {64, 64}},
      {"conv1.weight", DType::F16, {32, 3, 3, 3}},
      {"lm_head.weight", DType::BF16, {1024, 16}},
      {"bias", DType::F32, {4096}},
      {"", DType::I64, {2, 2}},
  }};
  return samples;
}

void exercise(const ModelConfig& config) {
  const nlohmann::json printed = model_config_to_json(config);
  const ModelConfig reread = model_config_from_json(printed, "round trip");
  PALETTIZE_FUZZ_ASSERT(model_config_to_json(reread) == printed);
  for (const SampleTensor& tensor : sample_tensors()) {
    const SpecDecision decision = resolve_tensor_spec(config, tensor.name, tensor.dtype, tensor.shape);
    const SpecDecision again = resolve_tensor_spec(reread, tensor.name, tensor.dtype, tensor.shape);
    PALETTIZE_FUZZ_ASSERT(decision.spec == again.spec && decision.eligible == again.eligible);
    if (decision.spec) decision.spec->validate();  // specs in a config were validated when read
  }
}

}  // namespace
}  // namespace palettize::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace palettize;
  const std::string_view text = fuzz::as_text(data, size);
  fuzz::refuse_with_error_only([&] { fuzz::exercise(model_config_from_yaml(text, "fuzz.yaml")); });
  fuzz::refuse_with_error_only([&] { fuzz::exercise(model_config_from_json_text(text, "fuzz.json")); });
  return 0;
}
