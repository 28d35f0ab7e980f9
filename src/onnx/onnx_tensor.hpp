// private: include only from src/ and tests/
#pragma once
// TensorProto <-> palettize dtypes and bytes.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "onnx/onnx_proto.hpp"
#include "palettize/tensor.hpp"

namespace palettize::onnx_io {

// TensorProto.DataType values, including those newer than Debian's onnx 1.12 proto (data_type is an int32
// field, so any value round-trips).
enum OnnxType : int32_t {
  kFloat = 1, kUint8 = 2, kInt8 = 3, kUint16 = 4, kInt16 = 5, kInt32 = 6, kInt64 = 7, kString = 8,
  kBool = 9, kFloat16 = 10, kDouble = 11, kUint32 = 12, kUint64 = 13, kBfloat16 = 16,
  kFloat8E4M3FN = 17, kFloat8E5M2 = 19,
};

// The palettize dtype of an ONNX data type; nullopt for types palettize has no name for (strings, complex,
// 4-bit, ...).
std::optional<DType> dtype_from_onnx(int32_t data_type);
int32_t onnx_type_of(DType dtype);
std::string onnx_type_name(int32_t data_type);  // "FLOAT16", "type 21" for unknown values

// The dense data of a float tensor. `bytes` points into the TensorProto's raw_data, or into `owned` when
// the data sat in typed fields (float_data, int32_data) and had to be converted.
struct TensorData {
  DType dtype = DType::F32;
  Shape shape;
  std::span<const std::byte> bytes;
  std::vector<std::byte> owned;
};

// True for FLOAT, FLOAT16 and BFLOAT16 tensors.
bool is_float_tensor(const onnx::TensorProto& tensor);
// Reads a float tensor; Error naming `label` for external data, segments, negative dims, or data whose
// length does not match the shape. The returned bytes may point into `tensor` (keep it alive, unmodified).
TensorData read_float_tensor(const onnx::TensorProto& tensor, std::string_view label);

// A tensor with raw_data holding `bytes`.
onnx::TensorProto make_tensor(const std::string& name, int32_t data_type, std::span<const int64_t> dims,
                              std::span<const std::byte> bytes);
onnx::TensorProto make_int64_tensor(const std::string& name, std::span<const int64_t> dims,
                                    std::span<const int64_t> values);
onnx::TensorProto make_int32_tensor(const std::string& name, std::span<const int64_t> dims,
                                    std::span<const int32_t> values);
onnx::TensorProto make_float_tensor(const std::string& name, std::span<const int64_t> dims,
                                    std::span<const float> values);

}  // namespace palettize::onnx_io
