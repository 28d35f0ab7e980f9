#pragma once
// private: include only from src/ and tests/
// What compress will do with each tensor, decided from names, dtypes and shapes alone (before any data is
// read), so every output tensor can be declared up front. Format-neutral: any reader that lists
// (name, dtype, shape) can use plan_tensor.
#include <optional>
#include <string>
#include <vector>

#include "palettize/container.hpp"
#include "palettize/model_config.hpp"

namespace palettize::cli {

struct TensorPlan {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  std::size_t shard = 0;   // input shard holding the tensor
  uint64_t byte_size = 0;  // input bytes
  std::optional<ContainerEntry> entry;  // set: palettize as described
  std::string origin;                   // the config entry that chose the spec
  std::string skip_reason;              // why the tensor stays dense (empty when palettized)
  bool misfit = false;                  // the chosen spec cannot apply to the shape (warned about)
};

// Decides one tensor. A spec that cannot apply to the shape (IncompatibleSpecError) leaves the tensor dense
// with misfit = true, or throws Error naming the tensor when `strict`.
TensorPlan plan_tensor(const ModelConfig& config, const std::string& name, DType dtype, const Shape& shape,
                       bool strict);

// Every tensor of the checkpoint in stream order (shard by shard, data order), plus the container-level
// checks: the input is not already a container, and no part name clashes with an existing tensor.
std::vector<TensorPlan> plan_checkpoint(const Checkpoint& checkpoint, const ModelConfig& config, bool strict);

// "skipping 'NAME' (spec from global): <why>"
std::string misfit_warning(const TensorPlan& plan);

}  // namespace palettize::cli
