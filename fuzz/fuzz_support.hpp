// Shared pieces of the libFuzzer targets. The contract under test (error.hpp): hostile input may only ever
// throw palettize::Error. Any other exception escapes LLVMFuzzerTestOneInput, aborts, and libFuzzer
// reports it as a crash, exactly like a sanitizer finding or a violated invariant (PALETTIZE_FUZZ_ASSERT).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>

#include "palettize/error.hpp"

namespace palettize::fuzz {

inline std::span<const std::byte> as_bytes(const uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const std::byte*>(data), size};
}

inline std::string_view as_text(const uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

[[noreturn]] inline void invariant_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz invariant violated: %s\n", file, line, condition);
  std::abort();
}

// Runs `body`; a palettize::Error is the expected way to refuse bad input, anything else propagates.
template <typename Body>
void refuse_with_error_only(Body&& body) {
  try {
    body();
  } catch (const Error&) {
  }
}

// Reads the fuzz input front to back: small structural choices first, the rest as raw bytes.
class InputReader {
 public:
  InputReader(const uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  uint8_t byte() { return position_ < size_ ? data_[position_++] : 0; }
  // A value in [0, bound) taken from one byte (bound <= 256).
  unsigned choice(unsigned bound) { return bound == 0 ? 0 : byte() % bound; }
  uint16_t u16() { return static_cast<uint16_t>(byte() | (byte() << 8)); }
  std::span<const uint8_t> take(std::size_t count) {
    const std::size_t available = size_ - position_;
    if (count > available) count = available;
    const std::span<const uint8_t> part(data_ + position_, count);
    position_ += count;
    return part;
  }
  std::span<const uint8_t> rest() { return take(size_ - position_); }

 private:
  const uint8_t* data_;
  std::size_t size_;
  std::size_t position_ = 0;
};

}  // namespace palettize::fuzz

#define PALETTIZE_FUZZ_ASSERT(condition) \
  ((condition) ? void(0) : ::palettize::fuzz::invariant_failed(#condition, __FILE__, __LINE__))
