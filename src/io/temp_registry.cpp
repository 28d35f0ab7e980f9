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

// States and paths apart: the states are one page, zero (kFree) from the start, so a process that never
// registers a file touches nothing else; as one array of {state, path} slots, initialising the states
// faulted in all 4 MiB at startup (about 1,000 page faults before main).
constinit std::atomic<int> g_states[kSlots] = {};
char g_paths[kSlots][PATH_MAX];
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
    if (!g_states[i].compare_exchange_strong(expected, kClaimed)) continue;
    std::memcpy(g_paths[i], path, length + 1);
    g_states[i].store(kLive, std::memory_order_release);
    return i;
  }
  fail("too many output files open at once (limit ", kSlots, ")");
}

void unregister_temp_file(int slot) noexcept {
  if (slot >= 0 && slot < kSlots) g_states[slot].store(kFree, std::memory_order_release);
}

}  // namespace io

void unlink_live_temp_files() noexcept {
  for (int i = 0; i < kSlots; ++i) {
    if (g_states[i].load(std::memory_order_acquire) == kLive) ::unlink(g_paths[i]);
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
  for (const auto& state : g_states) count += state.load() == kLive ? 1 : 0;
  return count;
}

}  // namespace palettize
