// `palettize eval ORIGINAL COMPRESSED`: reconstruction error of every floating tensor, and what it cost (the
// evaluation is tools::run_eval).
#include <cmath>
#include <iostream>
#include <memory>

#include "cli/cli_common.hpp"
#include "cli/format.hpp"
#include "cli/table.hpp"
#include "palettize/tools.hpp"

namespace palettize::cli {
namespace {

using tools::EvalResult;
using tools::EvalRow;

struct EvalOptions {
  std::filesystem::path original;
  std::filesystem::path compressed;
  bool json = false;
};

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

}  // namespace

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
                   const EvalResult result = tools::run_eval(options->original, options->compressed);
                   if (options->json) {
                     std::cout << tools::eval_result_json(result).dump(2) << "\n";
                   } else {
                     print_eval_table(result, std::cout);
                   }
                   return kExitOk;
                 }};
}

}  // namespace palettize::cli
