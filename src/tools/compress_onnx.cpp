// `palettize compress IN.onnx OUT.onnx`: the compress run over an ONNX model. Each float tensor the config
// palettizes is replaced in memory by its decode subgraph (palettize/onnx_model.hpp); the model is written
// once at the end, to a temporary file renamed into place, so a failure leaves no output.
#include "onnx/onnx_proto.hpp"
#include "palettize/error.hpp"
#include "palettize/onnx_model.hpp"
#include "palettize/output_file.hpp"
#include "tools/compress_onnx.hpp"
#include "tools/compress_steps.hpp"
#include "tools/tool_support.hpp"

namespace palettize::tools {
namespace {

void check_onnx_output(const CompressOptions& options) {
  std::vector<std::filesystem::path> inputs = option_input_files(options);
  inputs.push_back(options.input);
  for (const auto& input : inputs) {
    check(!same_file(options.output, input), "output ", options.output.string(), " would overwrite the input ",
          input.string(), "; choose another output path");
  }
}

// Plans every float tensor of the model. Rules match the tensor's name in the graph; the plan (and so the
// report and --sensitivities) uses its key, which differs from the name only when sibling subgraphs reuse it.
std::vector<TensorPlan> plan_onnx(const OnnxModel& model, const ModelConfig& config, bool strict) {
  std::vector<TensorPlan> plans;
  for (const OnnxTensor& tensor : model.palettizable_tensors()) {
    TensorPlan plan = plan_tensor(config, tensor.name, tensor.view.dtype, tensor.view.shape, strict);
    plan.name = tensor.key;
    plan.byte_size = tensor.view.data.size();
    plans.push_back(std::move(plan));
  }
  return plans;
}

uint64_t payload_bytes(const ContainerEntry& entry) {
  uint64_t bytes = 0;
  for (const TensorDecl& part : container_parts(entry)) bytes += part.byte_size();
  return bytes;
}

TensorResult palettize_onnx_tensor(OnnxModel& model, const TensorPlan& plan,
                                   const std::optional<Sensitivities>& sensitivities,
                                   const PalettizeOptions& engine_options) {
  const OnnxTensor* tensor = model.find(plan.name);
  check(tensor != nullptr, "internal: ONNX tensor ", plan.name, " vanished while compressing");
  const MeasuredPalettization measured = palettize_planned(plan, tensor->view, sensitivities, engine_options);
  TensorResult result;
  result.metrics = measured.error;
  result.stored_bytes = payload_bytes(*plan.entry);
  model.replace_with_palettized(plan.name, measured.palettized);
  if (sensitivities) sensitivities->release(plan.name);
  return result;
}

// The model with the mixed-precision recipe in its metadata_props, as the safetensors output keeps it in
// __metadata__. OnnxModel owns the palettize.* keys it writes, so the record is added to the serialized model.
std::string serialize_with_recipe(const OnnxModel& model, const std::string& recipe) {
  onnx::ModelProto proto;
  check(proto.ParseFromString(model.serialize()), "internal: cannot reparse the palettized ONNX model");
  onnx::StringStringEntryProto* entry = proto.add_metadata_props();
  entry->set_key(std::string(kRecipeMetadataKey));
  entry->set_value(recipe);
  std::string bytes;
  check(proto.SerializeToString(&bytes), "internal: cannot serialize the palettized ONNX model");
  return bytes;
}

}  // namespace

CompressResult run_compress_onnx(const CompressOptions& options, const Callbacks& callbacks) {
  const auto started = Clock::now();
  CompressResult result;
  result.config = config_from_options(options);
  OnnxModel model = OnnxModel::load(options.input);
  check(model.palettized_keys().empty(), options.input.string(),
        ": already a palettized ONNX model; decompress it first");
  check_onnx_output(options);
  // Opened now so an existing output (without --force) or a missing directory fails before any work.
  OutputFile output(options.output, options.force);
  const std::optional<Recipe> recipe = apply_target_bits(options, result, callbacks);
  result.plans = plan_onnx(model, result.config, options.strict);
  report_misfits(result, callbacks);
  std::optional<Sensitivities> sensitivities;
  open_sensitivities(options, result.plans, sensitivities);

  const PalettizeOptions engine_options = engine_options_of(options);
  ProgressReporter progress(callbacks, result.plans.size(), planned_bytes(result.plans));
  for (const TensorPlan& plan : result.plans) {
    const auto tensor_started = Clock::now();
    progress.start(plan.name);
    TensorResult tensor;
    if (plan.entry) {
      tensor = palettize_onnx_tensor(model, plan, sensitivities, engine_options);
    } else {
      tensor.stored_bytes = plan.byte_size;
    }
    tensor.seconds = seconds_since(tensor_started);
    result.tensors.push_back(tensor);
    progress.finish_one(plan.byte_size);
  }
  output.write(std::string_view(recipe ? serialize_with_recipe(model, recipe->json.dump()) : model.serialize()));
  output.commit();
  result.output_files = {options.output};
  result.input_file_bytes = std::filesystem::file_size(options.input);
  result.output_file_bytes = std::filesystem::file_size(options.output);
  result.seconds = seconds_since(started);
  return result;
}

}  // namespace palettize::tools
