// private: include only from src/ and tests/
// reduce_to_distinct with its reduction path chosen by the caller, so tests can check that the histogram
// path and the sorting path give identical results on the same block.
#pragma once

#include <span>

#include "palettize/clustering.hpp"

namespace palettize::distinct_detail {

enum class DistinctMethod {
  kAuto,       // what reduce_to_distinct does: histogram for large fp16/bf16-exact blocks, else sorting
  kHistogram,  // 65 536-bin histogram when every value fits bf16 or fp16 exactly; sorting otherwise
  kSort,       // radix (or std::sort for tiny blocks) of (key, element) pairs
};

// allow_simd = false forces the scalar kernels (tests check both agree bit for bit).
DistinctValues reduce_to_distinct_using(std::span<const float> x, std::span<const float> sensitivities,
                                        DistinctMethod method, bool allow_simd = true);

// The histogram path on validated sensitivities: fills `out` and returns true when every value fits bf16
// or fp16 exactly; returns false (out untouched) otherwise, also for NaN/Inf values.
bool reduce_by_histogram(std::span<const float> x, std::span<const float> sensitivities, DistinctValues& out,
                         bool allow_simd);

}  // namespace palettize::distinct_detail
