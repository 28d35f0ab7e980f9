// `palettize search MODEL.onnx RECIPE.json --target-bits B`: mixed precision by measurement (issue 8). Where
// output damages do not add up across tensors, the additive allocator behind --importance optimises a wrong
// model; this command scores every recipe it considers in onnxruntime (measured_search.hpp) and writes the
// best one as a model config that `palettize compress --config RECIPE.json` applies.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <map>
#include <memory>

#include "cli/cli_common.hpp"
#include "cli/format.hpp"
#include "cli/ort_measure.hpp"
#include "cli/table.hpp"
#include "palettize/engine.hpp"
#include "palettize/error.hpp"
#include "palettize/measured_search.hpp"
#include "palettize/model_config.hpp"
#include "palettize/mixed_precision.hpp"
#include "palettize/output_file.hpp"
#include "palettize/safetensors.hpp"
#include "palettize/spec_json.hpp"
#include "tools/sensitivities.hpp"

namespace palettize::cli {
namespace {

struct SearchCommandOptions {
  MeasureOptions run;
  std::filesystem::path recipe;
  std::optional<std::filesystem::path> start;  // a recipe to start from instead of the largest candidates
  std::optional<std::filesystem::path> sensitivities;  // read by the +sens candidates
  double target_bits = 0;
  std::string candidates = "2,3,4,6,8,4@tensor,6@tensor,8@tensor";
  int moves = 3;
  int exchange_tries = SearchOptions{}.exchange_tries;
  bool force = false;
};

// The candidates each tensor can take: sizes, and the spec of every candidate that fits its shape.
struct CandidateGrid {
  std::vector<CandidateChoice> choices;
  std::vector<std::vector<std::optional<PalettizationSpec>>> specs;  // [tensor][choice]
  std::vector<std::vector<std::optional<int64_t>>> sizes;
  std::vector<int64_t> numel;  // [tensor]
  int64_t weights = 0;
};

CandidateGrid candidate_grid(const OnnxModel& model, const std::vector<PlannedTensor>& planned,
                             std::vector<CandidateChoice> choices) {
  CandidateGrid grid;
  grid.choices = std::move(choices);
  for (const PlannedTensor& tensor : planned) {
    const TensorView& view = model.find(tensor.key)->view;
    grid.numel.push_back(view.numel());
    grid.weights += view.numel();
    auto& specs = grid.specs.emplace_back();
    auto& sizes = grid.sizes.emplace_back();
    for (const CandidateChoice& choice : grid.choices) {
      const PalettizationSpec spec = candidate_spec(tensor.spec, choice);
      try {
        palettized_layout(view.shape, spec);
      } catch (const IncompatibleSpecError&) {
        specs.emplace_back();
        sizes.emplace_back();
        continue;
      }
      specs.push_back(spec);
      sizes.push_back(container_bits(tensor.name, view.dtype, view.shape, spec));
    }
  }
  return grid;
}

// Runs recipes in onnxruntime. Each tensor is palettized once per candidate, when a recipe first needs it.
class RecipeRunner {
 public:
  RecipeRunner(const SearchCommandOptions& options, const OnnxModel& model, const std::string& model_bytes,
               const std::vector<PlannedTensor>& planned, const CandidateGrid& grid,
               const std::optional<tools::Sensitivities>& sensitivities)
      : options_(options), model_(model), model_bytes_(model_bytes), planned_(planned), grid_(grid),
        sensitivities_(sensitivities) {
    const nlohmann::json descriptions = input_descriptions(options.run);
    worker_ = std::make_unique<OrtWorker>(worker_options(options.run, descriptions, scratch_.path / "inputs.json"));
  }

  double damage(const std::vector<int>& choice) {
    OnnxModel copy = OnnxModel::from_bytes(std::as_bytes(std::span(model_bytes_)), options_.run.model.string());
    for (std::size_t t = 0; t < planned_.size(); ++t) copy.replace_with_palettized(planned_[t].key, palettized(t, choice[t]));
    const std::filesystem::path path = scratch_.path / "recipe.onnx";
    copy.save(path, /*force=*/true);
    return worker_->evaluate(path)["damage"].get<double>();
  }

 private:
  // Kept for the whole run: a search returns to the same candidates again and again.
  const PalettizedTensor& palettized(std::size_t t, int c) {
    if (const auto found = cache_.find({t, c}); found != cache_.end()) return found->second;
    PalettizeOptions palettize_options;
    palettize_options.threads = measure_threads(options_.run);
    const std::vector<float> importance =
        grid_.choices[c].sensitivities ? sensitivities_->load(planned_[t].name) : std::vector<float>();
    PalettizedTensor result =
        palettize(model_.find(planned_[t].key)->view, *grid_.specs[t][c], palettize_options, importance);
    return cache_.emplace(std::pair{t, c}, std::move(result)).first->second;
  }

  const SearchCommandOptions& options_;
  const OnnxModel& model_;
  const std::string& model_bytes_;
  const std::vector<PlannedTensor>& planned_;
  const CandidateGrid& grid_;
  const std::optional<tools::Sensitivities>& sensitivities_;
  ScratchDir scratch_;
  std::unique_ptr<OrtWorker> worker_;
  std::map<std::pair<std::size_t, int>, PalettizedTensor> cache_;
};

// Each tensor starts at its candidate of most bits per index, the largest of those (the finest LUTs).
std::vector<int> start_recipe(const CandidateGrid& grid) {
  std::vector<int> start;
  for (std::size_t t = 0; t < grid.sizes.size(); ++t) {
    int best = -1;
    for (int c = 0; c < static_cast<int>(grid.choices.size()); ++c) {
      if (!grid.sizes[t][c]) continue;
      const auto key = [&](int i) { return std::pair{grid.choices[i].n_bits, *grid.sizes[t][i]}; };
      if (best < 0 || key(c) > key(best)) best = c;
    }
    start.push_back(best);
  }
  return start;
}

// The candidate of each planned tensor that a recipe (a model config, as search writes one) gives it. Every
// planned tensor must get a spec equal to one of its candidates: a start outside the grid would be a recipe
// the search can neither measure nor move from. A config has no +sens, so a spec listed plain and +sens
// starts at the first listed; the swap phase moves it to the other where that measures better.
std::vector<int> recipe_choice(const std::filesystem::path& path, const OnnxModel& model,
                               const std::vector<PlannedTensor>& planned, const CandidateGrid& grid, bool strict) {
  // No misfit warnings: the search's own config has just given them, and a searched tensor the start leaves
  // dense is an error below.
  const std::vector<PlannedTensor> given =
      planned_tensors(model, load_model_config(path), strict, /*warn_misfits=*/false);
  std::map<std::string, const PalettizationSpec*> spec_of;
  for (const PlannedTensor& tensor : given) spec_of.emplace(tensor.name, &tensor.spec);
  std::vector<int> choice;
  for (std::size_t t = 0; t < planned.size(); ++t) {
    const auto found = spec_of.find(planned[t].name);
    check(found != spec_of.end(), path.string(), ": the start recipe leaves tensor '", planned[t].name,
          "' dense, which the search palettizes");
    int c = 0;
    while (c < static_cast<int>(grid.specs[t].size()) && grid.specs[t][c] != *found->second) ++c;
    check(c < static_cast<int>(grid.specs[t].size()), path.string(), ": the start recipe gives tensor '",
          planned[t].name, "' ", spec_to_json_string(*found->second), ", which is none of its candidates");
    choice.push_back(c);
    spec_of.erase(found);
  }
  check(spec_of.empty(), path.string(), ": the start recipe palettizes '",
        spec_of.empty() ? std::string() : spec_of.begin()->first, "', which the search leaves dense");
  return choice;
}

std::string bits_per_weight(int64_t bits, int64_t weights) {
  return format_decimal(static_cast<double>(bits) / static_cast<double>(weights), 3);
}

// Before onnxruntime starts: the smallest candidates must fit.
void check_budget_reachable(const CandidateGrid& grid, int64_t budget_bits, double target_bits) {
  const int64_t smallest = smallest_recipe_bits(grid.sizes);
  check(smallest <= budget_bits, "--target-bits ", target_bits, " is below what the smallest candidates take: ",
        bits_per_weight(smallest, grid.weights), " bits/weight");
}

std::string format_snr(double damage) {
  return damage == 0 ? std::string("inf") : format_decimal(-10 * std::log10(damage), 2);
}

bool any_weighted(const std::vector<CandidateChoice>& choices) {
  return std::any_of(choices.begin(), choices.end(), [](const CandidateChoice& c) { return c.sensitivities; });
}

// Beside recipe.json, recipe.sensitivities.safetensors: a model config cannot say which tensors cluster
// weighted, so the recipe's sensitivities are the given ones for its +sens tensors and 1 (plain
// clustering, bit for bit) for the others. compress --config ... --sensitivities ... applies both.
std::filesystem::path recipe_sensitivities_path(const std::filesystem::path& recipe) {
  std::filesystem::path path = recipe;
  return path.replace_extension(".sensitivities.safetensors");
}

void write_recipe_sensitivities(const SearchCommandOptions& options, const OnnxModel& model,
                                const std::vector<PlannedTensor>& planned, const CandidateGrid& grid,
                                const tools::Sensitivities& sensitivities, const SearchResult& result) {
  std::vector<NamedTensor> tensors;
  for (std::size_t t = 0; t < planned.size(); ++t) {
    const Shape& shape = model.find(planned[t].key)->view.shape;
    const std::vector<float> values = grid.choices[result.choice[t]].sensitivities
                                          ? sensitivities.load(planned[t].name)
                                          : std::vector<float>(static_cast<std::size_t>(shape_numel(shape)), 1.0f);
    tensors.push_back({planned[t].name, make_tensor(DType::F32, shape, values)});
  }
  write_safetensors(recipe_sensitivities_path(options.recipe), tensors,
                    {{"palettize.search", "the given sensitivities for +sens tensors, 1 for the others"}},
                    /*force=*/true);
}

void write_recipe(const SearchCommandOptions& options, const ModelConfig& config,
                  const std::vector<PlannedTensor>& planned, const CandidateGrid& grid, const SearchResult& result) {
  ModelConfig recipe;
  recipe.global = std::nullopt;
  recipe.min_elements = config.min_elements;
  recipe.source = options.recipe.string();
  for (std::size_t t = 0; t < planned.size(); ++t) {
    recipe.rules.push_back(make_tensor_rule(regex_escape(planned[t].name), grid.specs[t][result.choice[t]]));
  }
  OutputFile out(options.recipe, /*force=*/true);
  out.write(model_config_to_json(recipe).dump(1) + "\n");
  out.commit();
}

void print_summary(const SearchCommandOptions& options, const std::vector<PlannedTensor>& planned,
                   const CandidateGrid& grid, const SearchResult& result, double seconds) {
  Table table({{"tensor"}, {"candidate"}, {"bits/weight", Table::Align::right}});
  for (std::size_t t = 0; t < planned.size(); ++t) {
    const int c = result.choice[t];
    table.add_row({planned[t].name, grid.choices[c].label, bits_per_weight(*grid.sizes[t][c], grid.numel[t])});
  }
  table.print(std::cout);
  std::optional<SearchStep> best_uniform;
  for (const SearchStep& step : result.steps) {
    if (step.phase == "uniform" && (!best_uniform || step.damage < best_uniform->damage)) best_uniform = step;
  }
  std::cout << "recipe: " << bits_per_weight(result.size_bits, grid.weights) << " bits/weight (target "
            << format_decimal(options.target_bits, 3) << "), output SNR " << format_snr(result.damage)
            << " dB measured on the search inputs (found by " << result.found_by << ")\n";
  if (best_uniform) {
    std::cout << "best uniform recipe within the budget: " << grid.choices[best_uniform->choice.front()].label
              << " at " << bits_per_weight(best_uniform->size_bits, grid.weights) << " bits/weight, output SNR "
              << format_snr(best_uniform->damage) << " dB\n";
  } else {
    std::cout << "no uniform recipe fits the budget\n";
  }
  std::map<std::string, int> taken;
  for (const SearchStep& step : result.steps) ++taken[step.phase];
  std::cout << "steps taken: " << taken["descend"] << " down, " << taken["fill"] << " fill, " << taken["swap"]
            << " swap, " << taken["exchange"] << " exchange\n";
  const std::string weighted = options.sensitivities
                                   ? " --sensitivities " + recipe_sensitivities_path(options.recipe).string()
                                   : std::string();
  std::cout << result.evaluations << " recipes run in onnxruntime in " << format_decimal(seconds, 1) << " s; wrote "
            << options.recipe.string() << (weighted.empty() ? "" : " and its sensitivities")
            << " (apply: palettize compress " << options.run.model.string() << " OUT.onnx --config "
            << options.recipe.string() << weighted << ")\n";
}

int run_search(const SearchCommandOptions& options) {
  check(is_onnx_path(options.run.model), options.run.model.string(),
        ": search runs models in onnxruntime and needs an .onnx model");
  check(std::isfinite(options.target_bits) && options.target_bits > 0 && options.target_bits <= 64,
        "--target-bits must be a number in (0, 64], got ", options.target_bits);
  // Checked before minutes of measurements, not after.
  check(options.force || !std::filesystem::exists(options.recipe), options.recipe.string(),
        " exists; give --force to overwrite it");
  check(!std::filesystem::exists(options.recipe) || !std::filesystem::equivalent(options.recipe, options.run.model),
        options.recipe.string(), " is the input model");
  const auto start = std::chrono::steady_clock::now();
  std::vector<CandidateChoice> choices = parse_candidate_choices(options.candidates);
  check(!any_weighted(choices) || options.sensitivities.has_value(),
        "the +sens candidates need --sensitivities FILE (palettize calibrate writes one)");
  check(any_weighted(choices) || !options.sensitivities.has_value(),
        "--sensitivities is read only by +sens candidates, and none is given (e.g. --candidates 4,4+sens)");
  check(!options.sensitivities || options.force || !std::filesystem::exists(recipe_sensitivities_path(options.recipe)),
        recipe_sensitivities_path(options.recipe).string(), " exists; give --force to overwrite it");
  const ModelConfig config = tools::config_from_options(options.run.config);
  const std::string bytes = read_bytes(options.run.model);
  const OnnxModel model = OnnxModel::from_bytes(std::as_bytes(std::span(bytes)), options.run.model.string());
  const std::vector<PlannedTensor> planned = planned_tensors(model, config, options.run.strict);
  const CandidateGrid grid = candidate_grid(model, planned, std::move(choices));
  for (std::size_t t = 0; t < planned.size(); ++t) {
    bool any = false;
    for (const auto& size : grid.sizes[t]) any = any || size.has_value();
    check(any, "tensor '", planned[t].name, "' ", shape_to_string(model.find(planned[t].key)->view.shape),
          ": none of the candidates ", options.candidates, " fits its shape");
  }

  SearchProblem problem;
  problem.sizes = grid.sizes;
  problem.budget_bits = static_cast<int64_t>(std::floor(options.target_bits * static_cast<double>(grid.weights)));
  check_budget_reachable(grid, problem.budget_bits, options.target_bits);
  problem.start =
      options.start ? recipe_choice(*options.start, model, planned, grid, options.run.strict) : start_recipe(grid);
  std::optional<tools::Sensitivities> sensitivities;
  if (options.sensitivities) {
    sensitivities.emplace(*options.sensitivities);
    for (const PlannedTensor& tensor : planned) {
      sensitivities->check_covers(tensor.name, model.find(tensor.key)->view.shape);
    }
  }
  RecipeRunner runner(options, model, bytes, planned, grid, sensitivities);
  int runs = 0;
  problem.measure = [&](const std::vector<int>& choice) {
    const double damage = runner.damage(choice);
    if (!options.run.quiet && ++runs % 10 == 0) std::cerr << "[" << runs << " runs]\n";  // between steps
    return damage;
  };
  SearchOptions search_options;
  search_options.moves_per_tensor = options.moves;
  search_options.exchange_tries = options.exchange_tries;
  if (!options.run.quiet) {
    search_options.progress = [&](const SearchStep& step) {
      std::cerr << "[" << step.evaluations << " runs] " << step.phase << ": "
                << bits_per_weight(step.size_bits, grid.weights) << " bits/weight, output SNR "
                << format_snr(step.damage) << " dB\n";
    };
  }
  const SearchResult result = measured_search(problem, search_options);
  write_recipe(options, config, planned, grid, result);
  if (sensitivities) write_recipe_sensitivities(options, model, planned, grid, *sensitivities, result);
  print_summary(options, planned, grid, result,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return kExitOk;
}

}  // namespace

Command add_search_command(CLI::App& parent) {
  auto options = std::make_shared<SearchCommandOptions>();
  CLI::App* app = parent.add_subcommand(
      "search",
      "Mixed precision by measurement: find a recipe (a candidate per tensor) for an average bits per weight "
      "whose output SNR, run in onnxruntime, is highest; writes it as a model config for compress --config");
  app->add_option("MODEL", options->run.model, ".onnx model")->required();
  app->add_option("RECIPE", options->recipe, "the model config (JSON) to write")->required();
  app->add_option("--target-bits", options->target_bits, "average bits per weight over the planned tensors")
      ->required()
      ->check(CLI::PositiveNumber);
  add_config_options(*app, options->run.config,
                     {"model config: which tensors to plan and their base granularity",
                      "global spec preset (base granularity)", "global spec as JSON (base granularity)"});
  app->add_option("--candidates", options->candidates,
                  "candidates, comma-separated: N (n_bits at the config's granularity), N@tensor (one LUT per "
                  "tensor), N@gK (a LUT per K channels); +scale after any of them turns per-channel scales on "
                  "(6@tensor+scale); +sens last weights the clustering by --sensitivities (4+sens: the same size "
                  "as 4; the search swaps between them)")
      ->capture_default_str();
  app->add_option("--moves", options->moves,
                  "smaller candidates of each tensor tried per descent step (and larger and smaller ones per "
                  "exchange round)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app->add_option("--exchange-tries", options->exchange_tries,
                  "after the descent, pairs of one tensor up and another down measured per round before "
                  "stopping; 0: no exchange (it raises the measured SNR, which may not carry over to other "
                  "inputs)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app->add_option("--start", options->start,
                  "a recipe (model config) to start from instead of every tensor's largest candidate; each tensor "
                  "it palettizes must get one of its candidates. Over the budget the descent starts there; within "
                  "it the search fills and exchanges")
      ->check(CLI::ExistingFile);
  app->add_option("--sensitivities", options->sensitivities,
                  "per-element sensitivities (safetensors, e.g. from palettize calibrate) for the +sens candidates; "
                  "the recipe's own are written beside it as RECIPE.sensitivities.safetensors")
      ->check(CLI::ExistingFile);
  app->add_flag("--force", options->force, "overwrite an existing RECIPE");
  add_measure_options(*app, options->run);
  return Command{app, [options] { return run_search(*options); }};
}

}  // namespace palettize::cli
