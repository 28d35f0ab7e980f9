// The measured search of mixed precision (measured_search.hpp) on synthetic measurements, against brute
// force; and candidate lists with granularities.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "error_message.hpp"
#include "palettize/error.hpp"
#include "palettize/measured_search.hpp"
#include "palettize/spec_json.hpp"

namespace palettize {
namespace {

using testing::error_message;

TEST(CandidateChoices, ParsesBitsAndGranularities) {
  const std::vector<CandidateChoice> choices = parse_candidate_choices("4,6@tensor,4@g032,8");
  ASSERT_EQ(choices.size(), 4u);
  EXPECT_EQ(choices[0].label, "n4");
  EXPECT_FALSE(choices[0].granularity.has_value());
  EXPECT_EQ(choices[1].label, "n6@tensor");
  EXPECT_EQ(choices[1].n_bits, 6);
  ASSERT_TRUE(choices[1].granularity.has_value());
  EXPECT_TRUE(std::holds_alternative<PerTensorGranularity>(*choices[1].granularity));
  EXPECT_EQ(choices[2].label, "n4@g32");
  EXPECT_EQ(std::get<PerGroupedChannelGranularity>(*choices[2].granularity).group_size, 32);
  EXPECT_EQ(choices[3].label, "n8");
  for (const CandidateChoice& choice : choices) EXPECT_FALSE(choice.per_channel_scale) << choice.label;
}

TEST(CandidateChoices, ScaleSuffixTurnsPerChannelScalesOn) {
  const std::vector<CandidateChoice> choices = parse_candidate_choices("6@tensor,6@tensor+scale,4+scale,4@g032+scale");
  ASSERT_EQ(choices.size(), 4u);
  EXPECT_EQ(choices[1].label, "n6@tensor+scale");
  EXPECT_TRUE(choices[1].per_channel_scale);
  EXPECT_TRUE(std::holds_alternative<PerTensorGranularity>(*choices[1].granularity));
  EXPECT_EQ(choices[2].label, "n4+scale");
  EXPECT_EQ(choices[2].n_bits, 4);
  EXPECT_FALSE(choices[2].granularity.has_value());
  EXPECT_EQ(choices[3].label, "n4@g32+scale");
  const PalettizationSpec base = parse_spec_json(R"({"n_bits": 4})");
  EXPECT_FALSE(candidate_spec(base, choices[0]).enable_per_channel_scale);
  EXPECT_TRUE(candidate_spec(base, choices[1]).enable_per_channel_scale);
  EXPECT_EQ(candidate_spec(base, choices[1]).n_bits, 6);
  // A choice without the suffix keeps the config's scales (see SpecKeepsTheBaseExceptBitsAndGranularity).
  EXPECT_NE(error_message([] { parse_candidate_choices("6+scale,6+scale"); }).find("n6+scale is listed twice"),
            std::string::npos);
}

TEST(CandidateChoices, SensSuffixWeightsTheClusteringAndKeepsTheSpec) {
  const std::vector<CandidateChoice> choices = parse_candidate_choices("4,4+sens,6@tensor+scale+sens");
  ASSERT_EQ(choices.size(), 3u);
  EXPECT_FALSE(choices[0].sensitivities);
  EXPECT_EQ(choices[1].label, "n4+sens");
  EXPECT_TRUE(choices[1].sensitivities);
  EXPECT_FALSE(choices[1].per_channel_scale);
  EXPECT_EQ(choices[2].label, "n6@tensor+scale+sens");
  EXPECT_TRUE(choices[2].sensitivities);
  EXPECT_TRUE(choices[2].per_channel_scale);
  const PalettizationSpec base = parse_spec_json(R"({"n_bits": 4})");
  EXPECT_EQ(candidate_spec(base, choices[0]), candidate_spec(base, choices[1]));  // same spec, same size
}

TEST(CandidateChoices, ClearErrors) {
  EXPECT_NE(error_message([] { parse_candidate_choices("5"); }).find("not one of 1, 2, 3, 4, 6, 8"), std::string::npos);
  for (const char* bad : {"", "4,", "x", "4@", "4@g", "4@g0", "4@gx", "4@row", "@tensor", "4@tensor@g2", "+scale",
                          "4+scale+scale", "4@tensor+scales", "4+Scale", "4@+scale", "+sens", "4+sens+scale",
                          "4+sens+sens", "4+Sens"}) {
    EXPECT_THROW(parse_candidate_choices(bad), Error) << bad;
  }
  EXPECT_NE(error_message([] { parse_candidate_choices("4@tensor,6,4@tensor"); }).find("n4@tensor is listed twice"),
            std::string::npos);
  EXPECT_NE(error_message([] { parse_candidate_choices("4,4@gx"); }).find("'4@gx'"), std::string::npos);
  EXPECT_NE(error_message([] { parse_candidate_choices("6@g32,6@g032"); }).find("n6@g32 is listed twice"),
            std::string::npos);
}

TEST(CandidateChoices, SpecKeepsTheBaseExceptBitsAndGranularity) {
  const PalettizationSpec base = parse_spec_json(
      R"({"n_bits": 4, "granularity": {"type": "per_grouped_channel", "axis": 1, "group_size": 16},
          "enable_per_channel_scale": true})");
  const auto choices = parse_candidate_choices("6,3@g32,8@tensor");
  const PalettizationSpec same = candidate_spec(base, choices[0]);
  EXPECT_EQ(same.n_bits, 6);
  EXPECT_EQ(std::get<PerGroupedChannelGranularity>(same.granularity).group_size, 16);
  EXPECT_TRUE(same.enable_per_channel_scale);
  const PalettizationSpec grouped = candidate_spec(base, choices[1]);
  EXPECT_EQ(grouped.n_bits, 3);
  EXPECT_EQ(std::get<PerGroupedChannelGranularity>(grouped.granularity).group_size, 32);
  EXPECT_EQ(std::get<PerGroupedChannelGranularity>(grouped.granularity).axis, 1);  // the base's axis
  EXPECT_TRUE(grouped.enable_per_channel_scale);
  EXPECT_TRUE(std::holds_alternative<PerTensorGranularity>(candidate_spec(base, choices[2]).granularity));
  // A per-tensor base groups along axis 0.
  const PalettizationSpec from_tensor = candidate_spec(parse_spec_json(R"({"n_bits": 4})"), choices[1]);
  EXPECT_EQ(std::get<PerGroupedChannelGranularity>(from_tensor.granularity).axis, 0);
}

// A random problem: sizes (some candidates missing) and a damage for every recipe, not additive.
struct RandomProblem {
  SearchProblem problem;
  std::map<std::vector<int>, double> damage;
  int calls = 0;
};

std::vector<std::vector<int>> all_recipes(const SearchProblem& problem) {
  std::vector<std::vector<int>> recipes{{}};
  for (const auto& sizes : problem.sizes) {
    std::vector<std::vector<int>> next;
    for (const auto& recipe : recipes) {
      for (int c = 0; c < static_cast<int>(sizes.size()); ++c) {
        if (!sizes[c]) continue;
        next.push_back(recipe);
        next.back().push_back(c);
      }
    }
    recipes = std::move(next);
  }
  return recipes;
}

int64_t size_of(const SearchProblem& problem, const std::vector<int>& recipe) {
  int64_t total = 0;
  for (std::size_t t = 0; t < recipe.size(); ++t) total += *problem.sizes[t][recipe[t]];
  return total;
}

std::shared_ptr<RandomProblem> random_problem() {
  auto random = std::make_shared<RandomProblem>();
  const int tensors = *rc::gen::inRange(1, 5);
  const int candidates = *rc::gen::inRange(1, 5);
  for (int t = 0; t < tensors; ++t) {
    auto& sizes = random->problem.sizes.emplace_back();
    for (int c = 0; c < candidates; ++c) {
      if (c > 0 && *rc::gen::inRange(0, 5) == 0) {
        sizes.emplace_back();
      } else {
        sizes.emplace_back(*rc::gen::inRange<int64_t>(0, 40));
      }
    }
  }
  int64_t smallest = 0, largest = 0;
  for (const auto& sizes : random->problem.sizes) {
    int64_t least = INT64_MAX, most = 0;
    for (const auto& size : sizes) {
      if (size) least = std::min(least, *size), most = std::max(most, *size);
    }
    smallest += least;
    largest += most;
  }
  random->problem.budget_bits = *rc::gen::inRange<int64_t>(smallest, largest + 2);
  for (const auto& recipe : all_recipes(random->problem)) random->damage[recipe] = *rc::gen::inRange(0, 1000) / 10.0;
  random->problem.measure = [random = random.get()](const std::vector<int>& recipe) {
    ++random->calls;
    return random->damage.at(recipe);
  };
  return random;
}

RC_GTEST_PROP(MeasuredSearch, FitsTheBudgetBeatsEveryUniformRecipeAndIsLocallyOptimal, ()) {
  const auto random = random_problem();
  const SearchProblem& problem = random->problem;
  const SearchResult result = measured_search(problem);
  RC_ASSERT(result.choice.size() == problem.sizes.size());
  RC_ASSERT(size_of(problem, result.choice) == result.size_bits);
  RC_ASSERT(result.size_bits <= problem.budget_bits);
  RC_ASSERT(result.damage == random->damage.at(result.choice));
  // Every recipe is measured once.
  RC_ASSERT(random->calls == result.evaluations);
  for (int c = 0; c < static_cast<int>(problem.sizes.front().size()); ++c) {
    const std::vector<int> uniform(problem.sizes.size(), c);
    if (random->damage.count(uniform) && size_of(problem, uniform) <= problem.budget_bits) {
      RC_ASSERT(result.damage <= random->damage.at(uniform));
    }
  }
  // Found by the search, it cannot be improved by one upgrade that fits what is left of the budget.
  if (result.found_by == "search") {
    for (std::size_t t = 0; t < problem.sizes.size(); ++t) {
      for (int c = 0; c < static_cast<int>(problem.sizes[t].size()); ++c) {
        std::vector<int> changed = result.choice;
        changed[t] = c;
        if (!problem.sizes[t][c] || *problem.sizes[t][c] <= *problem.sizes[t][result.choice[t]] ||
            size_of(problem, changed) > problem.budget_bits) {
          continue;
        }
        RC_ASSERT(random->damage.at(changed) >= result.damage);
      }
    }
    // Nor by a change to another candidate of the same size.
    for (std::size_t t = 0; t < problem.sizes.size(); ++t) {
      for (int c = 0; c < static_cast<int>(problem.sizes[t].size()); ++c) {
        if (c == result.choice[t] || problem.sizes[t][c] != problem.sizes[t][result.choice[t]]) continue;
        std::vector<int> changed = result.choice;
        changed[t] = c;
        RC_ASSERT(random->damage.at(changed) >= result.damage);
      }
    }
  }
  // Deterministic.
  const SearchResult again = measured_search(problem);
  RC_ASSERT(again.choice == result.choice);
  RC_ASSERT(again.evaluations == result.evaluations);
  // The exchange phase only ever takes recipes that measure lower, and keeps within the budget.
  SearchOptions exchanging;
  exchanging.exchange_tries = *rc::gen::inRange(1, 8);
  const SearchResult exchanged = measured_search(problem, exchanging);
  RC_ASSERT(exchanged.damage <= result.damage);
  RC_ASSERT(exchanged.size_bits <= problem.budget_bits);
  RC_ASSERT(exchanged.damage == random->damage.at(exchanged.choice));
  for (std::size_t i = 1; i < exchanged.steps.size(); ++i) {
    if (exchanged.steps[i].phase == "exchange") RC_ASSERT(exchanged.steps[i].damage < exchanged.steps[i - 1].damage);
  }
}

// Descent takes tensor 0 down first (1.0 against 1.2), and its last step must then take tensor 1 (2.2);
// shrinking tensors 1 and 2 instead measures 1.5, which one exchange (tensor 0 up, tensor 2 down) finds.
// The pair predicted best (tensor 1 up: -1.2, tensor 2 down: +0.3) is measured first and is worse (4.0).
TEST(MeasuredSearch, ExchangesOneTensorUpAndAnotherDown) {
  SearchProblem problem;
  problem.sizes = {{10, 6}, {10, 6}, {10, 6}};
  problem.budget_bits = 22;
  const std::map<std::vector<int>, double> damage{{{0, 0, 0}, 0.0}, {{1, 0, 0}, 1.0}, {{0, 1, 0}, 1.2},
                                                  {{0, 0, 1}, 3.0}, {{1, 1, 0}, 2.2}, {{1, 0, 1}, 4.0},
                                                  {{0, 1, 1}, 1.5}, {{1, 1, 1}, 2.5}};
  problem.measure = [&](const std::vector<int>& recipe) { return damage.at(recipe); };
  EXPECT_EQ(measured_search(problem).choice, (std::vector<int>{1, 1, 0}));  // no exchange phase by default

  SearchOptions exchanging;
  exchanging.exchange_tries = 6;
  const SearchResult result = measured_search(problem, exchanging);
  EXPECT_EQ(result.choice, (std::vector<int>{0, 1, 1}));
  EXPECT_EQ(result.damage, 1.5);
  EXPECT_EQ(result.found_by, "search");
  const auto exchange = std::find_if(result.steps.begin(), result.steps.end(),
                                     [](const SearchStep& step) { return step.phase == "exchange"; });
  ASSERT_NE(exchange, result.steps.end());
  EXPECT_EQ(exchange->choice, (std::vector<int>{0, 1, 1}));

  SearchOptions one_try;
  one_try.exchange_tries = 1;  // only the pair predicted best, which measures worse
  EXPECT_EQ(measured_search(problem, one_try).choice, (std::vector<int>{1, 1, 0}));
}

// Additive damages on convex size/damage curves: each descent step is then the best ratio of the Lagrangian
// path, and a budget on that path is met by the exact optimum (checked against brute force).
TEST(MeasuredSearch, FollowsTheOptimalPathOnAdditiveConvexDamage) {
  SearchProblem problem;
  // Sizes 8, 6, 4, 2 bits for each tensor; damages convex in size, scaled per tensor.
  const std::vector<double> scale{1.0, 3.0, 0.5};
  const std::vector<double> shape{0.0, 1.0, 3.0, 7.0};
  for (std::size_t t = 0; t < scale.size(); ++t) problem.sizes.push_back({8, 6, 4, 2});
  problem.measure = [&](const std::vector<int>& recipe) {
    double total = 0;
    for (std::size_t t = 0; t < recipe.size(); ++t) total += scale[t] * shape[recipe[t]];
    return total;
  };
  for (int64_t budget = 6; budget <= 24; budget += 2) {
    problem.budget_bits = budget;
    const SearchResult result = measured_search(problem);
    double best = INFINITY;
    for (const auto& recipe : all_recipes(problem)) {
      if (size_of(problem, recipe) <= budget) best = std::min(best, problem.measure(recipe));
    }
    EXPECT_DOUBLE_EQ(result.damage, best) << "budget " << budget;
  }
}

// Where damages do not add (tensors 1 and 2 cancel each other's error), the search follows the measurement.
// An allocator adding single-tensor damages (1.8, 1.5, 2.0) would pick tensors 0 and 1, which measure 4.
TEST(MeasuredSearch, TakesRecipesWhoseDamageDoesNotAdd) {
  SearchProblem problem;
  problem.sizes = {{8, 4}, {8, 4}, {8, 4}};
  problem.budget_bits = 16;
  const std::map<std::vector<int>, double> damage{{{0, 0, 0}, 0.0}, {{1, 0, 0}, 1.8}, {{0, 1, 0}, 1.5},
                                                  {{0, 0, 1}, 2.0}, {{1, 1, 0}, 4.0}, {{1, 0, 1}, 4.0},
                                                  {{0, 1, 1}, 0.5}, {{1, 1, 1}, 6.0}};
  problem.measure = [&](const std::vector<int>& recipe) { return damage.at(recipe); };
  const SearchResult result = measured_search(problem);
  EXPECT_EQ(result.choice, (std::vector<int>{0, 1, 1}));
  EXPECT_EQ(result.size_bits, 16);
  EXPECT_EQ(result.damage, 0.5);
  EXPECT_EQ(result.found_by, "search");
}

// The move of best ratio (tensor 0 down to 2 bits: damage 4 for 8 bits saved) meets the budget, but so does
// a smaller step of less damage (tensor 1: 2.5 for 4 bits); the last step takes the least damage.
TEST(MeasuredSearch, LastStepTakesTheLeastDamageThatMeetsTheBudget) {
  SearchProblem problem;
  problem.sizes = {{10, 9, 2}, {10, 6}};
  problem.budget_bits = 16;
  const std::map<std::vector<int>, double> damage{{{0, 0}, 0.0}, {{1, 0}, 1.0}, {{2, 0}, 4.0},
                                                  {{0, 1}, 2.5}, {{1, 1}, 3.5}, {{2, 1}, 6.0}};
  problem.measure = [&](const std::vector<int>& recipe) { return damage.at(recipe); };
  const SearchResult result = measured_search(problem);
  EXPECT_EQ(result.choice, (std::vector<int>{0, 1}));
  EXPECT_EQ(result.damage, 2.5);
}

// Only the next `moves_per_tensor` smaller candidates of a tensor are tried; equal damages go to the lower
// tensor, then the lower candidate index.
TEST(MeasuredSearch, TriesTheNextFewSmallerCandidatesAndBreaksTiesByTensorThenCandidate) {
  SearchProblem problem;
  problem.sizes = {{10, 9, 8, 7, 6}, {10, 6}};
  problem.budget_bits = 19;
  std::vector<std::vector<int>> measured;
  problem.measure = [&](const std::vector<int>& recipe) {
    measured.push_back(recipe);
    return recipe == std::vector<int>{0, 0} ? 0.0 : 1.0;
  };
  const SearchResult result = measured_search(problem);  // no exchange phase by default
  EXPECT_EQ(result.choice, (std::vector<int>{1, 0}));
  EXPECT_EQ(result.found_by, "search");
  EXPECT_EQ(std::count(measured.begin(), measured.end(), std::vector<int>{4, 0}), 0);  // the 4th smaller
  EXPECT_EQ(std::count(measured.begin(), measured.end(), std::vector<int>{3, 0}), 1);
}

TEST(MeasuredSearch, KeepsTheBestUniformRecipeWhenTheSearchDoesWorse) {
  SearchProblem problem;
  problem.sizes = {{8, 4}, {8, 4}};
  problem.budget_bits = 12;  // one step down from the start; the uniform {4, 4} recipe fits too
  problem.measure = [](const std::vector<int>& recipe) { return recipe == std::vector<int>{1, 1} ? 0.1 : 5.0; };
  const SearchResult result = measured_search(problem);
  EXPECT_EQ(result.choice, (std::vector<int>{1, 1}));
  EXPECT_EQ(result.found_by, "uniform");
}

// The descent starts where it is told: here the larger candidate of tensor 0 is the worse one.
TEST(MeasuredSearch, StartsFromTheGivenRecipe) {
  SearchProblem problem;
  problem.sizes = {{10, 8, 4}, {8, 4}};
  problem.budget_bits = 18;
  problem.start = {1, 0};
  std::vector<std::vector<int>> measured;
  problem.measure = [&](const std::vector<int>& recipe) {
    measured.push_back(recipe);
    return recipe[0] == 0 ? 9.0 : 1.0 * recipe[0] + recipe[1];
  };
  const SearchResult result = measured_search(problem);
  ASSERT_FALSE(measured.empty());
  EXPECT_EQ(measured.front(), (std::vector<int>{1, 0}));
  EXPECT_EQ(result.steps.front().phase, "start");
  EXPECT_EQ(result.choice, (std::vector<int>{1, 0}));  // 16 bits, damage 1; the fill's 18-bit recipe is worse
}

// Candidates 0 and 1 of each tensor are the same size (one weighted by sensitivities, one not): the descent
// and the fill never move between them, the swap phase takes the better one, tensor by tensor.
TEST(MeasuredSearch, SwapsToASameSizeCandidateThatMeasuresBetter) {
  SearchProblem problem;
  problem.sizes = {{8, 8, 4}, {8, 8, 4}};
  problem.budget_bits = 16;
  problem.start = {0, 0};
  // Candidate 1 helps tensor 0 by 3 and tensor 1 by 1; candidate 2 costs 10.
  problem.measure = [](const std::vector<int>& recipe) {
    const double costs[2][3] = {{5, 2, 15}, {5, 4, 15}};
    return costs[0][recipe[0]] + costs[1][recipe[1]];
  };
  const SearchResult result = measured_search(problem);
  EXPECT_EQ(result.choice, (std::vector<int>{1, 1}));
  EXPECT_EQ(result.damage, 6.0);
  std::vector<std::string> phases;
  for (const SearchStep& step : result.steps) phases.push_back(step.phase);
  EXPECT_EQ(phases, (std::vector<std::string>{"start", "swap", "swap", "uniform", "uniform", "uniform"}));
  EXPECT_EQ(result.steps[1].choice, (std::vector<int>{1, 0}));  // the larger gain first
}

TEST(MeasuredSearch, ClearErrors) {
  SearchProblem problem;
  problem.sizes = {{8, 4}, {std::nullopt, 6}};
  problem.budget_bits = 9;
  problem.measure = [](const std::vector<int>&) { return 1.0; };
  EXPECT_NE(error_message([&] { measured_search(problem); }).find("even the smallest candidates take 10 bits, over the budget of 9 bits"),
            std::string::npos);
  problem.sizes = {{8, 4}, {std::nullopt}};
  EXPECT_NE(error_message([&] { measured_search(problem); }).find("tensor 1 has no candidate that fits its shape"),
            std::string::npos);
  problem.sizes = {{8, 4}, {8, 4}};
  problem.budget_bits = 16;
  problem.start = {0};
  EXPECT_NE(error_message([&] { measured_search(problem); }).find("the start recipe has 1 candidates for 2 tensors"),
            std::string::npos);
  problem.start = {0, 2};
  EXPECT_NE(error_message([&] { measured_search(problem); }).find("gives tensor 1 candidate 2"), std::string::npos);
  problem.start = {};
  problem.sizes = {{8, 4}};
  problem.measure = [](const std::vector<int>&) { return NAN; };
  EXPECT_NE(error_message([&] { measured_search(problem); }).find("finite and >= 0"), std::string::npos);
  SearchOptions options;
  options.exchange_tries = -1;
  EXPECT_NE(error_message([&] { measured_search(problem, options); }).find("exchange_tries must be >= 0, got -1"),
            std::string::npos);
}

}  // namespace
}  // namespace palettize
