#include <algorithm>
#include <cmath>
#include <limits>

#include "palettize/engine.hpp"
#include "palettize/error.hpp"

namespace palettize {

ErrorMetrics compare(const TensorView& original, const TensorView& reconstructed) {
  check(original.shape == reconstructed.shape, "cannot compare tensors of shapes ", shape_to_string(original.shape),
        " and ", shape_to_string(reconstructed.shape));
  check(is_palettizable(original.dtype) && is_palettizable(reconstructed.dtype), "cannot compare dtypes ",
        dtype_name(original.dtype), " and ", dtype_name(reconstructed.dtype), ": only F32, F16 and BF16");
  original.check_size();
  reconstructed.check_size();
  ErrorMetrics m;
  m.count = original.numel();
  for (int64_t i = 0; i < m.count; ++i) {
    const double x = load_as_f32(original.dtype, original.data.data(), static_cast<std::size_t>(i));
    const double y = load_as_f32(reconstructed.dtype, reconstructed.data.data(), static_cast<std::size_t>(i));
    const double e = x - y;
    m.sse += e * e;
    m.signal += x * x;
    m.max_abs_err = std::max(m.max_abs_err, std::fabs(e));
  }
  m.mse = m.count ? m.sse / static_cast<double>(m.count) : 0;
  m.snr_db = m.sse == 0 ? std::numeric_limits<double>::infinity() : 10 * std::log10(m.signal / m.sse);
  return m;
}

}  // namespace palettize
