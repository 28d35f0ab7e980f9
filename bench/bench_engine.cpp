// Google Benchmark kernels: whole-tensor palettization through the engine API (I/O free, wall-clock time,
// all threads unless --threads), decode and index packing, and the in-process bandwidth floor.
//
//   palettize_bench [--workload=FILE.safetensors] [--threads=N] [--baseline_rows=R] [benchmark flags]
//
// Each palettize benchmark also reports, outside the timed loop, the sum of squared errors of the decoded
// tensor (counter "sse") and over its first `subset_rows` rows ("sse_subset"), the rows the Python
// baselines cluster, and carries its spec as JSON in the label, so bench/run_bench.py can pair each one with
// the baselines on the same data.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "bench_workload.hpp"
#include "clustering/kmeans1d_internal.hpp"
#include "palettize/clustering.hpp"
#include "palettize/engine.hpp"
#include "palettize/error.hpp"
#include "palettize/packing.hpp"
#include "palettize/spec_json.hpp"
#include "palettize/tensor.hpp"

namespace palettize::bench {
namespace {

struct Flags {
  std::filesystem::path workload;
  int threads = 0;
  int64_t baseline_rows = 16;
};

// Takes our own --name=value flags out of argv and leaves the rest to Google Benchmark.
Flags take_flags(int& argc, char** argv) {
  Flags flags;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value_of = [&](std::string_view name) -> const char* {
      return arg.substr(0, name.size()) == name ? argv[i] + name.size() : nullptr;
    };
    if (const char* v = value_of("--workload=")) {
      flags.workload = v;
    } else if (const char* v = value_of("--threads=")) {
      flags.threads = std::stoi(v);
    } else if (const char* v = value_of("--baseline_rows=")) {
      flags.baseline_rows = std::stoll(v);
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  return flags;
}

void palettize_benchmark(benchmark::State& state, const Tensor& weight, const BenchConfig& config,
                         const Flags& flags) {
  PalettizeOptions options;
  options.threads = flags.threads;
  PalettizedTensor result;
  for (auto _ : state) {
    result = palettize(weight.view(), config.spec, options);
    benchmark::DoNotOptimize(result.indices.data());
    benchmark::ClobberMemory();
  }
  const int64_t rows = subset_rows(config.spec, weight.shape[0], flags.baseline_rows);
  const SquaredError error = squared_error(weight.view(), decode(result).view(), rows);
  state.counters["sse"] = error.total;
  state.counters["sse_subset"] = error.subset;
  state.counters["subset_rows"] = static_cast<double>(rows);
  state.counters["luts"] = static_cast<double>(result.num_luts());
  state.counters["params_per_s"] =
      benchmark::Counter(static_cast<double>(weight.numel()), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(spec_to_json_string(config.spec));
}

void decode_benchmark(benchmark::State& state, const Tensor& weight, const PalettizationSpec& spec) {
  const PalettizedTensor palettized = palettize(weight.view(), spec);
  for (auto _ : state) {
    Tensor dense = decode(palettized);
    benchmark::DoNotOptimize(dense.data.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(weight.data.size()));
}

void pack_benchmark(benchmark::State& state, const Tensor& weight, const PalettizationSpec& spec) {
  const PalettizedTensor palettized = palettize(weight.view(), spec);
  for (auto _ : state) {
    std::vector<uint8_t> packed = pack_indices(palettized.indices, spec.n_bits);
    benchmark::DoNotOptimize(packed.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(palettized.indices.size()));
}

// The exact 1-D problems of the first `rows` rows (distinct values, counts as weights): what n4/row clusters.
struct RowProblems {
  std::vector<kmeans1d_detail::RangeCost> costs;
  std::vector<std::vector<double>> values;  // the distinct values each cost was built from
  int64_t distinct_values = 0;
};

RowProblems row_problems(const Tensor& weight, int64_t rows) {
  const std::vector<float> values = to_f32(weight.view());
  const auto columns = static_cast<std::size_t>(weight.shape.at(1));
  RowProblems problems;
  for (int64_t r = 0; r < std::min(rows, weight.shape.at(0)); ++r) {
    const DistinctValues distinct =
        reduce_to_distinct(std::span<const float>(values).subspan(static_cast<std::size_t>(r) * columns, columns));
    problems.costs.emplace_back(distinct.values, distinct.weights);
    problems.values.push_back(distinct.values);
    problems.distinct_values += static_cast<int64_t>(distinct.values.size());
  }
  return problems;
}

// Built on first use, so that runs which filter these benchmarks out do not pay for it.
const RowProblems& first_rows(const Tensor& weight) {
  static const RowProblems problems = row_problems(weight, 256);
  return problems;
}

// One Lagrangian pass per row at the power-law price for k clusters (where the price search starts on a
// problem too small to coarsen): the kernel that bounds the per-row figures (bench/performance_notes.md).
// Items are distinct values.
void lagrangian_pass_benchmark(benchmark::State& state, const RowProblems& problems, std::size_t k) {
  kmeans1d_detail::PassBuffers buffers;
  const double cube = static_cast<double>(k * k * k);
  for (auto _ : state) {
    for (const kmeans1d_detail::RangeCost& cost : problems.costs) {
      benchmark::DoNotOptimize(kmeans1d_detail::lagrangian_pass(cost, 2 * cost(0, cost.size()) / cube, true, buffers));
    }
  }
  state.SetItemsProcessed(state.iterations() * problems.distinct_values);
}

// The whole exact k-partition of each row by passes (the price search included). Items are rows.
void lagrangian_bounds_benchmark(benchmark::State& state, const RowProblems& problems, std::size_t k) {
  for (auto _ : state) {
    for (std::size_t r = 0; r < problems.costs.size(); ++r) {
      benchmark::DoNotOptimize(kmeans1d_detail::lagrangian_bounds(problems.costs[r], problems.values[r], k));
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(problems.costs.size()));
}

// Reads the input file and writes as many bytes as a 4-bit per-tensor output holds: what any palettizer
// has to pay for I/O at least, with a warm page cache.
void bandwidth_floor_benchmark(benchmark::State& state, const std::filesystem::path& input, std::size_t out_bytes) {
  const std::size_t in_bytes = std::filesystem::file_size(input);
  std::vector<char> buffer(in_bytes);
  const std::filesystem::path output = std::filesystem::temp_directory_path() / "palettize_bench_floor.bin";
  for (auto _ : state) {
    std::ifstream in(input, std::ios::binary);
    in.read(buffer.data(), static_cast<std::streamsize>(in_bytes));
    check(in.gcount() == static_cast<std::streamsize>(in_bytes), "short read of ", input.string());
    std::ofstream out(output, std::ios::binary | std::ios::trunc);
    out.write(buffer.data(), static_cast<std::streamsize>(out_bytes));
    out.close();
    benchmark::ClobberMemory();
  }
  std::filesystem::remove(output);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(in_bytes + out_bytes));
}

void register_all(const Tensor& weight, const Flags& flags) {
  static const std::vector<BenchConfig> configs = spec_matrix();
  for (const BenchConfig& config : configs) {
    benchmark::RegisterBenchmark(("palettize/" + config.name).c_str(),
                                 [&weight, &config, &flags](benchmark::State& state) {
                                   palettize_benchmark(state, weight, config, flags);
                                 })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->MeasureProcessCPUTime()  // cpu_time = CPU of all threads, comparable with the baselines'
        ->MinTime(0.5);
  }
  static const PalettizationSpec g16 = [] {
    for (const BenchConfig& config : configs) {
      if (config.name == "n4/g16") return config.spec;
    }
    palettize::fail("spec matrix lacks n4/g16");
  }();
  benchmark::RegisterBenchmark("decode/n4/g16", [&weight](benchmark::State& s) { decode_benchmark(s, weight, g16); })
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("pack_indices/n4", [&weight](benchmark::State& s) { pack_benchmark(s, weight, g16); })
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("lagrangian_pass/row/k16", [&weight](benchmark::State& s) {
    lagrangian_pass_benchmark(s, first_rows(weight), 16);
  })->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("lagrangian_bounds/row/k16", [&weight](benchmark::State& s) {
    lagrangian_bounds_benchmark(s, first_rows(weight), 16);
  })
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  if (!flags.workload.empty()) {
    const std::size_t out_bytes = packed_size_bytes(static_cast<std::size_t>(weight.numel()), 4);
    benchmark::RegisterBenchmark("bandwidth_floor/n4/tensor", [&flags, out_bytes](benchmark::State& s) {
      bandwidth_floor_benchmark(s, flags.workload, out_bytes);
    })->Unit(benchmark::kMillisecond)->UseRealTime();
  }
}

}  // namespace
}  // namespace palettize::bench

int main(int argc, char** argv) {
  using namespace palettize::bench;
  try {
    static const Flags flags = take_flags(argc, argv);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
    static palettize::Tensor weight;
    if (flags.workload.empty()) {
      std::cerr << "palettize_bench: no --workload given; using an in-process 4096x4096 stand-in "
                   "(not the bytes of bench/workloads.py, so not comparable with the baselines)\n";
      weight = generate_workload(4096, 4096, 0);
    } else {
      weight = load_workload(flags.workload);
    }
    register_all(weight, flags);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
  } catch (const std::exception& error) {
    std::cerr << "palettize_bench: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
