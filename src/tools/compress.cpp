// compress: the options' config, and the streaming run over a checkpoint (plan from the headers, declare
// every output, then one tensor at a time). ONNX models are in compress_onnx.cpp.
#include "palettize/error.hpp"
#include "palettize/spec_json.hpp"
#include "palettize/tools.hpp"
#include "tools/compress_onnx.hpp"
#include "tools/compress_steps.hpp"
#include "tools/output_plan.hpp"
#include "tools/tool_support.hpp"

namespace palettize::tools {
namespace {

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
  for (std::filesystem::path& file : option_input_files(options)) files.push_back(std::move(file));
  return files;
}

TensorResult palettize_one(const TensorPlan& plan, const TensorView& weight,
                           const std::optional<Sensitivities>& sensitivities, const PalettizeOptions& engine_options,
                           CheckpointWriter& writer) {
  TensorResult result;
  const MeasuredPalettization measured = palettize_planned(plan, weight, sensitivities, engine_options);
  write_palettized(writer, *plan.entry, measured.palettized);
  for (const TensorDecl& part : container_parts(*plan.entry)) result.stored_bytes += part.byte_size();
  result.metrics = measured.error;
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
  const std::optional<Recipe> recipe = apply_target_bits(options, result, callbacks);
  const Checkpoint input(options.input);
  check_output_path(input, options.output, protected_inputs(input, options));
  result.plans = plan_checkpoint(input, result.config, options.strict);
  report_misfits(result, callbacks);

  std::optional<Sensitivities> sensitivities;
  open_sensitivities(options, result.plans, sensitivities);
  std::vector<ShardPlan> shards = compress_shard_plans(input, options.output, result.plans);
  if (recipe) {
    for (ShardPlan& shard : shards) shard.metadata[std::string(kRecipeMetadataKey)] = recipe->json.dump();
  }
  result.output_files = output_files(options.output, shards);
  CheckpointWriter writer(options.output, shards, options.force, output_index_metadata(input));

  const PalettizeOptions engine_options = engine_options_of(options);
  ProgressReporter progress(callbacks, result.plans.size(), planned_bytes(result.plans));
  for (const TensorPlan& plan : result.plans) {
    const auto tensor_started = Clock::now();
    progress.start(plan.name);
    const TensorView weight = input.view(plan.name);
    TensorResult tensor;
    if (plan.entry) {
      tensor = palettize_one(plan, weight, sensitivities, engine_options, writer);
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
