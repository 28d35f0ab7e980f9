#pragma once
// private: include only from src/ and tests/
// `palettize plan --curve F --curve-measure N`: runs some of the curve's recipes in onnxruntime, on the
// inputs the importance table was measured with, so the picture shows measured output SNR beside the
// prediction.
#include <filesystem>

#include "palettize/mixed_precision.hpp"
#include "tools/mixed_plan.hpp"

namespace palettize::cli {

struct CurveMeasureOptions {
  std::filesystem::path model;  // the .onnx model the plan is for
  int sweep_points = 0;         // sweep recipes to measure, spread evenly from the lowest budget up
  int threads = 0;
  bool quiet = false;           // no progress lines on stderr
};

// Appends to `curve.measured` the measured output SNR of `sweep_points` sweep recipes and of every uniform
// point, on the inputs recorded in `candidates.importance` (a table from `palettize sensitivity`). Error
// when the model is not ONNX, there is no such table, or onnxruntime fails.
void measure_curve(QualityCurve& curve, const tools::ModelCandidates& candidates, const CurveMeasureOptions& options);

}  // namespace palettize::cli
