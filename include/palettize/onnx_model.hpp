#pragma once
// ONNX models in and out (docs/FORMAT.md, "ONNX output").
//
// Reading: every float tensor (F32, F16, BF16) stored as a graph initializer or as the `value` of a
// `Constant` node, in the main graph and in every subgraph (If/Loop/Scan bodies, recursively). Data may be
// raw_data or the typed fields; external data is an Error.
//
// Writing: a palettized tensor is replaced by a small decode subgraph in the graph that held it. The
// packed index bitstream, the LUT (or its quantized codes) and the scales become initializers of that
// graph; standard ONNX operators (opset 7 and later, whatever the model imports) rebuild the dense tensor
// under its original name, so the model keeps its inputs, outputs and behaviour. The model records what it
// replaced in its metadata_props ("palettize.version", "palettize.tensors" as in the safetensors
// container, and "palettize.onnx"), which lets decompress() turn it back into a dense model.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "palettize/engine.hpp"
#include "palettize/tensor.hpp"

namespace palettize {

// A dense float tensor of the model that can be palettized.
struct OnnxTensor {
  // The tensor's name in the graph (initializer name, or the Constant node's output name). This is the
  // name config rules match.
  std::string name;
  // Unique within the model: `name`, or "name@graph-path" when sibling subgraphs reuse a name.
  std::string key;
  // Where it lives: "initializer" or "Constant", and the graph path ("main", "main/If_0:then_branch", ...).
  std::string kind;
  std::string graph_path;
  // The data, in the model's dtype and shape. Valid until this tensor is replaced or the model destroyed.
  TensorView view;
};

// A node that reads a dense tensor (calibration maps activations onto weights through it).
struct TensorConsumer {
  std::string op_type;
  std::string domain;
  int input_index = 0;                            // where the tensor enters the node
  std::vector<std::string> inputs;                // the node's input names
  std::map<std::string, int64_t> int_attributes;  // its integer attributes (group, transA, transB, ...)
};

class OnnxModel {
 public:
  // Reads and checks a model. Throws Error naming the file for unreadable or malformed protobuf, external
  // data, float tensors whose data length does not match their shape, or an opset below 7.
  static OnnxModel load(const std::filesystem::path& path);
  static OnnxModel from_bytes(std::span<const std::byte> bytes, std::string_view source_label);

  OnnxModel(OnnxModel&&) noexcept;
  OnnxModel& operator=(OnnxModel&&) noexcept;
  ~OnnxModel();

  // Dense palettizable tensors still in the model, in graph order (main graph first, depth first).
  const std::vector<OnnxTensor>& palettizable_tensors() const;
  // Finds a dense tensor by key; nullptr when absent.
  const OnnxTensor* find(std::string_view key) const;

  // Replaces the dense tensor `key` by a decode subgraph of `palettized`, which must have been made from
  // that tensor's shape and dtype. Throws Error for an unknown key or a mismatch.
  void replace_with_palettized(std::string_view key, const PalettizedTensor& palettized);

  // Keys of the tensors currently stored as decode subgraphs (from this session or from the file).
  std::vector<std::string> palettized_keys() const;
  // The stored parts of one palettized tensor, validated like a container entry. Throws Error.
  PalettizedTensor palettized_tensor(std::string_view key) const;
  // Replaces every decode subgraph by the dense tensor engine decode() gives, as an initializer or a
  // Constant node like the original, and removes the palettize metadata.
  void decompress();

  // The nodes of the tensor's own graph that read it, in node order (reads from inside subgraphs of that
  // graph are not listed). Throws Error for an unknown key.
  std::vector<TensorConsumer> consumers(std::string_view key) const;
  // Whether `value` is computed or given in the main graph (an input, initializer or node output there).
  bool is_main_graph_value(std::string_view value) const;
  // Makes the main-graph value `value` a graph output of element type `dtype` (its shape left to the
  // runtime); nothing when it already is one. Throws Error when the main graph has no such value.
  void add_main_output(std::string_view value, DType dtype);

  // The ai.onnx opset the model imports.
  int64_t opset() const;
  // The serialized model.
  std::string serialize() const;
  // Crash-safe write: temporary file in the target directory, renamed when complete. Refuses to replace
  // an existing file unless `force`.
  void save(const std::filesystem::path& path, bool force = false) const;

 private:
  struct Impl;
  explicit OnnxModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// True when `path` names an ONNX file by its extension (".onnx", any case).
bool is_onnx_path(const std::filesystem::path& path);

}  // namespace palettize
