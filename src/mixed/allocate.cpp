// Exact multiple-choice knapsack for bit allocation: LP relaxation by a Lagrangian sweep over convex hulls,
// reduced-cost elimination, then an exact Pareto dynamic program over the groups left undecided.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <queue>

#include "palettize/error.hpp"
#include "palettize/mixed_precision.hpp"

namespace palettize {
namespace {

// Relative tolerance of every cost comparison: absorbs rounding in sums and LP bounds (see the header).
constexpr double kRelativeTolerance = 1e-9;

struct Point {
  int64_t size;
  double cost;
  int candidate;  // index in the caller's group
};

// Candidates that can matter: ascending size, strictly descending cost (a candidate no smaller and no
// cheaper than another is never needed). Ties keep the lowest candidate index.
std::vector<Point> efficient_points(const AllocationGroup& group, std::span<const int> allowed) {
  std::vector<Point> points;
  for (int c : allowed) points.push_back({group.sizes[c], group.costs[c], c});
  std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) {
    if (a.size != b.size) return a.size < b.size;
    if (a.cost != b.cost) return a.cost < b.cost;
    return a.candidate < b.candidate;
  });
  std::vector<Point> kept;
  for (const Point& p : points) {
    if (kept.empty() || p.cost < kept.back().cost) kept.push_back(p);
  }
  return kept;
}

// Lower convex hull of efficient points (ascending size, descending cost): the LP only ever uses these.
std::vector<Point> lower_hull(const std::vector<Point>& points) {
  std::vector<Point> hull;
  for (const Point& p : points) {
    while (hull.size() >= 2) {
      const Point& a = hull[hull.size() - 2];
      const Point& b = hull.back();
      // b stays only if it lies strictly below the segment a-p.
      const long double cross = static_cast<long double>(b.size - a.size) * (p.cost - a.cost) -
                                static_cast<long double>(b.cost - a.cost) * (p.size - a.size);
      if (cross > 0) break;
      hull.pop_back();
    }
    hull.push_back(p);
  }
  return hull;
}

struct LpSolution {
  bool feasible = false;
  double value = 0;              // LP optimum
  double lambda = 0;             // cost saved per bit at the critical segment (0 when everything fits)
  std::vector<std::size_t> at;   // per group, the hull point reached (the lower end for the fractional one)
  int64_t size = 0;              // size of the rounded-down solution
  double cost = 0;               // cost of the rounded-down solution
};

// Greedy over hull segments by cost saved per bit; a priority queue exposes each group's next segment only,
// so the within-group order holds whatever the rounding of the rates.
LpSolution solve_lp(std::span<const std::vector<Point>> hulls, int64_t budget) {
  LpSolution lp;
  lp.at.assign(hulls.size(), 0);
  for (const auto& hull : hulls) {
    lp.size += hull.front().size;
    lp.cost += hull.front().cost;
  }
  if (lp.size > budget) return lp;
  lp.feasible = true;
  struct Segment {
    double rate;
    std::size_t group;
  };
  auto worse = [](const Segment& a, const Segment& b) {
    if (a.rate != b.rate) return a.rate < b.rate;
    return a.group > b.group;
  };
  std::priority_queue<Segment, std::vector<Segment>, decltype(worse)> queue(worse);
  auto push_next = [&](std::size_t g) {
    const auto& hull = hulls[g];
    const std::size_t i = lp.at[g];
    if (i + 1 >= hull.size()) return;
    const double rate = (hull[i].cost - hull[i + 1].cost) / static_cast<double>(hull[i + 1].size - hull[i].size);
    queue.push({rate, g});
  };
  for (std::size_t g = 0; g < hulls.size(); ++g) push_next(g);
  lp.value = lp.cost;
  while (!queue.empty()) {
    const Segment segment = queue.top();
    queue.pop();
    const auto& hull = hulls[segment.group];
    const Point& from = hull[lp.at[segment.group]];
    const Point& to = hull[lp.at[segment.group] + 1];
    const int64_t extra = to.size - from.size;
    if (lp.size + extra > budget) {
      lp.lambda = segment.rate;
      lp.value = lp.cost - segment.rate * static_cast<double>(budget - lp.size);
      return lp;
    }
    lp.size += extra;
    lp.cost += to.cost - from.cost;
    lp.value = lp.cost;
    ++lp.at[segment.group];
    push_next(segment.group);
  }
  return lp;
}

bool better(double cost, double incumbent) { return cost < incumbent - kRelativeTolerance * incumbent; }

class Allocator {
 public:
  Allocator(std::span<const AllocationGroup> groups, int64_t budget, const AllocationOptions& options)
      : groups_(groups), budget_(budget), options_(options) {}

  Allocation run() {
    std::vector<std::vector<Point>> points, hulls;
    for (const AllocationGroup& group : groups_) {
      std::vector<int> all(group.sizes.size());
      std::iota(all.begin(), all.end(), 0);
      points.push_back(efficient_points(group, all));
      hulls.push_back(lower_hull(points.back()));
    }
    const LpSolution lp = solve_lp(hulls, budget_);
    check(lp.feasible, "the budget of ", budget_, " bits is below the smallest possible total of ", lp.size,
          " bits");
    result_.lower_bound = lp.value;
    start_from_lp(hulls, lp);
    spend_leftover(points);
    eliminate(points, lp);
    search();
    return result_;
  }

 private:
  void start_from_lp(const std::vector<std::vector<Point>>& hulls, const LpSolution& lp) {
    result_.choice.resize(groups_.size());
    for (std::size_t g = 0; g < groups_.size(); ++g) result_.choice[g] = hulls[g][lp.at[g]].candidate;
    recount();
  }

  void recount() {
    result_.size = 0;
    result_.cost = 0;
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      result_.size += groups_[g].sizes[result_.choice[g]];
      result_.cost += groups_[g].costs[result_.choice[g]];
    }
  }

  // Greedy improvement of the first solution: repeatedly take the single change that saves the most cost
  // and still fits.
  void spend_leftover(const std::vector<std::vector<Point>>& points) {
    for (;;) {
      double best_saving = 0;
      std::size_t best_group = 0;
      int best_candidate = -1;
      for (std::size_t g = 0; g < groups_.size(); ++g) {
        const int current = result_.choice[g];
        for (const Point& p : points[g]) {
          const int64_t grown = result_.size - groups_[g].sizes[current] + p.size;
          const double saving = groups_[g].costs[current] - p.cost;
          if (grown <= budget_ && saving > best_saving) {
            best_saving = saving;
            best_group = g;
            best_candidate = p.candidate;
          }
        }
      }
      if (best_candidate < 0) return;
      result_.choice[best_group] = best_candidate;
      recount();
    }
  }

  // Lagrangian bound for any feasible x: cost(x) >= L(lambda) + sum of reduced costs of x. A candidate whose
  // reduced cost alone lifts that bound above the incumbent cannot be part of a better solution.
  void eliminate(const std::vector<std::vector<Point>>& points, const LpSolution& lp) {
    const double lambda = lambda_ = lp.lambda;
    std::vector<double> group_min(groups_.size());
    double dual = -lambda * static_cast<double>(budget_);
    double magnitude = std::abs(dual);
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      double best = std::numeric_limits<double>::infinity();
      for (const Point& p : points[g]) best = std::min(best, p.cost + lambda * static_cast<double>(p.size));
      group_min[g] = best;
      dual += best;
      magnitude += std::abs(best);
    }
    const double slack = kRelativeTolerance * (magnitude + result_.cost) + 1e-300;
    free_groups_.clear();
    fixed_size_ = 0;
    fixed_cost_ = 0;
    options_by_group_.assign(groups_.size(), {});
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      std::vector<std::pair<double, Point>> kept;
      for (const Point& p : points[g]) {
        const double reduced = p.cost + lambda * static_cast<double>(p.size) - group_min[g];
        if (dual + reduced <= result_.cost + slack) kept.push_back({reduced, p});
      }
      std::stable_sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      for (const auto& [reduced, p] : kept) options_by_group_[g].push_back(p);
      if (options_by_group_[g].size() == 1) {
        fixed_size_ += options_by_group_[g][0].size;
        fixed_cost_ += options_by_group_[g][0].cost;
      } else {
        free_groups_.push_back(g);
      }
    }
  }

  // Exact dynamic program over the free groups on Pareto sets of partial (size, cost): a partial choice no
  // smaller and no cheaper than another can be dropped (every completion of it also completes the other),
  // and so can one whose Lagrangian bound cannot beat the incumbent. Equal partial sums merge, so the many
  // interchangeable tensors of a real model do not multiply the work.
  void search() {
    const std::size_t depth_count = free_groups_.size();
    min_size_after_.assign(depth_count + 1, 0);
    lagrangian_after_.assign(depth_count + 1, 0.0);
    for (std::size_t d = depth_count; d-- > 0;) {
      int64_t smallest = std::numeric_limits<int64_t>::max();
      double best = std::numeric_limits<double>::infinity();
      for (const Point& p : options_by_group_[free_groups_[d]]) {
        smallest = std::min(smallest, p.size);
        best = std::min(best, p.cost + lambda_ * static_cast<double>(p.size));
      }
      min_size_after_[d] = min_size_after_[d + 1] + smallest;
      lagrangian_after_[d] = lagrangian_after_[d + 1] + best;
    }
    layers_.assign(1, {State{fixed_size_, fixed_cost_, 0, 0}});
    for (std::size_t d = 0; d < depth_count; ++d) {
      if (!extend(d)) return;  // state limit: keep the incumbent, optimality unproven
    }
    result_.proven_optimal = true;
    if (layers_.back().empty()) return;  // nothing beats the incumbent
    const State& best = layers_.back().back();  // Pareto order: the largest size has the least cost
    if (!better(best.cost, result_.cost)) return;
    result_.size = best.size;
    result_.cost = best.cost;
    rebuild_choice();
  }

  // Layer d+1 from layer d: every surviving partial choice times every option of free group d.
  bool extend(std::size_t d) {
    const std::vector<Point>& group_options = options_by_group_[free_groups_[d]];
    const std::vector<State>& from = layers_[d];
    const int64_t size_limit = budget_ - min_size_after_[d + 1];
    std::vector<State> next;
    for (std::size_t i = 0; i < from.size(); ++i) {
      for (std::size_t j = 0; j < group_options.size(); ++j) {
        const State state{from[i].size + group_options[j].size, from[i].cost + group_options[j].cost,
                          static_cast<uint32_t>(i), static_cast<uint16_t>(j)};
        if (state.size > size_limit) continue;
        const double bound = state.cost + lambda_ * static_cast<double>(state.size - budget_) +
                             lagrangian_after_[d + 1];
        if (better(bound, result_.cost)) next.push_back(state);
      }
    }
    std::stable_sort(next.begin(), next.end(), [](const State& a, const State& b) {
      return a.size != b.size ? a.size < b.size : a.cost < b.cost;
    });
    std::vector<State> pareto;
    for (const State& state : next) {
      if (pareto.empty() || state.cost < pareto.back().cost) pareto.push_back(state);
    }
    result_.states += static_cast<int64_t>(pareto.size());
    if (result_.states > options_.max_states) return false;
    layers_.push_back(std::move(pareto));
    return true;
  }

  void rebuild_choice() {
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      if (options_by_group_[g].size() == 1) result_.choice[g] = options_by_group_[g][0].candidate;
    }
    std::size_t index = layers_.back().size() - 1;
    for (std::size_t d = free_groups_.size(); d-- > 0;) {
      const State& state = layers_[d + 1][index];
      result_.choice[free_groups_[d]] = options_by_group_[free_groups_[d]][state.option].candidate;
      index = state.parent;
    }
  }

  std::span<const AllocationGroup> groups_;
  int64_t budget_;
  AllocationOptions options_;
  Allocation result_;
  std::vector<std::vector<Point>> options_by_group_;
  std::vector<std::size_t> free_groups_;
  struct State {
    int64_t size;
    double cost;
    uint32_t parent;  // index in the previous layer
    uint16_t option;  // index in the group's options
  };
  std::vector<int64_t> min_size_after_;     // least size of the free groups from depth d on
  std::vector<double> lagrangian_after_;    // sum of min(cost + lambda * size) of the free groups from d on
  std::vector<std::vector<State>> layers_;  // Pareto states after deciding the first d free groups
  double lambda_ = 0;
  int64_t fixed_size_ = 0;
  double fixed_cost_ = 0;
};

void check_groups(std::span<const AllocationGroup> groups, int64_t budget) {
  check(budget >= 0, "the bit budget must be >= 0, got ", budget);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const AllocationGroup& group = groups[g];
    check(!group.sizes.empty(), "allocation group ", g, " has no candidates");
    check(group.sizes.size() <= 65535, "allocation group ", g, " has ", group.sizes.size(),
          " candidates; at most 65535 are supported");
    check(group.sizes.size() == group.costs.size(), "allocation group ", g, " has ", group.sizes.size(),
          " sizes but ", group.costs.size(), " costs");
    for (std::size_t c = 0; c < group.sizes.size(); ++c) {
      if (group.sizes[c] < 0) fail("allocation group ", g, " candidate ", c, ": negative size ", group.sizes[c]);
      if (!(std::isfinite(group.costs[c]) && group.costs[c] >= 0)) {
        fail("allocation group ", g, " candidate ", c, ": cost ", group.costs[c], " is not finite and >= 0");
      }
    }
  }
}

}  // namespace

Allocation allocate_budget(std::span<const AllocationGroup> groups, int64_t budget, const AllocationOptions& options) {
  check_groups(groups, budget);
  check(options.max_states >= 1 && options.max_states <= (int64_t{1} << 31), "max_states must be in [1, 2^31], got ",
        options.max_states);
  return Allocator(groups, budget, options).run();
}

}  // namespace palettize
