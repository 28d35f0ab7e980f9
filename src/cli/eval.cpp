// `palettize eval ORIGINAL COMPRESSED`: reconstruction error of every floating tensor, and what it cost
// (safetensors checkpoints here, ONNX models in eval_onnx.cpp).
#include <cmath>
#include <iostream>
#include <memory>

#include "cli/cli_common.hpp"
#include "cli/container_view.hpp"
#include "cli/eval.hpp"
#include "cli/format.hpp"
#include "cli/output_plan.hpp"
#include "cli/table.hpp"
#include "palettize/error.hpp"

namespace palettize::cli {
namespace {

struct EvalOptions {
  std::filesystem::path original;
  std::filesystem::path compressed;
  bool json = false;
};

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

nlohmann::json eval_json(const EvalResult& result) {
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

void print_eval_table(const EvalResult& result, std::ostream& out) {
  using Align = Table::Align;
  Table table({{"tensor"}, {"shape"}, {"dtype"}, {"spec"}, {"bits/w", Align::right}, {"SNR dB", Align::right},
               {"max abs err", Align::right}, {"MSE", Align::right}});
  char mse[32], max_err[32];
  for (const EvalRow& row : result.rows) {
    std::snprintf(mse, sizeof mse, "%.3e", row.metrics.mse);
    std::snprintf(max_err, sizeof max_err, "%.3e", row.metrics.max_abs_err);
    table.add_row({row.name, format_shape(row.shape), std::string(dtype_name(row.dtype)),
                   row.spec ? spec_short_form(*row.spec) : "-", format_decimal(row.bits_per_weight, 3),
                   format_decimal(row.metrics.snr_db, 2), max_err, mse});
  }
  table.add_rule();
  std::snprintf(mse, sizeof mse, "%.3e", result.weights ? result.sse / static_cast<double>(result.weights) : 0.0);
  table.add_row({"total", "", "", "", format_decimal(result.bits_per_weight(), 3), format_decimal(result.snr_db(), 2),
                 "", mse});
  table.print(out);
  out << "files: " << format_bytes(static_cast<double>(result.original_file_bytes)) << " -> "
      << format_bytes(static_cast<double>(result.compressed_file_bytes)) << " ("
      << format_decimal(result.compression_ratio(), 2) << "x)\n";
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

Command add_eval_command(CLI::App& parent) {
  auto options = std::make_shared<EvalOptions>();
  CLI::App* app = parent.add_subcommand(
      "eval",
      "Compare a compressed checkpoint or ONNX model with its original: per floating tensor and in total SSE, MSE, "
      "SNR dB, max abs error, bits per weight (stored bits / weights), and the compression ratio of the files on disk");
  app->add_option("ORIGINAL", options->original, "the dense checkpoint or ONNX model")->required();
  app->add_option("COMPRESSED", options->compressed, "the palettize container or palettized ONNX model made from it")
      ->required();
  app->add_flag("--json", options->json,
                "print {\"tensors\":[{name,sse,mse,snr_db,max_abs_err,bits_per_weight}],"
                "\"total\":{sse,snr_db,bits_per_weight,compression_ratio}} (snr_db null when exact)");
  return Command{app, [options] {
                   const EvalResult result = is_onnx_pair(options->original, options->compressed)
                                                 ? evaluate_onnx(options->original, options->compressed)
                                                 : evaluate_checkpoints(options->original, options->compressed);
                   if (options->json) {
                     std::cout << eval_json(result).dump(2) << "\n";
                   } else {
                     print_eval_table(result, std::cout);
                   }
                   return kExitOk;
                 }};
}

}  // namespace palettize::cli
