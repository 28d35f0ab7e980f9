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
    while (swap_once()) {
      while (fill_once()) {
      }
    }
    while (exchange_once()) {
      while (fill_once()) {
      }
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
    for (int c : neighbours(t, /*up=*/false)) {
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
    return take_best_single_change("fill", [&](int t, int c) {
      const int64_t current = *size_of(t, choice_[t]);
      return size_of(t, c) && *size_of(t, c) > current && *size_of(t, c) - current <= left;
    });
  }

  // The single change of one tensor to another candidate of the same size that lowers the damage most; false
  // when none lowers it. Size steps never reach such candidates (e.g. the same spec with clustering weighted
  // by sensitivities and without).
  bool swap_once() {
    return take_best_single_change("swap", [&](int t, int c) {
      return c != choice_[t] && size_of(t, c) == size_of(t, choice_[t]);
    });
  }

  // Measures every change of one tensor to a candidate that `allowed(t, c)` admits and takes the one that
  // lowers the damage most (the first found on ties); false when none lowers it.
  template <typename Allowed>
  bool take_best_single_change(const std::string& phase, Allowed allowed) {
    std::optional<std::pair<int, int>> best;
    double best_damage = damage_;
    for (int t = 0; t < tensors(); ++t) {
      for (int c = 0; c < static_cast<int>(problem_.sizes[t].size()); ++c) {
        if (!allowed(t, c)) continue;
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
    record(phase);
    return true;
  }

  // A single move of one tensor to `candidate`, as measured when its tensor last changed.
  struct SingleMove {
    int candidate = 0;
    double damage_change = 0;
  };

  // The `moves_per_tensor` nearest larger (up) or smaller (down) candidates of tensor t, nearest first.
  std::vector<int> neighbours(int t, bool up) const {
    const int64_t current = *size_of(t, choice_[t]);
    std::vector<int> found;
    for (int c = 0; c < static_cast<int>(problem_.sizes[t].size()); ++c) {
      if (size_of(t, c) && (up ? *size_of(t, c) > current : *size_of(t, c) < current)) found.push_back(c);
    }
    std::stable_sort(found.begin(), found.end(), [&](int a, int b) {
      return up ? *size_of(t, a) < *size_of(t, b) : *size_of(t, a) > *size_of(t, b);
    });
    if (static_cast<int>(found.size()) > options_.moves_per_tensor) found.resize(options_.moves_per_tensor);
    return found;
  }

  // Re-measures the single moves of the tensors the last exchange or fill changed (all of them at first);
  // the others keep their earlier measurements as predictions: one tensor's change moves another's damage
  // change little, and every exchange taken is measured whole anyway.
  void refresh_single_moves() {
    if (singles_.empty()) singles_.resize(tensors());
    for (int t = 0; t < tensors(); ++t) {
      if (singles_choice_.size() == choice_.size() && singles_choice_[t] == choice_[t]) continue;
      singles_[t].clear();
      for (const bool up : {true, false}) {
        for (int c : neighbours(t, up)) {
          std::vector<int> changed = choice_;
          changed[t] = c;
          singles_[t].push_back({c, measure(changed) - damage_});
        }
      }
    }
    singles_choice_ = choice_;
  }

  struct Exchange {
    double predicted = 0;
    int up_tensor = 0, up_candidate = 0, down_tensor = 0, down_candidate = 0;
    auto key() const { return std::tuple(predicted, up_tensor, up_candidate, down_tensor, down_candidate); }
  };

  // Pairs of one tensor up and another down that fit the budget, predicted (by adding their single moves'
  // damage changes) to lower the damage; most promising first.
  std::vector<Exchange> predicted_exchanges() const {
    std::vector<Exchange> found;
    for (int up = 0; up < tensors(); ++up) {
      const int64_t up_current = *size_of(up, choice_[up]);
      for (const SingleMove& raise : singles_[up]) {
        const int64_t added = *size_of(up, raise.candidate) - up_current;
        if (added <= 0) continue;
        for (int down = 0; down < tensors(); ++down) {
          if (down == up) continue;
          for (const SingleMove& lower : singles_[down]) {
            const int64_t saved = *size_of(down, choice_[down]) - *size_of(down, lower.candidate);
            if (saved <= 0 || size_ + added - saved > problem_.budget_bits) continue;
            const double predicted = raise.damage_change + lower.damage_change;
            if (predicted < 0) found.push_back({predicted, up, raise.candidate, down, lower.candidate});
          }
        }
      }
    }
    std::sort(found.begin(), found.end(), [](const Exchange& a, const Exchange& b) { return a.key() < b.key(); });
    return found;
  }

  // One tensor up and another down, within the budget: measures the `exchange_tries` most promising pairs in
  // turn and takes the first that measures lower than the current recipe. False when none does. The descent
  // takes one move at a time and cannot undo one; this finds recipes it passed by, such as a tensor that
  // is cheap to shrink only once another has grown.
  bool exchange_once() {
    if (options_.exchange_tries <= 0) return false;
    refresh_single_moves();
    const std::vector<Exchange> exchanges = predicted_exchanges();
    const std::size_t tries = std::min(exchanges.size(), static_cast<std::size_t>(options_.exchange_tries));
    for (std::size_t i = 0; i < tries; ++i) {
      const Exchange& exchange = exchanges[i];
      std::vector<int> changed = choice_;
      changed[exchange.up_tensor] = exchange.up_candidate;
      changed[exchange.down_tensor] = exchange.down_candidate;
      const double damage = measure(changed);
      if (damage >= damage_) continue;
      choice_ = std::move(changed);
      size_ = size_of_choice(choice_);
      damage_ = damage;
      ++version_;
      record("exchange");
      return true;
    }
    return false;
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
  std::vector<std::vector<SingleMove>> singles_;  // [tensor]: its exchange moves
  std::vector<int> singles_choice_;               // the recipe singles_ was measured around, per tensor
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
  check(options.exchange_tries >= 0, "exchange_tries must be >= 0, got ", options.exchange_tries);
  return Search(problem, options).run();
}

}  // namespace palettize
