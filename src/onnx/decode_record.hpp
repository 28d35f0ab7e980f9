// private: include only from src/ and tests/
#pragma once
// What a palettized ONNX model records about its decode subgraphs, in metadata_props:
//   "palettize.version": "1"
//   "palettize.onnx": {"specs": [SPEC, ...], "tensors": {KEY: {"spec": i, "dtype": "F16", "shape": [...],
//                      "kind": "initializer"|"Constant", "output"?: NAME, "node"?: NAME, "parts"?: {...}}}}
// SPEC is the spec's JSON form (spec_json.hpp) with the axis resolved; tensors sharing a spec share the
// entry. "output" (the tensor's name in its graph) is omitted when equal to KEY, "node" is the name the
// replaced Constant node had (omitted when it had none), and "parts" maps container suffixes (".lut", ...)
// to initializer names only where they differ from output + suffix.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "palettize/container.hpp"

namespace palettize::onnx_io {

inline constexpr std::string_view kOnnxVersionKey = "palettize.version";
inline constexpr std::string_view kOnnxRecordsKey = "palettize.onnx";

struct DecodeRecord {
  std::string output;
  std::string kind;       // "initializer" or "Constant": what decompress() puts back
  std::string node_name;  // of the replaced Constant node
  std::map<std::string, std::string> parts;  // suffix -> initializer name (at least the non-default ones)

  // Initializer name of a part.
  std::string part(std::string_view suffix) const;
};

struct PalettizedRecord {
  ContainerEntry entry;  // entry.name is the key
  DecodeRecord decode;
};

// The value of "palettize.onnx" for `records` (sorted by key).
std::string records_to_metadata(const std::vector<PalettizedRecord>& records);
// Parses and validates "palettize.onnx" (specs valid and fitting their shapes, fields typed); Error naming
// `label`.
std::vector<PalettizedRecord> records_from_metadata(std::string_view text, std::string_view label);

}  // namespace palettize::onnx_io
