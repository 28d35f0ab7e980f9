// private: include only from src/ and tests/
// Order-preserving integer keys of float32 values, and exact fp16/bf16 bit patterns, for reducing blocks
// to distinct values: equal values (-0 and +0 included) get equal keys, and keys sort like the values.
#pragma once

#include <cstdint>
#include <cstring>

namespace palettize::float_keys {

// The narrowest key that holds every value of a block exactly.
enum class KeyKind { kHalf, kBFloat, kFloat };

inline uint32_t float_bits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

inline float float_from_bits(uint32_t bits) {
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

// fp16 bit pattern of a float32 that fp16 represents exactly (-0 as +0); false otherwise (also NaN/Inf).
inline bool half_if_exact(uint32_t bits, uint32_t& half) {
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t magnitude = bits & 0x7FFFFFFFu;
  if (magnitude >= 0x38800000u) {  // |x| >= 2^-14: the fp16 normal range up to 65504
    if (magnitude > 0x477FE000u || (magnitude & 0x1FFFu) != 0) return false;
    half = sign | ((magnitude - 0x38000000u) >> 13);
    return true;
  }
  if (magnitude == 0) {
    half = 0;
    return true;
  }
  // fp16 subnormals are multiples of 2^-24 below 2^-14; float32 subnormals are far smaller than 2^-24.
  const uint32_t exponent = magnitude >> 23;
  if (exponent < 103) return false;
  const uint32_t shift = 126 - exponent;
  const uint32_t significand = 0x800000u | (magnitude & 0x7FFFFFu);
  if ((significand & ((1u << shift) - 1)) != 0) return false;
  half = sign | (significand >> shift);
  return true;
}

// bf16 bit pattern of a float32 that bf16 represents exactly (-0 as +0); false otherwise (also NaN/Inf).
inline bool bfloat_if_exact(uint32_t bits, uint32_t& bfloat) {
  if ((bits & 0xFFFFu) != 0 || (bits & 0x7F800000u) == 0x7F800000u) return false;
  bfloat = (bits == 0x80000000u) ? 0 : bits >> 16;
  return true;
}

// The float32 value of an fp16 / bf16 bit pattern (finite patterns only).
inline float half_to_float(uint32_t half) {
  const uint32_t sign = (half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1Fu;
  const uint32_t mantissa = half & 0x3FFu;
  if (exponent == 0) {  // subnormal or zero: mantissa * 2^-24, exact in float32
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  }
  return float_from_bits(sign | ((exponent + 112) << 23) | (mantissa << 13));
}
inline float bfloat_to_float(uint32_t bfloat) { return float_from_bits(bfloat << 16); }

// Sign-magnitude patterns mapped to unsigned keys in the order of their values (branch-free: the sign is
// unpredictable).
inline uint32_t ordered_key16(uint32_t pattern) { return pattern ^ (0x8000u | (0x7FFFu * (pattern >> 15))); }
inline uint32_t pattern_from_key16(uint32_t key) { return key ^ (0x8000u | (0x7FFFu * (1u - (key >> 15)))); }
inline uint32_t ordered_key32(uint32_t bits) { return bits ^ (0x80000000u | (0x7FFFFFFFu * (bits >> 31))); }
inline uint32_t bits_from_key32(uint32_t key) { return key ^ (0x80000000u | (0x7FFFFFFFu * (1u - (key >> 31)))); }

}  // namespace palettize::float_keys
