#include "cli/sensitivity_table.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "palettize/error.hpp"
#include "palettize/output_file.hpp"

namespace palettize::cli {
namespace {

constexpr const char* kDamageDefinition =
    "output noise power / output signal power (mean over the outputs) with only this tensor palettized with this "
    "candidate; damages add across tensors, so -10 log10(sum of the chosen damages) predicts the output SNR in dB";

std::string shortened(const nlohmann::json& value) {
  std::string text = value.dump();
  return text.size() <= 240 ? text : text.substr(0, 240) + "...";
}

nlohmann::json snr_json(double snr) { return std::isinf(snr) ? nlohmann::json("inf") : nlohmann::json(snr); }

double snr_from_json(const nlohmann::json& value) {
  return value.is_string() ? INFINITY : value.get<double>();
}

}  // namespace

bool SensitivityTable::has(const std::string& tensor, const std::string& label) const {
  const auto found = damage.find(tensor);
  return found != damage.end() && found->second.count(label) > 0;
}

void SensitivityTable::record(const std::string& tensor, const std::string& label, double value, double snr) {
  damage[tensor][label] = value;
  snr_db[tensor][label] = snr;
}

nlohmann::json SensitivityTable::to_json() const {
  nlohmann::json tensors = nlohmann::json::object();
  nlohmann::json snrs = nlohmann::json::object();
  for (const auto& [name, labels] : damage) {
    for (const auto& [label, value] : labels) {
      tensors[name][label] = value;
      snrs[name][label] = snr_json(snr_db.at(name).at(label));
    }
  }
  nlohmann::json sensitivity = identity;
  sensitivity["complete"] = complete;
  sensitivity["damage"] = kDamageDefinition;
  sensitivity["output_snr_db"] = snrs;
  if (!estimated.empty()) sensitivity["estimated"] = estimated;
  return {{"note", "output-aware importance measured by palettize sensitivity in onnxruntime; use with "
                   "palettize plan/compress --importance"},
          {"tensors", tensors},
          {"sensitivity", sensitivity}};
}

SensitivityTable load_sensitivity_table(const std::filesystem::path& path, const nlohmann::json& identity) {
  std::ifstream file(path, std::ios::binary);
  check(file.good(), path.string(), ": cannot open the sensitivity table");
  std::ostringstream text;
  text << file.rdbuf();
  const nlohmann::json json = nlohmann::json::parse(text.str(), nullptr, false);
  check(!json.is_discarded() && json.is_object() && json.contains("sensitivity") &&
            json["sensitivity"].is_object() && json.contains("tensors") && json["tensors"].is_object(),
        path.string(), ": exists and is not a table written by palettize sensitivity; remove it or choose "
        "another path");
  const nlohmann::json& recorded = json["sensitivity"];
  for (const auto& [key, value] : identity.items()) {
    const nlohmann::json found = recorded.value(key, nlohmann::json());
    check(found == value, path.string(), ": was measured with a different ", key, " (table: ", shortened(found),
          "; this run: ", shortened(value), "); it cannot be resumed: remove it or write to another path");
  }
  SensitivityTable table;
  table.identity = identity;
  table.complete = recorded.value("complete", false);
  const nlohmann::json snrs = recorded.value("output_snr_db", nlohmann::json::object());
  const nlohmann::json estimated = recorded.value("estimated", nlohmann::json::object());
  for (const auto& [name, labels] : json["tensors"].items()) {
    check(labels.is_object(), path.string(), ": tensors['", name, "'] is not an object of damages");
    for (const auto& [label, value] : labels.items()) {
      // Estimates are recomputed from the measurements at the end of every run.
      if (estimated.contains(name) && estimated[name].is_array() &&
          std::find(estimated[name].begin(), estimated[name].end(), label) != estimated[name].end()) {
        continue;
      }
      check(value.is_number() && value.get<double>() >= 0, path.string(), ": tensors['", name, "']['", label,
            "'] is not a damage >= 0");
      const double snr = snrs.contains(name) && snrs[name].contains(label) ? snr_from_json(snrs[name][label])
                                                                           : -10 * std::log10(value.get<double>());
      table.record(name, label, value.get<double>(), snr);
    }
  }
  return table;
}

void save_sensitivity_table(const std::filesystem::path& path, const SensitivityTable& table) {
  OutputFile out(path, /*force=*/true);
  out.write(table.to_json().dump(1) + "\n");
  out.commit();
}

}  // namespace palettize::cli
