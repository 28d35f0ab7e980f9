#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include "blocking/blocking.hpp"
#include "palettize/engine.hpp"
#include "palettize/error.hpp"
#include "palettize/packing.hpp"

namespace palettize {
namespace {

void check_part_size(std::size_t actual, int64_t expected, const char* part) {
  check(static_cast<int64_t>(actual) == expected, "palettized tensor is inconsistent: ", part, " holds ", actual,
        " values, expected ", expected);
}

void check_all_finite(const std::vector<float>& values, const char* part) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) fail("palettized tensor is inconsistent: ", part, " entry ", i, " is ", values[i]);
  }
}

// out[r] = table[indices[r]] for r < count, through local pointers so the loop keeps them in registers.
template <class Element>
void write_row(const Element* table, const uint8_t* indices, int64_t count, std::byte* out) {
  for (int64_t r = 0; r < count; ++r) {
    const Element value = table[indices[r]];
    std::memcpy(out + r * static_cast<int64_t>(sizeof(Element)), &value, sizeof value);
  }
}

// Writes every weight of `p` as an Element (float, or the uint16_t pattern of F16/BF16) made by `narrow`.
// Without channel scales each LUT entry is narrowed once per block instead of once per weight; the values
// are those of store_from_f32 either way. Blocks, and the item rows of a block, are independent.
template <class Element, class Narrow>
void decode_into(const PalettizedTensor& p, const BlockLayout& layout, std::byte* out_bytes, Narrow narrow) {
  const int64_t cd = layout.cluster_dim();
  const int64_t entries = p.lut_entries();
  const int64_t rest = layout.rest();
  const bool scaled = !p.channel_scale.empty();
  auto store = [out_bytes](int64_t element, Element value) {
    std::memcpy(out_bytes + element * static_cast<int64_t>(sizeof(Element)), &value, sizeof value);
  };
  tbb::parallel_for(int64_t{0}, layout.num_blocks(), [&](int64_t b) {
    const BlockRect rect = layout.block(b);
    const float* lut = p.lut.data() + b * entries;
    std::vector<Element> narrow_lut(scaled ? 0 : static_cast<std::size_t>(entries));
    for (std::size_t e = 0; e < narrow_lut.size(); ++e) narrow_lut[e] = narrow(lut[e]);
    tbb::parallel_for(tbb::blocked_range<int64_t>(rect.o_begin, rect.o_end, 16), [&](const auto& rows) {
      for (int64_t o = rows.begin(); o < rows.end(); ++o) {
        const uint8_t* row_indices = p.indices.data() + o * rest;
        if (cd == 1 && !scaled) {  // the common case: one table lookup per weight
          write_row(narrow_lut.data(), row_indices + rect.r_begin, rect.r_end - rect.r_begin,
                    out_bytes + (o * rest + rect.r_begin) * static_cast<int64_t>(sizeof(Element)));
          continue;
        }
        for (int64_t r = rect.r_begin; r < rect.r_end; ++r) {
          const int64_t entry = row_indices[r] * cd;
          for (int64_t j = 0; j < cd; ++j) {
            const int64_t element = layout.element_index(o, r, j);
            if (scaled) {
              store(element, narrow(lut[entry + j] * p.channel_scale[o * cd + j]));
            } else {
              store(element, narrow_lut[entry + j]);
            }
          }
        }
      }
    });
  });
}

}  // namespace

int64_t PalettizedTensor::num_luts() const {
  const int64_t entries = lut_entries();
  return entries == 0 ? 0 : static_cast<int64_t>(lut.size()) / entries;
}

void validate(const PalettizedTensor& p) {
  p.spec.validate();
  check(is_palettizable(p.dtype), "palettized tensor has dtype ", dtype_name(p.dtype),
        "; only F32, F16 and BF16 are palettizable");
  const PalettizedLayout layout = palettized_layout(p.shape, p.spec);
  check(p.lut_shape == layout.lut_shape, "palettized tensor is inconsistent: LUT shape ", shape_to_string(p.lut_shape),
        " does not match ", shape_to_string(layout.lut_shape), " expected for shape ", shape_to_string(p.shape));
  check(p.index_shape == layout.index_shape, "palettized tensor is inconsistent: index shape ",
        shape_to_string(p.index_shape), ", expected ", shape_to_string(layout.index_shape));
  check_part_size(p.lut.size(), layout.num_luts * p.lut_entries(), "the LUT");
  check_all_finite(p.lut, "LUT");
  check_part_size(p.indices.size(), layout.num_indices, "the index tensor");
  const int64_t lut_rows = p.spec.lut_size();
  // A vectorized max first; the element-wise search only runs to name a bad index.
  uint8_t largest = 0;
  for (const uint8_t index : p.indices) largest = std::max(largest, index);
  for (std::size_t i = 0; largest >= lut_rows && i < p.indices.size(); ++i) {
    if (p.indices[i] >= lut_rows) {
      fail("palettized tensor is inconsistent: index ", i, " is ", int{p.indices[i]}, " but the LUT has ", lut_rows,
           " entries");
    }
  }
  if (p.spec.lut_qspec) {
    check_part_size(p.quantized_lut.size(), layout.num_luts * p.lut_entries(), "the quantized LUT");
    check_part_size(p.lut_scale.size(), layout.num_luts, "the LUT scales");
    const bool has_zero_point = !is_float_quant_dtype(p.spec.lut_qspec->dtype);
    check_part_size(p.lut_zero_point.size(), has_zero_point ? layout.num_luts : 0, "the LUT zero points");
  } else {
    check(p.quantized_lut.empty() && p.lut_scale.empty() && p.lut_zero_point.empty(),
          "palettized tensor is inconsistent: LUT quantization parts present without lut_qspec");
  }
  check_part_size(p.channel_scale.size(), p.spec.enable_per_channel_scale ? p.shape[0] : 0, "the channel scales");
  check_all_finite(p.channel_scale, "channel scale");
}

Tensor decode(const PalettizedTensor& p) {
  validate(p);
  const BlockLayout layout(p.shape, p.spec);
  Tensor out;
  out.dtype = p.dtype;
  out.shape = p.shape;
  out.data.resize(static_cast<std::size_t>(shape_numel(p.shape)) * dtype_size(p.dtype));
  switch (p.dtype) {
    case DType::F32:
      decode_into<float>(p, layout, out.data.data(), [](float value) { return value; });
      break;
    case DType::F16:
      decode_into<uint16_t>(p, layout, out.data.data(), [](float value) { return f32_to_f16(value); });
      break;
    default:
      decode_into<uint16_t>(p, layout, out.data.data(), [](float value) { return f32_to_bf16(value); });
      break;
  }
  return out;
}

int64_t palettized_size_bits(const PalettizedTensor& p) {
  const int64_t dtype_bits = static_cast<int64_t>(dtype_size(p.dtype)) * 8;
  const int64_t luts = p.num_luts();
  int64_t bits = static_cast<int64_t>(packed_size_bytes(p.indices.size(), p.spec.n_bits)) * 8;
  if (p.spec.lut_qspec) {
    bits += luts * p.lut_entries() * 8 + luts * 32;
    if (!is_float_quant_dtype(p.spec.lut_qspec->dtype)) bits += luts * 8;
  } else {
    bits += luts * p.lut_entries() * dtype_bits;
  }
  if (p.spec.enable_per_channel_scale) bits += p.shape[0] * dtype_bits;
  return bits;
}

}  // namespace palettize
