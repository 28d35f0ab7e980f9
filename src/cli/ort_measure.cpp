#include "cli/ort_measure.hpp"

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "cli/cli_common.hpp"
#include "palettize/error.hpp"
#include "tools/plan.hpp"

namespace palettize::cli {
namespace {

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

}  // namespace

void add_measure_options(CLI::App& app, MeasureOptions& options) {
  app.add_option("--input", options.input_shapes,
                 "NAME=DIMS: a model input filled with seeded normal(0, 1) values, e.g. x=1,3,224,224 (repeatable)");
  app.add_option("--inputs", options.inputs,
                 "JSON input descriptions {NAME: {\"type\", \"shape\", \"fill\"}} (tests/ort/inputs.js format)");
  app.add_option("--output", options.outputs, "score only this model output (repeatable; default: all)");
  app.add_option("--output-transform", options.transform,
                 "score log(max(output, 1e-30)) instead of the output (log: for softmax probabilities, whose "
                 "errors jump at decision boundaries; log-probabilities add up more smoothly)")
      ->check(CLI::IsMember({"none", "log"}))
      ->capture_default_str();
  app.add_option("--sets", options.sets, "input sets per evaluation (seeds S, S+1, ...)")->capture_default_str();
  app.add_option("--seed", options.seed, "seed of the first input set")->capture_default_str();
  app.add_option("--threads", options.threads, "palettize and onnxruntime threads, 0 = all cores")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--strict", options.strict, "fail instead of skipping a tensor the spec cannot apply to");
  app.add_flag("--quiet", options.quiet, "no progress lines on stderr");
}

nlohmann::json input_descriptions(const MeasureOptions& options) {
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

int measure_threads(const MeasureOptions& options) {
  return options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

WorkerOptions worker_options(const MeasureOptions& options, const nlohmann::json& descriptions,
                             const std::filesystem::path& inputs_path) {
  check(options.sets >= 1, "--sets must be >= 1, got ", options.sets);
  std::ofstream(inputs_path) << descriptions.dump();
  return WorkerOptions{options.model, inputs_path,          options.sets,     options.seed,
                       measure_threads(options), options.outputs, options.transform};
}

std::vector<PlannedTensor> planned_tensors(const OnnxModel& model, const ModelConfig& config, bool strict,
                                           bool warn_misfits) {
  std::vector<PlannedTensor> planned;
  std::set<std::string> seen;
  for (const OnnxTensor& tensor : model.palettizable_tensors()) {
    check(seen.insert(tensor.name).second, "tensor name '", tensor.name,
          "' is used in several graphs; sensitivity tables and search recipes name tensors, so names must be unique");
    const tools::TensorPlan plan = tools::plan_tensor(config, tensor.name, tensor.view.dtype, tensor.view.shape, strict);
    if (plan.misfit && warn_misfits) warn(tools::misfit_warning(plan));
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

}  // namespace palettize::cli
