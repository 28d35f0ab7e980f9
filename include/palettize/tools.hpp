#pragma once
// The whole-file operations of the command-line tool as a library: compress, decompress and eval of
// safetensors checkpoints (single or sharded) and ONNX models. `palettize compress/decompress/eval` and the
// Python module (compress_file, decompress_file, eval_files) run exactly these; they never print: warnings
// and progress go to optional callbacks, and the JSON forms are what the CLI prints with --json.
// Errors a user can cause (bad files, options, configs) throw palettize::Error naming the problem; outputs
// are written crash-safe (temporary file renamed when complete), so a failure leaves none behind.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "palettize/container.hpp"
#include "palettize/engine.hpp"
#include "palettize/model_config.hpp"

namespace palettize::tools {

// One step of a long operation: `tensor` is being started (event start) or is done (event finish; the
// counts include it). Each pass over a model (mixed-precision planning, then compressing) starts again
// from done_tensors = 0.
struct ProgressUpdate {
  enum class Event { start, finish };
  Event event = Event::start;
  std::string_view tensor;
  std::size_t done_tensors = 0, total_tensors = 0;
  uint64_t done_bytes = 0, total_bytes = 0;  // input bytes of the tensors
};

struct Callbacks {
  std::function<void(const std::string& message)> warning;  // e.g. a tensor skipped: its spec cannot apply
  std::function<void(const ProgressUpdate& update)> progress;
};

// ---- compress

struct CompressOptions {
  std::filesystem::path input;   // .safetensors, sharded *.safetensors.index.json, or .onnx
  std::filesystem::path output;  // of the same kind as input
  std::optional<std::filesystem::path> config_file;  // config_file, preset and spec_json exclude each other
  std::optional<std::string> preset;                 // "w4", "w6", "w8"
  std::optional<std::string> spec_json;              // a global spec as JSON text
  std::optional<std::filesystem::path> sensitivities;
  int threads = 0;
  uint64_t seed = 0;
  bool strict = false;
  bool json = false;   // CLI only: print JSON instead of the table
  bool force = false;
  bool quiet = false;  // CLI only: no progress bar, no table
  // Mixed precision (issue 8): plan n_bits per tensor for this average, then compress with that recipe.
  std::optional<double> target_bits;
  std::string candidates = "2,3,4,6,8";
  std::optional<std::filesystem::path> importance;
};

// The config the options select: config file, preset, spec, or the default (global default spec). Error when
// more than one is given.
ModelConfig config_from_options(const CompressOptions& options);

// What compress does with one tensor, decided from its name, dtype and shape before any data is read.
struct TensorPlan {
  std::string name;        // safetensors name, or ONNX key (OnnxTensor::key)
  DType dtype = DType::F32;
  Shape shape;
  std::size_t shard = 0;   // input shard holding the tensor
  uint64_t byte_size = 0;  // input bytes
  std::optional<ContainerEntry> entry;  // set: palettize as described
  std::string origin;                   // the config entry that chose the spec
  std::string skip_reason;              // why the tensor stays dense (empty when palettized)
  bool misfit = false;                  // the chosen spec cannot apply to the shape (warned about)
};

struct TensorResult {
  uint64_t stored_bytes = 0;            // bytes in the output (all parts of a palettized tensor)
  std::optional<ErrorMetrics> metrics;  // palettized tensors: original vs decoded
  double seconds = 0;
};

struct CompressResult {
  ModelConfig config;
  std::vector<TensorPlan> plans;
  std::vector<TensorResult> tensors;  // one per plan, same order
  std::vector<std::string> warnings;
  std::vector<std::filesystem::path> output_files;
  uint64_t input_file_bytes = 0;
  uint64_t output_file_bytes = 0;
  double seconds = 0;
};

// Checkpoints: plans, declares every output tensor, then palettizes and writes tensor by tensor, releasing
// input pages as it goes. ONNX models: replaces each palettized tensor by its decode subgraph and writes the
// model once. Either way the output is committed only when everything succeeded.
CompressResult run_compress(const CompressOptions& options, const Callbacks& callbacks = {});

struct CompressTotals {
  std::size_t palettized = 0, copied = 0, skipped = 0;
  int64_t palettized_weights = 0;
  uint64_t palettized_bytes = 0;  // stored bytes of the palettized tensors' parts
  uint64_t original_bytes = 0;    // their dense bytes
  double sse = 0, signal = 0;
  double bits_per_weight() const;
  double snr_db() const;
};
CompressTotals compress_totals(const CompressResult& result);
// `palettize compress --json`.
nlohmann::json compress_result_json(const CompressOptions& options, const CompressResult& result);

// ---- decompress

// A palettize container back to a dense checkpoint (same sharding), or a palettized ONNX model back to a
// dense one; names, shapes and dtypes of the original, the weights being engine decode()'s.
void run_decompress(const std::filesystem::path& input, const std::filesystem::path& output, bool force);

// ---- eval

struct EvalRow {
  std::string name;
  Shape shape;
  DType dtype = DType::F32;
  std::optional<PalettizationSpec> spec;  // set when the compressed file stores the tensor palettized
  double bits_per_weight = 0;             // stored bits / weights in the compressed file
  ErrorMetrics metrics;
};

struct EvalResult {
  std::vector<EvalRow> rows;  // floating tensors, in the original's order
  double sse = 0, signal = 0;
  int64_t weights = 0;
  uint64_t stored_bytes = 0;
  uint64_t original_file_bytes = 0, compressed_file_bytes = 0;
  double snr_db() const;
  double bits_per_weight() const;
  double compression_ratio() const;
  void add(EvalRow row, uint64_t stored);
};

// Every floating tensor of ORIGINAL (dense) against COMPRESSED (made from it), both checkpoints or both
// ONNX models. Error when the tensor sets, shapes or dtypes differ, or a non-floating tensor changed.
EvalResult run_eval(const std::filesystem::path& original, const std::filesystem::path& compressed);
// `palettize eval --json`.
nlohmann::json eval_result_json(const EvalResult& result);

// JSON cannot hold infinities or NaN: they become null (an exact reconstruction has SNR null).
nlohmann::json json_number(double value);

}  // namespace palettize::tools
