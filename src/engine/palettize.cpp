#include <algorithm>
#include <atomic>
#include <cmath>
#include <optional>
#include <thread>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include "blocking/blocking.hpp"
#include "engine/block_codec.hpp"
#include "engine/scalar16.hpp"
#include "palettize/engine.hpp"
#include "palettize/error.hpp"
#include "tensor/elements.hpp"

namespace palettize {
namespace {

void check_input(const TensorView& weight, std::span<const float> sensitivities) {
  check(is_palettizable(weight.dtype), "cannot palettize a tensor of dtype ", dtype_name(weight.dtype),
        ": only F32, F16 and BF16 weights are palettizable");
  check(!weight.shape.empty(), "cannot palettize a scalar (rank 0) tensor");
  check(weight.numel() > 0, "cannot palettize an empty tensor of shape ", shape_to_string(weight.shape));
  weight.check_size();
  if (!sensitivities.empty()) {
    check(static_cast<int64_t>(sensitivities.size()) == weight.numel(), "sensitivities hold ", sensitivities.size(),
          " values but the weight of shape ", shape_to_string(weight.shape), " has ", weight.numel());
  }
}

// Elements per chunk of the parallel finiteness scan.
constexpr std::size_t kFiniteChunk = std::size_t{1} << 18;

// The first non-finite element (count: none), scanned in chunks on the arena's threads; the first failing
// chunk names it, so the answer does not depend on the thread count.
std::size_t first_non_finite(const TensorView& weight) {
  const auto count = static_cast<std::size_t>(weight.numel());
  const std::size_t element_size = dtype_size(weight.dtype);
  const std::size_t chunks = (count + kFiniteChunk - 1) / kFiniteChunk;
  std::atomic<std::size_t> first_bad_chunk = chunks;
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, chunks), [&](const tbb::blocked_range<std::size_t>& range) {
    for (std::size_t c = range.begin(); c != range.end() && c < first_bad_chunk.load(); ++c) {
      const std::size_t begin = c * kFiniteChunk, length = std::min(kFiniteChunk, count - begin);
      if (elements::first_non_finite(weight.dtype, weight.data.data() + begin * element_size, length) < length) {
        for (std::size_t seen = first_bad_chunk.load(); c < seen && !first_bad_chunk.compare_exchange_weak(seen, c);) {
        }
      }
    }
  });
  const std::size_t c = first_bad_chunk.load();
  if (c == chunks) return count;
  const std::size_t begin = c * kFiniteChunk;
  return begin + elements::first_non_finite(weight.dtype, weight.data.data() + begin * element_size,
                                            std::min(kFiniteChunk, count - begin));
}

// Refuses NaN and infinities (a LUT cannot represent them faithfully), naming the first one.
void check_finite(const TensorView& weight) {
  const auto count = static_cast<std::size_t>(weight.numel());
  const std::size_t i = first_non_finite(weight);
  if (i < count) {
    fail("weight of shape ", shape_to_string(weight.shape), " holds ", load_as_f32(weight.dtype, weight.data.data(), i),
         " at element ", i, "; NaN and infinite weights cannot be palettized");
  }
}

void check_sensitivities(std::span<const float> sensitivities) {
  for (std::size_t i = 0; i < sensitivities.size(); ++i) {
    if (!(std::isfinite(sensitivities[i]) && sensitivities[i] >= 0)) {
      fail("sensitivity ", sensitivities[i], " at element ", i, " is not a finite non-negative number");
    }
  }
}

// §3.1: s[o] = max |W[o, ...]|, 0 -> 1. The max of dtype values is itself exactly representable.
std::vector<float> channel_scales(const std::vector<float>& values, int64_t output_channels) {
  const int64_t rest = static_cast<int64_t>(values.size()) / output_channels;
  std::vector<float> scales(static_cast<std::size_t>(output_channels));
  for (int64_t o = 0; o < output_channels; ++o) {
    float max_abs = 0;
    for (int64_t r = 0; r < rest; ++r) max_abs = std::max(max_abs, std::fabs(values[o * rest + r]));
    scales[o] = max_abs == 0 ? 1.0f : max_abs;
  }
  return scales;
}

BlockData gather_block(const BlockLayout& layout, const BlockRect& rect, const std::vector<float>& values,
                       const std::vector<float>& scales, std::span<const float> sensitivities) {
  const int64_t cd = layout.cluster_dim();
  BlockData block;
  block.values.reserve(static_cast<std::size_t>(rect.num_items() * cd));
  if (!sensitivities.empty()) block.sensitivities.reserve(block.values.capacity());
  for (int64_t o = rect.o_begin; o < rect.o_end; ++o) {
    for (int64_t r = rect.r_begin; r < rect.r_end; ++r) {
      for (int64_t j = 0; j < cd; ++j) {
        const int64_t element = layout.element_index(o, r, j);
        const float x = values[element];
        block.values.push_back(scales.empty() ? x : x / scales[o * cd + j]);
        if (!sensitivities.empty()) block.sensitivities.push_back(sensitivities[element]);
      }
    }
  }
  return block;
}

void scatter_block(const BlockLayout& layout, const BlockRect& rect, int64_t b, const EncodedBlock& encoded,
                   PalettizedTensor& out) {
  const int64_t entries = out.lut_entries();
  std::copy(encoded.lut.begin(), encoded.lut.end(), out.lut.begin() + b * entries);
  if (!encoded.codes.empty()) {
    std::copy(encoded.codes.begin(), encoded.codes.end(), out.quantized_lut.begin() + b * entries);
    out.lut_scale[b] = encoded.qparams.scale;
    if (!out.lut_zero_point.empty()) out.lut_zero_point[b] = encoded.qparams.zero_point;
  }
  if (encoded.labels.empty()) return;  // the encoder wrote its indices in place
  std::size_t label = 0;
  for (int64_t o = rect.o_begin; o < rect.o_end; ++o) {
    for (int64_t r = rect.r_begin; r < rect.r_end; ++r) out.indices[o * layout.rest() + r] = encoded.labels[label++];
  }
}

// A per-block seed that depends on the block number only, never on which thread runs it.
uint64_t block_seed(uint64_t seed, int64_t block) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(block + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int thread_count(int requested) {
  check(requested >= 0, "threads must be >= 0 (0 = all cores), got ", requested);
  if (requested > 0) return requested;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

PalettizedTensor empty_result(const TensorView& weight, const PalettizationSpec& spec, const BlockLayout& layout) {
  PalettizedTensor out;
  out.dtype = weight.dtype;
  out.shape = weight.shape;
  out.spec = spec.with_resolved_axis();
  out.lut_shape = layout.lut_shape(spec.n_bits);
  out.index_shape = layout.index_shape();
  const auto luts = static_cast<std::size_t>(layout.num_blocks());
  out.lut.resize(luts * static_cast<std::size_t>(out.lut_entries()));
  out.indices.resize(static_cast<std::size_t>(layout.num_items()));
  if (spec.lut_qspec) {
    out.quantized_lut.resize(out.lut.size());
    out.lut_scale.resize(luts);
    if (!is_float_quant_dtype(spec.lut_qspec->dtype)) out.lut_zero_point.resize(luts);
  }
  return out;
}

}  // namespace

PalettizedLayout palettized_layout(const Shape& shape, const PalettizationSpec& spec) {
  spec.validate();
  const BlockLayout layout(shape, spec);
  PalettizedLayout result;
  result.lut_shape = layout.lut_shape(spec.n_bits);
  result.index_shape = layout.index_shape();
  result.num_luts = layout.num_blocks();
  result.num_indices = layout.num_items();
  result.packed_index_bytes = (result.num_indices * spec.n_bits + 7) / 8;
  return result;
}

namespace {

// palettize(); with `block_errors`, also each block's error where its encoder summed it (else nullopt).
PalettizedTensor palettize_blocks(const TensorView& weight, const PalettizationSpec& spec,
                                  const PalettizeOptions& options, std::span<const float> sensitivities,
                                  tbb::task_arena& arena, std::vector<std::optional<BlockErrorSums>>* block_errors) {
  spec.validate();
  check_input(weight, sensitivities);
  check_sensitivities(sensitivities);
  const BlockLayout layout(weight.shape, spec);
  arena.execute([&] { check_finite(weight); });

  PalettizedTensor out = empty_result(weight, spec, layout);
  const bool from_patterns = uses_16bit_patterns(weight.dtype, spec, options);
  std::vector<float> values, scales;
  if (!from_patterns) values = to_f32(weight);
  if (spec.enable_per_channel_scale) scales = out.channel_scale = channel_scales(values, layout.output_channels());
  if (block_errors) block_errors->assign(static_cast<std::size_t>(layout.num_blocks()), std::nullopt);

  auto encode_one = [&](int64_t b) {
    const BlockRect rect = layout.block(b);
    if (from_patterns) return encode_16bit_block(weight, layout, rect, sensitivities, spec, out.indices);
    return encode_block(gather_block(layout, rect, values, scales, sensitivities), spec, weight.dtype, options,
                        block_seed(options.seed, b));
  };
  auto encode_range = [&](const tbb::blocked_range<int64_t>& range) {
    for (int64_t b = range.begin(); b != range.end(); ++b) {
      const EncodedBlock encoded = encode_one(b);
      scatter_block(layout, layout.block(b), b, encoded, out);
      if (block_errors) (*block_errors)[static_cast<std::size_t>(b)] = encoded.error;
    }
  };
  arena.execute([&] { tbb::parallel_for(tbb::blocked_range<int64_t>(0, layout.num_blocks(), 1), encode_range); });
  return out;
}

}  // namespace

PalettizedTensor palettize(const TensorView& weight, const PalettizationSpec& spec, const PalettizeOptions& options,
                           std::span<const float> sensitivities) {
  tbb::task_arena arena(thread_count(options.threads));
  return palettize_blocks(weight, spec, options, sensitivities, arena, nullptr);
}

MeasuredPalettization palettize_measured(const TensorView& weight, const PalettizationSpec& spec,
                                         const PalettizeOptions& options, std::span<const float> sensitivities) {
  tbb::task_arena arena(thread_count(options.threads));
  std::vector<std::optional<BlockErrorSums>> block_errors;
  MeasuredPalettization result;
  result.palettized = palettize_blocks(weight, spec, options, sensitivities, arena, &block_errors);
  const bool every_block_summed =
      std::all_of(block_errors.begin(), block_errors.end(), [](const auto& e) { return e.has_value(); });
  if (!every_block_summed) {
    result.error = arena.execute([&] { return compare_decoded(weight, result.palettized); });
    return result;
  }
  // In block order, so the sums do not depend on which thread encoded which block.
  double sse = 0, signal = 0, max_abs_err = 0;
  for (const auto& block : block_errors) {
    sse += block->sse;
    signal += block->signal;
    max_abs_err = std::max(max_abs_err, block->max_abs_err);
  }
  result.error = error_metrics(weight.numel(), sse, signal, max_abs_err);
  return result;
}

}  // namespace palettize
