#pragma once
// private: include only from src/ and tests/
#include "palettize/tools.hpp"

namespace palettize::tools {

// run_compress over an ONNX model: float initializers and Constant tensors (subgraphs included) are planned
// by their names in the graph and replaced by decode subgraphs; one output file.
CompressResult run_compress_onnx(const CompressOptions& options, const Callbacks& callbacks);

}  // namespace palettize::tools
