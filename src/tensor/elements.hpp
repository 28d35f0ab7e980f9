// private: include only from src/ and tests/
#pragma once
// Whole-buffer element access for the hot loops (finiteness check, decode, error metrics): the dtype is
// dispatched once per buffer instead of once per element, 16-bit floats are widened through a table and
// narrowed only where a value is not already known to be representable. Results are bit-identical to
// load_as_f32 / store_from_f32, which remain the reference.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "palettize/dtype.hpp"
#include "palettize/error.hpp"

namespace palettize::elements {

// float32 value of every F16 (or BF16) bit pattern, NaN and infinities included: 256 KiB, built once.
const float* f16_table();

inline uint16_t load_bits16(const std::byte* data, std::size_t index) {
  uint16_t bits;
  std::memcpy(&bits, data + index * sizeof bits, sizeof bits);
  return bits;
}

inline float bf16_bits_to_f32(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof value);
  return value;
}

// Element reader for one dtype; `load(i)` equals load_as_f32(dtype, data, i).
struct F32Reader {
  const std::byte* data;
  float load(std::size_t i) const {
    float value;
    std::memcpy(&value, data + i * sizeof value, sizeof value);
    return value;
  }
};
struct F16Reader {
  const std::byte* data;
  const float* table = f16_table();
  float load(std::size_t i) const { return table[load_bits16(data, i)]; }
};
struct BF16Reader {
  const std::byte* data;
  float load(std::size_t i) const { return bf16_bits_to_f32(load_bits16(data, i)); }
};

// Calls visit(reader) with the reader of `dtype` (F32, F16 or BF16), so that loops compile once per dtype.
template <class Visit>
decltype(auto) with_reader(DType dtype, const std::byte* data, Visit&& visit) {
  switch (dtype) {
    case DType::F32:
      return visit(F32Reader{data});
    case DType::F16:
      return visit(F16Reader{data});
    case DType::BF16:
      return visit(BF16Reader{data});
    default:
      fail("dtype ", dtype_name(dtype), " is not supported here (expected F32, F16 or BF16)");
  }
}

// Index of the first NaN or infinite element of a palettizable buffer, or `count` when all are finite.
std::size_t first_non_finite(DType dtype, const std::byte* data, std::size_t count);

}  // namespace palettize::elements
