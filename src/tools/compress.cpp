// compress: the options' config, and the streaming run over a checkpoint (plan from the headers, declare
// every output, then one tensor at a time). ONNX models are in compress_onnx.cpp.
#include <chrono>

#include "palettize/error.hpp"
#include "palettize/spec_json.hpp"
#include "palettize/tools.hpp"
#include "tools/compress_onnx.hpp"
#include "tools/mixed_plan.hpp"
#include "tools/output_plan.hpp"
#include "tools/plan.hpp"
#include "tools/sensitivities.hpp"
#include "tools/tool_support.hpp"

namespace palettize::tools {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Output shards mirror the input shards; each palettized tensor's parts take its place.
std::vector<ShardPlan> compress_shard_plans(const Checkpoint& input, const std::filesystem::path& output,
                                            const std::vector<TensorPlan>& plans) {
  std::vector<ShardPlan> shards = output_shard_skeleton(input, output);
  std::vector<std::vector<ContainerEntry>> entries(shards.size());
  for (const TensorPlan& plan : plans) {
    ShardPlan& shard = shards.at(plan.shard);
    if (plan.entry) {
      for (TensorDecl& part : container_parts(*plan.entry)) shard.tensors.push_back(std::move(part));
      entries[plan.shard].push_back(*plan.entry);
    } else {
      shard.tensors.push_back(TensorDecl{plan.name, plan.dtype, plan.shape});
    }
  }
  for (std::size_t i = 0; i < shards.size(); ++i) {
    shards[i].metadata = container_metadata(input.shard(i).metadata(), entries[i]);
  }
  return shards;
}

std::vector<std::filesystem::path> protected_inputs(const Checkpoint& input, const CompressOptions& options) {
  std::vector<std::filesystem::path> files = checkpoint_files(input);
  if (options.sensitivities) files.push_back(*options.sensitivities);
  if (options.config_file) files.push_back(*options.config_file);
  if (options.importance) files.push_back(*options.importance);
  return files;
}

TensorResult palettize_one(const TensorPlan& plan, const TensorView& weight, const Sensitivities* sensitivities,
                           const PalettizeOptions& engine_options, CheckpointWriter& writer) {
  TensorResult result;
  std::vector<float> importances;
  if (sensitivities) importances = sensitivities->load(plan.name);
  PalettizedTensor palettized;
  try {
    palettized = palettize(weight, plan.entry->spec, engine_options, importances);
  } catch (const Error& error) {
    fail("tensor '", plan.name, "' ", shape_to_string(plan.shape), ": ", error.what());
  }
  for (const NamedTensor& part : encode_palettized(*plan.entry, palettized)) {
    writer.write_tensor(part.name, part.tensor.data);
    result.stored_bytes += part.tensor.data.size();
  }
  result.metrics = compare(weight, decode(palettized).view());
  if (sensitivities) sensitivities->release(plan.name);
  return result;
}

}  // namespace

ModelConfig config_from_options(const CompressOptions& options) {
  check(options.config_file.has_value() + options.preset.has_value() + options.spec_json.has_value() <= 1,
        "a config file, a preset and a spec exclude each other; give at most one");
  if (options.config_file) return load_model_config(*options.config_file);
  if (options.preset) return model_config_for_global(preset_spec(*options.preset), "--preset " + *options.preset);
  if (options.spec_json) {
    try {
      return model_config_for_global(parse_spec_json(*options.spec_json), "--spec");
    } catch (const Error& error) {
      fail("--spec: ", error.what());
    }
  }
  return ModelConfig{};
}

CompressResult run_compress(const CompressOptions& options, const Callbacks& callbacks) {
  check(!options.target_bits || !options.sensitivities,
        "a bits target (mixed precision) and sensitivities exclude each other");
  if (is_onnx_pair(options.input, options.output)) return run_compress_onnx(options, callbacks);
  const auto started = Clock::now();
  CompressResult result;
  result.config = config_from_options(options);
  std::optional<Recipe> recipe;
  if (options.target_bits) {
    recipe = plan_recipe(options.input, result.config, *options.target_bits,
                         MixedOptions{options.candidates, options.importance, false, options.strict, options.quiet,
                                      options.threads},
                         callbacks);
    result.config = recipe->config;
  }
  const Checkpoint input(options.input);
  check_output_path(input, options.output, protected_inputs(input, options));
  result.plans = plan_checkpoint(input, result.config, options.strict);
  for (const TensorPlan& plan : result.plans) {
    if (plan.misfit) result.warnings.push_back(misfit_warning(plan));
  }
  for (const std::string& warning : result.warnings) warn(callbacks, warning);

  std::optional<Sensitivities> sensitivities;
  if (options.sensitivities) {
    sensitivities.emplace(*options.sensitivities);
    sensitivities->check_covers(result.plans);
  }
  std::vector<ShardPlan> shards = compress_shard_plans(input, options.output, result.plans);
  if (recipe) {
    for (ShardPlan& shard : shards) shard.metadata[std::string(kRecipeMetadataKey)] = recipe->json.dump();
  }
  result.output_files = output_files(options.output, shards);
  CheckpointWriter writer(options.output, shards, options.force, output_index_metadata(input));

  PalettizeOptions engine_options;
  engine_options.seed = options.seed;
  engine_options.threads = options.threads;
  uint64_t total_bytes = 0;
  for (const TensorPlan& plan : result.plans) total_bytes += plan.byte_size;
  ProgressReporter progress(callbacks, result.plans.size(), total_bytes);
  for (const TensorPlan& plan : result.plans) {
    const auto tensor_started = Clock::now();
    progress.start(plan.name);
    const TensorView weight = input.view(plan.name);
    TensorResult tensor;
    if (plan.entry) {
      tensor = palettize_one(plan, weight, sensitivities ? &*sensitivities : nullptr, engine_options, writer);
    } else {
      writer.write_tensor(plan.name, weight.data);
      tensor.stored_bytes = plan.byte_size;
    }
    input.release(plan.name);
    tensor.seconds = seconds_since(tensor_started);
    result.tensors.push_back(tensor);
    progress.finish_one(plan.byte_size);
  }
  writer.commit();
  result.input_file_bytes = total_file_size(checkpoint_files(input));
  result.output_file_bytes = total_file_size(result.output_files);
  result.seconds = seconds_since(started);
  return result;
}

}  // namespace palettize::tools
