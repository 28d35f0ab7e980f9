#include "palettize/dtype.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "palettize/error.hpp"

namespace palettize {

static_assert(std::endian::native == std::endian::little,
              "tensor bytes are little-endian and read with memcpy; a big-endian host needs byte swaps");

namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  std::size_t size;
};

constexpr std::array<DTypeInfo, 15> kDTypes{{
    {DType::F64, "F64", 8},
    {DType::F32, "F32", 4},
    {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},
    {DType::F8_E4M3, "F8_E4M3", 1},
    {DType::F8_E5M2, "F8_E5M2", 1},
    {DType::I64, "I64", 8},
    {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},
    {DType::I8, "I8", 1},
    {DType::U64, "U64", 8},
    {DType::U32, "U32", 4},
    {DType::U16, "U16", 2},
    {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1},
}};

const DTypeInfo& info(DType dtype) {
  const auto index = static_cast<std::size_t>(dtype);
  check(index < kDTypes.size(), "invalid DType value ", index);
  return kDTypes[index];
}

std::string known_dtype_names() {
  std::string names;
  for (const DTypeInfo& entry : kDTypes) {
    if (!names.empty()) names += ", ";
    names += entry.name;
  }
  return names;
}

// A binary floating-point format narrower than float32, described by its field widths. Formats with
// infinities follow IEEE 754; the one without (E4M3FN) spends only the all-ones pattern on NaN.
struct FloatFormat {
  int exponent_bits;
  int mantissa_bits;
  bool has_infinity;
};

constexpr FloatFormat kF16{5, 10, true};
constexpr FloatFormat kBF16{8, 7, true};
constexpr FloatFormat kE4M3FN{4, 3, false};
constexpr FloatFormat kE5M2{5, 2, true};

constexpr int kF32MantissaBits = 23;
constexpr int kF32Bias = 127;
constexpr uint32_t kF32MantissaMask = 0x7FFFFFu;
constexpr uint32_t kF32ImplicitBit = 0x800000u;
constexpr uint32_t kF32ExponentAllOnes = 0xFFu;

// x / 2^shift rounded to nearest, ties to even.
uint64_t shift_right_rounding_even(uint64_t x, int shift) {
  if (shift <= 0) return x;
  if (shift >= 64) return 0;  // x < 2^32, so far below half of one unit
  const uint64_t quotient = x >> shift;
  const uint64_t remainder = x & ((uint64_t{1} << shift) - 1);
  const uint64_t half = uint64_t{1} << (shift - 1);
  const bool round_up = remainder > half || (remainder == half && (quotient & 1) != 0);
  return quotient + (round_up ? 1 : 0);
}

constexpr float power_of_two(int exponent) {
  double result = 1.0;
  for (; exponent < 0; ++exponent) result /= 2;
  for (; exponent > 0; --exponent) result *= 2;
  return static_cast<float>(result);
}

template <FloatFormat F>
struct Layout {
  static constexpr int kBias = (1 << (F.exponent_bits - 1)) - 1;
  static constexpr int kShift = kF32MantissaBits - F.mantissa_bits;
  static constexpr uint32_t kMantissaMask = (1u << F.mantissa_bits) - 1;
  static constexpr uint32_t kExponentAllOnes = (1u << F.exponent_bits) - 1;
  static constexpr uint32_t kInfinity = kExponentAllOnes << F.mantissa_bits;
  static constexpr uint32_t kSignBit = 1u << (F.exponent_bits + F.mantissa_bits);
  static constexpr uint32_t kQuietBit = 1u << (F.mantissa_bits - 1);
  // Without infinities the single NaN pattern is all ones, and the largest finite pattern sits below it.
  static constexpr uint32_t kNanWithoutInfinity = kInfinity | kMantissaMask;
  static constexpr float kSubnormalUnit = power_of_two(1 - kBias - F.mantissa_bits);
};

template <FloatFormat F>
uint32_t encode_nan_or_infinity(uint32_t sign, uint32_t f32_mantissa) {
  using L = Layout<F>;
  if constexpr (!F.has_infinity) {
    return sign | L::kNanWithoutInfinity;
  } else {
    if (f32_mantissa == 0) return sign | L::kInfinity;
    // Keep the top payload bits, as hardware converters do, and force the NaN quiet.
    return sign | L::kInfinity | L::kQuietBit | (f32_mantissa >> L::kShift);
  }
}

// Rounds the magnitude of a finite float32 to the format's (exponent << M | mantissa) field. Because that
// field grows monotonically with the value, a rounding carry out of the mantissa lands in the exponent by
// itself, turning the largest subnormal into the smallest normal or the largest binade into the next.
template <FloatFormat F>
uint32_t round_finite_magnitude(uint32_t f32_exponent, uint32_t f32_mantissa) {
  using L = Layout<F>;
  // A float32 subnormal has the exponent of the smallest normal, minus the implicit bit.
  const int effective_exponent = std::max<int>(static_cast<int>(f32_exponent), 1);
  const int target_exponent = effective_exponent - kF32Bias + L::kBias;
  if (f32_exponent != 0 && target_exponent >= 1) {
    const uint64_t field = (static_cast<uint64_t>(target_exponent) << kF32MantissaBits) | f32_mantissa;
    return static_cast<uint32_t>(shift_right_rounding_even(field, L::kShift));
  }
  // Subnormal in the target: the significand's unit is fixed at the smallest normal's exponent.
  const uint64_t significand = f32_exponent != 0 ? (f32_mantissa | kF32ImplicitBit) : f32_mantissa;
  return static_cast<uint32_t>(shift_right_rounding_even(significand, L::kShift + 1 - target_exponent));
}

template <FloatFormat F>
uint32_t encode(float value) {
  using L = Layout<F>;
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint32_t sign = (bits >> 31) != 0 ? L::kSignBit : 0;
  const uint32_t f32_exponent = (bits >> kF32MantissaBits) & kF32ExponentAllOnes;
  const uint32_t f32_mantissa = bits & kF32MantissaMask;
  if (f32_exponent == kF32ExponentAllOnes) return encode_nan_or_infinity<F>(sign, f32_mantissa);

  const uint32_t magnitude = round_finite_magnitude<F>(f32_exponent, f32_mantissa);
  if constexpr (F.has_infinity) {
    if (magnitude >= L::kInfinity) return sign | L::kInfinity;
  } else {
    if (magnitude >= L::kNanWithoutInfinity) return sign | L::kNanWithoutInfinity;
  }
  return sign | magnitude;
}

template <FloatFormat F>
float decode(uint32_t bits) {
  using L = Layout<F>;
  const uint32_t f32_sign = (bits & L::kSignBit) != 0 ? 0x80000000u : 0;
  const uint32_t exponent = (bits >> F.mantissa_bits) & L::kExponentAllOnes;
  const uint32_t mantissa = bits & L::kMantissaMask;
  constexpr uint32_t kF32Infinity = kF32ExponentAllOnes << kF32MantissaBits;
  constexpr uint32_t kF32QuietBit = 1u << (kF32MantissaBits - 1);

  if constexpr (F.has_infinity) {
    if (exponent == L::kExponentAllOnes) {
      const uint32_t payload = mantissa == 0 ? 0 : (kF32QuietBit | (mantissa << L::kShift));
      return std::bit_cast<float>(f32_sign | kF32Infinity | payload);
    }
  } else {
    if ((bits & ~L::kSignBit) == L::kNanWithoutInfinity) {
      return std::bit_cast<float>(f32_sign | kF32Infinity | kF32QuietBit);
    }
  }
  if (exponent == 0) {
    // Exact: a power-of-two scaling of a small integer that float32 can hold.
    const float magnitude = static_cast<float>(mantissa) * L::kSubnormalUnit;
    return f32_sign != 0 ? -magnitude : magnitude;
  }
  const uint32_t f32_exponent = exponent - L::kBias + kF32Bias;
  return std::bit_cast<float>(f32_sign | (f32_exponent << kF32MantissaBits) | (mantissa << L::kShift));
}

[[noreturn]] void fail_not_palettizable(DType dtype, std::string_view operation) {
  fail(operation, ": dtype ", dtype_name(dtype), " is not supported (expected F32, F16 or BF16)");
}

}  // namespace

std::size_t dtype_size(DType dtype) { return info(dtype).size; }

std::string_view dtype_name(DType dtype) { return info(dtype).name; }

DType dtype_from_name(std::string_view name) {
  for (const DTypeInfo& entry : kDTypes) {
    if (entry.name == name) return entry.dtype;
  }
  fail("unknown dtype '", name, "'; known dtypes: ", known_dtype_names());
}

bool is_palettizable(DType dtype) {
  return dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16;
}

float f16_to_f32(uint16_t bits) { return decode<kF16>(bits); }
uint16_t f32_to_f16(float value) { return static_cast<uint16_t>(encode<kF16>(value)); }
float bf16_to_f32(uint16_t bits) { return decode<kBF16>(bits); }
uint16_t f32_to_bf16(float value) { return static_cast<uint16_t>(encode<kBF16>(value)); }
float e4m3fn_to_f32(uint8_t bits) { return decode<kE4M3FN>(bits); }
uint8_t f32_to_e4m3fn(float value) { return static_cast<uint8_t>(encode<kE4M3FN>(value)); }
float e5m2_to_f32(uint8_t bits) { return decode<kE5M2>(bits); }
uint8_t f32_to_e5m2(float value) { return static_cast<uint8_t>(encode<kE5M2>(value)); }

float load_as_f32(DType dtype, const std::byte* data, std::size_t index) {
  // memcpy, because buffers from mmapped files carry no alignment guarantee.
  switch (dtype) {
    case DType::F32: {
      float value;
      std::memcpy(&value, data + index * sizeof(float), sizeof(float));
      return value;
    }
    case DType::F16:
    case DType::BF16: {
      uint16_t bits;
      std::memcpy(&bits, data + index * sizeof(uint16_t), sizeof(uint16_t));
      return dtype == DType::F16 ? f16_to_f32(bits) : bf16_to_f32(bits);
    }
    default:
      fail_not_palettizable(dtype, "load_as_f32");
  }
}

void store_from_f32(DType dtype, std::byte* data, std::size_t index, float value) {
  switch (dtype) {
    case DType::F32:
      std::memcpy(data + index * sizeof(float), &value, sizeof(float));
      return;
    case DType::F16:
    case DType::BF16: {
      const uint16_t bits = dtype == DType::F16 ? f32_to_f16(value) : f32_to_bf16(value);
      std::memcpy(data + index * sizeof(uint16_t), &bits, sizeof(uint16_t));
      return;
    }
    default:
      fail_not_palettizable(dtype, "store_from_f32");
  }
}

float round_to_dtype(DType dtype, float value) {
  switch (dtype) {
    case DType::F32:
      return value;
    case DType::F16:
      return f16_to_f32(f32_to_f16(value));
    case DType::BF16:
      return bf16_to_f32(f32_to_bf16(value));
    default:
      fail_not_palettizable(dtype, "round_to_dtype");
  }
}

}  // namespace palettize
