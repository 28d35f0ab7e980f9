#include "tensor/elements.hpp"

#include <algorithm>
#include <memory>

namespace palettize::elements {
namespace {

// An element is NaN or infinite when its exponent field is all ones.
template <class Bits>
std::size_t first_with_exponent_all_ones(const std::byte* data, std::size_t count, Bits exponent_mask) {
  // Chunks keep the common all-finite scan a branch-free OR reduction the compiler vectorizes.
  constexpr std::size_t kChunk = 4096;
  for (std::size_t begin = 0; begin < count; begin += kChunk) {
    const std::size_t end = std::min(count, begin + kChunk);
    Bits largest = 0;  // the largest masked exponent reaches the mask only with a NaN or an infinity
    for (std::size_t i = begin; i < end; ++i) {
      Bits bits;
      std::memcpy(&bits, data + i * sizeof bits, sizeof bits);
      largest = std::max<Bits>(largest, bits & exponent_mask);
    }
    if (largest != exponent_mask) continue;
    for (std::size_t i = begin; i < end; ++i) {
      Bits bits;
      std::memcpy(&bits, data + i * sizeof bits, sizeof bits);
      if ((bits & exponent_mask) == exponent_mask) return i;
    }
  }
  return count;
}

}  // namespace

const float* f16_table() {
  static const std::unique_ptr<float[]> table = [] {
    auto values = std::make_unique<float[]>(65536);
    for (uint32_t bits = 0; bits < 65536; ++bits) values[bits] = f16_to_f32(static_cast<uint16_t>(bits));
    return values;
  }();
  return table.get();
}

std::size_t first_non_finite(DType dtype, const std::byte* data, std::size_t count) {
  switch (dtype) {
    case DType::F32:
      return first_with_exponent_all_ones<uint32_t>(data, count, 0x7F800000u);
    case DType::F16:
      return first_with_exponent_all_ones<uint16_t>(data, count, 0x7C00u);
    case DType::BF16:
      return first_with_exponent_all_ones<uint16_t>(data, count, 0x7F80u);
    default:
      fail("dtype ", dtype_name(dtype), " is not supported here (expected F32, F16 or BF16)");
  }
}

}  // namespace palettize::elements
