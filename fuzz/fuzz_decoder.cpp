// Fuzz target: the index unpacker and the decoder fed with arbitrary LUT and index bytes. The first bytes
// choose dtype, shape and spec (invalid choices included); the rest supplies the LUT, the packed index
// stream (unpacked at the spec's width or, sometimes, a wrong one), scales, and sometimes a wrong count.
// validate() must refuse every inconsistent tensor with Error; decode() of an accepted one must be sound.
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "fuzz_support.hpp"
#include "palettize/engine.hpp"
#include "palettize/packing.hpp"

namespace palettize::fuzz {
namespace {

constexpr int64_t kMaxLutFloats = int64_t{1} << 16;  // bounds the memory one input can ask for

DType choose_dtype(InputReader& input) {
  static constexpr std::array<DType, 5> dtypes{DType::F32, DType::F16, DType::BF16, DType::I8, DType::F64};
  return dtypes[input.choice(dtypes.size())];
}

PalettizationSpec choose_spec(InputReader& input) {
  static constexpr std::array<int, 9> widths{1, 2, 3, 4, 6, 8, 0, 5, 9};
  PalettizationSpec spec;
  spec.n_bits = widths[input.choice(widths.size())];
  spec.cluster_dim = input.choice(5);  // 0 is invalid
  spec.enable_per_channel_scale = input.choice(2) == 1;
  const unsigned granularity = input.choice(4);
  if (granularity > 0) {
    PerGroupedChannelGranularity grouped;
    if (granularity < 3) grouped.axis = static_cast<int>(granularity) - 1;
    grouped.group_size = input.choice(9);
    spec.granularity = grouped;
  }
  static constexpr std::array<QuantDtype, 4> lut_dtypes{QuantDtype::int8, QuantDtype::uint8, QuantDtype::float8_e4m3fn,
                                                        QuantDtype::float8_e5m2};
  const unsigned lut_qspec = input.choice(lut_dtypes.size() + 1);
  if (lut_qspec > 0) {
    QuantizationSpec qspec;
    qspec.dtype = lut_dtypes[lut_qspec - 1];
    if (qspec.dtype == QuantDtype::uint8) qspec.qscheme = QScheme::asymmetric;
    spec.lut_qspec = qspec;
  }
  return spec;
}

Shape choose_shape(InputReader& input) {
  Shape shape(input.choice(4) + 1);
  for (int64_t& dim : shape) dim = input.choice(17);
  return shape;
}

float next_float(InputReader& input) {
  const std::span<const uint8_t> bytes = input.take(4);
  uint32_t bits = 0;
  std::memcpy(&bits, bytes.data(), bytes.size());
  float value = 0;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

std::vector<float> next_floats(InputReader& input, int64_t count) {
  std::vector<float> values(static_cast<std::size_t>(count));
  for (float& value : values) value = next_float(input);
  return values;
}

// Unpacks `count` indices of `width` bits from the input and checks that packing them back reproduces the
// stream (up to the unused high bits of its last byte).
std::vector<uint8_t> next_indices(InputReader& input, int width, std::size_t count) {
  const std::span<const uint8_t> packed = input.take(packed_size_bytes(count, width) + input.choice(2));
  std::vector<uint8_t> indices = unpack_indices(packed, width, count);
  const std::vector<uint8_t> repacked = pack_indices(indices, width);
  PALETTIZE_FUZZ_ASSERT(repacked.size() == packed_size_bytes(count, width) && repacked.size() <= packed.size());
  const std::size_t used_bits = count * static_cast<std::size_t>(width);
  for (std::size_t bit = 0; bit < used_bits; ++bit) {
    const bool expected = (packed[bit / 8] >> (bit % 8)) & 1;
    PALETTIZE_FUZZ_ASSERT(((repacked[bit / 8] >> (bit % 8)) & 1) == expected);
  }
  return indices;
}

PalettizedTensor build(InputReader& input) {
  PalettizedTensor p;
  p.dtype = choose_dtype(input);
  p.shape = choose_shape(input);
  p.spec = choose_spec(input);
  const PalettizedLayout layout = palettized_layout(p.shape, p.spec);
  p.lut_shape = layout.lut_shape;
  p.index_shape = layout.index_shape;
  const int64_t lut_floats = layout.num_luts * p.lut_entries();
  check(lut_floats <= kMaxLutFloats, "LUT too large for the fuzzer");
  static constexpr std::array<int64_t, 5> count_errors{0, 0, 0, -1, 1};
  const int64_t index_count = std::max<int64_t>(0, layout.num_indices + count_errors[input.choice(5)]);
  const bool wrong_width = input.choice(8) == 0;
  const int width = wrong_width ? static_cast<int>(input.choice(8)) + 1 : p.spec.n_bits;
  const std::vector<uint8_t> indices = next_indices(input, width, static_cast<std::size_t>(index_count));
  p.indices.assign(indices.begin(), indices.end());
  p.lut = next_floats(input, lut_floats);
  if (p.spec.lut_qspec) {
    for (int64_t i = 0; i < lut_floats; ++i) p.quantized_lut.push_back(input.byte());
    p.lut_scale = next_floats(input, layout.num_luts);
    if (!is_float_quant_dtype(p.spec.lut_qspec->dtype)) {
      for (int64_t i = 0; i < layout.num_luts; ++i) p.lut_zero_point.push_back(static_cast<int8_t>(input.byte()));
    }
  }
  if (p.spec.enable_per_channel_scale) p.channel_scale = next_floats(input, p.shape[0]);
  return p;
}

// Per-tensor scalar LUTs without scales have a one-line meaning: element i is lut[indices[i]].
void check_simple_decode(const PalettizedTensor& p, const Tensor& dense) {
  if (p.spec.is_grouped() || p.spec.cluster_dim != 1 || p.spec.enable_per_channel_scale) return;
  for (std::size_t i = 0; i < p.indices.size(); ++i) {
    const float expected = round_to_dtype(p.dtype, p.lut[p.indices[i]]);
    const float actual = load_as_f32(p.dtype, dense.data.data(), i);
    PALETTIZE_FUZZ_ASSERT(std::memcmp(&expected, &actual, sizeof expected) == 0);
  }
}

// Any count, however large, against a short stream: an Error before anything is allocated.
void check_absurd_count(InputReader& input) {
  const int width = static_cast<int>(input.choice(10));  // 0 and 9 are invalid
  uint64_t count = 0;
  const std::span<const uint8_t> count_bytes = input.take(8);
  std::memcpy(&count, count_bytes.data(), count_bytes.size());
  const std::span<const uint8_t> packed = input.take(input.choice(32));
  refuse_with_error_only([&] {
    const std::vector<uint8_t> indices = unpack_indices(packed, width, static_cast<std::size_t>(count));
    PALETTIZE_FUZZ_ASSERT(indices.size() == count && packed_size_bytes(count, width) <= packed.size());
  });
}

void run(InputReader& input) {
  if (input.choice(16) == 0) check_absurd_count(input);
  const PalettizedTensor p = build(input);
  validate(p);
  const Tensor dense = decode(p);
  PALETTIZE_FUZZ_ASSERT(dense.shape == p.shape && dense.dtype == p.dtype);
  PALETTIZE_FUZZ_ASSERT(dense.data.size() == static_cast<std::size_t>(shape_numel(p.shape)) * dtype_size(p.dtype));
  check_simple_decode(p, dense);
  PALETTIZE_FUZZ_ASSERT(palettized_size_bits(p) >= 0);
}

}  // namespace
}  // namespace palettize::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  palettize::fuzz::InputReader input(data, size);
  palettize::fuzz::refuse_with_error_only([&] { palettize::fuzz::run(input); });
  return 0;
}
