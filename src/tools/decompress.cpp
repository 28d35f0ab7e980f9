// decompress: a palettize container back to a dense safetensors checkpoint with the original names, shapes
// and dtypes (sharded the same way as the input), or a palettized ONNX model back to a dense one.
#include "palettize/error.hpp"
#include "palettize/tools.hpp"
#include "tools/container_view.hpp"
#include "tools/onnx_view.hpp"
#include "tools/output_plan.hpp"
#include "tools/tool_support.hpp"

namespace palettize::tools {
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

void decompress_checkpoint(const DecompressOptions& options) {
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

void run_decompress(const std::filesystem::path& input, const std::filesystem::path& output, bool force) {
  if (is_onnx_pair(input, output)) {
    decompress_onnx(input, output, force);
  } else {
    decompress_checkpoint(DecompressOptions{input, output, force});
  }
}

}  // namespace palettize::tools
