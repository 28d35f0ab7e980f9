#include "tools/compress_steps.hpp"


#include "palettize/error.hpp"
#include "tools/tool_support.hpp"

namespace palettize::tools {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<std::filesystem::path> option_input_files(const CompressOptions& options) {
  std::vector<std::filesystem::path> files;
  if (options.sensitivities) files.push_back(*options.sensitivities);
  if (options.config_file) files.push_back(*options.config_file);
  if (options.importance) files.push_back(*options.importance);
  return files;
}

std::optional<Recipe> apply_target_bits(const CompressOptions& options, CompressResult& result,
                                        const Callbacks& callbacks) {
  if (!options.target_bits) return std::nullopt;
  Recipe recipe = plan_recipe(options.input, result.config, *options.target_bits,
                              MixedOptions{options.candidates, options.importance, false, options.strict,
                                           options.quiet, options.threads},
                              callbacks);
  result.config = recipe.config;
  return recipe;
}

void report_misfits(CompressResult& result, const Callbacks& callbacks) {
  for (const TensorPlan& plan : result.plans) {
    if (plan.misfit) result.warnings.push_back(misfit_warning(plan));
  }
  for (const std::string& warning : result.warnings) warn(callbacks, warning);
}

void open_sensitivities(const CompressOptions& options, std::span<const TensorPlan> plans,
                        std::optional<Sensitivities>& sensitivities) {
  if (!options.sensitivities) return;
  sensitivities.emplace(*options.sensitivities);
  sensitivities->check_covers(plans);
}

PalettizeOptions engine_options_of(const CompressOptions& options) {
  PalettizeOptions engine_options;
  engine_options.seed = options.seed;
  engine_options.threads = options.threads;
  return engine_options;
}

uint64_t planned_bytes(std::span<const TensorPlan> plans) {
  uint64_t total = 0;
  for (const TensorPlan& plan : plans) total += plan.byte_size;
  return total;
}

MeasuredPalettization palettize_planned(const TensorPlan& plan, const TensorView& weight,
                                        const std::optional<Sensitivities>& sensitivities,
                                        const PalettizeOptions& engine_options) {
  std::vector<float> importances;
  if (sensitivities) importances = sensitivities->load(plan.name);
  try {
    return palettize_measured(weight, plan.entry->spec, engine_options, importances);
  } catch (const Error& error) {
    fail("tensor '", plan.name, "' ", shape_to_string(plan.shape), ": ", error.what());
  }
}

}  // namespace palettize::tools
