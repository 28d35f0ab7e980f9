#pragma once
// private: include only from src/ and tests/
// The table `palettize sensitivity` writes and `--importance` reads (see mixed_precision.hpp):
//   {"note": ...,
//    "tensors": {NAME: {"n2": damage, "n4": damage, ...}},
//    "sensitivity": {"complete": bool, "model": file name, "fingerprint": weights hash, "candidates": [...],
//                    "inputs": {...}, "sets", "seed", "outputs": [...] or "all", "specs": {NAME: spec},
//                    "measured": [labels] (with --measure), "estimated": {NAME: [labels]},
//                    "damage": definition, "output_snr_db": {NAME: {label: dB}}}}
// damage = output noise power / output signal power (mean over the measured outputs) when only that tensor
// is palettized with that candidate. The allocator adds damages across tensors: for small, independent
// errors the output noise powers add, so -10 log10(sum of damages) predicts the output SNR of a recipe.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace palettize::cli {

struct SensitivityTable {
  // What the measurements depend on; a table is resumed only when all of it is equal.
  // Keys: "model", "fingerprint", "candidates", "inputs", "sets", "seed", "outputs", "specs", "measured",
  // "transform".
  nlohmann::json identity = nlohmann::json::object();
  std::map<std::string, std::map<std::string, double>> damage;   // tensor -> candidate label -> damage
  std::map<std::string, std::map<std::string, double>> snr_db;   // same keys; +inf for identical outputs
  std::map<std::string, std::vector<std::string>> estimated;    // tensor -> labels estimated, not measured
  bool complete = false;

  bool has(const std::string& tensor, const std::string& label) const;
  void record(const std::string& tensor, const std::string& label, double damage, double snr_db);
  nlohmann::json to_json() const;
};

// Reads an existing table to resume. Error naming the file when it is not a sensitivity table, or when it
// was measured for something else than `identity` (the first differing item is named, with both values).
SensitivityTable load_sensitivity_table(const std::filesystem::path& path, const nlohmann::json& identity);

// Writes the table atomically (a reader never sees half a file), replacing the previous version.
void save_sensitivity_table(const std::filesystem::path& path, const SensitivityTable& table);

}  // namespace palettize::cli
