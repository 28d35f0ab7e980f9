#pragma once
// Mixed precision by measurement: a search over recipes that scores each one it considers by running the
// model, instead of adding per-tensor damages. For models whose output damage does not add up (errors that
// cancel, or decision flips: a text recognizer's softmax), the additive allocator of mixed_precision.hpp
// optimises a wrong model of the damage; this search only ever trusts measured recipes.
//
// Also here: candidates of several granularities ("6@tensor", "4@g32"), because on small or thin tensors a
// LUT per group of channels can cost more bits than the indices, and the best recipe mixes granularities.
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "palettize/spec.hpp"

namespace palettize {

// One candidate of a search: n_bits, and optionally a granularity replacing the config's and per-channel
// scales turned on.
struct CandidateChoice {
  int n_bits = 4;
  std::optional<PalettizationGranularity> granularity;  // unset: the config's granularity
  bool per_channel_scale = false;                       // true: scales on; false: as the config says
  bool sensitivities = false;                           // true: clustering weighted by the search's sensitivities
  std::string label;  // "n6", "n6@tensor", "n4@g32", "n6@tensor+scale", "n4+sens"
};

// Parses "4,6,8,6@tensor,4@g32,6@tensor+scale": N from {1, 2, 3, 4, 6, 8}, "@tensor" for one LUT per
// tensor, "@gK" for a LUT per group of K channels, a "+scale" suffix for per-channel scales (a LUT shared by
// rows of different ranges fits each row better once it is divided by its max |w|, for 16 bits per row), then
// a "+sens" suffix for clustering weighted by per-element sensitivities (the same size as without: only
// which weights the LUT entries favour changes).
// Error naming the bad item, or a candidate listed twice.
std::vector<CandidateChoice> parse_candidate_choices(std::string_view text);

// `base` (a tensor's spec from the config) with the choice's n_bits, granularity and scales. A grouped
// choice keeps the base's grouped axis (axis 0 when the base is per-tensor).
PalettizationSpec candidate_spec(const PalettizationSpec& base, const CandidateChoice& choice);

// The search problem: per tensor, the size in bits of each candidate (std::nullopt: the candidate does not
// fit that tensor's shape), and a measurement of any full recipe.
struct SearchProblem {
  std::vector<std::vector<std::optional<int64_t>>> sizes;  // [tensor][candidate]
  int64_t budget_bits = 0;
  // Where the descent starts, one candidate per tensor: the recipe expected to measure best. Empty: every
  // tensor's largest candidate (with one granularity, more bits are better; across granularities a larger
  // candidate can be worse: a LUT per 16 channels of a thin tensor costs more bits than 8-bit indices).
  std::vector<int> start;
  // The damage of a recipe (one candidate index per tensor): output noise power / signal power, >= 0.
  std::function<double(const std::vector<int>&)> measure;
};

// The bits of the recipe of every tensor's smallest candidate: the least any budget must allow. Error naming
// the tensor index when a tensor has no candidate, or a size is negative.
int64_t smallest_recipe_bits(const std::vector<std::vector<std::optional<int64_t>>>& sizes);

struct SearchStep {
  std::string phase;  // "start", "descend", "fill", "exchange", "uniform"
  std::vector<int> choice;
  int64_t size_bits = 0;
  double damage = 0;
  int evaluations = 0;  // measurements so far
};

struct SearchOptions {
  int moves_per_tensor = 3;  // descent: the next this-many smaller candidates of each tensor are tried
  // Exchange: pairs measured per round before giving up; 0 (the default): no exchange phase. Off by default
  // because on PP-OCR rec it raised the measured objective without gaining on other inputs (docs/QUALITY.md).
  int exchange_tries = 0;
  std::function<void(const SearchStep&)> progress;  // called after every step taken and uniform recipe measured
};

struct SearchResult {
  std::vector<int> choice;
  int64_t size_bits = 0;  // <= budget_bits
  double damage = 0;      // measured
  std::string found_by;   // "search" (start, descent, fill and exchange) or "uniform"
  int evaluations = 0;    // distinct recipes measured
  std::vector<SearchStep> steps;
};

// Measured greedy search under a bits budget:
//  1. start from `start` (or every tensor's largest candidate);
//  2. descend: while over budget, apply the move (one tensor to one of its next smaller candidates) with the
//     least measured damage increase per bit saved. Moves are measured lazily: a move's last measured ratio
//     stands until it is the best, then it is measured again in the current recipe, and taken only if still
//     the best (the usual lazy greedy; a ratio can only be stale, never invented). When the best move meets
//     the budget, every move that does is measured, and the one of least damage is the last step;
//  3. fill: spend the bits left by the last move on the single upgrade that lowers the measured damage
//     most, until none does;
//  4. exchange (when options.exchange_tries > 0): measure the single moves of each tensor (its
//     `moves_per_tensor` nearest larger and smaller candidates) in the recipe, predict the change of each
//     pair of one tensor up and another down that fits the budget by adding their two changes, and measure
//     the `exchange_tries` pairs predicted best in turn; take the first that measures lower, fill again, and
//     repeat until a round takes none. Single moves are measured again only for the tensors that changed;
//  5. measure every uniform recipe (one candidate index for all tensors) that fits, and keep the best
//     recipe of all: the result never measures worse than the best uniform choice within the budget.
// Deterministic for a deterministic `measure`: ties go to the lower tensor, then candidate index. Each
// distinct recipe is measured once. Throws Error when even the smallest candidates exceed the budget.
SearchResult measured_search(const SearchProblem& problem, const SearchOptions& options = {});

}  // namespace palettize
