// `palettize decompress IN OUT`: a palettize container back to a dense safetensors checkpoint with the
// original names, shapes and dtypes (sharded the same way as IN), or a palettized ONNX model back to a dense one.
#include <iostream>
#include <memory>

#include "cli/cli_common.hpp"
#include "cli/container_view.hpp"
#include "cli/onnx_view.hpp"
#include "cli/output_plan.hpp"
#include "palettize/error.hpp"

namespace palettize::cli {
namespace {

struct DecompressOptions {
  std::filesystem::path input;
  std::filesystem::path output;
  bool force = false;
};

Metadata without_container_keys(const Metadata& metadata) {
  Metadata dense;
  for (const auto& [key, value] : metadata) {
    if (!key.starts_with("palettize.")) dense[key] = value;
  }
  return dense;
}

void run_decompress(const DecompressOptions& options) {
  if (is_onnx_pair(options.input, options.output)) {
    decompress_onnx(options.input, options.output, options.force);
    return;
  }
  const Checkpoint input(options.input);
  const ContainerView container(input);
  check(container.is_container(), options.input.string(),
        ": not a palettize container (no palettized tensors listed in its metadata)");
  check_output_path(input, options.output, checkpoint_files(input));
  std::vector<ShardPlan> shards = output_shard_skeleton(input, options.output);
  for (std::size_t i = 0; i < shards.size(); ++i) {
    shards[i].metadata = without_container_keys(input.shard(i).metadata());
  }
  for (const LogicalTensor& tensor : container.tensors()) {
    shards.at(tensor.shard).tensors.push_back(TensorDecl{tensor.name, tensor.dtype, tensor.shape});
  }
  CheckpointWriter writer(options.output, shards, options.force, output_index_metadata(input));
  for (const LogicalTensor& tensor : container.tensors()) {
    if (tensor.entry) {
      writer.write_tensor(tensor.name, container.dense(tensor).data);
    } else {
      writer.write_tensor(tensor.name, input.view(tensor.name).data);
    }
    container.release(tensor);
  }
  writer.commit();
}

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
                   run_decompress(*options);
                   return kExitOk;
                 }};
}

}  // namespace palettize::cli
