// Exact multiple-choice knapsack for bit allocation: LP relaxation by a Lagrangian sweep over convex hulls,
// reduced-cost elimination, then an exact Pareto dynamic program over the groups left undecided.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "mixed/knapsack_lp.hpp"
#include "palettize/error.hpp"
#include "palettize/mixed_precision.hpp"

namespace palettize {
namespace {

using namespace knapsack;

// Relative tolerance of every cost comparison: absorbs rounding in sums and LP bounds (see the header).
constexpr double kRelativeTolerance = 1e-9;
// States per layer of the heuristic pass that finds the incumbent of the exact pass.
constexpr std::size_t kBeamWidth = 2000;

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
    run_dp(kBeamWidth);
    eliminate(points, lp);  // again, against the better incumbent
    result_.proven_optimal = run_dp(0);
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
    const double lambda = lp.lambda;
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
    // Widest size ranges first: the big decisions are taken while the bound still sees everything else,
    // and the many small tensors, whose partial sums merge best, come last.
    auto span_of = [&](std::size_t g) {
      int64_t low = std::numeric_limits<int64_t>::max(), high = 0;
      for (const Point& p : options_by_group_[g]) low = std::min(low, p.size), high = std::max(high, p.size);
      return high - low;
    };
    std::stable_sort(free_groups_.begin(), free_groups_.end(),
                     [&](std::size_t a, std::size_t b) { return span_of(a) > span_of(b); });
  }

  // Dynamic program over the free groups on Pareto sets of partial (size, cost): a partial choice no
  // smaller and no cheaper than another can be dropped (every completion of it also completes the other),
  // and so can one whose cost plus the LP bound of the undecided groups cannot beat the incumbent. Equal
  // partial sums merge, so interchangeable tensors do not multiply the work. With `beam_width` > 0 only that
  // many states (lowest bound first) survive each layer: a heuristic that finds a strong incumbent fast.
  // Returns false when the states kept exceed max_states.
  bool run_dp(std::size_t beam_width) {
    const std::size_t depth_count = free_groups_.size();
    min_size_after_.assign(depth_count + 1, 0);
    std::vector<std::vector<Point>> hulls;
    for (std::size_t d = depth_count; d-- > 0;) {
      int64_t smallest = std::numeric_limits<int64_t>::max();
      for (const Point& p : options_by_group_[free_groups_[d]]) smallest = std::min(smallest, p.size);
      min_size_after_[d] = min_size_after_[d + 1] + smallest;
    }
    for (std::size_t g : free_groups_) {
      std::vector<Point> by_size = options_by_group_[g];
      std::sort(by_size.begin(), by_size.end(), [](const Point& a, const Point& b) { return a.size < b.size; });
      hulls.push_back(lower_hull(by_size));
    }
    RemainderLp remainder(hulls);
    frontier_.assign(1, State{fixed_size_, fixed_cost_, 0});
    back_.clear();
    int64_t kept = 0;
    for (std::size_t d = 0; d < depth_count; ++d) {
      remainder.remove_group(d);  // the remainder is now free groups d+1...
      if (!extend(d, remainder, beam_width)) return false;
      kept += static_cast<int64_t>(frontier_.size());
      result_.states = std::max(result_.states, kept);
      if (kept > options_.max_states) return false;
      if (frontier_.empty()) return true;  // nothing beats the incumbent
    }
    const State& best = frontier_.back();  // Pareto order: the largest size has the least cost
    if (better(best.cost, result_.cost)) {
      result_.size = best.size;
      result_.cost = best.cost;
      rebuild_choice();
    }
    return true;
  }

  // The next layer: every surviving partial choice times every option of free group d.
  bool extend(std::size_t d, const RemainderLp& remainder, std::size_t beam_width) {
    const std::vector<Point>& group_options = options_by_group_[free_groups_[d]];
    const int64_t size_limit = budget_ - min_size_after_[d + 1];
    std::vector<std::pair<State, Back>> next;
    for (std::size_t i = 0; i < frontier_.size(); ++i) {
      for (std::size_t j = 0; j < group_options.size(); ++j) {
        State state{frontier_[i].size + group_options[j].size, frontier_[i].cost + group_options[j].cost, 0};
        if (state.size > size_limit) continue;
        state.bound = state.cost + remainder.value(budget_ - state.size);
        if (better(state.bound, result_.cost)) {
          next.push_back({state, Back{static_cast<uint32_t>(i), static_cast<uint16_t>(j)}});
          if (static_cast<int64_t>(next.size()) > options_.max_states) return false;
        }
      }
    }
    std::stable_sort(next.begin(), next.end(), [](const auto& a, const auto& b) {
      return a.first.size != b.first.size ? a.first.size < b.first.size : a.first.cost < b.first.cost;
    });
    std::vector<std::pair<State, Back>> pareto;
    for (const auto& entry : next) {
      if (pareto.empty() || entry.first.cost < pareto.back().first.cost) pareto.push_back(entry);
    }
    if (beam_width > 0 && pareto.size() > beam_width) {
      std::stable_sort(pareto.begin(), pareto.end(),
                       [](const auto& a, const auto& b) { return a.first.bound < b.first.bound; });
      pareto.resize(beam_width);
      std::stable_sort(pareto.begin(), pareto.end(),
                       [](const auto& a, const auto& b) { return a.first.size < b.first.size; });
    }
    frontier_.clear();
    back_.emplace_back();
    for (const auto& [state, back] : pareto) {
      frontier_.push_back(state);
      back_.back().push_back(back);
    }
    return true;
  }

  void rebuild_choice() {
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      if (options_by_group_[g].size() == 1) result_.choice[g] = options_by_group_[g][0].candidate;
    }
    std::size_t index = frontier_.size() - 1;
    for (std::size_t d = free_groups_.size(); d-- > 0;) {
      const Back& back = back_[d][index];
      result_.choice[free_groups_[d]] = options_by_group_[free_groups_[d]][back.option].candidate;
      index = back.parent;
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
    double bound;  // cost + LP bound of the groups not decided yet
  };
  struct Back {
    uint32_t parent;  // index in the previous layer
    uint16_t option;  // index in the group's options
  };
  std::vector<int64_t> min_size_after_;  // least size of the free groups from depth d on
  std::vector<State> frontier_;          // Pareto states after the layers decided so far
  std::vector<std::vector<Back>> back_;  // per layer, how each state was reached
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
