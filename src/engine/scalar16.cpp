#include "engine/scalar16.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <exception>
#include <iterator>
#include <limits>
#include <optional>
#include <vector>

#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include "tensor/elements.hpp"
#include "tensor/cpu_features.hpp"
#include "tensor/lane_sums.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace palettize {
namespace {

constexpr std::size_t kPatterns = 65536;
constexpr std::size_t kWords = kPatterns / 64;
constexpr uint16_t kMinusZero = 0x8000;
// From this many elements an unweighted block counts and labels its elements on all threads of the arena
// (a one-LUT tensor would otherwise run on one core); counts are integers, so the sums do not depend on
// the split.
constexpr int64_t kParallelElements = int64_t{1} << 20;
constexpr int64_t kRowsPerTask = 64;
// Below this many elements a block marks its patterns in a bitmap as it counts them; above, reading the
// bitmap off the 65 536 counts afterwards is cheaper.
constexpr int64_t kBitmapWhileCounting = 32768;

inline uint16_t load_pattern(const std::byte* data, int64_t element) {
  uint16_t pattern;
  std::memcpy(&pattern, data + element * 2, sizeof pattern);
  return pattern;
}

// Per-thread bins indexed by raw pattern, kept all-zero between blocks. A bitmap of the patterns present
// (8 KiB) lists them in value order without sorting, and only those bins are read and reset. -0 is counted
// apart and merged into +0 (one value) before listing.
struct PatternHistogram {
  std::vector<uint32_t> counts = std::vector<uint32_t>(kPatterns, 0);
  std::vector<double> weights = std::vector<double>(kPatterns, 0.0);
  std::vector<uint8_t> label_of = std::vector<uint8_t>(kPatterns, 0);
  std::vector<uint64_t> present = std::vector<uint64_t>(kWords, 0);
  // Slots for the patterns present, sized once: the first `listed` hold them, ascending by value, -0 left out
  // (list_patterns).
  std::vector<uint16_t> slots = std::vector<uint16_t>(kPatterns);
  std::size_t listed = 0;

  std::span<const uint16_t> patterns() const { return {slots.data(), listed}; }
  void mark(uint16_t pattern) { present[pattern >> 6] |= uint64_t{1} << (pattern & 63); }
  // Reads the 65 536 counts once, four at a time where SSE2 is there (the scalar loop does not vectorise).
  void mark_counted() {
    for (std::size_t w = 0; w < kWords; ++w) present[w] = nonzero_bits(counts.data() + w * 64);
  }
  static uint64_t nonzero_bits(const uint32_t* count) {
    uint64_t bits = 0;
#if defined(__SSE2__)
    const __m128i zero = _mm_setzero_si128();
    for (std::size_t b = 0; b < 64; b += 4) {
      const __m128i four = _mm_loadu_si128(reinterpret_cast<const __m128i*>(count + b));
      const auto is_zero = static_cast<uint64_t>(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(four, zero))));
      bits |= (is_zero ^ 0xF) << b;
    }
#else
    for (std::size_t b = 0; b < 64; ++b) bits |= static_cast<uint64_t>(count[b] != 0) << b;
#endif
    return bits;
  }
  // Weighted counting already counts -0 as +0, so only counts have a -0 bin to merge; its bit is cleared so
  // that listing leaves it out.
  void merge_minus_zero() {
    counts[0] += counts[kMinusZero];
    if (counts[0] != 0) mark(0);
    present[kMinusZero >> 6] &= ~(uint64_t{1} << (kMinusZero & 63));
  }
  // Negative patterns (sign bit set) by decreasing magnitude, then positive ones by increasing magnitude.
  // Each word's bits are taken lowest first (clearing the lowest bit is one instruction; the highest, three in
  // a chain), so the negative patterns are listed by increasing magnitude and then reversed.
  void list_patterns() {
    uint16_t* const out = slots.data();
    std::size_t n = 0;
    const auto list_words = [&](std::size_t begin, std::size_t end) {
      for (std::size_t w = begin; w < end; ++w) {
        for (uint64_t bits = present[w]; bits != 0; bits &= bits - 1) {
          out[n++] = static_cast<uint16_t>(w * 64 + static_cast<std::size_t>(std::countr_zero(bits)));
        }
      }
    };
    list_words(kWords / 2, kWords);
    std::reverse(out, out + n);
    list_words(0, kWords / 2);
    listed = n;
  }
  // Unweighted blocks never touch `weights` (512 KiB): resetting it entry by entry would miss the cache.
  void reset(bool weighted) {
    for (uint16_t pattern : patterns()) counts[pattern] = 0;
    counts[kMinusZero] = 0;
    if (weighted) {
      for (uint16_t pattern : patterns()) weights[pattern] = 0;
    }
    std::fill(present.begin(), present.end(), 0);
    listed = 0;
  }
  void reset_all() {
    std::fill(counts.begin(), counts.end(), 0);
    std::fill(weights.begin(), weights.end(), 0.0);
    std::fill(present.begin(), present.end(), 0);
    listed = 0;
  }
};

// Resets the bins when the block is done. When it is left by an exception, the list of patterns may not
// match the counts yet (it is built after counting), so every bin is cleared.
class ResetOnExit {
 public:
  ResetOnExit(PatternHistogram& histogram, bool weighted) : histogram_(histogram), weighted_(weighted) {}
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;
  ~ResetOnExit() {
    if (std::uncaught_exceptions() > exceptions_) {
      histogram_.reset_all();
    } else {
      histogram_.reset(weighted_);
    }
  }

 private:
  PatternHistogram& histogram_;
  bool weighted_;
  int exceptions_ = std::uncaught_exceptions();
};

PatternHistogram& thread_histogram() {
  thread_local PatternHistogram histogram;
  return histogram;
}

template <typename Visit>
void for_each_element(const BlockLayout& layout, int64_t o_begin, int64_t o_end, const BlockRect& rect,
                      Visit&& visit) {
  for (int64_t o = o_begin; o < o_end; ++o) {
    const int64_t row = o * layout.rest();
    for (int64_t r = rect.r_begin; r < rect.r_end; ++r) visit(row + r);
  }
}

// Calls run(o_begin, o_end) over the item rows of `rect`, split over the arena's threads for big blocks.
template <typename Run>
void over_rows(const BlockRect& rect, bool parallel, Run&& run) {
  if (!parallel) return run(rect.o_begin, rect.o_end);
  // Isolated: while it waits, this thread must not pick up another block, which would reuse its bins.
  tbb::this_task_arena::isolate([&] {
    tbb::parallel_for(tbb::blocked_range<int64_t>(rect.o_begin, rect.o_end, kRowsPerTask),
                      [&](const auto& rows) { run(rows.begin(), rows.end()); });
  });
}

// Counts on every thread into its own bins, then adds the bins up (integer sums: exact in any order).
void fill_counts_parallel(const std::byte* data, const BlockLayout& layout, const BlockRect& rect,
                          PatternHistogram& h) {
  tbb::enumerable_thread_specific<std::vector<uint32_t>> local([] { return std::vector<uint32_t>(kPatterns, 0); });
  over_rows(rect, true, [&](int64_t o_begin, int64_t o_end) {
    uint32_t* counts = local.local().data();
    for_each_element(layout, o_begin, o_end, rect, [&](int64_t e) { ++counts[load_pattern(data, e)]; });
  });
  for (const std::vector<uint32_t>& counts : local) {
    for (std::size_t pattern = 0; pattern < kPatterns; ++pattern) h.counts[pattern] += counts[pattern];
  }
}

void fill_histogram(const std::byte* data, const BlockLayout& layout, const BlockRect& rect,
                    std::span<const float> sensitivities, bool parallel, PatternHistogram& h) {
  const bool mark_while_counting = rect.num_items() < kBitmapWhileCounting;
  uint32_t* counts = h.counts.data();
  if (!sensitivities.empty()) {
    // Sensitivity sums stay in element order (-0 with +0), so they do not depend on the thread count.
    for_each_element(layout, rect.o_begin, rect.o_end, rect, [&](int64_t e) {
      uint16_t pattern = load_pattern(data, e);
      if (pattern == kMinusZero) pattern = 0;
      ++counts[pattern];
      h.weights[pattern] += sensitivities[static_cast<std::size_t>(e)];
      if (mark_while_counting) h.mark(pattern);
    });
  } else if (parallel) {
    fill_counts_parallel(data, layout, rect, h);
  } else if (mark_while_counting) {
    for_each_element(layout, rect.o_begin, rect.o_end, rect, [&](int64_t e) {
      const uint16_t pattern = load_pattern(data, e);
      ++counts[pattern];
      h.mark(pattern);
    });
  } else {
    for_each_element(layout, rect.o_begin, rect.o_end, rect, [&](int64_t e) { ++counts[load_pattern(data, e)]; });
  }
  if (!mark_while_counting) h.mark_counted();
  h.merge_minus_zero();
  h.list_patterns();
}

DistinctValues distinct_patterns(DType dtype, const PatternHistogram& h, bool weighted) {
  const std::span<const uint16_t> patterns = h.patterns();
  const std::size_t n = patterns.size();
  DistinctValues distinct;
  distinct.values.resize(n);
  distinct.weights.resize(n);
  if (dtype == DType::F16) {
    const float* f16 = elements::f16_table();
    for (std::size_t i = 0; i < n; ++i) distinct.values[i] = f16[patterns[i]];
  } else {
    for (std::size_t i = 0; i < n; ++i) distinct.values[i] = elements::bf16_bits_to_f32(patterns[i]);
  }
  if (weighted) {
    for (std::size_t i = 0; i < n; ++i) distinct.weights[i] = h.weights[patterns[i]];
  } else {
    for (std::size_t i = 0; i < n; ++i) distinct.weights[i] = static_cast<double>(h.counts[patterns[i]]);
  }
  return distinct;
}

// The block's error from its distinct values: every element of a pattern decodes to the same LUT entry, so
// its squared error counts once per element (-0 is counted with +0: the same value, the same error). The
// labels never decrease (nearest entries of an ascending LUT), so each entry's values are one run: its error
// is summed in lanes around one entry, and its largest error is at one of the run's ends. Counts are the
// distinct values' weights when the block is unweighted, and read from the bins otherwise.
BlockErrorSums error_over_patterns(const DistinctValues& distinct, const PatternHistogram& h, bool weighted,
                                   const std::vector<float>& lut, const std::vector<uint8_t>& nearest) {
  const std::size_t n = nearest.size();
  std::vector<double> bin_counts;
  if (weighted) {
    const std::span<const uint16_t> patterns = h.patterns();
    bin_counts.resize(n);
    for (std::size_t i = 0; i < n; ++i) bin_counts[i] = static_cast<double>(h.counts[patterns[i]]);
  }
  const double* const counts = weighted ? bin_counts.data() : distinct.weights.data();
  const double* const x = distinct.values.data();
  BlockErrorSums sums;
  sums.signal = sum_in_four_lanes<2>(counts, x, 0.0, 0, n);
  for (std::size_t begin = 0; begin < n;) {
    std::size_t end = begin + 1;
    while (end < n && nearest[end] == nearest[begin]) ++end;
    const double entry = lut[nearest[begin]];
    sums.sse += sum_in_four_lanes<2>(counts, x, entry, begin, end);
    sums.max_abs_err = std::max({sums.max_abs_err, std::fabs(x[begin] - entry), std::fabs(x[end - 1] - entry)});
    begin = end;
  }
  return sums;
}

// ----- Labels by comparison, for LUTs of up to 16 entries ------------------------------------------------
//
// Labels never decrease with the value (nearest entry of an ascending LUT), so the label of a weight is the
// number of thresholds its value reaches, where threshold l is the least value labelled l or more. With the
// 16-bit pattern mapped to a signed key that orders like the value, that is 15 compares of 16 keys at once
// instead of one table lookup and byte store per weight.

// Keys order like the values: +m -> m, -m -> -1 - m (m the 15-bit magnitude), so -0 is -1 and +0 is 0.
inline int16_t ordered_key(uint16_t pattern) {
  const auto magnitude = static_cast<int16_t>(pattern & 0x7FFF);
  return (pattern & 0x8000) ? static_cast<int16_t>(-1 - magnitude) : magnitude;
}

// label = number of l in 1..entries-1 with key > below[l-1].
struct LabelThresholds {
  int16_t below[15];
  int entries = 0;
};

// The thresholds of a block's labels, or nullopt when its labels are not monotone in the value (they are,
// by construction; this keeps the lookup path for anything else) or the LUT has more than 16 entries.
// Threshold l comes from the first value labelled l or more, found by binary search in the monotone labels.
std::optional<LabelThresholds> label_thresholds(std::span<const uint16_t> patterns, const std::vector<uint8_t>& nearest,
                                                int64_t lut_size) {
  if (lut_size > 16 || nearest.empty()) return std::nullopt;
  // Without branches, so that the check vectorises.
  bool descends = false;
  for (std::size_t i = 1; i < nearest.size(); ++i) descends |= nearest[i] < nearest[i - 1];
  if (descends) return std::nullopt;
  LabelThresholds t;
  t.entries = static_cast<int>(lut_size);
  for (int l = 1; l < t.entries; ++l) {
    const auto first = static_cast<std::size_t>(
        std::lower_bound(nearest.begin(), nearest.end(), static_cast<uint8_t>(l)) - nearest.begin());
    if (first == nearest.size()) {
      t.below[l - 1] = std::numeric_limits<int16_t>::max();  // never reached
      continue;
    }
    // +0 stands for -0 too (one value, one label): its threshold must let -0's key (-1) through.
    const int key = patterns[first] == 0 ? -1 : ordered_key(patterns[first]);
    t.below[l - 1] = static_cast<int16_t>(key - 1);
  }
  return t;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define PALETTIZE_LABEL_AVX2 1

__attribute__((target("avx2"))) inline __m256i keys_of(const std::byte* patterns) {
  const __m256i p = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(patterns));
  return _mm256_xor_si256(_mm256_and_si256(p, _mm256_set1_epi16(0x7FFF)), _mm256_srai_epi16(p, 15));
}

// Labels of one row segment: 32 weights per step, the rest (under 32) by table lookup.
constexpr int64_t kLabelsPerStep = 32;
template <int Thresholds>
__attribute__((target("avx2"))) void label_segment_avx2(const std::byte* row, uint8_t* out, int64_t width,
                                                        const LabelThresholds& t, const uint8_t* label_of) {
  __m256i below[Thresholds];
  for (int l = 0; l < Thresholds; ++l) below[l] = _mm256_set1_epi16(t.below[l]);
  int64_t r = 0;
  for (; r + kLabelsPerStep <= width; r += kLabelsPerStep) {
    const __m256i a = keys_of(row + 2 * r), b = keys_of(row + 2 * r + 32);
    __m256i label_a = _mm256_setzero_si256(), label_b = _mm256_setzero_si256();
    for (int l = 0; l < Thresholds; ++l) {  // a true compare is -1: subtracting it counts the threshold
      label_a = _mm256_sub_epi16(label_a, _mm256_cmpgt_epi16(a, below[l]));
      label_b = _mm256_sub_epi16(label_b, _mm256_cmpgt_epi16(b, below[l]));
    }
    // packus interleaves the 128-bit halves (a0-7, b0-7, a8-15, b8-15); the permute restores the order.
    const __m256i bytes = _mm256_permute4x64_epi64(_mm256_packus_epi16(label_a, label_b), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + r), bytes);
  }
  for (; r < width; ++r) out[r] = label_of[load_pattern(row, r)];
}

// label_segment_avx2 for the block's number of thresholds (entries - 1: 1, 3, 7 or 15).
using LabelSegment = void (*)(const std::byte*, uint8_t*, int64_t, const LabelThresholds&, const uint8_t*);
LabelSegment label_segment_for(const LabelThresholds& t) {
  switch (t.entries) {
    case 2: return label_segment_avx2<1>;
    case 4: return label_segment_avx2<3>;
    case 8: return label_segment_avx2<7>;
    case 16: return label_segment_avx2<15>;
    default: return nullptr;
  }
}
#endif

}  // namespace

bool uses_16bit_patterns(DType dtype, const PalettizationSpec& spec, const PalettizeOptions& options) {
  return (dtype == DType::F16 || dtype == DType::BF16) && spec.cluster_dim == 1 && !spec.enable_per_channel_scale &&
         !options.enable_fast_kmeans_mode;
}

EncodedBlock encode_16bit_block(const TensorView& weight, const BlockLayout& layout, const BlockRect& rect,
                                std::span<const float> sensitivities, const PalettizationSpec& spec,
                                std::span<uint8_t> indices) {
  const std::byte* data = weight.data.data();
  const bool parallel = rect.num_items() >= kParallelElements;
  PatternHistogram& h = thread_histogram();
  // Reset on every exit: a block that throws (bad_alloc) must not leave its counts to this thread's next one.
  const ResetOnExit reset_on_exit(h, !sensitivities.empty());
  fill_histogram(data, layout, rect, sensitivities, parallel && sensitivities.empty(), h);
  const DistinctValues distinct = distinct_patterns(weight.dtype, h, !sensitivities.empty());
  std::vector<uint8_t> nearest;
  EncodedBlock encoded = encode_distinct_values(distinct, spec, weight.dtype, nearest);
  encoded.error = error_over_patterns(distinct, h, !sensitivities.empty(), encoded.lut, nearest);

  // Plain pointers: through `h`, every byte store would make the loop reload the vectors (and this thread's
  // address of `h`).
  uint8_t* const label_of = h.label_of.data();  // this thread's table, read by all threads below
  const auto fill_label_table = [&] {
    const std::span<const uint16_t> patterns = h.patterns();
    for (std::size_t i = 0; i < patterns.size(); ++i) label_of[patterns[i]] = nearest[i];
    label_of[kMinusZero] = label_of[0];
  };
  uint8_t* const all_indices = indices.data();
  const int64_t rest = layout.rest(), r_begin = rect.r_begin, width = rect.r_end - rect.r_begin;
#ifdef PALETTIZE_LABEL_AVX2
  const std::optional<LabelThresholds> thresholds =
      cpu_has_avx2() ? label_thresholds(h.patterns(), nearest, spec.lut_size()) : std::nullopt;
  if (const LabelSegment label_segment = thresholds ? label_segment_for(*thresholds) : nullptr) {
    // The table only labels each row's last width % 32 weights.
    if (width % kLabelsPerStep != 0) fill_label_table();
    const LabelThresholds t = *thresholds;
    over_rows(rect, parallel, [=](int64_t o_begin, int64_t o_end) {
      for (int64_t o = o_begin; o < o_end; ++o) {
        label_segment(data + (o * rest + r_begin) * 2, all_indices + o * rest + r_begin, width, t, label_of);
      }
    });
    return encoded;
  }
#endif
  fill_label_table();
  // Captured by value: a byte store may alias anything, so values reached through a captured reference
  // would be reloaded after every store.
  over_rows(rect, parallel, [=](int64_t o_begin, int64_t o_end) {
    for (int64_t o = o_begin; o < o_end; ++o) {
      const std::byte* const row = data + (o * rest + r_begin) * 2;
      uint8_t* const out = all_indices + o * rest + r_begin;
      for (int64_t r = 0; r < width; ++r) out[r] = label_of[load_pattern(row, r)];
    }
  });
  return encoded;
}

}  // namespace palettize
