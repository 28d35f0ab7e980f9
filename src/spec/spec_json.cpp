#include "palettize/spec_json.hpp"

#include <climits>
#include <initializer_list>
#include <set>
#include <vector>

#include "palettize/error.hpp"
#include "spec/spec_rules.hpp"

namespace palettize {

using nlohmann::json;

namespace {

constexpr std::string_view kSpecFields = "n_bits, lut_qspec, granularity, cluster_dim, enable_per_channel_scale";
constexpr std::string_view kQSpecFields = "dtype, qscheme, qformulation, granularity";

// ---- typed field readers: each names the field, the expected and the actual JSON type ----

void check_object(const json& value, std::string_view path) {
  check(value.is_object(), path, " must be an object, got ", value.type_name());
}

// Rejects any key outside `allowed` (the reference's models forbid extra fields).
void check_known_keys(const json& object, std::string_view where, std::initializer_list<std::string_view> allowed,
                      std::string_view allowed_list) {
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (std::string_view name : allowed) known = known || key == name;
    check(known, "Unknown field '", key, "' in ", where, ". Allowed fields: ", allowed_list);
  }
}

int64_t read_int64(const json& value, std::string_view path) {
  check(value.is_number_integer(), path, " must be an integer, got ", value.type_name(), " ", value.dump());
  if (value.is_number_unsigned()) {
    const auto unsigned_value = value.get<uint64_t>();
    check(unsigned_value <= static_cast<uint64_t>(INT64_MAX), path, " is out of the int64 range, got ",
          unsigned_value);
    return static_cast<int64_t>(unsigned_value);
  }
  return value.get<int64_t>();
}

std::optional<int64_t> read_optional_int64(const json& value, std::string_view path) {
  if (value.is_null()) return std::nullopt;
  return read_int64(value, path);
}

// Only JSON booleans: the reference's pydantic lax mode would also take 0/1 and strings such as "true" or
// "yes", but a spec file that spells a flag as a number or string is more likely a mistake than intent,
// and the brief forbids silent coercions.
bool read_bool(const json& value, std::string_view path) {
  check(value.is_boolean(), path, " must be a boolean, got ", value.type_name(), " ", value.dump());
  return value.get<bool>();
}

std::string read_string(const json& value, std::string_view path) {
  check(value.is_string(), path, " must be a string, got ", value.type_name(), " ", value.dump());
  return value.get<std::string>();
}

// Narrows a value that passed the JSON type check; a value beyond int cannot satisfy `rule`, so the rule
// reports it (with its real value) instead of a wrapped one.
int to_int(int64_t value, void (*rule)(int64_t)) {
  if (value < INT_MIN || value > INT_MAX) {
    rule(value);
    fail("internal: value ", value, " passed a rule but does not fit int");
  }
  return static_cast<int>(value);
}

// ---- palettization granularity ----

json granularity_to_json(const PalettizationGranularity& granularity) {
  if (const auto* grouped = std::get_if<PerGroupedChannelGranularity>(&granularity)) {
    return {{"type", "per_grouped_channel"},
            {"axis", grouped->axis ? json(*grouped->axis) : json(nullptr)},
            {"group_size", grouped->group_size}};
  }
  return {{"type", "per_tensor"}};
}

// The "type" key names the registered class, as the reference's maybe_build_from_dict does.
std::string read_type_key(const json& object, std::string_view path, std::string_view registry) {
  check(object.contains("type"), "Missing type key in dict for ", registry);
  return read_string(object.at("type"), std::string(path) + ".type");
}

PalettizationGranularity granularity_from_json(const json& value) {
  check_object(value, "granularity");
  const std::string type = read_type_key(value, "granularity", "PalettizationGranularity");
  if (type == "per_tensor") {
    check_known_keys(value, "per_tensor granularity", {"type", "axis"}, "type, axis");
    if (value.contains("axis")) {
      check(value.at("axis").is_null(), "per_tensor granularity takes no axis (null only), got ",
            value.at("axis").dump());
    }
    return PerTensorGranularity{};
  }
  if (type == "per_grouped_channel") {
    check_known_keys(value, "per_grouped_channel granularity", {"type", "axis", "group_size"},
                     "type, axis, group_size");
    check(value.contains("group_size"), "Missing required field 'group_size' in per_grouped_channel granularity");
    PerGroupedChannelGranularity grouped;
    grouped.group_size = read_int64(value.at("group_size"), "granularity.group_size");
    if (value.contains("axis")) {
      const auto axis = read_optional_int64(value.at("axis"), "granularity.axis");
      if (axis) grouped.axis = to_int(*axis, spec_rules::check_grouped_axis);
    }
    return grouped;
  }
  fail("No object is registered with key: ", type,
       " in registry PalettizationGranularity. Registered: per_tensor, per_grouped_channel");
}

// ---- quantization granularity ----

json quant_granularity_to_json(const QuantGranularity& granularity) {
  json out = {{"type", std::string(to_string(granularity.type))}};
  if (granularity.type == QuantGranularity::Type::per_tensor) return out;
  out["axis"] = granularity.axis ? json(*granularity.axis) : json(nullptr);
  if (granularity.type == QuantGranularity::Type::per_block) {
    out["block_size"] = granularity.block_size ? json(*granularity.block_size) : json(nullptr);
  }
  return out;
}

QuantGranularity quant_granularity_from_json(const json& value) {
  constexpr std::string_view kPath = "lut_qspec.granularity";
  check_object(value, kPath);
  const std::string type = read_type_key(value, kPath, "QuantizationGranularity");
  QuantGranularity granularity;
  if (type == "per_tensor") {
    check_known_keys(value, "per_tensor granularity", {"type", "axis"}, "type, axis");
    if (value.contains("axis")) {
      check(value.at("axis").is_null(), "per_tensor granularity takes no axis (null only), got ",
            value.at("axis").dump());
    }
    return granularity;
  }
  if (type == "per_channel") {
    check_known_keys(value, "per_channel granularity", {"type", "axis"}, "type, axis");
    granularity.type = QuantGranularity::Type::per_channel;
    if (value.contains("axis")) granularity.axis = read_optional_int64(value.at("axis"), "lut_qspec.granularity.axis");
    return granularity;
  }
  if (type == "per_block") {
    check_known_keys(value, "per_block granularity", {"type", "axis", "block_size"}, "type, axis, block_size");
    check(value.contains("block_size"), "Missing required field 'block_size' in per_block granularity");
    granularity.type = QuantGranularity::Type::per_block;
    if (value.contains("axis")) granularity.axis = read_optional_int64(value.at("axis"), "lut_qspec.granularity.axis");
    granularity.block_size = read_int64(value.at("block_size"), "lut_qspec.granularity.block_size");
    return granularity;
  }
  fail("No object is registered with key: ", type,
       " in registry QuantizationGranularity. Registered: per_tensor, per_channel, per_block");
}

// ---- duplicate keys: nlohmann keeps the last one silently; a spec with two n_bits is ambiguous ----

json parse_rejecting_duplicate_keys(std::string_view text) {
  std::vector<std::set<std::string>> open_objects;
  const json::parser_callback_t callback = [&open_objects](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key) {
      const auto& key = parsed.get_ref<const std::string&>();
      check(open_objects.back().insert(key).second, "Invalid spec JSON: duplicate key '", key, "'");
    }
    return true;
  };
  try {
    return json::parse(text, callback);
  } catch (const json::exception& error) {  // parse_error, or out_of_range for a number like 1e999
    fail("Invalid spec JSON: ", error.what());
  }
}

// ---- QuantizationSpec ----


// Reads the fields without the semantic checks, so spec_from_json can run every rule in validate()'s order.
QuantizationSpec read_qspec_fields(const json& value) {
  check_object(value, "lut_qspec");
  check_known_keys(value, "lut_qspec", {"dtype", "qscheme", "qformulation", "granularity"}, kQSpecFields);
  QuantizationSpec qspec;
  if (value.contains("dtype")) qspec.dtype = quant_dtype_from_string(read_string(value.at("dtype"), "lut_qspec.dtype"));
  if (value.contains("qscheme")) {
    qspec.qscheme = qscheme_from_string(read_string(value.at("qscheme"), "lut_qspec.qscheme"));
  }
  if (value.contains("qformulation")) {
    qspec.qformulation = qformulation_from_string(read_string(value.at("qformulation"), "lut_qspec.qformulation"));
  }
  if (value.contains("granularity")) qspec.granularity = quant_granularity_from_json(value.at("granularity"));
  return qspec;
}

}  // namespace

QuantizationSpec qspec_from_json(const json& value) {
  QuantizationSpec qspec = read_qspec_fields(value);
  qspec.validate();
  return qspec;
}

json qspec_to_json(const QuantizationSpec& qspec) {
  return {{"dtype", std::string(to_string(qspec.dtype))},
          {"qscheme", std::string(to_string(qspec.qscheme))},
          {"qformulation", std::string(to_string(qspec.qformulation))},
          {"granularity", quant_granularity_to_json(qspec.granularity)}};
}

// ---- PalettizationSpec ----

json spec_to_json(const PalettizationSpec& spec) {
  return {{"n_bits", spec.n_bits},
          {"lut_qspec", spec.lut_qspec ? qspec_to_json(*spec.lut_qspec) : json(nullptr)},
          {"granularity", granularity_to_json(spec.granularity)},
          {"cluster_dim", spec.cluster_dim},
          {"enable_per_channel_scale", spec.enable_per_channel_scale}};
}

PalettizationSpec spec_from_json(const json& value) {
  check_object(value, "spec");
  // Structure and JSON types first; then validate() applies the rules in the reference's order.
  check_known_keys(value, "PalettizationSpec",
                   {"n_bits", "lut_qspec", "granularity", "cluster_dim", "enable_per_channel_scale"}, kSpecFields);
  PalettizationSpec spec;
  if (value.contains("n_bits")) {
    spec.n_bits = to_int(read_int64(value.at("n_bits"), "n_bits"), spec_rules::check_n_bits);
  }
  if (value.contains("lut_qspec") && !value.at("lut_qspec").is_null()) {
    spec.lut_qspec = read_qspec_fields(value.at("lut_qspec"));
  }
  if (value.contains("granularity")) spec.granularity = granularity_from_json(value.at("granularity"));
  if (value.contains("cluster_dim")) spec.cluster_dim = read_int64(value.at("cluster_dim"), "cluster_dim");
  if (value.contains("enable_per_channel_scale")) {
    spec.enable_per_channel_scale = read_bool(value.at("enable_per_channel_scale"), "enable_per_channel_scale");
  }
  spec.validate();
  return spec;
}

PalettizationSpec parse_spec_json(std::string_view text) { return spec_from_json(parse_rejecting_duplicate_keys(text)); }

// nlohmann::json keeps object keys sorted, so the dump is byte-stable for equal specs.
std::string spec_to_json_string(const PalettizationSpec& spec) { return spec_to_json(spec).dump(); }

}  // namespace palettize
