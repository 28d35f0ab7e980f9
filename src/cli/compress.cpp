// `palettize compress IN OUT`: command-line options and output of the compress command.
#include "cli/compress.hpp"

#include <iostream>
#include <memory>

#include "cli/cli_common.hpp"
#include "cli/progress.hpp"

namespace palettize::cli {

Command add_compress_command(CLI::App& parent) {
  auto options = std::make_shared<CompressOptions>();
  CLI::App* app = parent.add_subcommand(
      "compress",
      "Palettize the eligible tensors of a safetensors checkpoint (F32/F16/BF16, rank >= 2, >= min_elements "
      "elements) into a palettize container, every other tensor being copied unchanged; or those of an ONNX model "
      "(initializers and Constant tensors, subgraphs included) into decode subgraphs of an ONNX model");
  app->add_option("IN", options->input, "input .safetensors file, sharded *.safetensors.index.json, or .onnx model")
      ->required();
  app->add_option("OUT", options->output,
                  "output path, of the same kind as IN (sharded input -> *.index.json, .onnx -> .onnx)")
      ->required();
  add_config_options(*app, *options,
                     {"model config (YAML, or JSON for *.json): global spec, ordered regex rules (last match wins), "
                      "min_elements",
                      "global spec preset",
                      "global spec as JSON, e.g. '{\"n_bits\":4}' (missing fields take defaults)"});
  CLI::Option* sensitivities = app->add_option(
      "--sensitivities", options->sensitivities,
      "safetensors file of per-element importances (same names and shapes) for weighted clustering");
  app->add_option("--target-bits", options->target_bits,
                  "mixed precision: choose n_bits per tensor (or dense) for this average bits per weight with the "
                  "least predicted error (see `palettize plan`); the config gives eligibility and granularity")
      ->check(CLI::PositiveNumber)
      ->excludes(sensitivities);
  app->add_option("--candidates", options->candidates, "with --target-bits: candidate n_bits, comma-separated")
      ->capture_default_str();
  app->add_option("--importance", options->importance, "with --target-bits: per-tensor importance JSON");
  app->add_option("--threads", options->threads, "worker threads, 0 = all cores (output never depends on it)")
      ->check(CLI::NonNegativeNumber);
  app->add_option("--seed", options->seed, "seed of the vector k-means (cluster_dim > 1)");
  app->add_flag("--strict", options->strict, "fail instead of skipping a tensor the spec cannot apply to");
  app->add_flag("--json", options->json, "print machine-readable results on stdout instead of the table");
  app->add_flag("--force", options->force, "overwrite an existing output");
  app->add_flag("--quiet", options->quiet, "no progress bar and no summary table");
  return Command{app, [options] {
                   const CompressResult result = tools::run_compress(*options, terminal_callbacks(options->quiet));
                   if (options->json) {
                     std::cout << compress_result_json(*options, result).dump(2) << "\n";
                   } else if (!options->quiet) {
                     print_compress_table(result, std::cout);
                   }
                   return kExitOk;
                 }};
}

}  // namespace palettize::cli
