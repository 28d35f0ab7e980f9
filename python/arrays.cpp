#include "arrays.hpp"

#include <memory>
#include <utility>
#include <vector>

#include "palettize/error.hpp"

namespace palettize::python {
namespace {

std::vector<py::ssize_t> to_dims(const Shape& shape) { return {shape.begin(), shape.end()}; }

// The dtype a user asked for: a name, or anything numpy.dtype() understands (np.float16, ...).
DType requested_dtype(py::handle dtype) {
  std::string name = py::isinstance<py::str>(dtype)
                         ? dtype.cast<std::string>()
                         : py::module_::import("numpy").attr("dtype")(dtype).attr("name").cast<std::string>();
  if (name == "float32" || name == "F32") return DType::F32;
  if (name == "float16" || name == "F16") return DType::F16;
  if (name == "bfloat16" || name == "BF16") return DType::BF16;
  fail("dtype must be 'float32', 'float16' or 'bfloat16', got '", name, "'");
}

// The dtype an array's own element type stands for; uint16 holds bfloat16 bits only when asked to.
DType array_dtype(const std::string& name, py::handle requested, const std::string& what) {
  if (requested.is_none()) {
    check(name != "uint16", "a uint16 ", what, " array is read as bfloat16 bit patterns only with dtype='bfloat16'");
    if (name == "float32") return DType::F32;
    if (name == "float16") return DType::F16;
    if (name == "bfloat16") return DType::BF16;
    fail("cannot palettize a ", what, " array of dtype ", name,
         ": use float32, float16, or bfloat16 bit patterns as uint16 with dtype='bfloat16' (no implicit casts)");
  }
  const DType dtype = requested_dtype(requested);
  if (dtype == DType::BF16) {
    check(name == "uint16" || name == "bfloat16", "dtype='bfloat16' takes the ", what,
          " as bfloat16 bit patterns in a uint16 array, got a ", name, " array");
    return dtype;
  }
  check(name == dtype_label(dtype), "dtype='", dtype_label(dtype), "' does not match the ", what, " array's dtype ",
        name, " (no implicit casts; convert the array first)");
  return dtype;
}

}  // namespace

Shape InputArray::shape() const { return Shape(array.shape(), array.shape() + array.ndim()); }

TensorView InputArray::view() const {
  const auto* bytes = static_cast<const std::byte*>(array.data());
  return TensorView{dtype, shape(), std::span<const std::byte>(bytes, static_cast<std::size_t>(array.nbytes()))};
}

InputArray input_array(py::handle value, py::handle dtype, const std::string& what) {
  py::module_ numpy = py::module_::import("numpy");
  py::object array = numpy.attr("asarray")(value);
  py::object array_type = array.attr("dtype");
  const DType resolved = array_dtype(array_type.attr("name").cast<std::string>(), dtype, what);
  if (!array_type.attr("isnative").cast<bool>()) {
    array = array.attr("astype")(array_type.attr("newbyteorder")("="));  // same values, native byte order
  }
  // Returns the very same array when it is already C-contiguous and aligned: zero copy.
  array = numpy.attr("require")(array, py::none(), py::make_tuple("C", "A"));
  return InputArray{array.cast<py::array>(), resolved};
}

py::dtype numpy_dtype(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return py::dtype("float32");
    case DType::F16:
      return py::dtype("float16");
    case DType::BF16:
      return py::dtype("uint16");
    default:
      fail("internal: dtype ", dtype_name(dtype), " has no numpy form here");
  }
}

std::string dtype_label(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return "float32";
    case DType::F16:
      return "float16";
    case DType::BF16:
      return "bfloat16";
    default:
      return std::string(dtype_name(dtype));
  }
}

py::array readonly_view(py::handle owner, const py::dtype& dtype, const Shape& shape, const void* data) {
  py::array view(dtype, to_dims(shape), {}, data, owner);
  view.attr("setflags")(py::arg("write") = false);
  return view;
}

py::array tensor_to_array(Tensor tensor) {
  auto owned = std::make_unique<Tensor>(std::move(tensor));
  const py::dtype dtype = numpy_dtype(owned->dtype);
  const std::vector<py::ssize_t> dims = to_dims(owned->shape);
  void* data = owned->data.data();
  py::capsule keeper(owned.get(), [](void* pointer) { delete static_cast<Tensor*>(pointer); });
  owned.release();
  return py::array(dtype, dims, {}, data, keeper);
}

}  // namespace palettize::python
