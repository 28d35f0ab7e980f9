#pragma once
// private: include only from src/ and tests/
// What `palettize sensitivity` and `palettize search` share: running a model's palettized variants in
// onnxruntime on described inputs, and the tensors a config palettizes.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/sensitivity_worker.hpp"
#include "palettize/model_config.hpp"
#include "palettize/onnx_model.hpp"
#include "palettize/spec.hpp"
#include "palettize/tools.hpp"

namespace palettize::cli {

struct MeasureOptions {
  std::filesystem::path model;
  tools::CompressOptions config;                // only --config / --preset / --spec
  std::vector<std::string> input_shapes;        // NAME=DIMS
  std::optional<std::filesystem::path> inputs;  // descriptions file
  std::vector<std::string> outputs;
  std::string transform = "none";
  int sets = 1;
  int seed = 1;
  int threads = 0;
  bool strict = false;
  bool quiet = false;
};

// --input, --inputs, --output, --output-transform, --sets, --seed, --threads, --strict, --quiet.
void add_measure_options(CLI::App& app, MeasureOptions& options);

// The input descriptions from --inputs and --input (tests/ort/inputs.js format).
nlohmann::json input_descriptions(const MeasureOptions& options);

// --threads resolved: 0 = all cores.
int measure_threads(const MeasureOptions& options);

// The worker settings for `options`, with the descriptions written to `inputs_path`.
WorkerOptions worker_options(const MeasureOptions& options, const nlohmann::json& descriptions,
                             const std::filesystem::path& inputs_path);

struct PlannedTensor {
  std::string name;
  std::string key;
  PalettizationSpec spec;  // the config's spec, axis resolved; candidates change n_bits (and granularity)
};

// The tensors `config` palettizes, in model order; names must be unique across graphs. Misfits are warned
// about unless `warn_misfits` is false (an Error with `strict`); Error when there is none.
std::vector<PlannedTensor> planned_tensors(const OnnxModel& model, const ModelConfig& config, bool strict,
                                           bool warn_misfits = true);

std::string read_bytes(const std::filesystem::path& path);

}  // namespace palettize::cli
