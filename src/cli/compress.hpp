#pragma once
// private: include only from src/ and tests/
// `palettize compress`: options, the streaming run and its report.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cli/plan.hpp"
#include "palettize/engine.hpp"

namespace palettize::cli {

struct CompressOptions {
  std::filesystem::path input;
  std::filesystem::path output;
  std::optional<std::filesystem::path> config_file;  // --config, --preset and --spec exclude each other
  std::optional<std::string> preset;
  std::optional<std::string> spec_json;
  std::optional<std::filesystem::path> sensitivities;
  int threads = 0;
  uint64_t seed = 0;
  bool strict = false;
  bool json = false;
  bool force = false;
  bool quiet = false;
  // Mixed precision (issue 8): plan n_bits per tensor for this average, then compress with that recipe.
  std::optional<double> target_bits;
  std::string candidates = "2,3,4,6,8";
  std::optional<std::filesystem::path> importance;
};

// The config the options select: --config file, --preset, --spec, or the default (global default spec).
ModelConfig config_from_options(const CompressOptions& options);

struct TensorResult {
  uint64_t stored_bytes = 0;            // bytes in the output (all parts of a palettized tensor)
  std::optional<ErrorMetrics> metrics;  // palettized tensors: original vs decoded
  double seconds = 0;
};

struct CompressResult {
  ModelConfig config;
  std::vector<TensorPlan> plans;
  std::vector<TensorResult> tensors;    // one per plan, same order
  std::vector<std::string> warnings;
  std::vector<std::filesystem::path> output_files;
  uint64_t input_file_bytes = 0;
  uint64_t output_file_bytes = 0;
  double seconds = 0;
};

// Plans, declares every output tensor, then palettizes and writes tensor by tensor, releasing input pages
// as it goes; commits the output only when everything succeeded.
// An ONNX pair (IN.onnx OUT.onnx) goes to run_compress_onnx.
CompressResult run_compress(const CompressOptions& options);
// The same over an ONNX model: float initializers and Constant tensors (subgraphs included) are planned by
// their names in the graph and replaced by decode subgraphs; one output file.
CompressResult run_compress_onnx(const CompressOptions& options);

void print_compress_table(const CompressResult& result, std::ostream& out);
nlohmann::json compress_result_json(const CompressOptions& options, const CompressResult& result);

}  // namespace palettize::cli
