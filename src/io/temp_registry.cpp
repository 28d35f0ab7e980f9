// Temporary files are registered as fixed C strings in static slots so that a signal handler can unlink them
// using nothing but atomic loads and unlink(), both async-signal-safe.
#include "io/temp_registry.hpp"

#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "palettize/error.hpp"
#include "palettize/output_file.hpp"

namespace palettize {
namespace {

constexpr int kSlots = 1024;
enum SlotState : int { kFree = 0, kClaimed = 1, kLive = 2 };

struct Slot {
  std::atomic<int> state{kFree};
  char path[PATH_MAX];
};

Slot g_slots[kSlots];
static_assert(std::atomic<int>::is_always_lock_free, "signal handlers need lock-free atomics");

void cleanup_and_reraise(int signal_number) {
  unlink_live_temp_files();
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  sigaction(signal_number, &action, nullptr);
  raise(signal_number);
}

}  // namespace

namespace io {

int register_temp_file(const char* path) {
  const std::size_t length = std::strlen(path);
  check(length < PATH_MAX, "temporary file path is longer than ", PATH_MAX - 1, " bytes: ", path);
  for (int i = 0; i < kSlots; ++i) {
    int expected = kFree;
    if (!g_slots[i].state.compare_exchange_strong(expected, kClaimed)) continue;
    std::memcpy(g_slots[i].path, path, length + 1);
    g_slots[i].state.store(kLive, std::memory_order_release);
    return i;
  }
  fail("too many output files open at once (limit ", kSlots, ")");
}

void unregister_temp_file(int slot) noexcept {
  if (slot >= 0 && slot < kSlots) g_slots[slot].state.store(kFree, std::memory_order_release);
}

}  // namespace io

void unlink_live_temp_files() noexcept {
  for (auto& slot : g_slots) {
    if (slot.state.load(std::memory_order_acquire) == kLive) ::unlink(slot.path);
  }
}

void install_temp_file_cleanup_handlers() {
  struct sigaction action {};
  action.sa_handler = cleanup_and_reraise;
  sigemptyset(&action.sa_mask);
  for (int signal_number : {SIGINT, SIGTERM}) {
    check(sigaction(signal_number, &action, nullptr) == 0, "cannot install the handler for signal ", signal_number);
  }
}

std::size_t live_temp_file_count() {
  std::size_t count = 0;
  for (const auto& slot : g_slots) count += slot.state.load() == kLive ? 1 : 0;
  return count;
}

}  // namespace palettize
