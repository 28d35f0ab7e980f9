#include <cmath>

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
  for (std::size_t i = 0; i < p.indices.size(); ++i) {
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
  const int64_t cd = layout.cluster_dim();
  const int64_t entries = p.lut_entries();
  const bool scaled = !p.channel_scale.empty();

  Tensor out;
  out.dtype = p.dtype;
  out.shape = p.shape;
  out.data.resize(static_cast<std::size_t>(shape_numel(p.shape)) * dtype_size(p.dtype));
  for (int64_t o = 0; o < layout.item_rows(); ++o) {
    for (int64_t r = 0; r < layout.rest(); ++r) {
      const int64_t index = p.indices[o * layout.rest() + r];
      const float* entry = p.lut.data() + layout.block_of(o, r) * entries + index * cd;
      for (int64_t j = 0; j < cd; ++j) {
        const float scale = scaled ? p.channel_scale[o * cd + j] : 1.0f;
        const float value = scaled ? entry[j] * scale : entry[j];
        store_from_f32(p.dtype, out.data.data(), static_cast<std::size_t>(layout.element_index(o, r, j)), value);
      }
    }
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
