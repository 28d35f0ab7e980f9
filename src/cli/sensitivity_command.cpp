// `palettize sensitivity MODEL.onnx TABLE.json`: output-aware importance (issue 8, item 3). For every tensor
// the config palettizes and every candidate n_bits, the model with only that tensor palettized runs in
// onnxruntime on seeded inputs and its output damage against the original is recorded; the table is what
// `plan`/`compress --importance` read. Resumable: the table is rewritten after every measurement and a rerun
// measures only what is missing.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "cli/cli_common.hpp"
#include "cli/format.hpp"
#include "cli/sensitivity_table.hpp"
#include "cli/ort_measure.hpp"
#include "cli/sensitivity_worker.hpp"
#include "palettize/error.hpp"
#include "palettize/mixed_precision.hpp"
#include "palettize/onnx_model.hpp"
#include "palettize/spec_json.hpp"
#include "palettize/tools.hpp"
#include "tools/plan.hpp"

namespace palettize::cli {
namespace {

struct SensitivityOptions {
  MeasureOptions run;
  std::filesystem::path table;
  std::string candidates = "2,3,4,6,8";
  std::optional<std::string> measure;  // candidates run in onnxruntime; the others are estimated
};

// FNV-1a over every palettizable tensor's name, dtype, shape and bytes: the weights the table is about.
std::string weights_fingerprint(const OnnxModel& model) {
  uint64_t hash = 1469598103934665603ull;
  auto mix = [&hash](const void* data, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 1099511628211ull;
  };
  for (const OnnxTensor& tensor : model.palettizable_tensors()) {
    mix(tensor.key.data(), tensor.key.size() + 1);
    const auto dtype = static_cast<int>(tensor.view.dtype);
    mix(&dtype, sizeof dtype);
    mix(tensor.view.shape.data(), tensor.view.shape.size() * sizeof(int64_t));
    mix(tensor.view.data.data(), tensor.view.data.size());
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

// The damage of an unmeasured candidate from the measured ones of the same tensor, through their weight SSE:
// interpolated linearly in log(damage) against log(SSE) between the two measured neighbours, proportional
// to SSE beyond the measured range (the first-order model: output noise power ~ weight SSE).
double estimate_damage(const std::vector<std::pair<double, double>>& measured_sse_damage, double sse) {
  std::vector<std::pair<double, double>> points = measured_sse_damage;
  std::sort(points.begin(), points.end());
  if (sse <= points.front().first) return points.front().second * sse / points.front().first;
  if (sse >= points.back().first) return points.back().second * sse / points.back().first;
  for (std::size_t i = 1; i < points.size(); ++i) {
    const auto [s0, d0] = points[i - 1];
    const auto [s1, d1] = points[i];
    if (sse > s1) continue;
    if (d0 <= 0 || d1 <= 0) return d0 + (d1 - d0) * (sse - s0) / (s1 - s0);
    const double t = std::log(sse / s0) / std::log(s1 / s0);
    return std::exp(std::log(d0) + t * std::log(d1 / d0));
  }
  return points.back().second;  // unreachable: sse < back().first
}

// Fills the candidates outside `measured_bits` of every tensor; estimated entries are listed in the table.
void estimate_unmeasured(SensitivityTable& table, const OnnxModel& model, const std::vector<PlannedTensor>& planned,
                         const std::vector<int>& bits, const std::vector<int>& measured_bits, int threads) {
  CandidateOptions options;
  options.n_bits = bits;
  options.include_dense = false;
  options.threads = threads;
  for (const PlannedTensor& tensor : planned) {
    const TensorCandidates candidates = tensor_candidates(tensor.name, model.find(tensor.key)->view, tensor.spec, options);
    std::vector<std::pair<double, double>> points;
    for (const Candidate& c : candidates.candidates) {
      const bool is_measured = std::find(measured_bits.begin(), measured_bits.end(), c.spec->n_bits) != measured_bits.end();
      // A zero-SSE candidate (no more distinct values than clusters) anchors nothing on a log scale.
      if (is_measured && c.sse > 0) points.emplace_back(c.sse, table.damage.at(tensor.name).at(c.label));
    }
    for (const Candidate& c : candidates.candidates) {
      if (std::find(measured_bits.begin(), measured_bits.end(), c.spec->n_bits) != measured_bits.end()) continue;
      const double damage = c.sse == 0 || points.empty() ? 0.0 : estimate_damage(points, c.sse);
      table.record(tensor.name, c.label, damage, damage == 0 ? INFINITY : -10 * std::log10(damage));
      table.estimated[tensor.name].push_back(c.label);
    }
  }
}

std::string format_snr(double snr) { return std::isinf(snr) ? "inf" : format_decimal(snr, 2); }

int run_sensitivity(const SensitivityOptions& options) {
  check(is_onnx_path(options.run.model), options.run.model.string(),
        ": sensitivity runs models in onnxruntime and needs an .onnx model");
  check(options.run.sets >= 1, "--sets must be >= 1, got ", options.run.sets);
  const std::vector<int> bits = parse_candidate_bits(options.candidates);
  const ModelConfig config = tools::config_from_options(options.run.config);
  const std::string original_bytes = read_bytes(options.run.model);
  const OnnxModel model = OnnxModel::from_bytes(std::as_bytes(std::span(original_bytes)), options.run.model.string());
  const std::vector<PlannedTensor> planned = planned_tensors(model, config, options.run.strict);

  nlohmann::json identity{{"model", options.run.model.filename().string()},
                          {"fingerprint", weights_fingerprint(model)},
                          {"candidates", nlohmann::json::array()},
                          {"inputs", input_descriptions(options.run)},
                          {"sets", options.run.sets},
                          {"seed", options.run.seed},
                          {"outputs", options.run.outputs.empty() ? nlohmann::json("all") : nlohmann::json(options.run.outputs)},
                          {"specs", nlohmann::json::object()}};
  // Recorded only when used, so tables measured before the option existed still resume.
  if (options.run.transform != "none") identity["transform"] = options.run.transform;
  for (int b : bits) identity["candidates"].push_back(candidate_label(b));
  std::vector<int> measured_bits = bits;
  if (options.measure) {
    measured_bits = parse_candidate_bits(*options.measure);
    for (int b : measured_bits) {
      check(std::find(bits.begin(), bits.end(), b) != bits.end(), "--measure ", b, " is not one of the --candidates ",
            options.candidates);
    }
    identity["measured"] = nlohmann::json::array();
    for (int b : measured_bits) identity["measured"].push_back(candidate_label(b));
  }
  for (const PlannedTensor& tensor : planned) identity["specs"][tensor.name] = spec_to_json(tensor.spec);

  SensitivityTable table;
  table.identity = identity;
  if (std::filesystem::exists(options.table)) table = load_sensitivity_table(options.table, identity);
  std::size_t missing = 0;
  for (const PlannedTensor& tensor : planned) {
    for (int b : measured_bits) missing += table.has(tensor.name, candidate_label(b)) ? 0 : 1;
  }
  const std::size_t total = planned.size() * measured_bits.size();
  if (!options.run.quiet && missing < total) {
    std::cerr << "palettize: resuming " << options.table.string() << ": " << total - missing << " of " << total
              << " measurements already there\n";
  }
  const int threads = measure_threads(options.run);
  const auto start = std::chrono::steady_clock::now();
  if (missing > 0) {
    ScratchDir scratch;
    const std::filesystem::path inputs_path = scratch.path / "inputs.json";
    std::unique_ptr<OrtWorker> worker = std::make_unique<OrtWorker>(
        worker_options(options.run, identity["inputs"], inputs_path));
    const std::filesystem::path evaluated = scratch.path / "evaluated.onnx";
    std::size_t done = 0;
    PalettizeOptions palettize_options;
    palettize_options.threads = threads;
    for (const PlannedTensor& tensor : planned) {
      for (int b : measured_bits) {
        const std::string label = candidate_label(b);
        if (table.has(tensor.name, label)) continue;
        PalettizationSpec spec = tensor.spec;
        spec.n_bits = b;
        const PalettizedTensor palettized = palettize(model.find(tensor.key)->view, spec, palettize_options);
        OnnxModel copy = OnnxModel::from_bytes(std::as_bytes(std::span(original_bytes)), options.run.model.string());
        copy.replace_with_palettized(tensor.key, palettized);
        copy.save(evaluated, /*force=*/true);
        const nlohmann::json reply = worker->evaluate(evaluated);
        const double snr = reply["snr_db"].is_string() ? INFINITY : reply["snr_db"].get<double>();
        table.record(tensor.name, label, reply["damage"].get<double>(), snr);
        save_sensitivity_table(options.table, table);
        ++done;
        if (!options.run.quiet) {
          const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          std::cerr << "[" << done << "/" << missing << "] " << tensor.name << " " << label << ": output SNR "
                    << format_snr(snr) << " dB (" << format_decimal(reply["seconds"].get<double>(), 2) << " s; ETA "
                    << format_decimal(elapsed / static_cast<double>(done) * static_cast<double>(missing - done), 0)
                    << " s)\n";
        }
      }
    }
  }
  if (measured_bits.size() < bits.size()) estimate_unmeasured(table, model, planned, bits, measured_bits, threads);
  table.complete = true;
  save_sensitivity_table(options.table, table);
  std::cout << "wrote " << options.table.string() << ": " << planned.size() << " tensors x " << bits.size()
            << " candidates, " << missing << " measured in this run ("
            << format_decimal(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1)
            << " s)\n";
  return kExitOk;
}

}  // namespace

Command add_sensitivity_command(CLI::App& parent) {
  auto options = std::make_shared<SensitivityOptions>();
  CLI::App* app = parent.add_subcommand(
      "sensitivity",
      "Measure in onnxruntime the output damage of palettizing each tensor alone at each candidate n_bits; "
      "writes the per-tensor, per-candidate table that plan/compress --importance read");
  app->add_option("MODEL", options->run.model, ".onnx model")->required();
  app->add_option("TABLE", options->table, "the JSON table to write (resumed when it exists)")->required();
  add_config_options(*app, options->run.config,
                     {"model config: which tensors to measure and their granularity",
                      "global spec preset (granularity)", "global spec as JSON (granularity)"});
  app->add_option("--candidates", options->candidates, "candidate n_bits, comma-separated")->capture_default_str();
  app->add_option("--measure", options->measure,
                  "run only these candidates in onnxruntime (a subset of --candidates) and estimate the others from "
                  "their weight SSE (log-log interpolation; proportional outside the measured range)");
  add_measure_options(*app, options->run);
  return Command{app, [options] { return run_sensitivity(*options); }};
}

}  // namespace palettize::cli
