// `palettize decompress IN OUT`: a palettize container back to a dense safetensors checkpoint with the
// original names, shapes and dtypes (sharded the same way as IN), or a palettized ONNX model back to a dense one.
#include <iostream>
#include <memory>

#include "cli/cli_common.hpp"
#include "palettize/tools.hpp"

namespace palettize::cli {
namespace {

struct DecompressOptions {
  std::filesystem::path input;
  std::filesystem::path output;
  bool force = false;
};

}  // namespace

Command add_decompress_command(CLI::App& parent) {
  auto options = std::make_shared<DecompressOptions>();
  CLI::App* app = parent.add_subcommand(
      "decompress",
      "Decode a palettize container into a dense safetensors checkpoint (original names, shapes, dtypes), or a "
      "palettized ONNX model into a dense ONNX model");
  app->add_option("IN", options->input,
                  "palettize container (.safetensors or sharded *.safetensors.index.json) or palettized .onnx model")
      ->required();
  app->add_option("OUT", options->output, "dense output, of the same kind as IN")->required();
  app->add_flag("--force", options->force, "overwrite an existing output");
  return Command{app, [options] {
                   tools::run_decompress(options->input, options->output, options->force);
                   return kExitOk;
                 }};
}

}  // namespace palettize::cli
