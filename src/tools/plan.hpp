#pragma once
// private: include only from src/ and tests/
// What compress will do with each tensor (tools.hpp TensorPlan), decided from names, dtypes and shapes
// alone (before any data is read), so every output tensor can be declared up front. Format-neutral: any
// reader that lists (name, dtype, shape) can use plan_tensor.
#include <string>
#include <vector>

#include "palettize/safetensors.hpp"
#include "palettize/tools.hpp"

namespace palettize::tools {

// Decides one tensor. A spec that cannot apply to the shape (IncompatibleSpecError) leaves the tensor dense
// with misfit = true, or throws Error naming the tensor when `strict`.
TensorPlan plan_tensor(const ModelConfig& config, const std::string& name, DType dtype, const Shape& shape,
                       bool strict);

// Every tensor of the checkpoint in stream order (shard by shard, data order), plus the container-level
// checks: the input is not already a container, and no part name clashes with an existing tensor.
std::vector<TensorPlan> plan_checkpoint(const Checkpoint& checkpoint, const ModelConfig& config, bool strict);

// "skipping 'NAME' (spec from global): <why>"
std::string misfit_warning(const TensorPlan& plan);

}  // namespace palettize::tools
