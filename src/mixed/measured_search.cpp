// Measured greedy search over mixed-precision recipes (see measured_search.hpp).
#include "palettize/measured_search.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "palettize/error.hpp"

namespace palettize {
namespace {

struct Move {
  int tensor = 0;
  int candidate = 0;
  int64_t saved_bits = 0;
  double damage_increase = 0;  // when last measured
  int64_t measured_at = -1;    // the recipe version it was measured in
  double ratio() const { return damage_increase / static_cast<double>(saved_bits); }
};

class Search {
 public:
  Search(const SearchProblem& problem, const SearchOptions& options) : problem_(problem), options_(options) {
    validate();
  }

  SearchResult run() {
    start();
    while (size_ > problem_.budget_bits) descend_once();
    while (fill_once()) {
    }
    SearchResult result{choice_, size_, damage_, "search", 0, steps_};
    measure_uniform_recipes(result);
    result.evaluations = static_cast<int>(measured_.size());
    result.steps = steps_;
    return result;
  }

 private:
  int tensors() const { return static_cast<int>(problem_.sizes.size()); }
  const std::optional<int64_t>& size_of(int t, int c) const { return problem_.sizes[t][c]; }

  void validate() const {
    check(!problem_.sizes.empty(), "the search has no tensor");
    check(static_cast<bool>(problem_.measure), "the search has no measurement");
    const int64_t smallest = smallest_recipe_bits(problem_.sizes);
    check(problem_.start.empty() || problem_.start.size() == problem_.sizes.size(), "the start recipe has ",
          problem_.start.size(), " candidates for ", problem_.sizes.size(), " tensors");
    for (std::size_t t = 0; t < problem_.start.size(); ++t) {
      const int c = problem_.start[t];
      check(c >= 0 && c < static_cast<int>(problem_.sizes[t].size()) && problem_.sizes[t][c], "the start recipe gives tensor ",
            t, " candidate ", c, ", which it does not have");
    }
    check(smallest <= problem_.budget_bits, "even the smallest candidates take ", smallest,
          " bits, over the budget of ", problem_.budget_bits, " bits");
  }

  double measure(const std::vector<int>& choice) {
    if (const auto found = measured_.find(choice); found != measured_.end()) return found->second;
    const double damage = problem_.measure(choice);
    check(std::isfinite(damage) && damage >= 0, "a measured damage must be finite and >= 0, got ", damage);
    measured_.emplace(choice, damage);
    return damage;
  }

  int64_t size_of_choice(const std::vector<int>& choice) const {
    int64_t total = 0;
    for (int t = 0; t < tensors(); ++t) total += *size_of(t, choice[t]);
    return total;
  }

  void record(const std::string& phase) {
    steps_.push_back({phase, choice_, size_, damage_, static_cast<int>(measured_.size())});
    if (options_.progress) options_.progress(steps_.back());
  }

  std::vector<int> largest_candidates() const {
    std::vector<int> largest(tensors(), -1);
    for (int t = 0; t < tensors(); ++t) {
      for (int c = 0; c < static_cast<int>(problem_.sizes[t].size()); ++c) {
        if (size_of(t, c) && (largest[t] < 0 || *size_of(t, c) > *size_of(t, largest[t]))) largest[t] = c;
      }
    }
    return largest;
  }

  void start() {
    choice_ = problem_.start.empty() ? largest_candidates() : problem_.start;
    size_ = size_of_choice(choice_);
    damage_ = measure(choice_);
    record("start");
    for (int t = 0; t < tensors(); ++t) add_moves(t);
  }

  // The next `moves_per_tensor` smaller candidates of tensor t, measured in the current recipe.
  void add_moves(int t) {
    const int64_t current = *size_of(t, choice_[t]);
    std::vector<int> smaller;
    for (int c = 0; c < static_cast<int>(problem_.sizes[t].size()); ++c) {
      if (size_of(t, c) && *size_of(t, c) < current) smaller.push_back(c);
    }
    std::stable_sort(smaller.begin(), smaller.end(), [&](int a, int b) { return *size_of(t, a) > *size_of(t, b); });
    if (static_cast<int>(smaller.size()) > options_.moves_per_tensor) smaller.resize(options_.moves_per_tensor);
    for (int c : smaller) {
      Move move{t, c, current - *size_of(t, c)};
      remeasure(move);
      moves_.push_back(move);
    }
  }

  void remeasure(Move& move) {
    std::vector<int> changed = choice_;
    changed[move.tensor] = move.candidate;
    move.damage_increase = measure(changed) - damage_;
    move.measured_at = version_;
  }

  // Lazy greedy: re-measure the best-looking move until the best one is current, then take it.
  void descend_once() {
    check(!moves_.empty(), "internal: over budget with no smaller candidate left");
    for (;;) {
      const auto best = std::min_element(moves_.begin(), moves_.end(), [](const Move& a, const Move& b) {
        if (a.ratio() != b.ratio()) return a.ratio() < b.ratio();
        return a.tensor != b.tensor ? a.tensor < b.tensor : a.candidate < b.candidate;
      });
      if (best->measured_at != version_) {
        remeasure(*best);
        continue;
      }
      const Move taken = size_ - best->saved_bits <= problem_.budget_bits ? best_finishing_move() : *best;
      choice_[taken.tensor] = taken.candidate;
      size_ -= taken.saved_bits;
      damage_ = measure(choice_);  // measured with the move: read back, not run again
      ++version_;
      std::erase_if(moves_, [&](const Move& m) { return m.tensor == taken.tensor; });
      if (size_ > problem_.budget_bits) add_moves(taken.tensor);  // else the descent is over
      record("descend");
      return;
    }
  }

  // The last step: of all moves that meet the budget, the one that measures best. Per bit saved, a large
  // step can look cheap and overshoot the budget by far more than needed.
  Move best_finishing_move() {
    const Move* best = nullptr;
    for (Move& move : moves_) {
      if (size_ - move.saved_bits > problem_.budget_bits) continue;
      if (move.measured_at != version_) remeasure(move);
      if (!best || std::tuple(move.damage_increase, move.tensor, move.candidate) <
                       std::tuple(best->damage_increase, best->tensor, best->candidate)) {
        best = &move;
      }
    }
    return *best;
  }

  // The single upgrade within the bits left that lowers the damage most; false when none lowers it.
  bool fill_once() {
    const int64_t left = problem_.budget_bits - size_;
    std::optional<std::pair<int, int>> best;
    double best_damage = damage_;
    for (int t = 0; t < tensors(); ++t) {
      const int64_t current = *size_of(t, choice_[t]);
      for (int c = 0; c < static_cast<int>(problem_.sizes[t].size()); ++c) {
        if (!size_of(t, c) || *size_of(t, c) <= current || *size_of(t, c) - current > left) continue;
        std::vector<int> changed = choice_;
        changed[t] = c;
        const double damage = measure(changed);
        if (damage < best_damage) {
          best_damage = damage;
          best = {t, c};
        }
      }
    }
    if (!best) return false;
    size_ += *size_of(best->first, best->second) - *size_of(best->first, choice_[best->first]);
    choice_[best->first] = best->second;
    damage_ = best_damage;
    ++version_;
    record("fill");
    return true;
  }

  void measure_uniform_recipes(SearchResult& result) {
    std::size_t most = 0;
    for (const auto& sizes : problem_.sizes) most = std::max(most, sizes.size());
    for (int c = 0; c < static_cast<int>(most); ++c) {
      std::vector<int> uniform(tensors(), c);
      bool fits = true;
      for (int t = 0; t < tensors() && fits; ++t) fits = c < static_cast<int>(problem_.sizes[t].size()) && size_of(t, c);
      if (!fits || size_of_choice(uniform) > problem_.budget_bits) continue;
      const double damage = measure(uniform);
      steps_.push_back({"uniform", uniform, size_of_choice(uniform), damage, static_cast<int>(measured_.size())});
      if (options_.progress) options_.progress(steps_.back());
      if (damage < result.damage) {
        result.choice = uniform;
        result.size_bits = size_of_choice(uniform);
        result.damage = damage;
        result.found_by = "uniform";
      }
    }
  }

  const SearchProblem& problem_;
  const SearchOptions& options_;
  std::map<std::vector<int>, double> measured_;
  std::vector<Move> moves_;
  std::vector<int> choice_;
  int64_t size_ = 0;
  double damage_ = 0;
  int64_t version_ = 0;
  std::vector<SearchStep> steps_;
};

}  // namespace

int64_t smallest_recipe_bits(const std::vector<std::vector<std::optional<int64_t>>>& sizes) {
  int64_t smallest = 0;
  for (std::size_t t = 0; t < sizes.size(); ++t) {
    std::optional<int64_t> least;
    for (const std::optional<int64_t>& size : sizes[t]) {
      if (!size) continue;
      check(*size >= 0, "candidate sizes must be >= 0, got ", *size, " bits for tensor ", t);
      least = least ? std::min(*least, *size) : *size;
    }
    check(least.has_value(), "tensor ", t, " has no candidate that fits its shape");
    smallest += *least;
  }
  return smallest;
}

SearchResult measured_search(const SearchProblem& problem, const SearchOptions& options) {
  check(options.moves_per_tensor >= 1, "moves_per_tensor must be >= 1, got ", options.moves_per_tensor);
  return Search(problem, options).run();
}

}  // namespace palettize
