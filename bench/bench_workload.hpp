#pragma once
// The benchmark's workload tensor and the spec matrix of issue 5, shared by the kernel benchmarks.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "palettize/engine.hpp"
#include "palettize/spec.hpp"
#include "palettize/tensor.hpp"

namespace palettize::bench {

// The 4096x4096 F16 tensor "weight" of bench/workloads.py, read into memory so that timings are I/O free.
// Without a file, a stand-in of the same distribution is generated in-process (not byte-identical to the
// Python one, so the baselines need the file).
Tensor load_workload(const std::filesystem::path& path);
Tensor generate_workload(int64_t rows, int64_t cols, uint64_t seed);

struct BenchConfig {
  std::string name;  // e.g. "n4/g16/scale"
  PalettizationSpec spec;
};

// n_bits 2/4/6/8 x {per-tensor, g=32, 16, 8, per-row}; cluster_dim 2 and 4 at 4 bits; per-channel scale
// and an int8 LUT (alone and together) at 4 bits.
std::vector<BenchConfig> spec_matrix();

// Rows the baselines cluster for this spec: `baseline_rows` rounded up to whole blocks (and vectors), or
// every row for one LUT per tensor, whose quality is compared on the whole tensor.
int64_t subset_rows(const PalettizationSpec& spec, int64_t rows, int64_t baseline_rows);

struct SquaredError {
  double total = 0;
  double subset = 0;  // over the first subset_rows rows
};
// Sum of squared errors of `reconstructed` against `original` (same shape, rank 2), in double.
SquaredError squared_error(const TensorView& original, const TensorView& reconstructed, int64_t subset_rows);

}  // namespace palettize::bench
