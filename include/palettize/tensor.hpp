#pragma once
// Dense tensors: a dtype, a row-major shape and raw little-endian bytes.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "palettize/dtype.hpp"

namespace palettize {

using Shape = std::vector<int64_t>;

// Product of the dimensions; throws Error on a negative dimension or on 64-bit overflow.
int64_t shape_numel(std::span<const int64_t> shape);
std::string shape_to_string(std::span<const int64_t> shape);  // "[4, 8, 3, 3]"

// A non-owning view of a dense tensor.
struct TensorView {
  DType dtype = DType::F32;
  Shape shape;
  std::span<const std::byte> data;

  int64_t numel() const { return shape_numel(shape); }
  // Throws Error when the byte length does not match shape x dtype size.
  void check_size() const;
};

// An owning dense tensor.
struct Tensor {
  DType dtype = DType::F32;
  Shape shape;
  std::vector<std::byte> data;

  TensorView view() const { return TensorView{dtype, shape, std::span<const std::byte>(data)}; }
  int64_t numel() const { return shape_numel(shape); }
};

// Builds a tensor of `dtype` (F32/F16/BF16) from float32 values, rounding each to the dtype.
Tensor make_tensor(DType dtype, Shape shape, std::span<const float> values);
// Reads every element of a palettizable tensor as float32.
std::vector<float> to_f32(const TensorView& view);

}  // namespace palettize
