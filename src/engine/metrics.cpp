#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <variant>
#include <vector>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include "palettize/engine.hpp"
#include "palettize/error.hpp"
#include "tensor/elements.hpp"
#include "tensor/cpu_features.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PALETTIZE_METRICS_AVX2 1
#endif

namespace palettize {
namespace {

// Sums over fixed chunks of elements, added up in chunk order: the result depends on the tensor alone,
// never on how many threads computed the chunks.
constexpr std::size_t kChunk = std::size_t{1} << 16;

struct PartialError {
  double sse = 0, signal = 0, max_abs_err = 0;
};

// Element i feeds lane i % 4 in ascending order whatever the loop shape (chunks start at multiples of 4), so
// every way of walking a chunk below gives the same sums, bit for bit.
constexpr std::size_t kLanes = 4;

struct LaneSums {
  double sse[kLanes] = {}, signal[kLanes] = {}, max_abs[kLanes] = {};

  void add(std::size_t lane, double x, double y) {
    const double e = x - y;
    sse[lane] += e * e;
    signal[lane] += x * x;
    max_abs[lane] = std::max(max_abs[lane], std::fabs(e));
  }
  // Elements [begin, end) with y = value_of(i); the groups of four in the middle have fixed lanes, which
  // lets the compiler keep the accumulators in registers.
  template <class ValueX, class ValueY>
  void add_range(std::size_t begin, std::size_t end, const ValueX& x_of, const ValueY& y_of) {
    std::size_t i = begin;
    for (; i < end && i % kLanes != 0; ++i) add(i % kLanes, x_of(i), y_of(i));
    for (; i + kLanes <= end; i += kLanes) {
      for (std::size_t lane = 0; lane < kLanes; ++lane) add(lane, x_of(i + lane), y_of(i + lane));
    }
    for (; i < end; ++i) add(i % kLanes, x_of(i), y_of(i));
  }
  PartialError total() const {
    PartialError p;
    p.sse = (sse[0] + sse[1]) + (sse[2] + sse[3]);
    p.signal = (signal[0] + signal[1]) + (signal[2] + signal[3]);
    p.max_abs_err = std::max(std::max(max_abs[0], max_abs[1]), std::max(max_abs[2], max_abs[3]));
    return p;
  }
};

// Interleaved accumulators break the chains of dependent additions; the association is fixed, so the sums
// stay deterministic. Readers are taken by value: a chunk may advance its own copy.
template <class ReaderX, class ReaderY>
PartialError chunk_error(ReaderX x_reader, ReaderY y_reader, std::size_t begin, std::size_t end) {
  LaneSums sums;
  sums.add_range(
      begin, end, [&](std::size_t i) { return static_cast<double>(x_reader.load(i)); },
      [&](std::size_t i) { return static_cast<double>(y_reader.load(i)); });
  return sums.total();
}

template <class ReaderY>
std::vector<PartialError> chunk_errors(const TensorView& original, const ReaderY& y_reader, std::size_t count) {
  std::vector<PartialError> partials((count + kChunk - 1) / kChunk);
  elements::with_reader(original.dtype, original.data.data(), [&](const auto& x_reader) {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, partials.size()), [&](const auto& range) {
      for (std::size_t c = range.begin(); c != range.end(); ++c) {
        partials[c] = chunk_error(x_reader, y_reader, c * kChunk, std::min(count, (c + 1) * kChunk));
      }
    });
  });
  return partials;
}

ErrorMetrics metrics_from(const std::vector<PartialError>& partials, int64_t count) {
  double sse = 0, signal = 0, max_abs_err = 0;
  for (const PartialError& p : partials) {
    sse += p.sse;
    signal += p.signal;
    max_abs_err = std::max(max_abs_err, p.max_abs_err);
  }
  return error_metrics(count, sse, signal, max_abs_err);
}

void check_comparable(const TensorView& original, const Shape& shape, DType dtype) {
  check(original.shape == shape, "cannot compare tensors of shapes ", shape_to_string(original.shape), " and ",
        shape_to_string(shape));
  check(is_palettizable(original.dtype) && is_palettizable(dtype), "cannot compare dtypes ",
        dtype_name(original.dtype), " and ", dtype_name(dtype), ": only F32, F16 and BF16");
  original.check_size();
}

// The decoded values of a palettized tensor whose LUT depends on the row only: each LUT entry narrowed to
// the dtype and widened back once, as decode then a reader would.
struct DecodedRows {
  const float* luts;
  const uint8_t* indices;
  std::size_t rest, rows_per_lut, entries;
};

// Calls visit(segment_begin, segment_end, lut) for the pieces of [begin, end) that lie in one row, in order.
template <class Visit>
void for_each_row_segment(const DecodedRows& y, std::size_t begin, std::size_t end, const Visit& visit) {
  for (std::size_t i = begin; i < end;) {
    const std::size_t row = i / y.rest;
    const std::size_t segment_end = std::min(end, (row + 1) * y.rest);
    visit(i, segment_end, y.luts + row / y.rows_per_lut * y.entries);
    i = segment_end;
  }
}

// chunk_error for DecodedRows: the chunk is walked row segment by row segment, each with one LUT, so the
// inner loop is a plain gather.
template <class ReaderX>
PartialError chunk_error(ReaderX x_reader, const DecodedRows& y, std::size_t begin, std::size_t end) {
  LaneSums sums;
  const auto x_of = [&](std::size_t i) { return static_cast<double>(x_reader.load(i)); };
  for_each_row_segment(y, begin, end, [&](std::size_t from, std::size_t to, const float* lut) {
    sums.add_range(from, to, x_of, [&](std::size_t j) { return static_cast<double>(lut[y.indices[j]]); });
  });
  return sums.total();
}

#ifdef PALETTIZE_METRICS_AVX2
// The four lanes of LaneSums as the four lanes of AVX2 vectors, for F16 originals against one LUT over
// [begin, end) (multiples of 4): per lane the scalar operations in the scalar order (x - y, then e * e and
// x * x each rounded before the add: no FMA, which this target does not enable), so the sums are the
// scalar path's bit for bit. F16C widens exactly, as the F16 table does.
__attribute__((target("avx2,f16c"))) void add_f16_lut_avx2(LaneSums& sums, const std::byte* x, const uint8_t* indices,
                                                            const float* lut, std::size_t begin, std::size_t end) {
  __m256d sse = _mm256_loadu_pd(sums.sse), signal = _mm256_loadu_pd(sums.signal);
  __m256d max_abs = _mm256_loadu_pd(sums.max_abs);
  const __m256d sign_bit = _mm256_set1_pd(-0.0);
  for (std::size_t i = begin; i < end; i += kLanes) {
    const __m256d xv = _mm256_cvtps_pd(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(x + 2 * i))));
    int32_t four;
    std::memcpy(&four, indices + i, sizeof four);
    const __m128i lanes = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(four));
    const __m256d yv = _mm256_cvtps_pd(_mm_i32gather_ps(lut, lanes, sizeof(float)));
    const __m256d e = _mm256_sub_pd(xv, yv);
    sse = _mm256_add_pd(sse, _mm256_mul_pd(e, e));
    signal = _mm256_add_pd(signal, _mm256_mul_pd(xv, xv));
    max_abs = _mm256_max_pd(_mm256_andnot_pd(sign_bit, e), max_abs);  // max_abs when equal, as std::max
  }
  _mm256_storeu_pd(sums.sse, sse);
  _mm256_storeu_pd(sums.signal, signal);
  _mm256_storeu_pd(sums.max_abs, max_abs);
}

// F16 originals, the most common case: the aligned middle of each row segment goes four at a time.
PartialError chunk_error(elements::F16Reader x_reader, const DecodedRows& y, std::size_t begin, std::size_t end) {
  if (!cpu_has_avx2_f16c()) return chunk_error<elements::F16Reader>(x_reader, y, begin, end);
  LaneSums sums;
  const auto x_of = [&](std::size_t i) { return static_cast<double>(x_reader.load(i)); };
  for_each_row_segment(y, begin, end, [&](std::size_t from, std::size_t to, const float* lut) {
    const auto y_of = [&](std::size_t j) { return static_cast<double>(lut[y.indices[j]]); };
    const std::size_t body_begin = std::min(to, (from + kLanes - 1) / kLanes * kLanes);
    const std::size_t body_end = std::max(body_begin, to / kLanes * kLanes);
    sums.add_range(from, body_begin, x_of, y_of);
    add_f16_lut_avx2(sums, x_reader.data, y.indices, lut, body_begin, body_end);
    sums.add_range(body_end, to, x_of, y_of);
  });
  return sums.total();
}
#endif

float round_trip(DType dtype, float value) {
  switch (dtype) {
    case DType::F16:
      return elements::f16_table()[f32_to_f16(value)];
    case DType::BF16:
      return elements::bf16_bits_to_f32(f32_to_bf16(value));
    default:
      return value;
  }
}

// Rows sharing one LUT, or 0 when the LUT of an element depends on more than its row.
int64_t rows_per_lut(const PalettizedTensor& p) {
  if (p.spec.cluster_dim != 1 || !p.channel_scale.empty()) return 0;
  if (!p.spec.is_grouped()) return p.shape[0];
  const auto& group = std::get<PerGroupedChannelGranularity>(p.spec.granularity);
  return group.axis == 0 ? group.group_size : 0;
}

}  // namespace

ErrorMetrics error_metrics(int64_t count, double sse, double signal, double max_abs_err) {
  ErrorMetrics m;
  m.count = count;
  m.sse = sse;
  m.signal = signal;
  m.max_abs_err = max_abs_err;
  m.mse = m.count ? m.sse / static_cast<double>(m.count) : 0;
  m.snr_db = m.sse == 0 ? std::numeric_limits<double>::infinity() : 10 * std::log10(m.signal / m.sse);
  return m;
}

ErrorMetrics compare_decoded(const TensorView& original, const PalettizedTensor& palettized) {
  validate(palettized);
  const int64_t group_rows = rows_per_lut(palettized);
  if (group_rows == 0) return compare(original, decode(palettized).view());
  check_comparable(original, palettized.shape, palettized.dtype);
  std::vector<float> decoded_luts(palettized.lut.size());
  for (std::size_t e = 0; e < decoded_luts.size(); ++e) {
    decoded_luts[e] = round_trip(palettized.dtype, palettized.lut[e]);
  }
  const int64_t count = shape_numel(palettized.shape);
  const DecodedRows reader{decoded_luts.data(), palettized.indices.data(),
                           static_cast<std::size_t>(count / palettized.shape[0]), static_cast<std::size_t>(group_rows),
                           static_cast<std::size_t>(palettized.lut_entries())};
  return metrics_from(chunk_errors(original, reader, static_cast<std::size_t>(count)), count);
}

ErrorMetrics compare(const TensorView& original, const TensorView& reconstructed) {
  check_comparable(original, reconstructed.shape, reconstructed.dtype);
  reconstructed.check_size();
  const int64_t count = original.numel();
  return elements::with_reader(reconstructed.dtype, reconstructed.data.data(), [&](const auto& y_reader) {
    return metrics_from(chunk_errors(original, y_reader, static_cast<std::size_t>(count)), count);
  });
}

}  // namespace palettize
