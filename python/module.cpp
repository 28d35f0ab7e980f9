// The Python module `palettize`: the engine from numpy, in coreai_opt's spec vocabulary.
#include "bindings.hpp"
#include "palettize/error.hpp"
#include "palettize/version.hpp"

PYBIND11_MODULE(palettize, module) {
  namespace py = pybind11;
  module.doc() =
      "palettize: n-bit look-up-table compression of neural-network weights (coreai_opt's PalettizationSpec), "
      "with LUTs and indices in Core ML's constexpr_lut_to_dense layout.";
  module.attr("__version__") = std::string(palettize::version());

  // palettize::Error -> palettize.Error, a ValueError, so callers can catch either; the spec-does-not-fit
  // case gets its own subclass, which tools use to skip a tensor.
  auto& error = py::register_exception<palettize::Error>(module, "Error", PyExc_ValueError);
  py::register_exception<palettize::IncompatibleSpecError>(module, "IncompatibleSpecError", error.ptr());

  palettize::python::bind_specs(module);
  palettize::python::bind_engine(module);
  palettize::python::bind_tools(module);
}
