#pragma once
// private: include only from src/ and tests/
// Mixed precision over model files (issue 8): the candidates of every tensor the config would palettize,
// read from a safetensors checkpoint or an ONNX model, and the recipe that meets a bits budget. Shared by
// `palettize plan` and compress with a target_bits.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "palettize/mixed_precision.hpp"
#include "palettize/model_config.hpp"
#include "palettize/tools.hpp"

namespace palettize::tools {

struct MixedOptions {
  std::string candidates = "2,3,4,6,8";                // --candidates
  std::optional<std::filesystem::path> importance;     // --importance
  bool measure = false;                                // --measure: engine SSE instead of the DP prediction
  bool strict = false;
  bool quiet = false;                                  // CLI only: no progress bar
  int threads = 0;
};

// Every planned tensor's candidates (tensors in model order) and what the plan leaves alone.
struct ModelCandidates {
  std::vector<TensorCandidates> tensors;
  std::vector<std::string> other_tensors;  // names of the model's tensors outside the plan
  std::vector<std::string> warnings;       // tensors skipped because their spec cannot apply
  int64_t min_elements = kDefaultMinElements;
  std::optional<ImportanceTable> importance;  // the --importance file, as applied
};

// Candidates of the tensors `config` palettizes in `model` (.safetensors, a sharded *.index.json, or .onnx),
// with the importance file applied. A tensor whose spec cannot apply is skipped with a warning (an Error
// with `strict`). Error when no tensor is left to plan.
// Progress goes to `callbacks`; the warnings are returned, not sent.
ModelCandidates model_candidates(const std::filesystem::path& model, const ModelConfig& config,
                                 const MixedOptions& options, const Callbacks& callbacks = {});

// The config and the metadata record ("palettize.recipe") of the optimal plan for `target_bits`.
struct Recipe {
  MixedPlan plan;
  ModelConfig config;
  nlohmann::json json;
};
Recipe make_recipe(const ModelCandidates& candidates, double target_bits);
// model_candidates + make_recipe (what compress --target-bits runs); warnings go to `callbacks`.
Recipe plan_recipe(const std::filesystem::path& model, const ModelConfig& config, double target_bits,
                   const MixedOptions& options, const Callbacks& callbacks = {});

inline constexpr std::string_view kRecipeMetadataKey = "palettize.recipe";

}  // namespace palettize::tools
