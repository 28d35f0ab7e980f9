#include "onnx/onnx_tensor.hpp"

#include <cstring>

#include "palettize/error.hpp"

namespace palettize::onnx_io {
namespace {

struct TypePair {
  int32_t onnx;
  DType dtype;
  const char* onnx_name;
};

constexpr TypePair kTypes[] = {
    {kFloat, DType::F32, "FLOAT"},        {kUint8, DType::U8, "UINT8"},     {kInt8, DType::I8, "INT8"},
    {kUint16, DType::U16, "UINT16"},      {kInt16, DType::I16, "INT16"},    {kInt32, DType::I32, "INT32"},
    {kInt64, DType::I64, "INT64"},        {kBool, DType::BOOL, "BOOL"},     {kFloat16, DType::F16, "FLOAT16"},
    {kDouble, DType::F64, "DOUBLE"},      {kUint32, DType::U32, "UINT32"},  {kUint64, DType::U64, "UINT64"},
    {kBfloat16, DType::BF16, "BFLOAT16"}, {kFloat8E4M3FN, DType::F8_E4M3, "FLOAT8E4M3FN"},
    {kFloat8E5M2, DType::F8_E5M2, "FLOAT8E5M2"},
};

template <typename T>
std::span<const std::byte> as_bytes_of(std::span<const T> values) {
  return std::as_bytes(values);
}

Shape dims_of(const onnx::TensorProto& tensor, std::string_view label) {
  Shape shape(tensor.dims().begin(), tensor.dims().end());
  for (int64_t d : shape) check(d >= 0, "ONNX tensor ", label, " has a negative dimension in ", shape_to_string(shape));
  return shape;
}

// F16/BF16 typed data: one uint16 bit pattern per int32_data entry.
std::vector<std::byte> from_int32_data(const onnx::TensorProto& tensor, std::string_view label) {
  std::vector<std::byte> out(static_cast<std::size_t>(tensor.int32_data_size()) * 2);
  for (int i = 0; i < tensor.int32_data_size(); ++i) {
    const int32_t v = tensor.int32_data(i);
    check(v >= 0 && v <= 0xFFFF, "ONNX tensor ", label, ": int32_data entry ", i, " = ", v,
          " is not a 16-bit float bit pattern");
    const uint16_t bits = static_cast<uint16_t>(v);
    std::memcpy(out.data() + 2 * i, &bits, 2);
  }
  return out;
}

}  // namespace

std::optional<DType> dtype_from_onnx(int32_t data_type) {
  for (const TypePair& t : kTypes)
    if (t.onnx == data_type) return t.dtype;
  return std::nullopt;
}

int32_t onnx_type_of(DType dtype) {
  for (const TypePair& t : kTypes)
    if (t.dtype == dtype) return t.onnx;
  fail("dtype ", dtype_name(dtype), " has no ONNX type");
}

std::string onnx_type_name(int32_t data_type) {
  for (const TypePair& t : kTypes)
    if (t.onnx == data_type) return t.onnx_name;
  return "type " + std::to_string(data_type);
}

bool is_float_tensor(const onnx::TensorProto& tensor) {
  const auto dtype = dtype_from_onnx(tensor.data_type());
  return dtype && is_palettizable(*dtype);
}

TensorData read_float_tensor(const onnx::TensorProto& tensor, std::string_view label) {
  check(is_float_tensor(tensor), "ONNX tensor ", label, " is ", onnx_type_name(tensor.data_type()),
        ", not a float tensor");
  check(tensor.data_location() != onnx::TensorProto::EXTERNAL, "ONNX tensor ", label,
        " keeps its data in an external file; palettize reads self-contained models only "
        "(re-save the model with the data inside, e.g. onnx.save(model, path, save_as_external_data=False))");
  check(!tensor.has_segment(), "ONNX tensor ", label, " is a segment of a larger tensor, which is not supported");

  TensorData out;
  out.dtype = *dtype_from_onnx(tensor.data_type());
  out.shape = dims_of(tensor, label);
  const uint64_t expected = static_cast<uint64_t>(shape_numel(out.shape)) * dtype_size(out.dtype);
  if (tensor.has_raw_data()) {
    check(tensor.raw_data().size() == expected, "ONNX tensor ", label, " ", shape_to_string(out.shape), " ",
          dtype_name(out.dtype), " needs ", expected, " bytes of raw_data but has ", tensor.raw_data().size());
    out.bytes = std::as_bytes(std::span<const char>(tensor.raw_data().data(), tensor.raw_data().size()));
    return out;
  }
  if (out.dtype == DType::F32) {
    const std::span<const float> values(tensor.float_data().data(), static_cast<std::size_t>(tensor.float_data_size()));
    out.owned.assign(as_bytes_of(values).begin(), as_bytes_of(values).end());
  } else {
    out.owned = from_int32_data(tensor, label);
  }
  check(out.owned.size() == expected, "ONNX tensor ", label, " ", shape_to_string(out.shape), " ",
        dtype_name(out.dtype), " needs ", expected / dtype_size(out.dtype), " values but holds ",
        out.owned.size() / dtype_size(out.dtype));
  out.bytes = out.owned;
  return out;
}

onnx::TensorProto make_tensor(const std::string& name, int32_t data_type, std::span<const int64_t> dims,
                              std::span<const std::byte> bytes) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(data_type);
  for (int64_t d : dims) t.add_dims(d);
  t.set_raw_data(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return t;
}

onnx::TensorProto make_int64_tensor(const std::string& name, std::span<const int64_t> dims,
                                    std::span<const int64_t> values) {
  return make_tensor(name, kInt64, dims, std::as_bytes(values));
}

onnx::TensorProto make_int32_tensor(const std::string& name, std::span<const int64_t> dims,
                                    std::span<const int32_t> values) {
  return make_tensor(name, kInt32, dims, std::as_bytes(values));
}

onnx::TensorProto make_float_tensor(const std::string& name, std::span<const int64_t> dims,
                                    std::span<const float> values) {
  return make_tensor(name, kFloat, dims, std::as_bytes(values));
}

}  // namespace palettize::onnx_io
