// Parsing and printing of model configs (see model_config.hpp for the format).
// g++ 12 reports a false -Wmaybe-uninitialized inside <regex>'s compiler (std::function in _NFA states) at
// -O2 with sanitizers; it must be silenced before <regex> is first included in this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "palettize/model_config.hpp"

#include <fstream>
#include <sstream>

#include "config/yaml_json.hpp"
#include "palettize/error.hpp"
#include "palettize/spec_json.hpp"
#include "text/utf8.hpp"

namespace palettize {
namespace {

using nlohmann::json;

std::string json_type_name(const json& value) {
  if (value.is_number_integer()) return "an integer";
  if (value.is_number_float()) return "a number";
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "a list";
    case json::value_t::object: return "a mapping";
    default: return "a value";
  }
}

// Builds messages "<source>:<line>: <key path>: <problem>"; the line is known for YAML sources.
class Locator {
 public:
  Locator(std::string_view source, std::map<std::string, int> lines) : source_(source), lines_(std::move(lines)) {}

  [[noreturn]] void fail_at(const std::string& pointer, const std::string& key_path, const std::string& problem) const {
    std::ostringstream message;
    message << source_;
    if (auto line = lines_.find(pointer); line != lines_.end()) message << ":" << line->second;
    message << ": " << (key_path.empty() ? std::string("config") : key_path) << ": " << problem;
    throw Error(message.str());
  }

  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::map<std::string, int> lines_;
};

void check_keys(const json& object, std::initializer_list<std::string_view> allowed, const Locator& locator,
                const std::string& pointer, const std::string& key_path) {
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    std::string choices;
    for (std::string_view name : allowed) {
      known = known || key == name;
      choices += (choices.empty() ? "" : ", ") + std::string(name);
    }
    if (!known) {
      const std::string where = key_path.empty() ? key : key_path + "." + key;
      locator.fail_at(pointer + "/" + key, where, "unknown key '" + key + "'. Allowed keys: " + choices);
    }
  }
}

// A spec value: a mapping (partial specs take defaults), a preset name, or null (stay dense).
std::optional<PalettizationSpec> parse_spec_value(const json& value, const Locator& locator, const std::string& pointer,
                                                  const std::string& key_path) {
  if (value.is_null()) return std::nullopt;
  try {
    if (value.is_string()) return preset_spec(value.get<std::string>());
    if (value.is_object()) return spec_from_json(value);
  } catch (const Error& error) {
    locator.fail_at(pointer, key_path, error.what());
  }
  locator.fail_at(pointer, key_path,
                  "expected a spec mapping, a preset name (w4, w6, w8, default) or null, got " + json_type_name(value));
}

TensorRule parse_rule(const json& value, std::size_t index, const Locator& locator) {
  const std::string pointer = "/rules/" + std::to_string(index);
  const std::string key_path = "rules[" + std::to_string(index) + "]";
  if (!value.is_object()) locator.fail_at(pointer, key_path, "expected a mapping {pattern, spec}, got " + json_type_name(value));
  check_keys(value, {"pattern", "spec"}, locator, pointer, key_path);
  if (!value.contains("pattern")) locator.fail_at(pointer, key_path, "missing key 'pattern' (a regex matched against the whole tensor name)");
  if (!value.contains("spec")) locator.fail_at(pointer, key_path, "missing key 'spec' (a spec mapping, a preset name, or null to leave matching tensors dense)");
  const json& pattern = value.at("pattern");
  if (!pattern.is_string() || pattern.get<std::string>().empty()) {
    locator.fail_at(pointer + "/pattern", key_path + ".pattern", "expected a non-empty regex string, got " + json_type_name(pattern));
  }
  TensorRule rule;
  try {
    rule = make_tensor_rule(pattern.get<std::string>(), std::nullopt);
  } catch (const Error& error) {
    locator.fail_at(pointer + "/pattern", key_path + ".pattern", error.what());
  }
  rule.spec = parse_spec_value(value.at("spec"), locator, pointer + "/spec", key_path + ".spec");
  return rule;
}

int64_t parse_min_elements(const json& value, const Locator& locator) {
  if (!value.is_number_integer() || value.get<int64_t>() < 0) {
    locator.fail_at("/min_elements", "min_elements", "expected a non-negative integer, got " +
                    (value.is_number() ? value.dump() : json_type_name(value)));
  }
  return value.get<int64_t>();
}

ModelConfig parse_config(const json& document, const Locator& locator) {
  if (document.is_null()) {
    locator.fail_at("", "", "the config is empty; expected a mapping with keys global, rules, min_elements");
  }
  if (!document.is_object()) locator.fail_at("", "", "expected a mapping with keys global, rules, min_elements, got " + json_type_name(document));
  check_keys(document, {"global", "rules", "min_elements"}, locator, "", "");
  ModelConfig config;
  config.source = locator.source();
  if (document.contains("global")) config.global = parse_spec_value(document.at("global"), locator, "/global", "global");
  if (document.contains("min_elements")) config.min_elements = parse_min_elements(document.at("min_elements"), locator);
  if (document.contains("rules")) {
    const json& rules = document.at("rules");
    if (!rules.is_null() && !rules.is_array()) locator.fail_at("/rules", "rules", "expected a list of {pattern, spec}, got " + json_type_name(rules));
    if (rules.is_array()) {
      for (std::size_t i = 0; i < rules.size(); ++i) config.rules.push_back(parse_rule(rules[i], i, locator));
    }
  }
  return config;
}

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  check(file.good(), path.string(), ": cannot open the config file");
  std::ostringstream text;
  text << file.rdbuf();
  check(!file.bad(), path.string(), ": cannot read the config file");
  return text.str();
}

}  // namespace

ModelConfig model_config_from_json(const nlohmann::json& json, std::string_view source) {
  return parse_config(json, Locator(source, {}));
}

ModelConfig model_config_from_json_text(std::string_view text, std::string_view source) {
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& error) {  // parse_error, or out_of_range for a number like 1e999
    fail(source, ": invalid JSON: ", error.what());
  }
  return model_config_from_json(document, source);
}

ModelConfig model_config_from_yaml(std::string_view text, std::string_view source) {
  config_detail::YamlDocument document = config_detail::parse_yaml(text, source);
  return parse_config(document.json, Locator(source, std::move(document.lines)));
}

ModelConfig load_model_config(const std::filesystem::path& path) {
  const std::string text = read_text_file(path);
  if (path.extension() == ".json") return model_config_from_json_text(text, path.string());
  return model_config_from_yaml(text, path.string());
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The numbers std::regex parses as integers: a back-reference (\12) and a repeat count ({2} or {2,10}).
// Inside a class [...] neither is a count. Anything else malformed is left to std::regex to report.
void check_pattern_numbers(std::string_view pattern) {
  bool in_class = false;
  bool in_count = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    const bool number_follows = (c == '\\') || (!in_class && (c == '{' || (in_count && c == ',')));
    if (number_follows) {
      std::size_t digits = 0;
      while (i + 1 + digits < pattern.size() && is_digit(pattern[i + 1 + digits])) ++digits;
      check(digits <= kMaxRulePatternNumberDigits, "invalid regex '", utf8::shortened(pattern),
            "': a back-reference or repeat count of ", digits,
            " digits (at most ", kMaxRulePatternNumberDigits, ")");
    }
    if (c == '\\') {
      ++i;  // the escaped character is literal
    } else if (in_class) {
      in_class = c != ']';
    } else if (c == '[') {
      in_class = true;
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') ++i;
    } else if (c == '{') {
      in_count = true;
    } else if (c == '}') {
      in_count = false;
    }
  }
}

}  // namespace

TensorRule make_tensor_rule(std::string pattern, std::optional<PalettizationSpec> spec) {
  check(pattern.size() <= kMaxRulePatternBytes, "invalid regex '", utf8::shortened(pattern), "': ", pattern.size(),
        " bytes, more than the ", kMaxRulePatternBytes, " bytes a rule's pattern may have");
  check_pattern_numbers(pattern);
  TensorRule rule;
  try {
    rule.regex = std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& error) {
    fail("invalid regex '", pattern, "': ", error.what());
  }
  rule.pattern = std::move(pattern);
  rule.spec = std::move(spec);
  return rule;
}

ModelConfig model_config_for_global(const PalettizationSpec& spec, std::string source) {
  spec.validate();
  ModelConfig config;
  config.global = spec;
  config.source = std::move(source);
  return config;
}

nlohmann::json model_config_to_json(const ModelConfig& config) {
  auto spec_or_null = [](const std::optional<PalettizationSpec>& spec) {
    return spec ? spec_to_json(*spec) : nlohmann::json(nullptr);
  };
  nlohmann::json rules = nlohmann::json::array();
  for (const TensorRule& rule : config.rules) {
    rules.push_back({{"pattern", rule.pattern}, {"spec", spec_or_null(rule.spec)}});
  }
  return {{"global", spec_or_null(config.global)}, {"rules", rules}, {"min_elements", config.min_elements}};
}

}  // namespace palettize
