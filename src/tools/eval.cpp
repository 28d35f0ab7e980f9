// eval: the reconstruction error of every floating tensor, and what it cost (safetensors checkpoints here,
// ONNX models in eval_onnx.cpp).
#include <cmath>

#include "palettize/error.hpp"
#include "palettize/tools.hpp"
#include "tools/container_view.hpp"
#include "tools/eval_onnx.hpp"
#include "tools/output_plan.hpp"
#include "tools/tool_support.hpp"

namespace palettize::tools {
namespace {

void check_same_tensor_set(const Checkpoint& original, const ContainerView& compressed) {
  const std::string compressed_path = compressed.checkpoint().path().string();
  for (const CheckpointEntry& entry : original.tensors()) {
    const LogicalTensor* tensor = compressed.find(entry.name);
    check(tensor != nullptr, compressed_path, ": has no tensor '", entry.name, "' of ", original.path().string());
    check(tensor->shape == entry.shape && tensor->dtype == entry.dtype, compressed_path, ": tensor '", entry.name,
          "' is ", dtype_name(tensor->dtype), " ", shape_to_string(tensor->shape), " but the original is ",
          dtype_name(entry.dtype), " ", shape_to_string(entry.shape));
  }
  for (const LogicalTensor& tensor : compressed.tensors()) {
    check(original.contains(tensor.name), compressed_path, ": tensor '", tensor.name, "' is not in ",
          original.path().string());
  }
}

EvalResult evaluate(const Checkpoint& original, const ContainerView& compressed) {
  for (std::size_t i = 0; i < original.shard_files().size(); ++i) {
    check(!is_container(original.shard(i).metadata()), original.shard(i).path().string(),
          ": ORIGINAL is a palettize container; pass the dense checkpoint it was made from");
  }
  check_same_tensor_set(original, compressed);
  EvalResult result;
  for (const CheckpointEntry& entry : original.tensors()) {
    const LogicalTensor& tensor = *compressed.find(entry.name);
    const TensorView reference = original.view(entry.name);
    const Tensor reconstructed = compressed.dense(tensor);
    if (!is_palettizable(entry.dtype)) {
      check(std::equal(reference.data.begin(), reference.data.end(), reconstructed.data.begin(),
                       reconstructed.data.end()),
            compressed.checkpoint().path().string(), ": non-floating tensor '", entry.name,
            "' differs from the original");
    } else {
      std::optional<PalettizationSpec> spec;
      if (tensor.entry) spec = tensor.entry->spec;
      result.add(EvalRow{tensor.name, tensor.shape, tensor.dtype, spec, tensor.bits_per_weight(),
                         compare(reference, reconstructed.view())},
                 tensor.stored_bytes);
    }
    original.release(entry.name);
    compressed.release(tensor);
  }
  result.original_file_bytes = total_file_size(checkpoint_files(original));
  result.compressed_file_bytes = total_file_size(checkpoint_files(compressed.checkpoint()));
  return result;
}

EvalResult evaluate_checkpoints(const std::filesystem::path& original_path,
                                const std::filesystem::path& compressed_path) {
  const Checkpoint original(original_path);
  const Checkpoint compressed_checkpoint(compressed_path);
  const ContainerView compressed(compressed_checkpoint);
  return evaluate(original, compressed);
}

}  // namespace

void EvalResult::add(EvalRow row, uint64_t stored) {
  sse += row.metrics.sse;
  signal += row.metrics.signal;
  weights += shape_numel(row.shape);
  stored_bytes += stored;
  rows.push_back(std::move(row));
}

double EvalResult::snr_db() const { return sse == 0 ? INFINITY : 10 * std::log10(signal / sse); }

double EvalResult::bits_per_weight() const {
  return weights ? 8.0 * static_cast<double>(stored_bytes) / static_cast<double>(weights) : 0;
}

double EvalResult::compression_ratio() const {
  return static_cast<double>(original_file_bytes) / static_cast<double>(compressed_file_bytes);
}

EvalResult run_eval(const std::filesystem::path& original, const std::filesystem::path& compressed) {
  return is_onnx_pair(original, compressed) ? evaluate_onnx(original, compressed)
                                            : evaluate_checkpoints(original, compressed);
}

nlohmann::json eval_result_json(const EvalResult& result) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const EvalRow& row : result.rows) {
    tensors.push_back({{"name", row.name},
                       {"sse", row.metrics.sse},
                       {"mse", row.metrics.mse},
                       {"snr_db", json_number(row.metrics.snr_db)},
                       {"max_abs_err", row.metrics.max_abs_err},
                       {"bits_per_weight", row.bits_per_weight}});
  }
  return {{"tensors", tensors},
          {"total",
           {{"sse", result.sse},
            {"snr_db", json_number(result.snr_db())},
            {"bits_per_weight", result.bits_per_weight()},
            {"compression_ratio", json_number(result.compression_ratio())}}}};
}

}  // namespace palettize::tools
