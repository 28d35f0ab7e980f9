#pragma once
// The JSON form of a spec, in the reference's dict shape:
// {"n_bits":4,"lut_qspec":null|{"dtype":"int8","qscheme":"symmetric","qformulation":"zp",
//  "granularity":{"type":"per_tensor"}},"granularity":{"type":"per_tensor"} |
//  {"type":"per_grouped_channel","axis":0,"group_size":16},"cluster_dim":1,"enable_per_channel_scale":false}
// Missing fields take defaults; unknown fields, a missing or unknown "type" and wrong JSON types are errors.
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "palettize/spec.hpp"

namespace palettize {

nlohmann::json spec_to_json(const PalettizationSpec& spec);
PalettizationSpec spec_from_json(const nlohmann::json& json);  // validates; throws Error
PalettizationSpec parse_spec_json(std::string_view text);      // parse + spec_from_json
std::string spec_to_json_string(const PalettizationSpec& spec);  // compact, stable key order

nlohmann::json qspec_to_json(const QuantizationSpec& qspec);
QuantizationSpec qspec_from_json(const nlohmann::json& json);

}  // namespace palettize
