#include "tools/sensitivities.hpp"

#include <cstring>

#include "palettize/error.hpp"

namespace palettize::tools {

Sensitivities::Sensitivities(const std::filesystem::path& path) : checkpoint_(path) {}

void Sensitivities::check_covers(std::span<const TensorPlan> plans) const {
  for (const TensorPlan& plan : plans) {
    if (plan.entry) check_covers(plan.name, plan.shape);
  }
}

void Sensitivities::check_covers(const std::string& name, const Shape& shape) const {
  const std::string file = checkpoint_.path().string();
  check(checkpoint_.contains(name), file, ": no sensitivity tensor '", name,
        "' (every palettized tensor needs one, with the weight's name and shape)");
  const CheckpointEntry& entry = checkpoint_.entry(name);
  check(entry.shape == shape, file, ": sensitivity tensor '", name, "' has shape ", shape_to_string(entry.shape),
        " but the weight has shape ", shape_to_string(shape));
  check(is_palettizable(entry.dtype) || entry.dtype == DType::F64, file, ": sensitivity tensor '", name,
        "' has dtype ", dtype_name(entry.dtype), "; expected a floating dtype (F64, F32, F16, BF16)");
}

std::vector<float> Sensitivities::load(const std::string& name) const {
  const TensorView view = checkpoint_.view(name);
  if (view.dtype != DType::F64) return to_f32(view);
  std::vector<float> values(static_cast<std::size_t>(view.numel()));
  for (std::size_t i = 0; i < values.size(); ++i) {
    double value;
    std::memcpy(&value, view.data.data() + i * sizeof(double), sizeof(double));
    values[i] = static_cast<float>(value);
  }
  return values;
}

}  // namespace palettize::tools
