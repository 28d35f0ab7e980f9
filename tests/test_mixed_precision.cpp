#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "palettize/clustering.hpp"
#include "palettize/container.hpp"
#include "palettize/error.hpp"
#include "palettize/mixed_precision.hpp"
#include "palettize/spec_json.hpp"

namespace palettize {
namespace {

// ---- Allocation oracles ----

struct Best {
  double cost = std::numeric_limits<double>::infinity();
  bool feasible = false;
};

// Every combination (<= 6^6).
Best brute_force(const std::vector<AllocationGroup>& groups, int64_t budget) {
  Best best;
  std::vector<std::size_t> pick(groups.size(), 0);
  for (;;) {
    int64_t size = 0;
    double cost = 0;
    for (std::size_t g = 0; g < groups.size(); ++g) {
      size += groups[g].sizes[pick[g]];
      cost += groups[g].costs[pick[g]];
    }
    if (size <= budget && cost < best.cost) best = {cost, true};
    std::size_t g = 0;
    while (g < groups.size() && ++pick[g] == groups[g].sizes.size()) pick[g++] = 0;
    if (g == groups.size()) return best;
  }
}

// Exact DP over integer budgets (small sizes only): best[b] = least cost within b bits.
double knapsack_dp(const std::vector<AllocationGroup>& groups, int64_t budget) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> best(static_cast<std::size_t>(budget + 1), 0.0);
  for (const AllocationGroup& group : groups) {
    std::vector<double> next(best.size(), inf);
    for (int64_t b = 0; b <= budget; ++b) {
      for (std::size_t c = 0; c < group.sizes.size(); ++c) {
        if (group.sizes[c] <= b) next[b] = std::min(next[b], best[b - group.sizes[c]] + group.costs[c]);
      }
    }
    best = std::move(next);
  }
  return best[budget];
}

void expect_consistent(const std::vector<AllocationGroup>& groups, int64_t budget, const Allocation& a) {
  ASSERT_EQ(a.choice.size(), groups.size());
  int64_t size = 0;
  double cost = 0;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    ASSERT_GE(a.choice[g], 0);
    ASSERT_LT(static_cast<std::size_t>(a.choice[g]), groups[g].sizes.size());
    size += groups[g].sizes[a.choice[g]];
    cost += groups[g].costs[a.choice[g]];
  }
  EXPECT_EQ(size, a.size);
  EXPECT_LE(a.size, budget);
  EXPECT_NEAR(cost, a.cost, 1e-9 * (1 + cost));
  EXPECT_LE(a.lower_bound, a.cost * (1 + 1e-9) + 1e-12);
}

// Sizes 0..60 and costs that are sometimes small integers (ties, dominated and equal-size candidates).
rc::Gen<std::vector<AllocationGroup>> gen_groups(int max_groups, int max_candidates) {
  return rc::gen::mapcat(rc::gen::inRange(1, max_groups + 1), [=](int n) {
    return rc::gen::container<std::vector<AllocationGroup>>(
        static_cast<std::size_t>(n),
        rc::gen::mapcat(rc::gen::inRange(1, max_candidates + 1), [](int m) {
          return rc::gen::map(
              rc::gen::pair(rc::gen::container<std::vector<int64_t>>(static_cast<std::size_t>(m),
                                                                     rc::gen::inRange<int64_t>(0, 61)),
                            rc::gen::container<std::vector<int>>(static_cast<std::size_t>(m),
                                                                 rc::gen::inRange(0, 1000))),
              [](const std::pair<std::vector<int64_t>, std::vector<int>>& parts) {
                AllocationGroup group;
                group.sizes = parts.first;
                for (int c : parts.second) group.costs.push_back(c % 3 == 0 ? c / 100 : c * 0.0137);
                return group;
              });
        }));
  });
}

int64_t min_total(const std::vector<AllocationGroup>& groups) {
  int64_t total = 0;
  for (const auto& g : groups) total += *std::min_element(g.sizes.begin(), g.sizes.end());
  return total;
}

int64_t max_total(const std::vector<AllocationGroup>& groups) {
  int64_t total = 0;
  for (const auto& g : groups) total += *std::max_element(g.sizes.begin(), g.sizes.end());
  return total;
}

RC_GTEST_PROP(Allocation, OptimalAgainstBruteForce, ()) {
  const auto groups = *gen_groups(6, 6);
  const int64_t low = min_total(groups), high = max_total(groups);
  const int64_t budget = *rc::gen::inRange<int64_t>(low, high + 2);
  const Allocation a = allocate_budget(groups, budget);
  expect_consistent(groups, budget, a);
  const Best best = brute_force(groups, budget);
  RC_ASSERT(best.feasible);
  RC_ASSERT(a.proven_optimal);
  RC_ASSERT(std::abs(a.cost - best.cost) <= 1e-9 * (1 + best.cost));
  RC_ASSERT(a.lower_bound <= best.cost + 1e-9 * (1 + best.cost));
}

RC_GTEST_PROP(Allocation, OptimalAgainstKnapsackDpOnLargerProblems, ()) {
  const auto groups = *gen_groups(40, 6);
  const int64_t low = min_total(groups), high = max_total(groups);
  const int64_t budget = *rc::gen::inRange<int64_t>(low, high + 1);
  const Allocation a = allocate_budget(groups, budget);
  expect_consistent(groups, budget, a);
  const double best = knapsack_dp(groups, budget);
  RC_ASSERT(a.proven_optimal);
  RC_ASSERT(std::abs(a.cost - best) <= 1e-9 * (1 + best));
}

RC_GTEST_PROP(Allocation, DeterministicAndIndependentOfGroupOrder, ()) {
  const auto groups = *gen_groups(6, 6);
  const int64_t budget = *rc::gen::inRange<int64_t>(min_total(groups), max_total(groups) + 1);
  const Allocation first = allocate_budget(groups, budget);
  const Allocation second = allocate_budget(groups, budget);
  RC_ASSERT(first.choice == second.choice);
  RC_ASSERT(first.cost == second.cost);
  std::vector<AllocationGroup> reversed(groups.rbegin(), groups.rend());
  const Allocation other = allocate_budget(reversed, budget);
  RC_ASSERT(std::abs(other.cost - first.cost) <= 1e-9 * (1 + first.cost));
}

RC_GTEST_PROP(Allocation, StateLimitKeepsAFeasibleSolutionAndAValidBound, ()) {
  const auto groups = *gen_groups(6, 6);
  const int64_t budget = *rc::gen::inRange<int64_t>(min_total(groups), max_total(groups) + 1);
  const Allocation a = allocate_budget(groups, budget, AllocationOptions{1});
  expect_consistent(groups, budget, a);
  const Best best = brute_force(groups, budget);
  RC_ASSERT(a.lower_bound <= best.cost + 1e-9 * (1 + best.cost));
  RC_ASSERT(a.cost >= best.cost - 1e-9 * (1 + best.cost));
}

TEST(Allocation, BudgetIsRespectedToTheBit) {
  // Two groups whose best split needs every bit: 10 + 7 = 17.
  const std::vector<AllocationGroup> groups{{{5, 10}, {4.0, 1.0}}, {{3, 7}, {5.0, 0.5}}};
  EXPECT_EQ(allocate_budget(groups, 17).cost, 1.5);
  EXPECT_EQ(allocate_budget(groups, 16).cost, 4.5);  // 5 + 7 + ... -> {5, 7}: 4.0 + 0.5
  EXPECT_EQ(allocate_budget(groups, 16).size, 12);
  EXPECT_EQ(allocate_budget(groups, 8).cost, 9.0);
}

TEST(Allocation, InfeasibleBudgetAndBadInputAreErrors) {
  const std::vector<AllocationGroup> groups{{{5, 10}, {4.0, 1.0}}, {{3, 7}, {5.0, 0.5}}};
  EXPECT_THROW(allocate_budget(groups, 7), Error);
  EXPECT_THROW(allocate_budget(std::vector<AllocationGroup>{{{}, {}}}, 7), Error);
  EXPECT_THROW(allocate_budget(std::vector<AllocationGroup>{{{1}, {-1.0}}}, 7), Error);
  EXPECT_THROW(allocate_budget(std::vector<AllocationGroup>{{{1}, {std::nan("")}}}, 7), Error);
  EXPECT_THROW(allocate_budget(std::vector<AllocationGroup>{{{1, 2}, {1.0}}}, 7), Error);
  EXPECT_EQ(allocate_budget(std::vector<AllocationGroup>{}, 0).choice.size(), 0u);
}

TEST(Allocation, ManyIdenticalGroupsStillProveOptimality) {
  // Identical tensors are the worst case for ties; the exact fix-up must still finish.
  std::vector<AllocationGroup> groups(200, AllocationGroup{{2000, 3000, 4000, 6000, 8000, 16000},
                                                           {90.0, 40.0, 18.0, 4.0, 1.0, 0.0}});
  for (std::size_t g = 0; g < groups.size(); ++g) {
    for (double& cost : groups[g].costs) cost *= 1.0 + 0.001 * static_cast<double>(g % 7);
  }
  const int64_t budget = 200 * 4500 + 777;
  const Allocation a = allocate_budget(groups, budget);
  expect_consistent(groups, budget, a);
  EXPECT_TRUE(a.proven_optimal);
  EXPECT_LE(a.cost - a.lower_bound, 50.0);  // within one segment of the LP bound
}

// Rate/distortion like real layers: size ~ numel x bits + LUT, SSE ~ signal x 2^(-2 bits) with jitter.
std::vector<AllocationGroup> realistic_model(uint32_t seed, int tensors, int64_t& weights) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> log_numel(10, 22);
  std::uniform_real_distribution<double> jitter(0.7, 1.4);
  std::vector<AllocationGroup> groups;
  weights = 0;
  for (int t = 0; t < tensors; ++t) {
    const int64_t numel = int64_t{1} << log_numel(rng);
    const double signal = static_cast<double>(numel) * jitter(rng);
    AllocationGroup group;
    for (int bits : {2, 3, 4, 6, 8}) {
      group.sizes.push_back(numel * bits + (int64_t{16} << bits));
      group.costs.push_back(signal * std::pow(2.0, -2.0 * bits) * jitter(rng));
    }
    group.sizes.push_back(numel * 16);
    group.costs.push_back(0);
    groups.push_back(group);
    weights += numel;
  }
  return groups;
}

TEST(Allocation, RealisticModelsOfHundredsOfTensorsAreSolvedExactly) {
  for (uint32_t seed : {5u, 6u, 7u}) {
    int64_t weights = 0;
    const std::vector<AllocationGroup> groups = realistic_model(seed, 600, weights);
    for (double target : {2.5, 3.3, 4.0, 4.7, 6.1, 7.9}) {
      const int64_t budget = static_cast<int64_t>(target * static_cast<double>(weights));
      const Allocation a = allocate_budget(groups, budget);
      expect_consistent(groups, budget, a);
      EXPECT_TRUE(a.proven_optimal) << "seed " << seed << " target " << target << ": " << a.states
                                    << " states, gap to the LP bound " << (a.cost - a.lower_bound) / a.cost;
    }
  }
}

// ---- Candidates ----

PalettizationSpec spec_from(const char* json) { return parse_spec_json(json); }

Tensor random_tensor(DType dtype, Shape shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> values(static_cast<std::size_t>(shape_numel(shape)));
  for (float& v : values) v = normal(rng);
  return make_tensor(dtype, std::move(shape), values);
}

int64_t encoded_bits(const std::string& name, const Tensor& weight, const PalettizationSpec& spec) {
  const ContainerEntry entry = make_container_entry(name, weight.dtype, weight.shape, spec);
  int64_t bytes = 0;
  for (const NamedTensor& part : encode_palettized(entry, palettize(weight.view(), spec))) {
    bytes += static_cast<int64_t>(part.tensor.data.size());
  }
  return bytes * 8;
}

const char* const kSpecs[] = {
    R"({"n_bits":4})",
    R"({"granularity":{"type":"per_grouped_channel","axis":0,"group_size":4}})",
    R"({"granularity":{"type":"per_grouped_channel","axis":1,"group_size":2}})",
    R"({"enable_per_channel_scale":true})",
    R"({"lut_qspec":{"dtype":"int8","qscheme":"asymmetric"}})",
    R"({"lut_qspec":{"dtype":"float8_e4m3fn"},"granularity":{"type":"per_grouped_channel","group_size":8}})",
    R"({"cluster_dim":2})",
};

TEST(Candidates, SizesEqualTheContainersRealByteCounts) {
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    const Tensor weight = random_tensor(dtype, {16, 4, 3}, 7);
    for (const char* json : kSpecs) {
      CandidateOptions options;
      options.n_bits = {1, 2, 3, 4, 6, 8};
      const TensorCandidates tc = tensor_candidates("w", weight.view(), spec_from(json), options);
      ASSERT_EQ(tc.candidates.size(), 7u) << json;
      for (const Candidate& c : tc.candidates) {
        if (!c.spec) {
          EXPECT_EQ(c.label, "dense");
          EXPECT_EQ(c.size_bits, 16 * 12 * static_cast<int64_t>(dtype_size(dtype)) * 8);
          EXPECT_EQ(c.sse, 0.0);
          continue;
        }
        EXPECT_EQ(c.size_bits, encoded_bits("w", weight, *c.spec)) << json << " " << c.label;
        EXPECT_EQ(c.label, candidate_label(c.spec->n_bits));
      }
    }
  }
}

TEST(Candidates, PredictionIsTheExactOptimumPerBlockAndNeverAboveTheRealError) {
  const Tensor weight = random_tensor(DType::F32, {16, 40}, 11);
  const PalettizationSpec base = spec_from(R"({"granularity":{"type":"per_grouped_channel","group_size":8}})");
  const TensorCandidates predicted = tensor_candidates("w", weight.view(), base);
  CandidateOptions measure;
  measure.measure = true;
  const TensorCandidates measured = tensor_candidates("w", weight.view(), base, measure);
  const std::vector<float> values = to_f32(weight.view());
  for (std::size_t c = 0; c + 1 < predicted.candidates.size(); ++c) {
    const int k = 1 << predicted.candidates[c].spec->n_bits;
    double oracle = 0;
    for (int block = 0; block < 2; ++block) {
      const std::vector<float> part(values.begin() + block * 320, values.begin() + (block + 1) * 320);
      const DistinctValues distinct = reduce_to_distinct(part);
      oracle += cluster_1d_optimal(distinct.values, distinct.weights, k).sse;
    }
    EXPECT_FALSE(predicted.candidates[c].measured);
    EXPECT_TRUE(measured.candidates[c].measured);
    const double rounding = 1e-12 * predicted.signal;  // at 8 bits the SSE nears double rounding of the sums
    EXPECT_NEAR(predicted.candidates[c].sse, oracle, rounding + 1e-9 * oracle);
    EXPECT_GE(measured.candidates[c].sse, predicted.candidates[c].sse - rounding);
    // F32 rounding of the LUT barely moves the optimum.
    EXPECT_LE(measured.candidates[c].sse, predicted.candidates[c].sse * (1 + 1e-4) + rounding);
  }
}

TEST(Candidates, MeasuredSpecsReportTheEnginesRealError) {
  const Tensor weight = random_tensor(DType::F16, {8, 12}, 3);
  const PalettizationSpec base = spec_from(R"({"enable_per_channel_scale":true})");
  const TensorCandidates tc = tensor_candidates("w", weight.view(), base);
  for (const Candidate& c : tc.candidates) {
    if (!c.spec) continue;
    EXPECT_TRUE(c.measured);
    const double real = compare(weight.view(), decode(palettize(weight.view(), *c.spec)).view()).sse;
    EXPECT_EQ(c.sse, real);
  }
}

TEST(Candidates, BadInputsAreErrors) {
  const Tensor weight = random_tensor(DType::F32, {6, 4}, 1);
  CandidateOptions options;
  options.n_bits = {5};
  EXPECT_THROW(tensor_candidates("w", weight.view(), {}, options), Error);
  options.n_bits = {4, 4};
  EXPECT_THROW(tensor_candidates("w", weight.view(), {}, options), Error);
  EXPECT_THROW(tensor_candidates("w", weight.view(), spec_from(R"({"granularity":{"type":"per_grouped_channel","group_size":4}})")),
               IncompatibleSpecError);
  const Tensor bad = make_tensor(DType::F32, {2, 2}, std::vector<float>{1, std::nanf(""), 0, 0});
  EXPECT_THROW(tensor_candidates("w", bad.view(), {}), Error);
  EXPECT_EQ(parse_candidate_bits("2,3,4,6,8"), (std::vector<int>{2, 3, 4, 6, 8}));
  EXPECT_THROW(parse_candidate_bits("2,,4"), Error);
  EXPECT_THROW(parse_candidate_bits("2,x"), Error);
  EXPECT_THROW(parse_candidate_bits(""), Error);
}

// ---- Importance, plan, recipe ----

std::vector<TensorCandidates> small_model() {
  std::vector<TensorCandidates> tensors;
  const char* names[] = {"enc.conv1.weight", "enc.block[0].fc+1", "dec/out.weight"};
  for (int t = 0; t < 3; ++t) {
    const Tensor weight = random_tensor(DType::F16, {8 * (t + 1), 16}, 20 + t);
    tensors.push_back(tensor_candidates(names[t], weight.view(), {}));
  }
  return tensors;
}

TEST(Importance, ScalesAndPerCandidateTables) {
  std::vector<TensorCandidates> tensors = small_model();
  const auto table = importance_from_json(nlohmann::json::parse(R"({"note": "x", "tensors": {
      "enc.conv1.weight": 3.5,
      "dec/out.weight": {"n2": 9, "n3": 8, "n4": 7, "n6": 6, "n8": 5}}})"), "imp.json");
  apply_importance(tensors, table);
  EXPECT_EQ(tensors[0].importance, 3.5);
  EXPECT_EQ(tensors[0].candidates[1].cost, 3.5 * tensors[0].candidates[1].sse);
  EXPECT_EQ(tensors[1].candidates[1].cost, tensors[1].candidates[1].sse);
  EXPECT_EQ(tensors[2].candidates[2].cost, 7.0);
  EXPECT_EQ(tensors[2].candidates.back().cost, 0.0);
  auto error_of = [&](const char* json) {
    std::vector<TensorCandidates> copy = small_model();
    try {
      apply_importance(copy, importance_from_json(nlohmann::json::parse(json), "imp.json"), std::vector<std::string>{"bias"});
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string();
  };
  EXPECT_EQ(error_of(R"({"tensors": {"bias": 2}})"), "");
  EXPECT_NE(error_of(R"({"tensors": {"nope": 2}})").find("'nope' is not a tensor of the model"), std::string::npos);
  EXPECT_NE(error_of(R"({"tensors": {"dec/out.weight": -1}})").find(">= 0"), std::string::npos);
  EXPECT_NE(error_of(R"({"tensors": {"dec/out.weight": {"n2": 1}}})").find("no damage for candidate 'n3'"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"tensors": {"dec/out.weight": {"n5": 1}}})").find("'n5' is not one of its candidates"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"tensor": {}})").find("unknown key 'tensor'"), std::string::npos);
}

TEST(Plan, MeetsTheBudgetAndMatchesTheAllocator) {
  const std::vector<TensorCandidates> tensors = small_model();
  for (double target : {2.6, 3.0, 4.25, 5.5, 8.7, 17.0}) {
    const MixedPlan plan = plan_mixed_precision(tensors, target);
    EXPECT_EQ(plan.weights, (8 + 16 + 24) * 16);
    EXPECT_EQ(plan.budget_bits, static_cast<int64_t>(std::floor(target * plan.weights)));
    EXPECT_LE(plan.total_bits, plan.budget_bits);
    EXPECT_LE(plan.bits_per_weight(), target);
    EXPECT_TRUE(plan.proven_optimal);
    std::vector<AllocationGroup> groups;
    for (const auto& t : tensors) {
      AllocationGroup g;
      for (const auto& c : t.candidates) g.sizes.push_back(c.size_bits), g.costs.push_back(c.cost);
      groups.push_back(g);
    }
    EXPECT_NEAR(plan.cost, brute_force(groups, plan.budget_bits).cost, 1e-9 * (1 + plan.cost));
  }
  EXPECT_THROW(plan_mixed_precision(tensors, 1.0), Error);
  EXPECT_THROW(plan_mixed_precision(tensors, std::nan("")), Error);
  EXPECT_THROW(plan_mixed_precision(tensors, -3), Error);
}

TEST(Recipe, ConfigReappliesTheChoiceByExactName) {
  const std::vector<TensorCandidates> tensors = small_model();
  const MixedPlan plan = plan_mixed_precision(tensors, 5.0);
  const ModelConfig config = recipe_model_config(tensors, plan, 100);
  const ModelConfig reloaded = model_config_from_json(model_config_to_json(config), "recipe.json");
  EXPECT_EQ(reloaded.min_elements, 100);
  EXPECT_FALSE(reloaded.global);
  for (std::size_t t = 0; t < tensors.size(); ++t) {
    const SpecDecision decision = resolve_tensor_spec(reloaded, tensors[t].name, tensors[t].dtype, tensors[t].shape);
    EXPECT_EQ(decision.spec, tensors[t].candidates[plan.choice[t]].spec) << tensors[t].name;
  }
  // Exact names: a near miss is not matched.
  EXPECT_FALSE(resolve_tensor_spec(reloaded, "enc.conv1Xweight", DType::F16, Shape{64, 64}).spec);
  EXPECT_FALSE(resolve_tensor_spec(reloaded, "enc.block[0].fc+11", DType::F16, Shape{64, 64}).spec);
  const nlohmann::json json = recipe_to_json(tensors, plan);
  EXPECT_EQ(json.at("tensors").size(), 3u);
  EXPECT_EQ(json.at("total_bits").get<int64_t>(), plan.total_bits);
  EXPECT_EQ(regex_escape("a.b[0]+c"), "a\\.b\\[0\\]\\+c");
}

TEST(Curve, SweepIsMonotoneAndUniformPointsAreMarked) {
  const std::vector<TensorCandidates> tensors = small_model();
  const QualityCurve curve = quality_curve(tensors, 12);
  ASSERT_EQ(curve.sweep.size(), 12u);
  ASSERT_EQ(curve.uniform.size(), 5u);
  for (std::size_t i = 1; i < curve.sweep.size(); ++i) {
    EXPECT_GE(curve.sweep[i].snr_db, curve.sweep[i - 1].snr_db - 1e-9);
  }
  // The optimal plan at a uniform point's size is at least as good as that uniform choice.
  for (const CurvePoint& uniform : curve.uniform) {
    const MixedPlan plan = plan_mixed_precision(tensors, uniform.bits_per_weight + 1e-9);
    EXPECT_LE(plan.sse, uniform.sse * (1 + 1e-9)) << uniform.label;
  }
  const std::string svg = quality_curve_svg(curve, "model <x>");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("model &lt;x&gt;"), std::string::npos);
  EXPECT_NE(svg.find("all n4"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
}

}  // namespace
}  // namespace palettize
