#pragma once
// private: numpy <-> engine tensors for the Python module (python/*.cpp).
#include <string>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "palettize/tensor.hpp"

namespace palettize::python {

namespace py = pybind11;

// A palettizable input array, held in native byte order, C-contiguous and aligned: the engine reads its
// buffer in place (a copy is made only when the caller's array is not already like that).
struct InputArray {
  py::array array;
  DType dtype = DType::F32;

  Shape shape() const;
  TensorView view() const;
};

// `value` as an F32/F16/BF16 tensor. `dtype` is None (taken from the array), "float32", "float16" or
// "bfloat16" (bit patterns given as uint16). No implicit casts: a mismatch throws Error naming `what`.
InputArray input_array(py::handle value, py::handle dtype, const std::string& what);

// The numpy dtype that carries a dtype's values: float32, float16, and uint16 bits for bfloat16.
py::dtype numpy_dtype(DType dtype);
// "float32", "float16" or "bfloat16".
std::string dtype_label(DType dtype);

// A read-only numpy view of `data`, kept alive by `owner`.
py::array readonly_view(py::handle owner, const py::dtype& dtype, const Shape& shape, const void* data);
// Hands an engine tensor to numpy without copying (the array owns it).
py::array tensor_to_array(Tensor tensor);

}  // namespace palettize::python
