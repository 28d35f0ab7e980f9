#include "cli/curve_measure.hpp"

#include <cmath>
#include <fstream>
#include <iostream>
#include <optional>

#include "cli/format.hpp"
#include "cli/sensitivity_worker.hpp"
#include "palettize/error.hpp"
#include "palettize/onnx_model.hpp"
#include "palettize/tools.hpp"

namespace palettize::cli {
namespace {

// The settings `palettize sensitivity` recorded, so the curve is measured like the table was.
WorkerOptions worker_options(const std::optional<ImportanceTable>& table, const CurveMeasureOptions& options,
                             const std::filesystem::path& scratch) {
  check(table.has_value(), "--curve-measure needs an --importance table from palettize sensitivity");
  const nlohmann::json& settings = table->sensitivity;
  check(settings.is_object() && settings.contains("inputs"), "--curve-measure: ", table->source,
        " has no \"sensitivity\" settings (inputs, seed, sets); give a table written by palettize sensitivity");
  WorkerOptions worker;
  worker.reference = options.model;
  worker.inputs = scratch / "inputs.json";
  std::ofstream(worker.inputs) << settings.at("inputs").dump();
  worker.sets = settings.value("sets", 1);
  worker.seed = settings.value("seed", 1);
  worker.threads = options.threads;
  worker.transform = settings.value("transform", std::string("none"));
  if (const auto outputs = settings.find("outputs"); outputs != settings.end() && outputs->is_array())
    worker.outputs = outputs->get<std::vector<std::string>>();
  return worker;
}

// Compresses the model with `plan`'s recipe into `scratch` and scores it.
MeasuredPoint measure_plan(OrtWorker& worker, const tools::ModelCandidates& candidates, const MixedPlan& plan,
                           const std::string& label, const CurveMeasureOptions& options,
                           const std::filesystem::path& scratch) {
  const ModelConfig config = recipe_model_config(candidates.tensors, plan, candidates.min_elements);
  const std::filesystem::path config_path = scratch / "recipe.json";
  std::ofstream(config_path) << model_config_to_json(config).dump();
  tools::CompressOptions compress;
  compress.input = options.model;
  compress.output = scratch / "recipe.onnx";
  compress.config_file = config_path;
  compress.threads = options.threads;
  compress.force = true;
  tools::run_compress(compress);
  const nlohmann::json reply = worker.evaluate(compress.output);
  MeasuredPoint point;
  point.bits_per_weight = plan.bits_per_weight();
  point.output_snr_db = reply["snr_db"].is_string() ? INFINITY : reply["snr_db"].get<double>();
  point.label = label;
  return point;
}

}  // namespace

void measure_curve(QualityCurve& curve, const tools::ModelCandidates& candidates, const CurveMeasureOptions& options) {
  check(is_onnx_path(options.model), "--curve-measure runs recipes in onnxruntime and needs an .onnx model, got ",
        options.model.string());
  ScratchDir scratch;
  OrtWorker worker(worker_options(candidates.importance, options, scratch.path));
  std::vector<std::pair<MixedPlan, std::string>> plans;
  const int count = std::min<int>(options.sweep_points, static_cast<int>(curve.sweep.size()));
  for (int i = 0; i < count; ++i) {
    const std::size_t index = count == 1 ? 0 : i * (curve.sweep.size() - 1) / (count - 1);
    plans.emplace_back(plan_mixed_precision(candidates.tensors, curve.sweep[index].target_bits), "");
  }
  for (const CurvePoint& uniform : curve.uniform) plans.emplace_back(uniform_plan(candidates.tensors, uniform.label), uniform.label);
  for (std::size_t i = 0; i < plans.size(); ++i) {
    const auto& [plan, label] = plans[i];
    curve.measured.push_back(measure_plan(worker, candidates, plan, label, options, scratch.path));
    if (!options.quiet) {
      const MeasuredPoint& p = curve.measured.back();
      std::cerr << "[" << i + 1 << "/" << plans.size() << "] " << (label.empty() ? "mixed" : "all " + label) << " at "
                << format_decimal(p.bits_per_weight, 3) << " bits/weight: output SNR "
                << (std::isinf(p.output_snr_db) ? std::string("inf") : format_decimal(p.output_snr_db, 2)) << " dB\n";
    }
  }
}

}  // namespace palettize::cli
