// g++ 12 reports a false -Wmaybe-uninitialized inside <regex>'s compiler (std::function in _NFA states) at
// -O2 with sanitizers; it must be silenced before <regex> is first included in this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "config/yaml_json.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <regex>
#include <sstream>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "palettize/error.hpp"
#include "text/utf8.hpp"

namespace palettize::config_detail {
namespace {

std::optional<nlohmann::json> plain_scalar_as_number(const std::string& text) {
  static const std::regex integer_form("[-+]?[0-9]+");
  static const std::regex float_form("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (std::regex_match(text, integer_form)) {
    const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
    int64_t value = 0;
    const auto [end, status] = std::from_chars(begin, text.data() + text.size(), value);
    if (status == std::errc() && end == text.data() + text.size()) return nlohmann::json(value);
    return std::nullopt;  // out of int64 range: left as a string, so the type check names it
  }
  if (std::regex_match(text, float_form)) {
    const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
    double value = 0;
    const auto [end, status] = std::from_chars(begin, text.data() + text.size(), value);
    if (status == std::errc() && end == text.data() + text.size()) return nlohmann::json(value);
    return std::nullopt;  // beyond double's range (e.g. 1e999): left as a string, so the type check names it
  }
  return std::nullopt;
}

// YAML 1.2 core schema for plain (unquoted) scalars.
nlohmann::json plain_scalar_to_json(const std::string& text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (auto number = plain_scalar_as_number(text)) return *number;
  if (text == ".inf" || text == "+.inf" || text == ".Inf") return std::numeric_limits<double>::infinity();
  if (text == "-.inf" || text == "-.Inf") return -std::numeric_limits<double>::infinity();
  if (text == ".nan" || text == ".NaN") return std::numeric_limits<double>::quiet_NaN();
  return text;
}

std::string escape_pointer_token(const std::string& token) {
  std::string escaped;
  for (char c : token) {
    if (c == '~') escaped += "~0";
    else if (c == '/') escaped += "~1";
    else escaped += c;
  }
  return escaped;
}

class Converter {
 public:
  explicit Converter(std::string_view source) : source_(source) {}

  nlohmann::json convert(const YAML::Node& node, const std::string& pointer) {
    const int line = node.Mark().line + 1;
    // Aliases make the node graph cyclic (`a: &x {b: *x}`) or exponentially large once expanded (aliases of
    // aliases): both limits stop that with an Error instead of a stack overflow or unbounded memory.
    check(depth_ < kMaxDepth, source_, ":", line, ": invalid YAML: nested more than ", kMaxDepth,
          " levels deep (an alias inside the node it names?)");
    check(++values_ <= kMaxValues, source_, ":", line, ": invalid YAML: more than ", kMaxValues,
          " values once aliases are expanded");
    ++depth_;
    nlohmann::json json = convert_node(node, pointer);
    --depth_;
    lines_[pointer] = line;
    return json;
  }

  std::map<std::string, int> take_lines() { return std::move(lines_); }

 private:
  static constexpr int kMaxDepth = 64;
  static constexpr std::size_t kMaxValues = 100000;

  nlohmann::json convert_node(const YAML::Node& node, const std::string& pointer) {
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nullptr;
      case YAML::NodeType::Scalar:
        // yaml-cpp guesses UTF-16/32 from NUL bytes near the start and transcodes; what comes out need not be
        // UTF-8, which JSON (and so every error message that quotes the value) cannot hold.
        check(utf8::is_valid(node.Scalar()), source_, ":", node.Mark().line + 1,
              ": invalid YAML: a string is not UTF-8 once decoded");
        // yaml-cpp tags quoted scalars "!" and plain ones "?".
        return node.Tag() == "!" ? nlohmann::json(node.Scalar()) : plain_scalar_to_json(node.Scalar());
      case YAML::NodeType::Sequence: {
        nlohmann::json list = nlohmann::json::array();
        for (std::size_t i = 0; i < node.size(); ++i) list.push_back(convert(node[i], pointer + "/" + std::to_string(i)));
        return list;
      }
      case YAML::NodeType::Map:
        return convert_map(node, pointer);
    }
    fail(source_, ":", node.Mark().line + 1, ": unsupported YAML node");
  }

  nlohmann::json convert_map(const YAML::Node& node, const std::string& pointer) {
    nlohmann::json object = nlohmann::json::object();
    for (const auto& entry : node) {
      const int line = entry.first.Mark().line + 1;
      check(entry.first.IsScalar(), source_, ":", line, ": mapping keys must be plain strings");
      const std::string key = entry.first.Scalar();
      check(utf8::is_valid(key), source_, ":", line, ": invalid YAML: a key is not UTF-8 once decoded");
      check(!object.contains(key), source_, ":", line, ": duplicate key '", key, "'");
      object[key] = convert(entry.second, pointer + "/" + escape_pointer_token(key));
    }
    return object;
  }

  std::string source_;
  std::map<std::string, int> lines_;
  int depth_ = 0;
  std::size_t values_ = 0;
};

// Swallows parser events: used only to count documents.
class IgnoreEvents : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// Documents in `text`, counted up to 2. yaml-cpp 0.7's LoadAll can loop forever, allocating as it goes, on
// some malformed input (e.g. `{"a": 4}, "b: [{"c`; fixed upstream after 0.7 by jbeder/yaml-cpp PR 1319),
// so the parser is asked for at most two documents here and the first is read with Load.
std::size_t count_documents_up_to_two(const std::string& text) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  IgnoreEvents ignore;
  std::size_t count = 0;
  while (count < 2 && parser.HandleNextDocument(ignore)) ++count;
  return count;
}

}  // namespace

YamlDocument parse_yaml(std::string_view text, std::string_view source) {
  // yaml-cpp passes any bytes through, but everything read here may be printed as JSON (compress --json),
  // which only holds UTF-8: refuse other text up front, where the line is still known.
  if (const std::size_t bad = utf8::find_invalid(text); bad != std::string_view::npos) {
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad), '\n');
    fail(source, ":", line, ": invalid YAML: not UTF-8 (byte ", bad, ")");
  }
  const std::string yaml(text);
  std::size_t documents = 0;
  YAML::Node root;
  try {
    documents = count_documents_up_to_two(yaml);
    if (documents == 1) root = YAML::Load(yaml);
  } catch (const YAML::Exception& error) {
    fail(source, ":", error.mark.line + 1, ":", error.mark.column + 1, ": invalid YAML: ", error.msg);
  }
  check(documents <= 1, source, ": expected one YAML document, found 2 or more");
  YamlDocument document;
  if (documents == 0) return document;  // json stays null: the caller reports an empty config
  Converter converter(source);
  try {
    document.json = converter.convert(root, "");
  } catch (const YAML::Exception& error) {
    fail(source, ":", error.mark.line + 1, ":", error.mark.column + 1, ": invalid YAML: ", error.msg);
  }
  document.lines = converter.take_lines();
  return document;
}

}  // namespace palettize::config_detail
