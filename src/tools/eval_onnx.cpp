// eval of ONNX models: the error of every float tensor of an ONNX model.
#include <map>
#include <set>

#include "tools/eval_onnx.hpp"
#include "tools/onnx_view.hpp"
#include "palettize/error.hpp"
#include "palettize/onnx_model.hpp"

namespace palettize::tools {

EvalResult evaluate_onnx(const std::filesystem::path& original_path, const std::filesystem::path& compressed_path) {
  const OnnxModel original = OnnxModel::load(original_path);
  check(original.palettized_keys().empty(), original_path.string(),
        ": ORIGINAL is a palettized ONNX model; pass the dense model it was made from");
  const OnnxModel compressed = OnnxModel::load(compressed_path);
  std::map<std::string, OnnxLogicalTensor> compressed_tensors;
  for (OnnxLogicalTensor& tensor : onnx_logical_tensors(compressed)) {
    compressed_tensors.emplace(tensor.name, std::move(tensor));
  }
  std::set<std::string> original_keys;
  EvalResult result;
  for (const OnnxTensor& reference : original.palettizable_tensors()) {
    original_keys.insert(reference.key);
    const auto found = compressed_tensors.find(reference.key);
    check(found != compressed_tensors.end(), compressed_path.string(), ": has no float tensor '", reference.key,
          "' of ", original_path.string());
    const OnnxLogicalTensor& tensor = found->second;
    check(tensor.shape == reference.view.shape && tensor.dtype == reference.view.dtype, compressed_path.string(),
          ": tensor '", reference.key, "' is ", dtype_name(tensor.dtype), " ", shape_to_string(tensor.shape),
          " but the original is ", dtype_name(reference.view.dtype), " ", shape_to_string(reference.view.shape));
    const Tensor reconstructed = onnx_dense_tensor(compressed, tensor);
    result.add(EvalRow{tensor.name, tensor.shape, tensor.dtype, tensor.spec, tensor.bits_per_weight(),
                       compare(reference.view, reconstructed.view())},
               tensor.stored_bytes);
  }
  for (const auto& [key, tensor] : compressed_tensors) {
    check(original_keys.contains(key), compressed_path.string(), ": float tensor '", key, "' is not in ",
          original_path.string());
  }
  result.original_file_bytes = std::filesystem::file_size(original_path);
  result.compressed_file_bytes = std::filesystem::file_size(compressed_path);
  return result;
}

}  // namespace palettize::tools
