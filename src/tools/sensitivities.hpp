#pragma once
// private: include only from src/ and tests/
// Per-element importances for weighted clustering (--sensitivities FILE.safetensors): a checkpoint whose
// tensors have the names and shapes of the weights they weight, in any floating dtype.
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "tools/plan.hpp"
#include "palettize/safetensors.hpp"

namespace palettize::tools {

class Sensitivities {
 public:
  explicit Sensitivities(const std::filesystem::path& path);

  // Checks, before anything is written, that every palettized tensor has a sensitivity tensor of the same
  // shape and a floating dtype. Error naming the file, the tensor and both shapes otherwise.
  void check_covers(std::span<const TensorPlan> plans) const;
  void check_covers(const std::string& name, const Shape& shape) const;  // the same for one weight
  // The importances of `name` as float32, row-major like the weight.
  std::vector<float> load(const std::string& name) const;
  void release(const std::string& name) const { checkpoint_.release(name); }

 private:
  Checkpoint checkpoint_;
};

}  // namespace palettize::tools
