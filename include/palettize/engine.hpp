#pragma once
// The engine: one dense weight tensor + a PalettizationSpec -> LUTs, indices and scales, and back.
// Data path: spec -> blocks -> clusters -> LUT quantization -> (packing, container: see packing.hpp, io).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "palettize/spec.hpp"
#include "palettize/tensor.hpp"

namespace palettize {

struct PalettizeOptions {
  uint64_t seed = 0;                      // vector k-means seeding; the scalar path is seed-free
  int threads = 0;                        // 0 = all hardware threads; the output never depends on it
  bool enable_fast_kmeans_mode = false;   // reference fast mode: fp16 cast + rounding before clustering
  int rounding_precision = 4;             // decimals kept by fast mode
  int vector_restarts = 5;
  int vector_max_iterations = 300;
};

namespace detail {
// Buffers of at least this many bytes are aligned to 2 MiB and marked for transparent huge pages (madvise
// MADV_HUGEPAGE, where the system offers them only on request): the 16 MiB of indices of a 4096 x 4096
// tensor then fault in as 8 pages instead of 4,096, which took about 4 of the 40 ms of a per-tensor run.
inline constexpr std::size_t kHugePageBufferBytes = std::size_t{4} << 20;
void* allocate_huge_page_buffer(std::size_t bytes);  // throws std::bad_alloc
void free_huge_page_buffer(void* buffer) noexcept;
}  // namespace detail

// An allocator whose resize() leaves new elements default-initialised (uninitialised for bytes): the engine
// writes every index, and zero-filling a 16 MB index buffer on one thread first (page faults included) took
// longer than the parallel labelling that overwrites it. Large buffers come in huge pages (see above).
template <class T>
struct DefaultInitAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() = default;
  template <class U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n >= detail::kHugePageBufferBytes / sizeof(T)) {
      if (n > std::allocator_traits<std::allocator<T>>::max_size(*this)) throw std::bad_array_new_length();
      return static_cast<T*>(detail::allocate_huge_page_buffer(n * sizeof(T)));
    }
    return std::allocator<T>::allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n >= detail::kHugePageBufferBytes / sizeof(T)) {
      detail::free_huge_page_buffer(p);
      return;
    }
    std::allocator<T>::deallocate(p, n);
  }
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    std::allocator_traits<std::allocator<T>>::construct(static_cast<std::allocator<T>&>(*this), p,
                                                         std::forward<Args>(args)...);
  }
};
using IndexVector = std::vector<uint8_t, DefaultInitAllocator<uint8_t>>;

// A palettized tensor in Core ML constexpr_lut_to_dense layout.
struct PalettizedTensor {
  DType dtype = DType::F32;      // original dtype (F32, F16 or BF16)
  Shape shape;                   // original shape, rank R >= 1; shape[0] = output channels O
  PalettizationSpec spec;        // as applied, grouped axis resolved
  Shape lut_shape;               // [NB_0, ..., NB_{R-1}, 2^n_bits, cluster_dim]
  std::vector<float> lut;        // dequantized entries, each exactly representable in `dtype`
  Shape index_shape;             // `shape` with dim 0 divided by cluster_dim
  IndexVector indices;           // unpacked, row-major over index_shape
  // Only with lut_qspec: raw codes laid out like `lut`, and one scale (and zero point for int8/uint8) per LUT.
  std::vector<uint8_t> quantized_lut;
  std::vector<float> lut_scale;
  std::vector<int32_t> lut_zero_point;
  // Only with enable_per_channel_scale: one scale per output channel, representable in `dtype`.
  std::vector<float> channel_scale;

  int64_t num_luts() const;
  int64_t lut_entries() const { return spec.lut_size() * spec.cluster_dim; }  // floats per LUT
};

// Shapes of a palettized tensor's parts, known before any clustering (sizes of outputs can be declared
// up front). Throws IncompatibleSpecError when the spec cannot apply to `shape`.
struct PalettizedLayout {
  Shape lut_shape;        // [NB_0, ..., NB_{R-1}, 2^n_bits, cluster_dim]
  Shape index_shape;      // shape with dim 0 divided by cluster_dim
  int64_t num_luts = 0;
  int64_t num_indices = 0;
  int64_t packed_index_bytes = 0;
};
PalettizedLayout palettized_layout(const Shape& shape, const PalettizationSpec& spec);

// Palettizes `weight` (F32/F16/BF16, rank >= 1). `sensitivities`, when given, holds one non-negative
// finite importance per element (row-major, like the weight). Throws Error for a bad spec, a spec that does
// not fit the shape, NaN/Inf weights or sensitivities, empty tensors and unsupported dtypes.
PalettizedTensor palettize(const TensorView& weight, const PalettizationSpec& spec,
                           const PalettizeOptions& options = {}, std::span<const float> sensitivities = {});

// Dense tensor in the original dtype: entry = lut[block][index], expanded along axis 0 for vectors,
// then dtype(float32(entry) * float32(channel_scale[o])) when scaled.
Tensor decode(const PalettizedTensor& palettized);

// Checks the internal consistency of a palettized tensor (sizes of every part against spec and shape).
void validate(const PalettizedTensor& palettized);

// Storage cost in bits: packed indices + LUT (+ LUT scale/zero point) + channel scales.
int64_t palettized_size_bits(const PalettizedTensor& palettized);

struct ErrorMetrics {
  int64_t count = 0;
  double sse = 0;          // sum of squared errors
  double mse = 0;
  double signal = 0;       // sum of squared original values
  double snr_db = 0;       // 10 log10(signal / sse); +inf when sse == 0
  double max_abs_err = 0;
};

// Compares two tensors of the same shape (any palettizable dtypes), in double precision.
ErrorMetrics compare(const TensorView& original, const TensorView& reconstructed);

// compare(original, decode(palettized).view()), bit for bit, without materializing the decoded tensor when
// the LUTs are scalar, unscaled and one per tensor or per group of output channels (else it decodes).
ErrorMetrics compare_decoded(const TensorView& original, const PalettizedTensor& palettized);

// The metrics of these sums over `count` elements (mse, snr_db derived; snr_db = +inf when sse == 0).
ErrorMetrics error_metrics(int64_t count, double sse, double signal, double max_abs_err);

// palettize() and the error of its decoded tensor against `weight`. For F16/BF16 weights with scalar LUTs,
// no channel scale and no fast mode, every element of one 16-bit pattern in a block decodes to the same
// entry, so the error is summed over each block's distinct values (count x squared error) as the
// clustering lists them: no pass over the elements. It is compare_decoded's error up to rounding (the same
// terms in another order); in every other case it is compare_decoded. Deterministic for any thread count.
struct MeasuredPalettization {
  PalettizedTensor palettized;
  ErrorMetrics error;
};
MeasuredPalettization palettize_measured(const TensorView& weight, const PalettizationSpec& spec,
                                         const PalettizeOptions& options = {},
                                         std::span<const float> sensitivities = {});

}  // namespace palettize
