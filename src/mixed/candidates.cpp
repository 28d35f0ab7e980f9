// Candidates of one tensor: exact container sizes, and SSE from one 1-D DP per block (or the engine).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <thread>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include "blocking/blocking.hpp"
#include "palettize/clustering.hpp"
#include "palettize/container.hpp"
#include "palettize/error.hpp"
#include "palettize/mixed_precision.hpp"

namespace palettize {
namespace {

constexpr int kAllowedBits[] = {1, 2, 3, 4, 6, 8};

// Only the scalar path without scales or LUT codes has an error the DP predicts exactly (up to rounding the
// LUT to the dtype); everything else is measured.
bool dp_predicts(const PalettizationSpec& spec) {
  return spec.cluster_dim == 1 && !spec.enable_per_channel_scale && !spec.lut_qspec;
}

std::vector<float> finite_values(const std::string& name, const TensorView& weight) {
  std::vector<float> values = to_f32(weight);
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      fail("tensor '", name, "' ", shape_to_string(weight.shape), " holds ", values[i], " at element ", i,
           "; NaN and infinite weights cannot be palettized");
    }
  }
  return values;
}

int thread_count(int requested) {
  check(requested >= 0, "threads must be >= 0 (0 = all cores), got ", requested);
  return requested > 0 ? requested : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// Optimal SSE for k = 2^n of every candidate, summed over the blocks of `spec`'s layout. Each block's DP
// runs once, up to the largest LUT; blocks are summed in block order, so threads never change the sum.
std::vector<double> predicted_sse(const std::vector<float>& values, const Shape& shape,
                                  const PalettizationSpec& spec, std::span<const int> n_bits, int threads) {
  const BlockLayout layout(shape, spec);
  const int max_bits = *std::max_element(n_bits.begin(), n_bits.end());
  const int k_max = 1 << max_bits;
  std::vector<std::vector<double>> per_block(static_cast<std::size_t>(layout.num_blocks()));
  auto solve_range = [&](const tbb::blocked_range<int64_t>& range) {
    for (int64_t b = range.begin(); b != range.end(); ++b) {
      const BlockRect rect = layout.block(b);
      std::vector<float> block;
      block.reserve(static_cast<std::size_t>(rect.num_items()));
      for (int64_t o = rect.o_begin; o < rect.o_end; ++o) {
        for (int64_t r = rect.r_begin; r < rect.r_end; ++r) block.push_back(values[layout.element_index(o, r, 0)]);
      }
      const DistinctValues distinct = reduce_to_distinct(block);
      per_block[b] = optimal_costs_1d(distinct.values, distinct.weights, k_max);
    }
  };
  tbb::task_arena arena(threads);
  arena.execute([&] { tbb::parallel_for(tbb::blocked_range<int64_t>(0, layout.num_blocks(), 1), solve_range); });
  std::vector<double> sse(n_bits.size(), 0.0);
  for (const std::vector<double>& costs : per_block) {
    for (std::size_t c = 0; c < n_bits.size(); ++c) sse[c] += costs[(std::size_t{1} << n_bits[c]) - 1];
  }
  return sse;
}

double measured_sse(const TensorView& weight, const PalettizationSpec& spec, int threads) {
  PalettizeOptions options;
  options.threads = threads;
  const PalettizedTensor palettized = palettize(weight, spec, options);
  return compare(weight, decode(palettized).view()).sse;
}

}  // namespace

int64_t container_bits(const std::string& name, DType dtype, const Shape& shape, const PalettizationSpec& spec) {
  const ContainerEntry entry = make_container_entry(name, dtype, shape, spec);
  int64_t bytes = 0;
  for (const TensorDecl& part : container_parts(entry)) bytes += static_cast<int64_t>(part.byte_size());
  return bytes * 8;
}

std::string candidate_label(int n_bits) { return "n" + std::to_string(n_bits); }

void check_candidate_bits(std::span<const int> n_bits) {
  check(!n_bits.empty(), "the candidate list is empty; give n_bits from {1, 2, 3, 4, 6, 8}");
  for (std::size_t i = 0; i < n_bits.size(); ++i) {
    check(std::find(std::begin(kAllowedBits), std::end(kAllowedBits), n_bits[i]) != std::end(kAllowedBits),
          "candidate n_bits ", n_bits[i], " is not one of 1, 2, 3, 4, 6, 8");
    check(std::find(n_bits.begin(), n_bits.begin() + static_cast<std::ptrdiff_t>(i), n_bits[i]) ==
              n_bits.begin() + static_cast<std::ptrdiff_t>(i),
          "candidate n_bits ", n_bits[i], " is listed twice");
  }
}

std::vector<int> parse_candidate_bits(std::string_view text) {
  std::vector<int> bits;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string_view item = text.substr(start, comma - start);
    int value = 0;
    const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), value);
    check(error == std::errc{} && end == item.data() + item.size() && !item.empty(), "candidates: '", item,
          "' in '", text, "' is not an integer (expected a list like 2,3,4,6,8)");
    bits.push_back(value);
    start = comma + 1;
  }
  check_candidate_bits(bits);
  return bits;
}

TensorCandidates tensor_candidates(std::string name, const TensorView& weight, const PalettizationSpec& base_spec,
                                   const CandidateOptions& options) {
  check_candidate_bits(options.n_bits);
  check(is_palettizable(weight.dtype), "tensor '", name, "' has dtype ", dtype_name(weight.dtype),
        "; only F32, F16 and BF16 tensors have palettization candidates");
  weight.check_size();
  const int threads = thread_count(options.threads);
  TensorCandidates result;
  result.name = std::move(name);
  result.dtype = weight.dtype;
  result.shape = weight.shape;
  result.numel = weight.numel();
  const std::vector<float> values = finite_values(result.name, weight);
  for (float x : values) result.signal += static_cast<double>(x) * x;

  try {
    palettized_layout(result.shape, base_spec);
  } catch (const IncompatibleSpecError& error) {
    throw IncompatibleSpecError("tensor '" + result.name + "' " + shape_to_string(result.shape) + ": " + error.what());
  }
  std::vector<PalettizationSpec> specs;
  for (int bits : options.n_bits) {
    PalettizationSpec spec = base_spec.with_resolved_axis();
    spec.n_bits = bits;
    specs.push_back(spec);
  }
  const bool predict = dp_predicts(base_spec) && !options.measure;
  std::vector<double> sse;
  if (predict) {
    try {
      sse = predicted_sse(values, result.shape, specs.front(), options.n_bits, threads);
    } catch (const Error& error) {
      fail("tensor '", result.name, "' ", shape_to_string(result.shape), ": ", error.what());
    }
  }
  for (std::size_t c = 0; c < specs.size(); ++c) {
    Candidate candidate;
    candidate.label = candidate_label(specs[c].n_bits);
    candidate.spec = specs[c];
    candidate.size_bits = container_bits(result.name, result.dtype, result.shape, specs[c]);
    candidate.measured = !predict;
    candidate.sse = predict ? sse[c] : measured_sse(weight, specs[c], threads);
    candidate.cost = candidate.sse;
    result.candidates.push_back(std::move(candidate));
  }
  if (options.include_dense) {
    Candidate dense;
    dense.label = std::string(kDenseCandidate);
    dense.size_bits = result.numel * static_cast<int64_t>(dtype_size(result.dtype)) * 8;
    result.candidates.push_back(std::move(dense));
  }
  return result;
}

}  // namespace palettize
