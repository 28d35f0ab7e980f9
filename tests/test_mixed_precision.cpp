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

RC_GTEST_PROP(Allocation, NodeLimitKeepsAFeasibleSolutionAndAValidBound, ()) {
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

}  // namespace
}  // namespace palettize
