// `palettize calibrate MODEL.onnx SENSITIVITIES.safetensors`: per-element importances from activations, for
// `compress --sensitivities`. The model runs in onnxruntime on the given inputs with the input of every Conv,
// ConvTranspose, MatMul and Gemm that reads a planned tensor as its weight made an output; each weight
// element gets the mean square of the input channel it multiplies (mixed/activation_importance.hpp), plus a
// floor.
#include <cmath>
#include <iostream>
#include <map>
#include <memory>

#include "cli/cli_common.hpp"
#include "cli/format.hpp"
#include "cli/ort_measure.hpp"
#include "cli/sensitivity_worker.hpp"
#include "mixed/activation_importance.hpp"
#include "palettize/error.hpp"
#include "palettize/onnx_model.hpp"
#include "palettize/safetensors.hpp"

namespace palettize::cli {
namespace {

struct CalibrateOptions {
  MeasureOptions run;
  std::filesystem::path output;
  double floor = 1e-3;
  bool force = false;
};

// A planned tensor and the activations (node input 0) of the nodes that read it as a weight.
struct WeightReads {
  const PlannedTensor* tensor = nullptr;
  DType dtype = DType::F32;
  Shape shape;
  std::vector<std::pair<WeightUse, std::string>> uses;  // empty: importance 1 everywhere (see `why`)
  std::string why;
};

WeightReads weight_reads(const OnnxModel& model, const PlannedTensor& tensor) {
  const OnnxTensor& dense = *model.find(tensor.key);
  WeightReads reads{&tensor, dense.view.dtype, dense.view.shape, {}, {}};
  const std::vector<TensorConsumer> consumers = model.consumers(tensor.key);
  if (consumers.empty()) reads.why = "no node of its graph reads it directly";
  for (const TensorConsumer& consumer : consumers) {
    const std::optional<WeightUse> use = weight_use(consumer, reads.shape, reads.why);
    if (use && !model.is_main_graph_value(consumer.inputs[0])) {
      reads.why = "it is read inside a subgraph, whose activations cannot be made model outputs";
    }
    if (!reads.why.empty()) {
      reads.uses.clear();
      return reads;
    }
    reads.uses.emplace_back(*use, consumer.inputs[0]);
  }
  return reads;
}

// The weight-shaped importance: summed over the tensor's readers, plus `floor` times its mean; all ones when
// it has no reader or every channel it reads was silent.
std::vector<float> importance_of(const WeightReads& reads, const nlohmann::json& stats, double floor,
                                 std::string& why) {
  std::vector<double> importance(static_cast<std::size_t>(shape_numel(reads.shape)), 0.0);
  for (const auto& [use, activation] : reads.uses) {
    const std::vector<double> mean_square = stats.at(activation).at("mean_square").get<std::vector<double>>();
    add_activation_importance(use, reads.shape, mean_square, importance);
  }
  double mean = 0;
  for (double value : importance) mean += value;
  mean /= static_cast<double>(importance.size());
  if (reads.uses.empty() || !(mean > 0)) {
    if (why.empty()) why = "every input channel it reads was zero on these inputs";
    return std::vector<float>(importance.size(), 1.0f);
  }
  std::vector<float> result(importance.size());
  for (std::size_t i = 0; i < importance.size(); ++i) result[i] = static_cast<float>(importance[i] + floor * mean);
  return result;
}

int run_calibrate(const CalibrateOptions& options) {
  check(is_onnx_path(options.run.model), options.run.model.string(),
        ": calibrate runs models in onnxruntime and needs an .onnx model");
  check(options.force || !std::filesystem::exists(options.output), options.output.string(),
        " exists; give --force to overwrite it");
  check(std::isfinite(options.floor) && options.floor >= 0, "--floor must be finite and >= 0, got ", options.floor);
  const std::string bytes = read_bytes(options.run.model);
  OnnxModel model = OnnxModel::from_bytes(std::as_bytes(std::span(bytes)), options.run.model.string());
  const std::vector<PlannedTensor> planned =
      planned_tensors(model, tools::config_from_options(options.run.config), options.run.strict);

  std::vector<WeightReads> reads;
  nlohmann::json channels = nlohmann::json::object();
  for (const PlannedTensor& tensor : planned) {
    WeightReads& r = reads.emplace_back(weight_reads(model, tensor));
    check(r.why.empty() || !options.run.strict, "'", tensor.name, "': ", r.why, " (--strict)");
    for (const auto& [use, activation] : r.uses) {
      const int64_t axis = activation_channel_axis(use);
      check(!channels.contains(activation) || channels[activation].get<int64_t>() == axis, "'", activation,
            "' is read by weights whose channels lie on different axes (", channels.value(activation, 0), " and ",
            axis, "); calibrate cannot give it one channel axis");
      model.add_main_output(activation, r.dtype);
      channels[activation] = axis;
    }
  }
  nlohmann::json stats = nlohmann::json::object();
  if (!channels.empty()) {
    ScratchDir scratch;
    const std::filesystem::path calibration = scratch.path / "calibration.onnx";
    model.save(calibration, /*force=*/true);
    WorkerOptions settings = worker_options(options.run, input_descriptions(options.run), scratch.path / "inputs.json");
    settings.reference_outputs = false;  // the calibration run is the only one needed
    OrtWorker worker(settings);
    if (!options.run.quiet) std::cerr << "calibrate: " << channels.size() << " activations in onnxruntime\n";
    stats = worker.activation_stats(calibration, channels);
  }

  std::vector<NamedTensor> tensors;
  int unweighted = 0;
  for (const WeightReads& r : reads) {
    std::string why = r.why;
    const std::vector<float> importance = importance_of(r, stats, options.floor, why);
    if (!why.empty()) {
      check(!options.run.strict, "'", r.tensor->name, "': ", why, " (--strict)");
      warn("'" + r.tensor->name + "': " + why + "; its sensitivities are all 1 (plain clustering)");
      ++unweighted;
    }
    tensors.push_back({r.tensor->name, make_tensor(DType::F32, r.shape, importance)});
  }
  write_safetensors(options.output, tensors, {{"palettize.calibrate", "activation mean square per input channel"}},
                    options.force);
  std::cout << "wrote " << options.output.string() << ": sensitivities of " << tensors.size() << " tensors ("
            << tensors.size() - unweighted << " from activations, " << unweighted << " all 1); apply: palettize "
            << "compress " << options.run.model.string() << " OUT.onnx --sensitivities " << options.output.string()
            << "\n";
  return kExitOk;
}

}  // namespace

Command add_calibrate_command(CLI::App& parent) {
  auto options = std::make_shared<CalibrateOptions>();
  CLI::App* app = parent.add_subcommand(
      "calibrate",
      "Per-element sensitivities from activations in onnxruntime, for compress --sensitivities: each weight "
      "of a Conv, ConvTranspose, MatMul or Gemm gets the mean square of the input channel it multiplies");
  app->add_option("MODEL", options->run.model, ".onnx model")->required();
  app->add_option("SENSITIVITIES", options->output, "the safetensors file to write")->required();
  add_config_options(*app, options->run.config,
                     {"model config: which tensors get sensitivities", "global spec preset (which tensors)",
                      "global spec as JSON (which tensors)"});
  app->add_option("--floor", options->floor,
                  "added to every element, as a fraction of the tensor's mean importance, so that weights on "
                  "channels silent on these inputs still count a little")
      ->capture_default_str();
  app->add_flag("--force", options->force, "overwrite an existing SENSITIVITIES file");
  add_measure_options(*app, options->run);
  // Nothing is scored: the model's outputs play no part.
  app->remove_option(app->get_option("--output"));
  app->remove_option(app->get_option("--output-transform"));
  return Command{app, [options] { return run_calibrate(*options); }};
}

}  // namespace palettize::cli
