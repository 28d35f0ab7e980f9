#pragma once
// private: include only from src/ and tests/
// A one-line progress display on stderr: tensors done/total, throughput and ETA. It draws only when stderr
// is a terminal and the user did not ask for --quiet, so logs and pipes stay clean.
#include <chrono>
#include <cstdint>
#include <string>

#include "palettize/tools.hpp"

namespace palettize::cli {

class Progress {
 public:
  Progress(std::size_t total_tensors, uint64_t total_bytes, bool quiet);
  ~Progress();  // clears the line if still drawn

  bool enabled() const { return enabled_; }
  uint64_t done_bytes() const { return done_bytes_; }
  void start(const std::string& tensor_name);  // shows the tensor being worked on
  void finish_one(uint64_t bytes);             // one tensor done, `bytes` of input consumed
  void clear();                                // erase the line (before printing anything else)

 private:
  void draw(bool force);

  bool enabled_;
  std::size_t total_tensors_;
  uint64_t total_bytes_;
  std::size_t done_tensors_ = 0;
  uint64_t done_bytes_ = 0;
  std::string current_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_draw_;
  bool drawn_ = false;
};

// What the tool does with the library's callbacks (palettize/tools.hpp): warnings on stderr
// ("palettize: warning: ..."), and a Progress line per pass over a model unless `quiet`.
tools::Callbacks terminal_callbacks(bool quiet);

}  // namespace palettize::cli
