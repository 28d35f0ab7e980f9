// From candidates to a recipe: the budgeted plan, its JSON record, and a model config that re-applies it.
#include <cmath>
#include <limits>

#include "palettize/error.hpp"
#include "palettize/mixed_precision.hpp"
#include "palettize/spec_json.hpp"

namespace palettize {
namespace {

double snr_db_of(double signal, double sse) {
  if (sse == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / sse);
}

std::vector<AllocationGroup> allocation_groups(std::span<const TensorCandidates> tensors) {
  std::vector<AllocationGroup> groups;
  groups.reserve(tensors.size());
  for (const TensorCandidates& tensor : tensors) {
    check(!tensor.candidates.empty(), "tensor '", tensor.name, "' has no candidates");
    AllocationGroup group;
    for (const Candidate& candidate : tensor.candidates) {
      group.sizes.push_back(candidate.size_bits);
      group.costs.push_back(candidate.cost);
    }
    groups.push_back(std::move(group));
  }
  return groups;
}

int64_t smallest_total_bits(std::span<const TensorCandidates> tensors) {
  int64_t total = 0;
  for (const TensorCandidates& tensor : tensors) {
    int64_t smallest = std::numeric_limits<int64_t>::max();
    for (const Candidate& candidate : tensor.candidates) smallest = std::min(smallest, candidate.size_bits);
    total += smallest;
  }
  return total;
}

}  // namespace

double MixedPlan::bits_per_weight() const {
  return weights == 0 ? 0.0 : static_cast<double>(total_bits) / static_cast<double>(weights);
}

double MixedPlan::snr_db() const { return snr_db_of(signal, sse); }

MixedPlan plan_mixed_precision(std::span<const TensorCandidates> tensors, double target_bits,
                               const AllocationOptions& options) {
  check(std::isfinite(target_bits) && target_bits > 0, "target bits per weight must be a positive number, got ",
        target_bits);
  MixedPlan plan;
  plan.target_bits = target_bits;
  for (const TensorCandidates& tensor : tensors) {
    plan.weights += tensor.numel;
    plan.signal += tensor.signal;
  }
  const long double budget = std::floor(static_cast<long double>(target_bits) * plan.weights);
  check(budget < static_cast<long double>(std::numeric_limits<int64_t>::max()), "target bits per weight ",
        target_bits, " is too large");
  plan.budget_bits = static_cast<int64_t>(budget);
  const int64_t smallest = smallest_total_bits(tensors);
  if (smallest > plan.budget_bits) {
    fail("target of ", target_bits, " bits per weight is below the smallest achievable average, ",
         static_cast<double>(smallest) / static_cast<double>(plan.weights), " bits per weight over ", plan.weights,
         " weights in ", tensors.size(), " tensors (every tensor at its smallest candidate)");
  }
  const std::vector<AllocationGroup> groups = allocation_groups(tensors);
  const Allocation allocation = allocate_budget(groups, plan.budget_bits, options);
  plan.choice = allocation.choice;
  plan.total_bits = allocation.size;
  plan.cost = allocation.cost;
  plan.lower_bound = allocation.lower_bound;
  plan.proven_optimal = allocation.proven_optimal;
  for (std::size_t t = 0; t < tensors.size(); ++t) plan.sse += tensors[t].candidates[plan.choice[t]].sse;
  return plan;
}

nlohmann::json recipe_to_json(std::span<const TensorCandidates> tensors, const MixedPlan& plan) {
  auto finite_or_null = [](double value) { return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(); };
  nlohmann::json entries = nlohmann::json::array();
  for (std::size_t t = 0; t < tensors.size(); ++t) {
    const TensorCandidates& tensor = tensors[t];
    const Candidate& chosen = tensor.candidates.at(plan.choice.at(t));
    entries.push_back({{"name", tensor.name},
                       {"choice", chosen.label},
                       {"spec", chosen.spec ? spec_to_json(*chosen.spec) : nlohmann::json()},
                       {"bits", chosen.size_bits},
                       {"bits_per_weight", static_cast<double>(chosen.size_bits) / static_cast<double>(tensor.numel)},
                       {"sse", chosen.sse},
                       {"measured", chosen.measured},
                       {"importance", tensor.importance}});
  }
  return {{"target_bits", plan.target_bits},
          {"bits_per_weight", plan.bits_per_weight()},
          {"weights", plan.weights},
          {"budget_bits", plan.budget_bits},
          {"total_bits", plan.total_bits},
          {"predicted_sse", plan.sse},
          {"predicted_snr_db", finite_or_null(plan.snr_db())},
          {"cost", plan.cost},
          {"lower_bound", plan.lower_bound},
          {"proven_optimal", plan.proven_optimal},
          {"tensors", entries}};
}

std::string regex_escape(std::string_view text) {
  static constexpr std::string_view kSpecial = "\\^$.|?*+()[]{}/";
  std::string escaped;
  for (char c : text) {
    if (kSpecial.find(c) != std::string_view::npos) escaped += '\\';
    escaped += c;
  }
  return escaped;
}

ModelConfig recipe_model_config(std::span<const TensorCandidates> tensors, const MixedPlan& plan,
                                int64_t min_elements) {
  check(plan.choice.size() == tensors.size(), "the plan has ", plan.choice.size(), " choices for ", tensors.size(),
        " tensors");
  ModelConfig config;
  config.global = std::nullopt;
  config.min_elements = min_elements;
  config.source = "<recipe>";
  for (std::size_t t = 0; t < tensors.size(); ++t) {
    const Candidate& chosen = tensors[t].candidates.at(plan.choice[t]);
    if (!chosen.spec) continue;
    config.rules.push_back(make_tensor_rule(regex_escape(tensors[t].name), chosen.spec));
  }
  return config;
}

}  // namespace palettize
