#include "tools/plan.hpp"

#include "palettize/engine.hpp"
#include "palettize/error.hpp"

namespace palettize::tools {

TensorPlan plan_tensor(const ModelConfig& config, const std::string& name, DType dtype, const Shape& shape,
                       bool strict) {
  TensorPlan plan;
  plan.name = name;
  plan.dtype = dtype;
  plan.shape = shape;
  const SpecDecision decision = resolve_tensor_spec(config, name, dtype, shape);
  plan.origin = decision.origin;
  if (!decision.spec) {
    plan.skip_reason = decision.skip_reason;
    return plan;
  }
  try {
    palettized_layout(shape, *decision.spec);
  } catch (const IncompatibleSpecError& error) {
    check(!strict, "tensor '", name, "' ", shape_to_string(shape), ": the spec from ", decision.origin,
          " cannot apply: ", error.what(), " (--strict turns skipped tensors into errors)");
    plan.skip_reason = error.what();
    plan.misfit = true;
    return plan;
  }
  plan.entry = make_container_entry(name, dtype, shape, *decision.spec);
  return plan;
}

std::vector<TensorPlan> plan_checkpoint(const Checkpoint& checkpoint, const ModelConfig& config, bool strict) {
  for (std::size_t shard = 0; shard < checkpoint.shard_files().size(); ++shard) {
    check(!is_container(checkpoint.shard(shard).metadata()), checkpoint.shard(shard).path().string(),
          ": already a palettize container; decompress it first");
  }
  std::vector<TensorPlan> plans;
  std::vector<std::string> input_names;
  std::vector<ContainerEntry> entries;
  for (const CheckpointEntry& tensor : checkpoint.tensors()) {
    TensorPlan plan = plan_tensor(config, tensor.name, tensor.dtype, tensor.shape, strict);
    plan.shard = tensor.shard;
    plan.byte_size = tensor.byte_size;
    input_names.push_back(tensor.name);
    if (plan.entry) entries.push_back(*plan.entry);
    plans.push_back(std::move(plan));
  }
  check_container_names(input_names, entries);
  return plans;
}

std::string misfit_warning(const TensorPlan& plan) {
  return "skipping '" + plan.name + "' " + shape_to_string(plan.shape) + " (spec from " + plan.origin +
         "): " + plan.skip_reason;
}

}  // namespace palettize::tools
