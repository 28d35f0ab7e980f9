#pragma once
// private: include only from src/ and tests/
// An ONNX model seen as the float tensors it represents, for inspect and eval: each palettized tensor
// (decode subgraph) and each dense float tensor, under its key (palettize/onnx_model.hpp).
#include <optional>
#include <string>
#include <vector>

#include "palettize/onnx_model.hpp"
#include "palettize/spec.hpp"

namespace palettize::tools {

struct OnnxLogicalTensor {
  std::string name;  // the tensor's key
  DType dtype = DType::F32;
  Shape shape;
  std::optional<PalettizationSpec> spec;  // set for palettized tensors
  uint64_t stored_bytes = 0;              // dense bytes, or the palettized payload (indices, LUT, scales)

  int64_t numel() const { return shape_numel(shape); }
  double bits_per_weight() const;
};

// Dense float tensors in graph order, then the palettized ones in the order they were palettized.
std::vector<OnnxLogicalTensor> onnx_logical_tensors(const OnnxModel& model);

// The dense tensor: decoded (palettized) or a copy of the stored data. Error for an unknown key.
Tensor onnx_dense_tensor(const OnnxModel& model, const OnnxLogicalTensor& tensor);

// decompress of an ONNX model: every decode subgraph back to its dense tensor.
void decompress_onnx(const std::filesystem::path& input, const std::filesystem::path& output, bool force);

}  // namespace palettize::tools
