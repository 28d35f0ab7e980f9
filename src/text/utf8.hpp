// private: include only from src/ and tests/
#pragma once
// UTF-8 validation for text that ends up in JSON we write: nlohmann::json::dump throws on invalid UTF-8,
// and that must surface early as palettize::Error naming the input, never as an internal failure.
#include <cstddef>
#include <string>
#include <string_view>

namespace palettize::utf8 {

namespace detail {
// A well-formed sequence (RFC 3629) starting with `lead`: its length (0: invalid lead byte) and the range
// of its second byte, which excludes overlong forms, surrogates and code points above U+10FFFF.
struct Sequence {
  std::size_t length = 0;
  unsigned char second_low = 0x80;
  unsigned char second_high = 0xBF;
};

inline Sequence sequence_starting_with(unsigned char lead) {
  if (lead < 0x80) return {1};
  if (lead >= 0xC2 && lead <= 0xDF) return {2};
  if (lead == 0xE0) return {3, 0xA0, 0xBF};
  if (lead == 0xED) return {3, 0x80, 0x9F};
  if (lead >= 0xE1 && lead <= 0xEF) return {3};
  if (lead == 0xF0) return {4, 0x90, 0xBF};
  if (lead == 0xF4) return {4, 0x80, 0x8F};
  if (lead >= 0xF1 && lead <= 0xF3) return {4};
  return {};
}
}  // namespace detail

// Offset of the first byte that does not start a well-formed UTF-8 sequence, or npos when `text` is valid.
inline std::size_t find_invalid(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const detail::Sequence sequence = detail::sequence_starting_with(static_cast<unsigned char>(text[i]));
    if (sequence.length == 0 || sequence.length > text.size() - i) return i;
    for (std::size_t k = 1; k < sequence.length; ++k) {
      const auto byte = static_cast<unsigned char>(text[i + k]);
      const unsigned char low = k == 1 ? sequence.second_low : 0x80;
      const unsigned char high = k == 1 ? sequence.second_high : 0xBF;
      if (byte < low || byte > high) return i;
    }
    i += sequence.length;
  }
  return std::string_view::npos;
}

inline bool is_valid(std::string_view text) { return find_invalid(text) == std::string_view::npos; }

// At most `max_bytes` of `text` for a message, cut before a continuation byte so a character stays whole,
// with "..." when something was cut.
inline std::string shortened(std::string_view text, std::size_t max_bytes = 64) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t shown = max_bytes;
  while (shown > 0 && (static_cast<unsigned char>(text[shown]) & 0xC0) == 0x80) --shown;
  return std::string(text.substr(0, shown)) + "...";
}

}  // namespace palettize::utf8
