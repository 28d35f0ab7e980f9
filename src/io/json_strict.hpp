// private: include only from src/ and tests/
#pragma once
// Strict JSON parsing for untrusted files. nlohmann::json keeps the last of duplicate keys silently and
// happily builds deep or huge documents; these limits and the duplicate check are enforced while parsing.
#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

namespace palettize::io {

struct JsonLimits {
  int max_depth = 8;                                 // nesting of objects and arrays (top level = 1)
  std::size_t max_array_elements = std::size_t(-1);  // per array
};

// Parses `text` as one JSON document. Error (prefixed with `label`) on a syntax error, invalid UTF-8, a
// duplicate key in any object (naming the key), or a limit exceeded.
nlohmann::json parse_json_strict(std::string_view text, std::string_view label, const JsonLimits& limits);

}  // namespace palettize::io
