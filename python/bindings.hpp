#pragma once
// private: shared declarations of the Python module's binding files (python/*.cpp).
#include <string>

#include <nlohmann/json.hpp>
#include <pybind11/pybind11.h>

namespace palettize::python {

namespace py = pybind11;

// Each topic registers its classes and functions on the module.
void bind_specs(py::module_& module);
void bind_engine(py::module_& module);
void bind_tools(py::module_& module);  // compress_file, decompress_file, eval_files

// A Python value in the reference's dict form (None, bool, int, float, str, dict, list, tuple, numpy scalars
// and the module's spec objects) as JSON. Throws palettize::Error naming `path` for anything else.
nlohmann::json to_json(py::handle value, const std::string& path);
// JSON as plain Python values; object keys come in the reference's field order.
py::object from_json(const nlohmann::json& value);

}  // namespace palettize::python
