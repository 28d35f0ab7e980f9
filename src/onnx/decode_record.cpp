#include "onnx/decode_record.hpp"

#include <algorithm>

#include "palettize/error.hpp"
#include "palettize/spec_json.hpp"

namespace palettize::onnx_io {

std::string DecodeRecord::part(std::string_view suffix) const {
  const auto it = parts.find(std::string(suffix));
  return it != parts.end() ? it->second : output + std::string(suffix);
}

namespace {

nlohmann::json tensor_json(const PalettizedRecord& r, std::size_t spec_index) {
  const DecodeRecord& d = r.decode;
  nlohmann::json json{{"spec", spec_index}, {"dtype", dtype_name(r.entry.dtype)}, {"shape", r.entry.shape},
                      {"kind", d.kind}};
  if (d.output != r.entry.name) json["output"] = d.output;
  if (!d.node_name.empty()) json["node"] = d.node_name;
  nlohmann::json parts = nlohmann::json::object();
  for (const auto& [suffix, name] : d.parts)
    if (name != d.output + suffix) parts[suffix] = name;
  if (!parts.empty()) json["parts"] = parts;
  return json;
}

PalettizedRecord tensor_from_json(const std::string& key, const nlohmann::json& json,
                                  const std::vector<PalettizationSpec>& specs, std::string_view label) {
  auto bad = [&](const std::string& what) {
    fail("ONNX model ", label, ": the ", kOnnxRecordsKey, " entry of ", key, " ", what);
  };
  if (!json.is_object()) bad("is not a JSON object");
  PalettizedRecord r;
  DecodeRecord& d = r.decode;
  d.output = key;
  std::optional<std::size_t> spec;
  std::optional<DType> dtype;
  std::optional<Shape> shape;
  for (const auto& [field, value] : json.items()) {
    if (field == "spec") {
      if (!value.is_number_unsigned() || value.get<std::size_t>() >= specs.size()) bad("names no listed spec");
      spec = value.get<std::size_t>();
    } else if (field == "shape") {
      if (!value.is_array() || !std::all_of(value.begin(), value.end(), [](const auto& v) { return v.is_number_integer(); }))
        bad("has a \"shape\" that is not an array of integers");
      shape = value.get<Shape>();
    } else if (field == "parts") {
      if (!value.is_object()) bad("has \"parts\" that is not an object");
      for (const auto& [suffix, name] : value.items()) {
        if (!name.is_string()) bad("names part " + suffix + " with a non-string");
        d.parts[suffix] = name.get<std::string>();
      }
    } else if (!value.is_string()) {
      bad("has a non-string \"" + field + "\"");
    } else if (field == "dtype") {
      dtype = dtype_from_name(value.get<std::string>());
    } else if (field == "kind") {
      d.kind = value.get<std::string>();
    } else if (field == "output") {
      d.output = value.get<std::string>();
    } else if (field == "node") {
      d.node_name = value.get<std::string>();
    } else {
      bad("has an unknown field \"" + field + "\"");
    }
  }
  if (!spec || !dtype || !shape) bad("lacks \"spec\", \"dtype\" or \"shape\"");
  if (d.kind != "initializer" && d.kind != "Constant") bad("has no valid \"kind\"");
  try {
    r.entry = make_container_entry(key, *dtype, *shape, specs[*spec]);
  } catch (const Error& e) {
    bad(std::string("does not describe a palettized tensor: ") + e.what());
  }
  return r;
}

}  // namespace

std::string records_to_metadata(const std::vector<PalettizedRecord>& records) {
  nlohmann::json specs = nlohmann::json::array(), tensors = nlohmann::json::object();
  std::map<std::string, std::size_t> spec_index;  // compact JSON -> position in "specs"
  for (const PalettizedRecord& r : records) {
    const nlohmann::json spec = spec_to_json(r.entry.spec);
    const auto [it, added] = spec_index.emplace(spec.dump(), specs.size());
    if (added) specs.push_back(spec);
    tensors[r.entry.name] = tensor_json(r, it->second);
  }
  return nlohmann::json{{"specs", specs}, {"tensors", tensors}}.dump();
}

std::vector<PalettizedRecord> records_from_metadata(std::string_view text, std::string_view label) {
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  check(json.is_object() && json.contains("specs") && json["specs"].is_array() && json.contains("tensors") &&
            json["tensors"].is_object() && json.size() == 2,
        "ONNX model ", label, ": ", kOnnxRecordsKey, " is not a JSON object {\"specs\": [...], \"tensors\": {...}}");
  std::vector<PalettizationSpec> specs;
  for (const nlohmann::json& spec : json["specs"]) {
    try {
      specs.push_back(spec_from_json(spec).with_resolved_axis());
    } catch (const Error& e) {
      fail("ONNX model ", label, ": ", kOnnxRecordsKey, " lists an invalid spec: ", e.what());
    }
  }
  std::vector<PalettizedRecord> records;
  for (const auto& [key, tensor] : json["tensors"].items()) records.push_back(tensor_from_json(key, tensor, specs, label));
  return records;
}

}  // namespace palettize::onnx_io
