// `palettize plan IN --target-bits B`: the mixed-precision recipe that meets an average bits-per-weight budget
// with the least predicted damage, printed without writing the model; optionally saved as a model config,
// and a picture of predicted quality against size (--curve).
#include <iostream>
#include <memory>

#include "cli/cli_common.hpp"
#include "cli/compress.hpp"
#include "cli/curve_measure.hpp"
#include "cli/format.hpp"
#include "cli/mixed_plan.hpp"
#include "cli/progress.hpp"
#include "cli/table.hpp"
#include "palettize/error.hpp"
#include "palettize/output_file.hpp"

namespace palettize::cli {
namespace {

struct PlanOptions {
  std::filesystem::path input;
  CompressOptions config;  // only --config / --preset / --spec are used
  std::optional<double> target_bits;
  MixedOptions mixed;
  std::optional<std::filesystem::path> save_config;
  std::optional<std::filesystem::path> curve;
  int curve_points = 25;
  int curve_measure = 0;
  bool json = false;
  bool force = false;
};

void write_text_file(const std::filesystem::path& path, const std::string& text, bool force) {
  OutputFile out(path, force);
  out.write(text);
  out.commit();
}

double snr_db(double signal, double sse) { return sse == 0 ? INFINITY : 10.0 * std::log10(signal / sse); }

void print_recipe(const ModelCandidates& model, const Recipe& recipe, std::ostream& out) {
  Table table({{"tensor"}, {"shape"}, {"choice"}, {"spec"}, {"bits/w", Table::Align::right},
               {"SNR dB", Table::Align::right}, {"SSE", Table::Align::right}});
  for (std::size_t t = 0; t < model.tensors.size(); ++t) {
    const TensorCandidates& tensor = model.tensors[t];
    const Candidate& chosen = tensor.candidates[recipe.plan.choice[t]];
    char sse[32];
    std::snprintf(sse, sizeof sse, "%.4g%s", chosen.sse, chosen.measured ? "" : "*");
    table.add_row({tensor.name, format_shape(tensor.shape), chosen.label,
                   chosen.spec ? spec_short_form(*chosen.spec) : "dense",
                   format_decimal(static_cast<double>(chosen.size_bits) / static_cast<double>(tensor.numel), 3),
                   format_decimal(snr_db(tensor.signal, chosen.sse), 2), sse});
  }
  table.print(out);
  const MixedPlan& plan = recipe.plan;
  out << "\ntarget " << format_decimal(plan.target_bits, 3) << " bits/weight over " << plan.weights
      << " weights in " << model.tensors.size() << " tensors: " << format_decimal(plan.bits_per_weight(), 4)
      << " bits/weight (" << plan.total_bits << " of " << plan.budget_bits << " bits)\n"
      << "predicted weight SNR " << format_decimal(plan.snr_db(), 2) << " dB (SSE " << plan.sse << "); "
      << (plan.proven_optimal ? "optimal" : "optimality not proven")
      << " (objective " << plan.cost << ", LP bound " << plan.lower_bound << ")\n"
      << "* SSE predicted by the exact clustering optimum before the LUT is rounded to the weight dtype\n";
}

int run_plan(const PlanOptions& options) {
  check(options.target_bits || options.curve, "plan: give --target-bits B, --curve FILE.svg, or both");
  check(!options.save_config || options.target_bits, "plan: --save-config needs --target-bits");
  check(options.curve_measure == 0 || (options.curve && options.mixed.importance),
        "plan: --curve-measure needs --curve and an --importance table from palettize sensitivity");
  MixedOptions mixed = options.mixed;
  mixed.quiet = mixed.quiet || options.json;
  const ModelConfig config = config_from_options(options.config);
  const ModelCandidates model = model_candidates(options.input, config, mixed, terminal_callbacks(mixed.quiet));
  for (const std::string& warning : model.warnings) warn(warning);
  nlohmann::json report = nlohmann::json::object();
  if (options.target_bits) {
    const Recipe recipe = make_recipe(model, *options.target_bits);
    if (options.save_config) {
      write_text_file(*options.save_config, model_config_to_json(recipe.config).dump(2) + "\n", options.force);
    }
    if (options.json) {
      report["recipe"] = recipe.json;
    } else {
      print_recipe(model, recipe, std::cout);
    }
  }
  if (options.curve) {
    QualityCurve curve = quality_curve(model.tensors, options.curve_points);
    if (model.importance && !model.importance->per_candidate.empty()) curve.metric = CurveMetric::output_snr;
    if (options.curve_measure > 0) {
      measure_curve(curve, model, {options.input, options.curve_measure, options.mixed.threads, mixed.quiet});
    }
    write_text_file(*options.curve, quality_curve_svg(curve, options.input.filename().string()), options.force);
    auto points = [](const std::vector<CurvePoint>& list) {
      nlohmann::json array = nlohmann::json::array();
      for (const CurvePoint& p : list) {
        array.push_back({{"bits_per_weight", p.bits_per_weight}, {"sse", p.sse}, {"snr_db", json_number(p.snr_db)},
                         {"cost", p.cost}, {"predicted_output_snr_db", json_number(p.predicted_output_snr_db())},
                         {"label", p.label}});
      }
      return array;
    };
    nlohmann::json measured = nlohmann::json::array();
    for (const MeasuredPoint& p : curve.measured) {
      measured.push_back({{"bits_per_weight", p.bits_per_weight}, {"output_snr_db", json_number(p.output_snr_db)},
                          {"label", p.label}});
    }
    report["curve"] = {{"sweep", points(curve.sweep)},
                       {"uniform", points(curve.uniform)},
                       {"metric", curve.metric == CurveMetric::output_snr ? "output_snr" : "weight_snr"},
                       {"measured", measured}};
    if (!options.json) std::cout << "wrote " << options.curve->string() << "\n";
  }
  if (options.json) std::cout << report.dump(2) << "\n";
  return kExitOk;
}

}  // namespace

Command add_plan_command(CLI::App& parent) {
  auto options = std::make_shared<PlanOptions>();
  CLI::App* app = parent.add_subcommand(
      "plan",
      "Choose n_bits per tensor (or dense) to meet an average bits-per-weight budget with the least predicted "
      "weight error; prints the recipe without writing the model");
  app->add_option("IN", options->input, ".safetensors file, sharded *.safetensors.index.json, or .onnx model")
      ->required();
  add_config_options(*app, options->config,
                     {"model config: which tensors to plan and their granularity",
                      "global spec preset (granularity)", "global spec as JSON (granularity)"});
  app->add_option("--target-bits", options->target_bits, "average bits per weight over the planned tensors")
      ->check(CLI::PositiveNumber);
  app->add_option("--candidates", options->mixed.candidates, "candidate n_bits, comma-separated (plus dense)")
      ->capture_default_str();
  app->add_option("--importance", options->mixed.importance,
                  "JSON {\"tensors\": {NAME: factor | {candidate: damage}}} weighting each tensor's error");
  app->add_flag("--measure", options->mixed.measure,
                "run the engine for every candidate instead of predicting its error (slower, exact)");
  app->add_option("--save-config", options->save_config, "write the recipe as a model config for compress --config");
  app->add_option("--curve", options->curve,
                  "write an SVG of predicted SNR against bits per weight (output SNR with a sensitivity table as "
                  "--importance, else weight SNR)");
  app->add_option("--curve-measure", options->curve_measure,
                  "also run N of the curve's recipes and every uniform choice in onnxruntime, on the inputs the "
                  "--importance table was measured with, and draw their measured output SNR (.onnx models)")
      ->check(CLI::Range(0, 1000));
  app->add_option("--curve-points", options->curve_points, "budgets in the --curve sweep")
      ->check(CLI::Range(2, 1000))
      ->capture_default_str();
  app->add_option("--threads", options->mixed.threads, "worker threads, 0 = all cores")->check(CLI::NonNegativeNumber);
  app->add_flag("--strict", options->mixed.strict, "fail instead of skipping a tensor the spec cannot apply to");
  app->add_flag("--json", options->json, "print {\"recipe\": ..., \"curve\": ...} as JSON");
  app->add_flag("--force", options->force, "overwrite existing --save-config / --curve files");
  app->add_flag("--quiet", options->mixed.quiet, "no progress bar");
  return Command{app, [options] { return run_plan(*options); }};
}

}  // namespace palettize::cli
