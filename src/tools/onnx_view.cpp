#include "tools/onnx_view.hpp"

#include "palettize/container.hpp"
#include "palettize/engine.hpp"
#include "palettize/error.hpp"
#include "palettize/output_file.hpp"
#include "tools/tool_support.hpp"

namespace palettize::tools {
namespace {

uint64_t payload_bytes(const PalettizedTensor& palettized, const std::string& key) {
  uint64_t bytes = 0;
  const ContainerEntry entry = make_container_entry(key, palettized.dtype, palettized.shape, palettized.spec);
  for (const TensorDecl& part : container_parts(entry)) bytes += part.byte_size();
  return bytes;
}

}  // namespace

double OnnxLogicalTensor::bits_per_weight() const {
  const int64_t count = numel();
  return count ? 8.0 * static_cast<double>(stored_bytes) / static_cast<double>(count) : 0;
}

std::vector<OnnxLogicalTensor> onnx_logical_tensors(const OnnxModel& model) {
  std::vector<OnnxLogicalTensor> tensors;
  for (const OnnxTensor& tensor : model.palettizable_tensors()) {
    tensors.push_back({tensor.key, tensor.view.dtype, tensor.view.shape, std::nullopt, tensor.view.data.size()});
  }
  for (const std::string& key : model.palettized_keys()) {
    const PalettizedTensor palettized = model.palettized_tensor(key);
    tensors.push_back({key, palettized.dtype, palettized.shape, palettized.spec, payload_bytes(palettized, key)});
  }
  return tensors;
}

Tensor onnx_dense_tensor(const OnnxModel& model, const OnnxLogicalTensor& tensor) {
  if (tensor.spec) return decode(model.palettized_tensor(tensor.name));
  const OnnxTensor* dense = model.find(tensor.name);
  check(dense != nullptr, "internal: ONNX tensor ", tensor.name, " not found");
  return Tensor{dense->view.dtype, dense->view.shape, {dense->view.data.begin(), dense->view.data.end()}};
}

void decompress_onnx(const std::filesystem::path& input, const std::filesystem::path& output, bool force) {
  check(!same_file(output, input), "output ", output.string(), " would overwrite the input ", input.string(),
        "; choose another output path");
  OnnxModel model = OnnxModel::load(input);
  check(!model.palettized_keys().empty(), input.string(),
        ": not a palettized ONNX model (no palettized tensors listed in its metadata)");
  OutputFile file(output, force);  // an existing output fails before the work
  model.decompress();
  file.write(std::string_view(model.serialize()));
  file.commit();
}

}  // namespace palettize::tools
