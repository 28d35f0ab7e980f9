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
  std::filesystem::path model;
  std::filesystem::path table;
  tools::CompressOptions config;  // only --config / --preset / --spec
  std::vector<std::string> input_shapes;         // NAME=DIMS
  std::optional<std::filesystem::path> inputs;   // descriptions file
  std::vector<std::string> outputs;
  std::string transform = "none";
  std::string candidates = "2,3,4,6,8";
  std::optional<std::string> measure;  // candidates run in onnxruntime; the others are estimated
  int sets = 1;
  int seed = 1;
  int threads = 0;
  bool strict = false;
  bool quiet = false;
};

struct PlannedTensor {
  std::string name;
  std::string key;
  PalettizationSpec spec;  // the base spec; candidates change n_bits
};

// "x=1,3,224,224" -> {"x": {"shape": [1,3,224,224], "fill": normal(0, 1)}} (type: the model's).
void add_input_shape(nlohmann::json& descriptions, const std::string& text) {
  const std::size_t equals = text.find('=');
  check(equals != std::string::npos && equals > 0, "--input '", text, "': expected NAME=DIMS, e.g. x=1,3,224,224");
  nlohmann::json shape = nlohmann::json::array();
  std::stringstream dims(text.substr(equals + 1));
  for (std::string item; std::getline(dims, item, ',');) {
    std::size_t used = 0;
    long long value = -1;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check(used == item.size() && value >= 0, "--input '", text, "': '", item, "' is not a dimension >= 0");
    shape.push_back(value);
  }
  const std::string name = text.substr(0, equals);
  check(!descriptions.contains(name), "--input ", name, " is given twice");
  descriptions[name] = {{"shape", shape}, {"fill", {{"kind", "normal"}, {"mean", 0}, {"std", 1}}}};
}

nlohmann::json input_descriptions(const SensitivityOptions& options) {
  nlohmann::json descriptions = nlohmann::json::object();
  if (options.inputs) {
    std::ifstream file(*options.inputs);
    check(file.good(), options.inputs->string(), ": cannot open the input descriptions");
    descriptions = nlohmann::json::parse(file, nullptr, false);
    check(!descriptions.is_discarded() && descriptions.is_object(), options.inputs->string(),
          ": expected a JSON object {NAME: {\"type\", \"shape\", \"fill\"}}");
  }
  for (const std::string& shape : options.input_shapes) add_input_shape(descriptions, shape);
  return descriptions;
}

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

std::vector<PlannedTensor> planned_tensors(const OnnxModel& model, const ModelConfig& config, bool strict) {
  std::vector<PlannedTensor> planned;
  std::set<std::string> seen;
  for (const OnnxTensor& tensor : model.palettizable_tensors()) {
    check(seen.insert(tensor.name).second, "tensor name '", tensor.name,
          "' is used in several graphs; an importance table needs unique names");
    const tools::TensorPlan plan = tools::plan_tensor(config, tensor.name, tensor.view.dtype, tensor.view.shape, strict);
    if (plan.misfit) warn(tools::misfit_warning(plan));
    if (!plan.entry) continue;
    const SpecDecision decision = resolve_tensor_spec(config, tensor.name, tensor.view.dtype, tensor.view.shape);
    planned.push_back({tensor.name, tensor.key, decision.spec->with_resolved_axis()});
  }
  check(!planned.empty(), "no tensor to measure: the config (", config.source, ") palettizes none of the model's tensors");
  return planned;
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  check(file.good(), path.string(), ": cannot open");
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
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
  check(is_onnx_path(options.model), options.model.string(),
        ": sensitivity runs models in onnxruntime and needs an .onnx model");
  check(options.sets >= 1, "--sets must be >= 1, got ", options.sets);
  const std::vector<int> bits = parse_candidate_bits(options.candidates);
  const ModelConfig config = tools::config_from_options(options.config);
  const std::string original_bytes = read_bytes(options.model);
  const OnnxModel model = OnnxModel::from_bytes(std::as_bytes(std::span(original_bytes)), options.model.string());
  const std::vector<PlannedTensor> planned = planned_tensors(model, config, options.strict);

  nlohmann::json identity{{"model", options.model.filename().string()},
                          {"fingerprint", weights_fingerprint(model)},
                          {"candidates", nlohmann::json::array()},
                          {"inputs", input_descriptions(options)},
                          {"sets", options.sets},
                          {"seed", options.seed},
                          {"outputs", options.outputs.empty() ? nlohmann::json("all") : nlohmann::json(options.outputs)},
                          {"specs", nlohmann::json::object()}};
  // Recorded only when used, so tables measured before the option existed still resume.
  if (options.transform != "none") identity["transform"] = options.transform;
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
  if (!options.quiet && missing < total) {
    std::cerr << "palettize: resuming " << options.table.string() << ": " << total - missing << " of " << total
              << " measurements already there\n";
  }
  const int threads = options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  const auto start = std::chrono::steady_clock::now();
  if (missing > 0) {
    ScratchDir scratch;
    const std::filesystem::path inputs_path = scratch.path / "inputs.json";
    std::ofstream(inputs_path) << identity["inputs"].dump();
    std::unique_ptr<OrtWorker> worker = std::make_unique<OrtWorker>(
        WorkerOptions{options.model, inputs_path, options.sets, options.seed, threads, options.outputs, options.transform});
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
        OnnxModel copy = OnnxModel::from_bytes(std::as_bytes(std::span(original_bytes)), options.model.string());
        copy.replace_with_palettized(tensor.key, palettized);
        copy.save(evaluated, /*force=*/true);
        const nlohmann::json reply = worker->evaluate(evaluated);
        const double snr = reply["snr_db"].is_string() ? INFINITY : reply["snr_db"].get<double>();
        table.record(tensor.name, label, reply["damage"].get<double>(), snr);
        save_sensitivity_table(options.table, table);
        ++done;
        if (!options.quiet) {
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
  app->add_option("MODEL", options->model, ".onnx model")->required();
  app->add_option("TABLE", options->table, "the JSON table to write (resumed when it exists)")->required();
  add_config_options(*app, options->config,
                     {"model config: which tensors to measure and their granularity",
                      "global spec preset (granularity)", "global spec as JSON (granularity)"});
  app->add_option("--input", options->input_shapes,
                  "NAME=DIMS: a model input filled with seeded normal(0, 1) values, e.g. x=1,3,224,224 (repeatable)");
  app->add_option("--inputs", options->inputs,
                  "JSON input descriptions {NAME: {\"type\", \"shape\", \"fill\"}} (tests/ort/inputs.js format)");
  app->add_option("--output", options->outputs, "score only this model output (repeatable; default: all)");
  app->add_option("--output-transform", options->transform,
                  "score log(max(output, 1e-30)) instead of the output (log: for softmax probabilities, whose "
                  "errors jump at decision boundaries; log-probabilities add up more smoothly)")
      ->check(CLI::IsMember({"none", "log"}))
      ->capture_default_str();
  app->add_option("--candidates", options->candidates, "candidate n_bits, comma-separated")->capture_default_str();
  app->add_option("--measure", options->measure,
                  "run only these candidates in onnxruntime (a subset of --candidates) and estimate the others from "
                  "their weight SSE (log-log interpolation; proportional outside the measured range)");
  app->add_option("--sets", options->sets, "input sets per evaluation (seeds S, S+1, ...)")->capture_default_str();
  app->add_option("--seed", options->seed, "seed of the first input set")->capture_default_str();
  app->add_option("--threads", options->threads, "palettize and onnxruntime threads, 0 = all cores")
      ->check(CLI::NonNegativeNumber);
  app->add_flag("--strict", options->strict, "fail instead of skipping a tensor the spec cannot apply to");
  app->add_flag("--quiet", options->quiet, "no progress lines on stderr");
  return Command{app, [options] { return run_sensitivity(*options); }};
}

}  // namespace palettize::cli
