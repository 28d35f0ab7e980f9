#pragma once
// Element types and exact conversions between float32 and the narrow float formats.
// Every narrowing conversion rounds to nearest, ties to even (IEEE 754 default), and is tested
// exhaustively over all bit patterns of the narrow type.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace palettize {

// Dtype names follow safetensors ("F32", "BF16", "F8_E4M3", ...).
enum class DType : uint8_t { F64, F32, F16, BF16, F8_E4M3, F8_E5M2, I64, I32, I16, I8, U64, U32, U16, U8, BOOL };

std::size_t dtype_size(DType dtype);
std::string_view dtype_name(DType dtype);          // "F32", "F8_E4M3", ...
DType dtype_from_name(std::string_view name);      // throws Error listing the known names
bool is_palettizable(DType dtype);                 // F32, F16, BF16

// Narrow float formats stored as raw bit patterns.
float f16_to_f32(uint16_t bits);
uint16_t f32_to_f16(float value);
float bf16_to_f32(uint16_t bits);
uint16_t f32_to_bf16(float value);
// FP8 E4M3FN: bias 7, max finite 448, no infinities; 0x7F/0xFF are NaN. Overflow past 448 (after
// rounding) and infinities become NaN, as in ml_dtypes / torch casts.
float e4m3fn_to_f32(uint8_t bits);
uint8_t f32_to_e4m3fn(float value);
// FP8 E5M2: bias 15, max finite 57344, IEEE-like infinities and NaNs. Overflow becomes infinity.
float e5m2_to_f32(uint8_t bits);
uint8_t f32_to_e5m2(float value);

// Reads element `index` of a palettizable buffer (F32/F16/BF16) as float32.
float load_as_f32(DType dtype, const std::byte* data, std::size_t index);
// Writes float32 `value` rounded to `dtype` (F32/F16/BF16) at element `index`.
void store_from_f32(DType dtype, std::byte* data, std::size_t index, float value);
// float32 value after a round trip through `dtype` (F32/F16/BF16): the value the dtype can hold.
float round_to_dtype(DType dtype, float value);

}  // namespace palettize
