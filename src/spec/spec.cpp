#include "palettize/spec.hpp"

#include <array>
#include <string>

#include "palettize/error.hpp"
#include "spec/spec_rules.hpp"

namespace palettize {

namespace {

struct DtypeName {
  QuantDtype dtype;
  std::string_view name;
};

constexpr std::array<DtypeName, 9> kDtypeNames{{
    {QuantDtype::int8, "int8"},
    {QuantDtype::uint8, "uint8"},
    {QuantDtype::float8_e4m3fn, "float8_e4m3fn"},
    {QuantDtype::float8_e5m2, "float8_e5m2"},
    {QuantDtype::int4, "int4"},
    {QuantDtype::int2, "int2"},
    {QuantDtype::uint4, "uint4"},
    {QuantDtype::uint2, "uint2"},
    {QuantDtype::float4_e2m1fn_x2, "float4_e2m1fn_x2"},
}};

// Sorted, as the reference lists them in "Unsupported dtype" messages.
constexpr std::string_view kAllowedDtypeList =
    "float4_e2m1fn_x2, float8_e4m3fn, float8_e5m2, int2, int4, int8, uint2, uint4, uint8";

// The reference prints a Python set here; we fix the order so messages are deterministic.
constexpr std::string_view kLutDtypeSet = "{int8, uint8, float8_e4m3fn, float8_e5m2}";

bool is_supported_lut_dtype(QuantDtype dtype) {
  return dtype == QuantDtype::int8 || dtype == QuantDtype::uint8 || dtype == QuantDtype::float8_e4m3fn ||
         dtype == QuantDtype::float8_e5m2;
}

// Class name of a quantization granularity, as the reference's messages print it.
std::string_view class_name(QuantGranularity::Type type) {
  switch (type) {
    case QuantGranularity::Type::per_tensor: return "PerTensorGranularity";
    case QuantGranularity::Type::per_channel: return "PerChannelGranularity";
    case QuantGranularity::Type::per_block: return "PerBlockGranularity";
  }
  fail("invalid quantization granularity type value ", static_cast<int>(type));
}

int integer_bits(QuantDtype dtype) {
  switch (dtype) {
    case QuantDtype::int8:
    case QuantDtype::uint8: return 8;
    case QuantDtype::int4:
    case QuantDtype::uint4: return 4;
    case QuantDtype::int2:
    case QuantDtype::uint2: return 2;
    default: fail("dtype ", to_string(dtype), " is not an integer dtype");
  }
}

bool is_signed_integer(QuantDtype dtype) {
  return dtype == QuantDtype::int8 || dtype == QuantDtype::int4 || dtype == QuantDtype::int2;
}

// Field consistency of the granularity (the reference's pydantic classes enforce this at construction).
void validate_quant_granularity(const QuantGranularity& granularity) {
  switch (granularity.type) {
    case QuantGranularity::Type::per_tensor:
      check(!granularity.axis, "per_tensor granularity takes no axis, got axis=", granularity.axis.value_or(0));
      check(!granularity.block_size, "per_tensor granularity takes no block_size, got block_size=",
            granularity.block_size.value_or(0));
      return;
    case QuantGranularity::Type::per_channel:
      check(!granularity.block_size, "per_channel granularity takes no block_size, got block_size=",
            granularity.block_size.value_or(0));
      return;
    case QuantGranularity::Type::per_block:
      check(granularity.block_size.has_value(), "per_block granularity requires block_size");
      check(*granularity.block_size > 0, "per_block block_size must be > 0, got ", *granularity.block_size);
      return;
  }
  fail("invalid quantization granularity type value ", static_cast<int>(granularity.type));
}

void validate_lut_qspec(const QuantizationSpec& qspec) {
  qspec.validate();
  check(is_supported_lut_dtype(qspec.dtype), "lut_qspec.dtype must be one of ", kLutDtypeSet, ", got ",
        to_string(qspec.dtype));
  check(qspec.granularity.type == QuantGranularity::Type::per_tensor,
        "lut_qspec.granularity must be PerTensorGranularity, got ", class_name(qspec.granularity.type));
  check(qspec.qformulation != QFormulation::minval,
        "lut_qspec.qformulation=MINVAL is not supported for palettization. "
        "Use lut_qspec.qformulation=ZP instead.");
}

}  // namespace

namespace spec_rules {

void check_n_bits(int64_t n_bits) {
  const bool allowed = n_bits == 1 || n_bits == 2 || n_bits == 3 || n_bits == 4 || n_bits == 6 || n_bits == 8;
  check(allowed, "n_bits must be one of {1, 2, 3, 4, 6, 8}, got ", n_bits);
}

void check_cluster_dim(int64_t cluster_dim) {
  check(cluster_dim >= 1, "cluster_dim must be a positive integer, got ", cluster_dim);
}

void check_grouped_axis(int64_t axis) { check(axis == 0 || axis == 1, "axis must be 0, 1 or unset, got ", axis); }

// The reference has no such check (group_size 0 divides by zero there, negatives yield no blocks).
void check_group_size(int64_t group_size) { check(group_size >= 1, "group_size must be >= 1, got ", group_size); }

}  // namespace spec_rules

// ---- enum names ----

std::string_view to_string(QuantDtype dtype) {
  for (const auto& entry : kDtypeNames) {
    if (entry.dtype == dtype) return entry.name;
  }
  fail("invalid QuantDtype value ", static_cast<int>(dtype));
}

std::string_view to_string(QScheme scheme) {
  switch (scheme) {
    case QScheme::symmetric: return "symmetric";
    case QScheme::asymmetric: return "asymmetric";
    case QScheme::symmetric_with_clipping: return "symmetric_with_clipping";
  }
  fail("invalid QScheme value ", static_cast<int>(scheme));
}

std::string_view to_string(QFormulation formulation) {
  switch (formulation) {
    case QFormulation::zp: return "zp";
    case QFormulation::minval: return "minval";
  }
  fail("invalid QFormulation value ", static_cast<int>(formulation));
}

std::string_view to_string(QuantGranularity::Type type) {
  switch (type) {
    case QuantGranularity::Type::per_tensor: return "per_tensor";
    case QuantGranularity::Type::per_channel: return "per_channel";
    case QuantGranularity::Type::per_block: return "per_block";
  }
  fail("invalid quantization granularity type value ", static_cast<int>(type));
}

QuantDtype quant_dtype_from_string(std::string_view name) {
  // Aliases accepted by the reference's QuantizationSpec.
  if (name == "float8_e4m3") return QuantDtype::float8_e4m3fn;
  if (name == "float4_e2m1fn") return QuantDtype::float4_e2m1fn_x2;
  for (const auto& entry : kDtypeNames) {
    if (entry.name == name) return entry.dtype;
  }
  fail("Unsupported dtype: ", name, ". Allowed dtypes: ", kAllowedDtypeList);
}

QScheme qscheme_from_string(std::string_view name) {
  for (QScheme scheme : {QScheme::symmetric, QScheme::asymmetric, QScheme::symmetric_with_clipping}) {
    if (to_string(scheme) == name) return scheme;
  }
  fail("Unsupported qscheme: ", name, ". Allowed qschemes: symmetric, asymmetric, symmetric_with_clipping");
}

QFormulation qformulation_from_string(std::string_view name) {
  for (QFormulation formulation : {QFormulation::zp, QFormulation::minval}) {
    if (to_string(formulation) == name) return formulation;
  }
  fail("Unsupported qformulation: ", name, ". Allowed qformulations: zp, minval");
}

bool is_float_quant_dtype(QuantDtype dtype) {
  return dtype == QuantDtype::float8_e4m3fn || dtype == QuantDtype::float8_e5m2 ||
         dtype == QuantDtype::float4_e2m1fn_x2;
}

QuantRange quant_range(QuantDtype dtype, QScheme scheme) {
  to_string(scheme);  // rejects an out-of-range scheme value
  switch (dtype) {
    case QuantDtype::float8_e4m3fn: return {-448.0, 448.0};
    case QuantDtype::float8_e5m2: return {-57344.0, 57344.0};
    case QuantDtype::float4_e2m1fn_x2: return {-6.0, 6.0};
    default: break;
  }
  const int64_t levels = int64_t{1} << integer_bits(dtype);
  if (!is_signed_integer(dtype)) return {0.0, static_cast<double>(levels - 1)};
  const auto qmin = static_cast<double>(-levels / 2);
  const auto qmax = static_cast<double>(levels / 2 - 1);
  // Clipping drops the most negative level so the range is symmetric around 0 (unsigned types keep theirs).
  if (scheme == QScheme::symmetric_with_clipping) return {qmin + 1.0, qmax};
  return {qmin, qmax};
}

// ---- QuantizationSpec ----

void QuantizationSpec::validate() const {
  // The to_string calls reject enum values outside their enumerators (e.g. cast from a binding's integer).
  to_string(dtype);
  to_string(qscheme);
  to_string(qformulation);
  validate_quant_granularity(granularity);
  if (!is_float_quant_dtype(dtype)) return;
  check(qscheme == QScheme::symmetric, "FP quantization (dtype=", to_string(dtype),
        ") requires symmetric quantization scheme, got qscheme=", to_string(qscheme),
        ". Valid option: 'symmetric'");
  check(qformulation == QFormulation::zp, "FP quantization (dtype=", to_string(dtype),
        ") requires zero-point quantization formulation, got qformulation=", to_string(qformulation),
        ". Valid option: 'zp'");
}

// ---- PalettizationSpec ----

void PalettizationSpec::validate() const {
  spec_rules::check_n_bits(n_bits);
  spec_rules::check_cluster_dim(cluster_dim);
  if (const auto* grouped = std::get_if<PerGroupedChannelGranularity>(&granularity)) {
    spec_rules::check_group_size(grouped->group_size);
    if (grouped->axis) spec_rules::check_grouped_axis(*grouped->axis);
  }
  if (lut_qspec) validate_lut_qspec(*lut_qspec);
}

int PalettizationSpec::resolved_axis() const {
  if (const auto* grouped = std::get_if<PerGroupedChannelGranularity>(&granularity)) return grouped->axis.value_or(0);
  return 0;
}

PalettizationSpec PalettizationSpec::with_resolved_axis() const {
  PalettizationSpec resolved = *this;
  if (auto* grouped = std::get_if<PerGroupedChannelGranularity>(&resolved.granularity)) {
    if (!grouped->axis) grouped->axis = 0;
  }
  return resolved;
}

PalettizationSpec default_weight_palettization_spec() { return PalettizationSpec{}; }

PalettizationSpec preset_spec(std::string_view name) {
  PalettizationSpec spec = default_weight_palettization_spec();
  if (name == "default") return spec;
  if (name == "w4" || name == "w6") {
    spec.n_bits = name == "w4" ? 4 : 6;
    spec.granularity = PerGroupedChannelGranularity{.axis = 0, .group_size = 16};
    return spec;
  }
  if (name == "w8") {
    spec.n_bits = 8;
    return spec;
  }
  fail("Unknown preset '", name, "'. Available presets: default, w4, w6, w8");
}

}  // namespace palettize
