#pragma once
// private: include only from src/ and tests/
// Text and JSON forms of the values the commands print.
#include <cstdint>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "palettize/spec.hpp"
#include "palettize/tools.hpp"

namespace palettize::cli {

// Compact one-word-per-feature form for tables: "n4 g16@0", "n8 pt", "n3 pt cd2 pcs lut:int8/asym".
std::string spec_short_form(const PalettizationSpec& spec);
// "1.5 KB", "12.3 MB" (decimal units, as file sizes are usually shown).
std::string format_bytes(double bytes);
// "[64, 32]"
std::string format_shape(std::span<const int64_t> shape);
// Fixed decimals; "inf" for an exact reconstruction.
std::string format_decimal(double value, int decimals);
// JSON cannot hold infinities or NaN: they become null (an exact reconstruction has SNR null).
using tools::json_number;

}  // namespace palettize::cli
