#include "cli/progress.hpp"

#include "cli/cli_common.hpp"

#include <cstdio>
#include <memory>
#include <optional>

#include <unistd.h>

namespace palettize::cli {
namespace {

std::string format_duration(double seconds) {
  const auto total = static_cast<long long>(seconds + 0.5);
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", total / 3600, total / 60 % 60, total % 60);
  } else {
    std::snprintf(text, sizeof text, "%lld:%02lld", total / 60, total % 60);
  }
  return text;
}

constexpr std::size_t kLineWidth = 100;

}  // namespace

Progress::Progress(std::size_t total_tensors, uint64_t total_bytes, bool quiet)
    : enabled_(!quiet && isatty(STDERR_FILENO) == 1),
      total_tensors_(total_tensors),
      total_bytes_(total_bytes),
      started_(std::chrono::steady_clock::now()),
      last_draw_(started_) {}

Progress::~Progress() { clear(); }

void Progress::start(const std::string& tensor_name) {
  current_ = tensor_name;
  draw(false);
}

void Progress::finish_one(uint64_t bytes) {
  ++done_tensors_;
  done_bytes_ += bytes;
  draw(done_tensors_ == total_tensors_);
}

void Progress::clear() {
  if (!enabled_ || !drawn_) return;
  std::fprintf(stderr, "\r%*s\r", static_cast<int>(kLineWidth), "");
  std::fflush(stderr);
  drawn_ = false;
}

void Progress::draw(bool force) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  // Redraw at most ten times a second: a checkpoint of many small tensors would otherwise flood the terminal.
  if (!force && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - started_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_bytes_) / elapsed : 0;
  std::string eta = "--:--";
  if (rate > 0 && done_bytes_ > 0) eta = format_duration(static_cast<double>(total_bytes_ - done_bytes_) / rate);
  const double percent = total_bytes_ ? 100.0 * static_cast<double>(done_bytes_) / static_cast<double>(total_bytes_) : 100;
  char head[128];
  std::snprintf(head, sizeof head, "[%zu/%zu] %5.1f%% %7.1f MB/s ETA %s  ", done_tensors_, total_tensors_, percent,
                rate / 1e6, eta.c_str());
  std::string line = head + current_;
  if (line.size() > kLineWidth) line = line.substr(0, kLineWidth - 3) + "...";
  std::fprintf(stderr, "\r%-*s", static_cast<int>(kLineWidth), line.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

tools::Callbacks terminal_callbacks(bool quiet) {
  auto progress = std::make_shared<std::optional<Progress>>();
  tools::Callbacks callbacks;
  callbacks.warning = [progress](const std::string& message) {
    if (*progress) (*progress)->clear();
    warn(message);
  };
  callbacks.progress = [progress, quiet](const tools::ProgressUpdate& update) {
    using Event = tools::ProgressUpdate::Event;
    if (update.event == Event::start) {
      if (update.done_tensors == 0) progress->emplace(update.total_tensors, update.total_bytes, quiet);
      (*progress)->start(std::string(update.tensor));
      return;
    }
    const uint64_t before = (*progress)->done_bytes();
    (*progress)->finish_one(update.done_bytes - before);
    if (update.done_tensors == update.total_tensors) progress->reset();  // the destructor clears the line
  };
  return callbacks;
}

}  // namespace palettize::cli
