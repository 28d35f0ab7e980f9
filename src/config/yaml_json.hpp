#pragma once
// private: include only from src/ and tests/
// YAML -> nlohmann::json conversion for config files, keeping the line of every value for messages.
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace palettize::config_detail {

struct YamlDocument {
  nlohmann::json json;
  std::map<std::string, int> lines;  // JSON pointer ("/rules/0/spec") -> 1-based line in the source
};

// Parses one YAML document. Plain scalars follow the YAML 1.2 core schema (null, true/false, integers,
// floats); quoted scalars stay strings. Throws Error naming `source` and the line for syntax errors,
// duplicate keys, non-string keys, aliases to nowhere and multi-document streams.
YamlDocument parse_yaml(std::string_view text, std::string_view source);

}  // namespace palettize::config_detail
