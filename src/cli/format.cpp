#include "cli/format.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "palettize/tensor.hpp"

namespace palettize::cli {

std::string spec_short_form(const PalettizationSpec& spec) {
  // A stream rather than string concatenation: g++ 12 -O3 reports a false -Wrestrict on the latter.
  std::ostringstream text;
  text << "n" << spec.n_bits;
  if (const auto* grouped = std::get_if<PerGroupedChannelGranularity>(&spec.granularity)) {
    text << " g" << grouped->group_size << "@" << grouped->axis.value_or(0);
  } else {
    text << " pt";
  }
  if (spec.cluster_dim > 1) text << " cd" << spec.cluster_dim;
  if (spec.enable_per_channel_scale) text << " pcs";
  if (spec.lut_qspec) {
    text << " lut:" << to_string(spec.lut_qspec->dtype);
    if (spec.lut_qspec->qscheme == QScheme::asymmetric) text << "/asym";
    if (spec.lut_qspec->qscheme == QScheme::symmetric_with_clipping) text << "/clip";
  }
  return text.str();
}

std::string format_bytes(double bytes) {
  static const char* const units[] = {"B", "KB", "MB", "GB", "TB"};
  int unit = 0;
  while (bytes >= 1000 && unit < 4) {
    bytes /= 1000;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
  return text;
}

std::string format_shape(std::span<const int64_t> shape) { return shape_to_string(shape); }

std::string format_decimal(double value, int decimals) {
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (std::isnan(value)) return "nan";
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

}  // namespace palettize::cli
