#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include "palettize/engine.hpp"
#include "palettize/error.hpp"
#include "tensor/elements.hpp"

namespace palettize {
namespace {

// Sums over fixed chunks of elements, added up in chunk order: the result depends on the tensor alone,
// never on how many threads computed the chunks.
constexpr std::size_t kChunk = std::size_t{1} << 16;

struct PartialError {
  double sse = 0, signal = 0, max_abs_err = 0;
};

// Four interleaved accumulators (element i feeds lane i % 4, the lanes are added in a fixed order) break
// the chains of dependent additions; the association is fixed, so the sums stay deterministic.
template <class ReaderX, class ReaderY>
PartialError chunk_error(const ReaderX& x_reader, const ReaderY& y_reader, std::size_t begin, std::size_t end) {
  constexpr std::size_t kLanes = 4;
  double sse[kLanes] = {}, signal[kLanes] = {}, max_abs[kLanes] = {};
  std::size_t i = begin;
  for (; i + kLanes <= end; i += kLanes) {
    for (std::size_t lane = 0; lane < kLanes; ++lane) {
      const double x = x_reader.load(i + lane);
      const double e = x - static_cast<double>(y_reader.load(i + lane));
      sse[lane] += e * e;
      signal[lane] += x * x;
      max_abs[lane] = std::max(max_abs[lane], std::fabs(e));
    }
  }
  for (std::size_t lane = 0; i < end; ++i, ++lane) {
    const double x = x_reader.load(i);
    const double e = x - static_cast<double>(y_reader.load(i));
    sse[lane] += e * e;
    signal[lane] += x * x;
    max_abs[lane] = std::max(max_abs[lane], std::fabs(e));
  }
  PartialError p;
  p.sse = (sse[0] + sse[1]) + (sse[2] + sse[3]);
  p.signal = (signal[0] + signal[1]) + (signal[2] + signal[3]);
  p.max_abs_err = std::max(std::max(max_abs[0], max_abs[1]), std::max(max_abs[2], max_abs[3]));
  return p;
}

std::vector<PartialError> chunk_errors(const TensorView& original, const TensorView& reconstructed,
                                       std::size_t count) {
  std::vector<PartialError> partials((count + kChunk - 1) / kChunk);
  elements::with_reader(original.dtype, original.data.data(), [&](const auto& x_reader) {
    elements::with_reader(reconstructed.dtype, reconstructed.data.data(), [&](const auto& y_reader) {
      tbb::parallel_for(tbb::blocked_range<std::size_t>(0, partials.size()), [&](const auto& range) {
        for (std::size_t c = range.begin(); c != range.end(); ++c) {
          partials[c] = chunk_error(x_reader, y_reader, c * kChunk, std::min(count, (c + 1) * kChunk));
        }
      });
    });
  });
  return partials;
}

}  // namespace

ErrorMetrics compare(const TensorView& original, const TensorView& reconstructed) {
  check(original.shape == reconstructed.shape, "cannot compare tensors of shapes ", shape_to_string(original.shape),
        " and ", shape_to_string(reconstructed.shape));
  check(is_palettizable(original.dtype) && is_palettizable(reconstructed.dtype), "cannot compare dtypes ",
        dtype_name(original.dtype), " and ", dtype_name(reconstructed.dtype), ": only F32, F16 and BF16");
  original.check_size();
  reconstructed.check_size();
  ErrorMetrics m;
  m.count = original.numel();
  for (const PartialError& p : chunk_errors(original, reconstructed, static_cast<std::size_t>(m.count))) {
    m.sse += p.sse;
    m.signal += p.signal;
    m.max_abs_err = std::max(m.max_abs_err, p.max_abs_err);
  }
  m.mse = m.count ? m.sse / static_cast<double>(m.count) : 0;
  m.snr_db = m.sse == 0 ? std::numeric_limits<double>::infinity() : 10 * std::log10(m.signal / m.sse);
  return m;
}

}  // namespace palettize
