// The whole-file operations of the command-line tool (palettize/tools.hpp): compress_file, decompress_file
// and eval_files run what `palettize compress/decompress/eval` run and return what they print with --json,
// as Python dicts. Nothing is printed; the GIL is released while they work.
#include <filesystem>
#include <optional>
#include <string>

#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "bindings.hpp"
#include "palettize/error.hpp"
#include "palettize/spec_json.hpp"
#include "palettize/tools.hpp"

namespace palettize::python {
namespace {

using Path = std::filesystem::path;

// A spec as the CLI's --spec JSON text: a PalettizationSpec, its dict form, or JSON text.
std::optional<std::string> spec_json_argument(py::handle spec) {
  if (spec.is_none()) return std::nullopt;
  if (py::isinstance<PalettizationSpec>(spec)) return spec_to_json(spec.cast<PalettizationSpec>()).dump();
  if (py::isinstance<py::str>(spec)) return spec.cast<std::string>();
  return to_json(spec, "spec").dump();
}

int threads_argument(std::optional<int> threads) {
  if (threads) check(*threads >= 1, "threads must be >= 1 (None = all cores), got ", *threads);
  return threads.value_or(0);
}

py::object compress_file(const Path& input, const Path& output, const std::optional<std::string>& preset,
                         const py::object& spec, const std::optional<Path>& config,
                         const std::optional<Path>& sensitivities, uint64_t seed, std::optional<int> threads,
                         bool strict, bool force, std::optional<double> target_bits, const std::string& candidates,
                         const std::optional<Path>& importance) {
  tools::CompressOptions options;
  options.input = input;
  options.output = output;
  options.preset = preset;
  options.spec_json = spec_json_argument(spec);
  options.config_file = config;
  options.sensitivities = sensitivities;
  options.seed = seed;
  options.threads = threads_argument(threads);
  options.strict = strict;
  options.force = force;
  options.target_bits = target_bits;
  options.candidates = candidates;
  options.importance = importance;
  if (preset) check(*preset == "w4" || *preset == "w6" || *preset == "w8", "preset must be 'w4', 'w6' or 'w8', got '",
                    *preset, "'");
  if (target_bits) check(*target_bits > 0, "target_bits must be positive, got ", *target_bits);
  nlohmann::json report;
  {
    py::gil_scoped_release release;
    report = tools::compress_result_json(options, tools::run_compress(options));
  }
  return from_json(report);
}

void decompress_file(const Path& input, const Path& output, bool force) {
  py::gil_scoped_release release;
  tools::run_decompress(input, output, force);
}

py::object eval_files(const Path& original, const Path& compressed) {
  nlohmann::json report;
  {
    py::gil_scoped_release release;
    report = tools::eval_result_json(tools::run_eval(original, compressed));
  }
  return from_json(report);
}

}  // namespace

void bind_tools(py::module_& module) {
  module.def("compress_file", &compress_file, py::arg("input"), py::arg("output"), py::arg("preset") = py::none(),
             py::arg("spec") = py::none(), py::arg("config") = py::none(), py::kw_only(),
             py::arg("sensitivities") = py::none(), py::arg("seed") = 0, py::arg("threads") = py::none(),
             py::arg("strict") = false, py::arg("force") = false, py::arg("target_bits") = py::none(),
             py::arg("candidates") = "2,3,4,6,8", py::arg("importance") = py::none(),
             "Compresses a safetensors checkpoint (or sharded *.safetensors.index.json) into a palettize "
             "container, or an ONNX model into a palettized ONNX model, like `palettize compress`. At most one "
             "of preset ('w4', 'w6', 'w8'), spec (a PalettizationSpec, its dict form or JSON text) and config "
             "(a YAML/JSON model config file); none = the default spec. Returns what `palettize compress --json` "
             "prints, as a dict.");
  module.def("decompress_file", &decompress_file, py::arg("input"), py::arg("output"), py::arg("force") = false,
             "Decodes a palettize container or palettized ONNX model into a dense one, like "
             "`palettize decompress`.");
  module.def("eval_files", &eval_files, py::arg("original"), py::arg("compressed"),
             "Compares a compressed file with its original, like `palettize eval`; returns what "
             "`palettize eval --json` prints, as a dict.");
}

}  // namespace palettize::python
