#pragma once
// private: include only from src/ and tests/
// The steps both compress runs (checkpoint in compress.cpp, ONNX model in compress_onnx.cpp) take, in the
// order they take them, so the two stay alike in what they check, report and record.
#include <chrono>
#include <filesystem>
#include <optional>
#include <span>
#include <vector>

#include "palettize/engine.hpp"
#include "palettize/tools.hpp"
#include "tools/mixed_plan.hpp"
#include "tools/plan.hpp"
#include "tools/sensitivities.hpp"

namespace palettize::tools {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start);

// Files the options name besides the model (sensitivities, config, importance): none may be the output.
std::vector<std::filesystem::path> option_input_files(const CompressOptions& options);

// With --target-bits: plans the mixed-precision recipe and makes its config the run's config.
std::optional<Recipe> apply_target_bits(const CompressOptions& options, CompressResult& result,
                                        const Callbacks& callbacks);

// Collects a warning per tensor the spec does not fit into the result and reports each through `callbacks`.
void report_misfits(CompressResult& result, const Callbacks& callbacks);

// Opens --sensitivities (when given) and checks it covers every palettized plan before anything is written.
void open_sensitivities(const CompressOptions& options, std::span<const TensorPlan> plans,
                        std::optional<Sensitivities>& sensitivities);

PalettizeOptions engine_options_of(const CompressOptions& options);
uint64_t planned_bytes(std::span<const TensorPlan> plans);

// Palettizes one planned tensor with its importances, and measures the report's error of the result
// (palettize_measured); an engine Error is re-thrown naming the tensor.
MeasuredPalettization palettize_planned(const TensorPlan& plan, const TensorView& weight,
                                        const std::optional<Sensitivities>& sensitivities,
                                        const PalettizeOptions& engine_options);

}  // namespace palettize::tools
