#include "tools/tool_support.hpp"

#include "palettize/error.hpp"
#include "palettize/onnx_model.hpp"

namespace palettize::tools {

bool is_onnx_pair(const std::filesystem::path& first, const std::filesystem::path& second) {
  const bool first_onnx = is_onnx_path(first);
  const bool second_onnx = is_onnx_path(second);
  check(first_onnx == second_onnx, first.string(), " and ", second.string(),
        ": one is an ONNX model (.onnx) and the other is not; palettize reads and writes safetensors "
        "checkpoints and ONNX models but does not convert between them");
  return first_onnx;
}

bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::error_code error;
  return std::filesystem::equivalent(a, b, error) && !error;
}

}  // namespace palettize::tools
