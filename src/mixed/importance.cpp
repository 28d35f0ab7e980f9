// Importance files: a per-tensor factor on weight SSE, or a per-candidate damage table.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "io/json_strict.hpp"
#include "palettize/error.hpp"
#include "palettize/mixed_precision.hpp"

namespace palettize {
namespace {

double importance_value(const nlohmann::json& value, std::string_view source, const std::string& where) {
  check(value.is_number(), source, ": ", where, ": expected a number, got ", value.dump());
  const double number = value.get<double>();
  check(std::isfinite(number) && number >= 0, source, ": ", where, ": expected a finite number >= 0, got ",
        value.dump());
  return number;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  check(file.good(), path.string(), ": cannot open the importance file");
  std::ostringstream text;
  text << file.rdbuf();
  check(!file.bad(), path.string(), ": cannot read the importance file");
  return text.str();
}

void apply_per_candidate(TensorCandidates& tensor, const std::map<std::string, double>& damage,
                         std::string_view source) {
  for (const auto& [label, value] : damage) {
    // An init-capture, since clang-14 (the fuzz build) cannot capture a structured binding.
    const bool known = std::any_of(tensor.candidates.begin(), tensor.candidates.end(),
                                   [&label = label](const Candidate& c) { return c.label == label; });
    check(known, source, ": tensor '", tensor.name, "': '", label, "' is not one of its candidates");
  }
  for (Candidate& candidate : tensor.candidates) {
    const auto found = damage.find(candidate.label);
    if (found != damage.end()) {
      candidate.cost = found->second;
      continue;
    }
    check(!candidate.spec, source, ": tensor '", tensor.name, "' has no damage for candidate '", candidate.label,
          "'; list every candidate (\"dense\" may be left out: it costs 0)");
    candidate.cost = 0;
  }
}

}  // namespace

ImportanceTable importance_from_json(const nlohmann::json& json, std::string_view source) {
  check(json.is_object(), source, ": expected an object {\"tensors\": {...}}, got ", json.dump());
  for (const auto& [key, value] : json.items()) {
    check(key == "tensors" || key == "note" || key == "sensitivity", source, ": unknown key '", key,
          "' (expected \"tensors\", \"note\", \"sensitivity\")");
  }
  // A table palettize sensitivity is still filling lacks tensors, which would silently fall back to weight
  // SSE on another scale.
  if (json.contains("sensitivity")) {
    const nlohmann::json& sensitivity = json.at("sensitivity");
    check(sensitivity.is_object() && sensitivity.value("complete", false) == true, source,
          ": a partial sensitivity table (\"sensitivity\": {\"complete\": false}); finish it by rerunning palettize "
          "sensitivity with the same arguments");
  }
  check(json.contains("tensors") && json.at("tensors").is_object(), source,
        ": \"tensors\" must be an object {NAME: importance or {candidate: damage}}");
  ImportanceTable table;
  table.source = std::string(source);
  if (json.contains("sensitivity")) table.sensitivity = json.at("sensitivity");
  for (const auto& [name, value] : json.at("tensors").items()) {
    if (!value.is_object()) {
      table.scale[name] = importance_value(value, source, "tensors['" + name + "']");
      continue;
    }
    std::map<std::string, double>& damage = table.per_candidate[name];
    for (const auto& [label, entry] : value.items()) {
      damage[label] = importance_value(entry, source, "tensors['" + name + "']['" + label + "']");
    }
    check(!damage.empty(), source, ": tensors['", name, "'] lists no candidates");
  }
  return table;
}

ImportanceTable load_importance(const std::filesystem::path& path) {
  const nlohmann::json json = io::parse_json_strict(read_file(path), path.string(), io::JsonLimits{});
  return importance_from_json(json, path.string());
}

void apply_importance(std::vector<TensorCandidates>& tensors, const ImportanceTable& table,
                      std::span<const std::string> other_model_tensors) {
  auto check_name = [&](const std::string& name) {
    const bool planned = std::any_of(tensors.begin(), tensors.end(), [&](const auto& t) { return t.name == name; });
    const bool other = std::find(other_model_tensors.begin(), other_model_tensors.end(), name) !=
                       other_model_tensors.end();
    check(planned || other, table.source, ": tensor '", name, "' is not a tensor of the model");
  };
  for (const auto& [name, value] : table.scale) check_name(name);
  for (const auto& [name, value] : table.per_candidate) check_name(name);
  for (TensorCandidates& tensor : tensors) {
    const auto per_candidate = table.per_candidate.find(tensor.name);
    if (per_candidate != table.per_candidate.end()) {
      tensor.importance = 1;
      apply_per_candidate(tensor, per_candidate->second, table.source);
      continue;
    }
    const auto scale = table.scale.find(tensor.name);
    tensor.importance = scale == table.scale.end() ? 1.0 : scale->second;
    for (Candidate& candidate : tensor.candidates) candidate.cost = tensor.importance * candidate.sse;
  }
}

}  // namespace palettize
