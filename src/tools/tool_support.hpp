#pragma once
// private: include only from src/ and tests/
// Small pieces the tools share: which format a pair of paths names, and reporting through the callbacks.
#include <filesystem>
#include <string>

#include "palettize/tools.hpp"

namespace palettize::tools {

// The tools read and write safetensors checkpoints or ONNX models, never converting between them: true when
// both paths name ONNX models (by extension), false when neither does, and an Error naming both paths for a
// mixed pair.
bool is_onnx_pair(const std::filesystem::path& first, const std::filesystem::path& second);

// Both paths name the same existing file.
bool same_file(const std::filesystem::path& a, const std::filesystem::path& b);

inline void warn(const Callbacks& callbacks, const std::string& message) {
  if (callbacks.warning) callbacks.warning(message);
}

// Turns "start tensor / one tensor done" into ProgressUpdate calls; does nothing without a callback.
class ProgressReporter {
 public:
  ProgressReporter(const Callbacks& callbacks, std::size_t total_tensors, uint64_t total_bytes)
      : callback_(callbacks.progress) {
    update_.total_tensors = total_tensors;
    update_.total_bytes = total_bytes;
  }
  void start(const std::string& tensor) {
    current_ = tensor;
    send(ProgressUpdate::Event::start);
  }
  void finish_one(uint64_t bytes) {
    ++update_.done_tensors;
    update_.done_bytes += bytes;
    send(ProgressUpdate::Event::finish);
  }

 private:
  void send(ProgressUpdate::Event event) {
    if (!callback_) return;
    update_.event = event;
    update_.tensor = current_;
    callback_(update_);
  }

  const std::function<void(const ProgressUpdate&)>& callback_;
  ProgressUpdate update_;
  std::string current_;
};

}  // namespace palettize::tools
