#include "palettize/tensor.hpp"

#include <cstring>
#include <utility>

#include "palettize/error.hpp"

namespace palettize {

int64_t shape_numel(std::span<const int64_t> shape) {
  int64_t numel = 1;
  for (std::size_t axis = 0; axis < shape.size(); ++axis) {
    check(shape[axis] >= 0, "shape ", shape_to_string(shape), " has a negative dimension ", shape[axis],
          " at axis ", axis);
  }
  // A zero dimension empties the tensor however large the others are.
  for (const int64_t dimension : shape) {
    if (dimension == 0) return 0;
  }
  for (const int64_t dimension : shape) {
    check(!__builtin_mul_overflow(numel, dimension, &numel), "shape ", shape_to_string(shape),
          " has more elements than a 64-bit count can hold");
  }
  return numel;
}

std::string shape_to_string(std::span<const int64_t> shape) {
  std::string text = "[";
  for (std::size_t axis = 0; axis < shape.size(); ++axis) {
    if (axis > 0) text += ", ";
    text += std::to_string(shape[axis]);
  }
  return text + "]";
}

void TensorView::check_size() const {
  const int64_t count = numel();
  const auto element_size = static_cast<int64_t>(dtype_size(dtype));
  int64_t expected_bytes = 0;
  check(!__builtin_mul_overflow(count, element_size, &expected_bytes), "tensor of shape ",
        shape_to_string(shape), " and dtype ", dtype_name(dtype),
        " has more bytes than a 64-bit count can hold");
  check(static_cast<uint64_t>(expected_bytes) == data.size(), "tensor of shape ", shape_to_string(shape),
        " and dtype ", dtype_name(dtype), " needs ", expected_bytes, " bytes but has ", data.size());
}

Tensor make_tensor(DType dtype, Shape shape, std::span<const float> values) {
  check(is_palettizable(dtype), "make_tensor: dtype ", dtype_name(dtype),
        " is not supported (expected F32, F16 or BF16)");
  const int64_t count = shape_numel(shape);
  check(static_cast<uint64_t>(count) == values.size(), "make_tensor: shape ", shape_to_string(shape),
        " holds ", count, " elements but ", values.size(), " values were given");
  Tensor tensor{dtype, std::move(shape), std::vector<std::byte>(values.size() * dtype_size(dtype))};
  for (std::size_t i = 0; i < values.size(); ++i) store_from_f32(dtype, tensor.data.data(), i, values[i]);
  return tensor;
}

std::vector<float> to_f32(const TensorView& view) {
  check(is_palettizable(view.dtype), "to_f32: tensor of shape ", shape_to_string(view.shape), " has dtype ",
        dtype_name(view.dtype), ", which is not supported (expected F32, F16 or BF16)");
  view.check_size();
  std::vector<float> values(static_cast<std::size_t>(view.numel()));
  if (view.dtype == DType::F32) {
    if (!values.empty()) std::memcpy(values.data(), view.data.data(), view.data.size());
    return values;
  }
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = load_as_f32(view.dtype, view.data.data(), i);
  return values;
}

}  // namespace palettize
