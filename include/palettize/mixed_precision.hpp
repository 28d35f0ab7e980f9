#pragma once
// Mixed precision: choose one spec per tensor (an n_bits, or leaving it dense) so that the model meets an
// average bits-per-weight budget with the least predicted damage.
//
// Three stages, each usable on its own:
//  1. Candidates (tensor_candidates): for one tensor and a base spec (its granularity, cluster_dim, scales and
//     LUT dtype come from the model config), the base spec at each candidate n_bits plus "dense". Each has
//     its exact size in bits (what the container stores: packed indices + LUT in its dtype + LUT scales and
//     zero points + channel scales, i.e. the byte sizes of container_parts() x 8; dense = numel x dtype
//     size x 8) and its weight-space SSE.
//     SSE for scalar specs without per-channel scale or LUT quantization is *predicted*: one exact 1-D DP per
//     block (optimal_costs_1d up to the largest LUT) gives the optimal SSE for every cluster count at once,
//     and each candidate reads k = 2^n_bits from it. That prediction is the exact optimum *before* the LUT is
//     rounded to the weight dtype and the weights are re-assigned to the rounded entries, so the engine's
//     real SSE is never below it and is usually within a fraction of a percent above it (the rounding is
//     tiny against the clustering error except when that error is itself near the dtype's resolution, i.e.
//     8-bit LUTs of F16/BF16 weights). Other specs (vectors, per-channel scale, LUT quantization), or any spec
//     with `measure`, run the engine per candidate and report the real SSE of the decoded weights.
//  2. Importance (apply_importance): the allocator minimises sum(cost); cost = importance x SSE with a
//     per-tensor importance (default 1), or a per-tensor, per-candidate damage read from a table.
//  3. Allocation (allocate_budget, plan_mixed_precision): a multiple-choice knapsack, solved exactly; see
//     allocate_budget for the guarantee.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "palettize/engine.hpp"
#include "palettize/model_config.hpp"
#include "palettize/tensor.hpp"

namespace palettize {

// ---- 1. Candidates ----

inline constexpr std::string_view kDenseCandidate = "dense";

struct CandidateOptions {
  std::vector<int> n_bits{2, 3, 4, 6, 8};  // distinct values of {1, 2, 3, 4, 6, 8}
  bool include_dense = true;               // also offer leaving the tensor untouched
  bool measure = false;                    // run the engine for every candidate, even where the DP predicts
  int threads = 0;                         // 0 = all cores; results never depend on it
};

struct Candidate {
  std::string label;                      // "n4", or "dense"
  std::optional<PalettizationSpec> spec;  // unset for dense; grouped axis resolved
  int64_t size_bits = 0;                  // exact bits stored in a container
  double sse = 0;                         // weight-space sum of squared errors
  bool measured = false;                  // sse from the engine's real output (else the DP prediction)
  double cost = 0;                        // what the allocator minimises (apply_importance sets it; = sse)
};

struct TensorCandidates {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  int64_t numel = 0;
  double signal = 0;  // sum of squared weights, for SNR
  double importance = 1;
  std::vector<Candidate> candidates;  // candidate n_bits in the given order, then dense
};

// "n4" for 4 bits.
std::string candidate_label(int n_bits);

// The exact bits a container stores for a tensor palettized with `spec` (packed indices, LUTs in their
// dtype, LUT scales and zero points, channel scales). Throws IncompatibleSpecError when `spec` does not fit
// the shape.
int64_t container_bits(const std::string& name, DType dtype, const Shape& shape, const PalettizationSpec& spec);

// Validates a candidate list (non-empty, each in {1, 2, 3, 4, 6, 8}, no repeats). Throws Error.
void check_candidate_bits(std::span<const int> n_bits);
// Parses "2,3,4,6,8". Throws Error naming the bad item.
std::vector<int> parse_candidate_bits(std::string_view text);

// The candidates of one tensor. `base_spec` must fit the shape (Error naming the tensor otherwise); weights
// must be finite.
TensorCandidates tensor_candidates(std::string name, const TensorView& weight, const PalettizationSpec& base_spec,
                                   const CandidateOptions& options = {});

// ---- 2. Importance ----

// An importance file (JSON):
//   {"tensors": {NAME: 2.5,                              importance x weight SSE
//                NAME2: {"n2": 0.1, "n4": 0.01, ...}}}   damage per candidate label, used as the cost as is
// Optional "note" (a string, ignored) and "sensitivity" (how `palettize sensitivity` measured the table:
// kept as is for plan --curve-measure, and a table it marks "complete": false is refused). Values are finite and >= 0; a
// per-candidate entry must give every palettized candidate of the tensor a value ("dense" costs 0 unless
// listed). Tensors not listed keep importance 1.
struct ImportanceTable {
  std::map<std::string, double> scale;
  std::map<std::string, std::map<std::string, double>> per_candidate;
  nlohmann::json sensitivity;  // the table's "sensitivity" object, null when absent
  std::string source = "<importance>";
};

ImportanceTable importance_from_json(const nlohmann::json& json, std::string_view source);
ImportanceTable load_importance(const std::filesystem::path& path);

// Sets every candidate's cost. A name of the table that is not a planned tensor is an Error unless it is
// one of `other_model_tensors` (tensors of the model the plan leaves alone), which are ignored.
void apply_importance(std::vector<TensorCandidates>& tensors, const ImportanceTable& table,
                      std::span<const std::string> other_model_tensors = {});

// ---- 3. Allocation ----

// One tensor of the knapsack: candidate sizes (any order, >= 0) and costs (finite, >= 0).
struct AllocationGroup {
  std::vector<int64_t> sizes;
  std::vector<double> costs;
};

struct AllocationOptions {
  int64_t max_states = 4'000'000;  // states (all groups together) the exact pass may keep, ~8 bytes each
};

struct Allocation {
  std::vector<int> choice;  // one candidate index per group
  int64_t size = 0;         // sum of chosen sizes, <= budget
  double cost = 0;          // sum of chosen costs
  double lower_bound = 0;   // no feasible choice costs less (LP relaxation = Lagrangian dual)
  bool proven_optimal = false;
  int64_t states = 0;       // most states a pass of the fix-up kept
};

// Minimises sum(cost) subject to sum(size) <= budget, one candidate per group.
//
// Method: the LP relaxation is solved exactly by a Lagrangian sweep over each group's lower convex hull
// (segments taken in order of cost saved per bit, the first one that does not fit taken fractionally); its
// value is `lower_bound` and its multiplier lambda prices the budget. Rounding the LP solution down and
// greedily spending the leftover bits gives a first solution (the incumbent). For any feasible choice x,
// cost(x) >= L(lambda) + sum of the reduced costs (cost + lambda * size - min over the group) of its
// candidates, so every candidate whose reduced cost alone lifts that bound above the incumbent is
// eliminated. The groups left with several candidates are then solved by a dynamic program over Pareto sets
// of partial (size, cost) pairs, dropping dominated pairs and pairs whose cost plus the LP relaxation of the
// groups still undecided cannot beat the incumbent: first as a beam (a bounded number of pairs per group)
// that improves the incumbent, then, after eliminating again, exactly.
//
// Guarantee: the result always respects the budget exactly (integer bits). When `proven_optimal` is true
// (always, unless the exact pass needed more than max_states states) no feasible choice costs less than
// cost * (1 - 1e-9): optimal up to that relative tolerance, which absorbs floating-point rounding in sums
// and bounds. Otherwise the result is the best choice found, within cost - lower_bound of the optimum.
// Deterministic: the same input gives the same choice.
// Throws Error when a group is empty or has more than 65535 candidates, a size or cost is invalid, or even
// the smallest candidates exceed the budget.
Allocation allocate_budget(std::span<const AllocationGroup> groups, int64_t budget,
                           const AllocationOptions& options = {});

struct MixedPlan {
  double target_bits = 0;    // requested average bits per weight
  int64_t weights = 0;       // weights of the planned tensors
  int64_t budget_bits = 0;   // floor(target_bits x weights)
  int64_t total_bits = 0;    // bits of the chosen candidates, <= budget_bits
  std::vector<int> choice;   // per tensor, an index into its candidates
  double cost = 0;           // minimised objective (importance-weighted)
  double lower_bound = 0;
  bool proven_optimal = false;
  double sse = 0;            // predicted weight-space SSE of the choice
  double signal = 0;         // sum of squared weights

  double bits_per_weight() const;
  double snr_db() const;  // 10 log10(signal / sse); +inf when sse == 0
};

// Chooses one candidate per tensor for an average of at most `target_bits` bits per weight over the planned
// tensors (the tensors outside the plan are not counted). Throws Error when the target is not a finite
// positive number or is below the smallest achievable average (the message gives that average).
MixedPlan plan_mixed_precision(std::span<const TensorCandidates> tensors, double target_bits,
                               const AllocationOptions& options = {});

// The recipe as JSON: {"target_bits", "bits_per_weight", "weights", "budget_bits", "total_bits",
// "predicted_sse", "predicted_snr_db" (null when exact), "cost", "lower_bound", "proven_optimal",
// "tensors": [{"name", "choice", "spec" (JSON form, null for dense), "bits", "bits_per_weight", "sse",
// "measured", "importance"}]}.
nlohmann::json recipe_to_json(std::span<const TensorCandidates> tensors, const MixedPlan& plan);

// A model config that re-applies the recipe: `global: null`, one rule per palettized tensor whose pattern
// matches exactly its name (regex metacharacters escaped), and the given min_elements.
ModelConfig recipe_model_config(std::span<const TensorCandidates> tensors, const MixedPlan& plan,
                                int64_t min_elements);

// An ECMAScript regex matching exactly `text`.
std::string regex_escape(std::string_view text);

// ---- Quality against size ----

struct CurvePoint {
  double bits_per_weight = 0;
  double sse = 0;
  double snr_db = 0;       // of all planned tensors together; +inf when sse == 0
  double cost = 0;         // the allocator's objective (sum of chosen costs; = sse without importance)
  double target_bits = 0;  // sweep points: the budget planned for
  std::string label;       // uniform points: "n4"; sweep points: ""
  // -10 log10(cost): with an output-damage table as importance, the predicted output SNR (dB).
  double predicted_output_snr_db() const;
};

// What the curve's vertical axis shows: weight SNR (no importance, or per-tensor factors), or the output
// SNR predicted from a per-candidate damage table (palettize sensitivity).
enum class CurveMetric { weight_snr, output_snr };

// A recipe of the curve run in onnxruntime: its measured output SNR.
struct MeasuredPoint {
  double bits_per_weight = 0;
  double output_snr_db = 0;  // +inf when the outputs are identical
  std::string label;         // "n4" for a uniform choice, "" for a sweep recipe
};

struct QualityCurve {
  std::vector<CurvePoint> sweep;    // optimal plans for evenly spaced budgets, ascending bits
  std::vector<CurvePoint> uniform;  // every tensor at the same candidate n_bits
  CurveMetric metric = CurveMetric::weight_snr;
  std::vector<MeasuredPoint> measured;  // filled by the caller (palettize plan --curve-measure)
  double y(const CurvePoint& point) const;  // the drawn value of a point, by `metric`
};

// Plans `points` budgets evenly spaced from the smallest achievable average to the average of the largest
// uniform candidate (dense excluded) and evaluates the uniform choices.
QualityCurve quality_curve(std::span<const TensorCandidates> tensors, int points,
                           const AllocationOptions& options = {});

// The plan choosing candidate `label` for every tensor (the recipe of a uniform point). Error when a tensor
// has no such candidate.
MixedPlan uniform_plan(std::span<const TensorCandidates> tensors, const std::string& label);

// A self-contained SVG picture: predicted SNR (dB) against average bits per weight, the sweep as a line,
// the uniform points marked and labelled, and the measured points beside them.
std::string quality_curve_svg(const QualityCurve& curve, std::string_view title);

}  // namespace palettize
