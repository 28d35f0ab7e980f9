#pragma once
// PalettizationSpec and its parts, mirroring coreai_opt's vocabulary and defaults
// (coreai_opt.palettization.spec). Field names, defaults and validation messages follow the reference;
// C++ names replace torch ones (e.g. "int4" instead of "torch.int4").
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace palettize {

// ---- LUT quantization (coreai_opt.quantization.spec.QuantizationSpec, the fields that matter here) ----

// Every dtype QuantizationSpec itself accepts; palettization only allows the first four for LUTs.
enum class QuantDtype { int8, uint8, float8_e4m3fn, float8_e5m2, int4, int2, uint4, uint2, float4_e2m1fn_x2 };
enum class QScheme { symmetric, asymmetric, symmetric_with_clipping };
enum class QFormulation { zp, minval };

struct QuantGranularity {
  enum class Type { per_tensor, per_channel, per_block };
  Type type = Type::per_tensor;
  std::optional<int64_t> axis;        // per_channel
  std::optional<int64_t> block_size;  // per_block
  bool operator==(const QuantGranularity&) const = default;
};

struct QuantizationSpec {
  QuantDtype dtype = QuantDtype::int8;
  QScheme qscheme = QScheme::symmetric;
  QFormulation qformulation = QFormulation::zp;
  QuantGranularity granularity{};
  bool operator==(const QuantizationSpec&) const = default;

  // QuantizationSpec's own rules (FP dtypes need symmetric + zp). Throws Error.
  void validate() const;
};

std::string_view to_string(QuantDtype dtype);
std::string_view to_string(QScheme scheme);
std::string_view to_string(QFormulation formulation);
std::string_view to_string(QuantGranularity::Type type);
QuantDtype quant_dtype_from_string(std::string_view name);  // accepts alias "float8_e4m3"
QScheme qscheme_from_string(std::string_view name);
QFormulation qformulation_from_string(std::string_view name);
bool is_float_quant_dtype(QuantDtype dtype);

// Integer range of a LUT dtype under a scheme (§1.3): int8 [-128,127], int8 clipping [-127,127],
// uint8 [0,255], e4m3fn [-448,448], e5m2 [-57344,57344].
struct QuantRange {
  double qmin;
  double qmax;
};
QuantRange quant_range(QuantDtype dtype, QScheme scheme);

// ---- Palettization granularity ----

struct PerTensorGranularity {
  bool operator==(const PerTensorGranularity&) const = default;
};

struct PerGroupedChannelGranularity {
  std::optional<int> axis;  // 0 (output channels), 1 (input channels) or unset (resolved to 0 at use)
  int64_t group_size = 0;   // required, >= 1
  bool operator==(const PerGroupedChannelGranularity&) const = default;
};

using PalettizationGranularity = std::variant<PerTensorGranularity, PerGroupedChannelGranularity>;

// ---- The spec ----

struct PalettizationSpec {
  int n_bits = 4;                                 // one of {1, 2, 3, 4, 6, 8}
  std::optional<QuantizationSpec> lut_qspec;      // none: the LUT keeps the weight dtype
  PalettizationGranularity granularity = PerTensorGranularity{};
  int64_t cluster_dim = 1;                        // >= 1; > 1 clusters vectors along output channels
  bool enable_per_channel_scale = false;
  bool operator==(const PalettizationSpec&) const = default;

  // All validation rules of the seed and of §1.1, in the reference's order and wording. Throws Error.
  void validate() const;

  int64_t lut_size() const { return int64_t{1} << n_bits; }
  bool is_grouped() const { return std::holds_alternative<PerGroupedChannelGranularity>(granularity); }
  // The working axis: grouped axis if set, else 0 (per-tensor works as axis 0).
  int resolved_axis() const;
  // A copy whose unset grouped axis is replaced by 0, as recorded in containers.
  PalettizationSpec with_resolved_axis() const;
};

PalettizationSpec default_weight_palettization_spec();

// Presets of coreai_opt (§5.2): "w4" (4-bit, grouped axis 0, group 16), "w6" (6-bit, same), "w8"
// (8-bit per-tensor) and "default". Throws Error listing the names for anything else.
PalettizationSpec preset_spec(std::string_view name);

}  // namespace palettize
