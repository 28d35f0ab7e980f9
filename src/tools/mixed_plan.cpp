#include "tools/mixed_plan.hpp"

#include <functional>
#include <set>

#include "tools/plan.hpp"
#include "tools/tool_support.hpp"
#include "palettize/container.hpp"
#include "palettize/error.hpp"
#include "palettize/onnx_model.hpp"

namespace palettize::tools {
namespace {

// A tensor of the model being planned, whatever its file format.
struct ModelTensor {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t byte_size;
};

using ViewOf = std::function<TensorView(const std::string& name)>;

ModelCandidates collect(const std::vector<ModelTensor>& tensors, const ViewOf& view_of, const ModelConfig& config,
                        const MixedOptions& options, const Callbacks& callbacks) {
  CandidateOptions candidate_options;
  candidate_options.n_bits = parse_candidate_bits(options.candidates);
  candidate_options.measure = options.measure;
  candidate_options.threads = options.threads;
  ModelCandidates result;
  result.min_elements = config.min_elements;
  std::vector<const ModelTensor*> planned;
  uint64_t planned_bytes = 0;
  for (const ModelTensor& tensor : tensors) {
    const TensorPlan plan = plan_tensor(config, tensor.name, tensor.dtype, tensor.shape, options.strict);
    if (plan.misfit) result.warnings.push_back(misfit_warning(plan));
    if (!plan.entry) {
      result.other_tensors.push_back(tensor.name);
      continue;
    }
    planned.push_back(&tensor);
    planned_bytes += tensor.byte_size;
  }
  check(!planned.empty(), "no tensor to plan: the config (", config.source,
        ") palettizes none of the model's tensors");
  ProgressReporter progress(callbacks, planned.size(), planned_bytes);
  for (const ModelTensor* tensor : planned) {
    progress.start(tensor->name);
    const SpecDecision decision = resolve_tensor_spec(config, tensor->name, tensor->dtype, tensor->shape);
    result.tensors.push_back(tensor_candidates(tensor->name, view_of(tensor->name), *decision.spec,
                                               candidate_options));
    progress.finish_one(tensor->byte_size);
  }
  if (options.importance) {
    result.importance = load_importance(*options.importance);
    apply_importance(result.tensors, *result.importance, result.other_tensors);
  }
  return result;
}

ModelCandidates onnx_candidates(const std::filesystem::path& path, const ModelConfig& config,
                                const MixedOptions& options, const Callbacks& callbacks) {
  const OnnxModel model = OnnxModel::load(path);
  std::vector<ModelTensor> tensors;
  std::set<std::string> seen;
  for (const OnnxTensor& tensor : model.palettizable_tensors()) {
    check(seen.insert(tensor.name).second, path.string(), ": tensor name '", tensor.name,
          "' is used in several graphs; a mixed-precision recipe needs unique names");
    tensors.push_back({tensor.name, tensor.view.dtype, tensor.view.shape, tensor.view.data.size()});
  }
  auto view_of = [&](const std::string& name) {
    for (const OnnxTensor& tensor : model.palettizable_tensors()) {
      if (tensor.name == name) return tensor.view;
    }
    fail(path.string(), ": no tensor '", name, "'");
  };
  return collect(tensors, view_of, config, options, callbacks);
}

ModelCandidates checkpoint_candidates(const std::filesystem::path& path, const ModelConfig& config,
                                      const MixedOptions& options, const Callbacks& callbacks) {
  const Checkpoint checkpoint(path);
  for (std::size_t shard = 0; shard < checkpoint.shard_files().size(); ++shard) {
    check(!is_container(checkpoint.shard(shard).metadata()), checkpoint.shard(shard).path().string(),
          ": already a palettize container; decompress it first");
  }
  std::vector<ModelTensor> tensors;
  for (const CheckpointEntry& entry : checkpoint.tensors()) {
    tensors.push_back({entry.name, entry.dtype, entry.shape, entry.byte_size});
  }
  auto view_of = [&](const std::string& name) {
    const TensorView view = checkpoint.view(name);
    return view;
  };
  ModelCandidates result = collect(tensors, view_of, config, options, callbacks);
  return result;
}

}  // namespace

ModelCandidates model_candidates(const std::filesystem::path& model, const ModelConfig& config,
                                 const MixedOptions& options, const Callbacks& callbacks) {
  if (is_onnx_path(model)) return onnx_candidates(model, config, options, callbacks);
  return checkpoint_candidates(model, config, options, callbacks);
}

Recipe make_recipe(const ModelCandidates& candidates, double target_bits) {
  Recipe recipe;
  recipe.plan = plan_mixed_precision(candidates.tensors, target_bits);
  recipe.config = recipe_model_config(candidates.tensors, recipe.plan, candidates.min_elements);
  recipe.config.source = "recipe for " + std::to_string(target_bits) + " bits per weight";
  recipe.json = recipe_to_json(candidates.tensors, recipe.plan);
  return recipe;
}

Recipe plan_recipe(const std::filesystem::path& model, const ModelConfig& config, double target_bits,
                   const MixedOptions& options, const Callbacks& callbacks) {
  const ModelCandidates candidates = model_candidates(model, config, options, callbacks);
  for (const std::string& warning : candidates.warnings) warn(callbacks, warning);
  return make_recipe(candidates, target_bits);
}

}  // namespace palettize::tools
