#pragma once
// private: include only from src/ and tests/
// `palettize eval`: the reconstruction error of every floating tensor, for checkpoints and ONNX models.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "palettize/engine.hpp"

namespace palettize::cli {

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
  double snr_db() const { return sse == 0 ? INFINITY : 10 * std::log10(signal / sse); }
  double bits_per_weight() const {
    return weights ? 8.0 * static_cast<double>(stored_bytes) / static_cast<double>(weights) : 0;
  }
  double compression_ratio() const {
    return static_cast<double>(original_file_bytes) / static_cast<double>(compressed_file_bytes);
  }
  void add(EvalRow row, uint64_t stored);
};

// ORIGINAL.onnx (dense) against COMPRESSED.onnx (palettized from it): every float tensor of the original
// must be in the compressed model under the same key, dtype and shape, dense or palettized.
EvalResult evaluate_onnx(const std::filesystem::path& original, const std::filesystem::path& compressed);

}  // namespace palettize::cli
