#pragma once
// private: include only from src/ and tests/
#include <filesystem>

#include "palettize/tools.hpp"

namespace palettize::tools {

// ORIGINAL.onnx (dense) against COMPRESSED.onnx (palettized from it): every float tensor of the original
// must be in the compressed model under the same key, dtype and shape, dense or palettized.
EvalResult evaluate_onnx(const std::filesystem::path& original, const std::filesystem::path& compressed);

}  // namespace palettize::tools
