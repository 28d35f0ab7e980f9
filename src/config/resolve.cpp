// Which spec a tensor gets: eligibility first, then global, then the last matching rule.
#include <regex>
#include <string>

#include "palettize/error.hpp"
#include "palettize/model_config.hpp"
#include "palettize/tensor.hpp"
#include "text/utf8.hpp"

namespace palettize {
namespace {

std::string ineligibility(const ModelConfig& config, DType dtype, std::span<const int64_t> shape) {
  if (!is_palettizable(dtype)) {
    return "dtype " + std::string(dtype_name(dtype)) + " is not a floating type (F32, F16, BF16)";
  }
  if (static_cast<int64_t>(shape.size()) < kMinEligibleRank) {
    return "rank " + std::to_string(shape.size()) + " < " + std::to_string(kMinEligibleRank);
  }
  const int64_t numel = shape_numel(shape);
  if (numel < config.min_elements) {
    return std::to_string(numel) + " elements < min_elements " + std::to_string(config.min_elements);
  }
  return {};
}

}  // namespace

SpecDecision resolve_tensor_spec(const ModelConfig& config, std::string_view name, DType dtype,
                                 std::span<const int64_t> shape) {
  SpecDecision decision;
  if (std::string reason = ineligibility(config, dtype, shape); !reason.empty()) {
    decision.origin = "not eligible";
    decision.skip_reason = reason;
    return decision;
  }
  decision.eligible = true;
  decision.spec = config.global;
  decision.origin = "global";
  if (!config.rules.empty() && name.size() > kMaxRuleMatchedNameBytes) {
    fail("tensor '", utf8::shortened(name), "': its name has ", name.size(), " bytes, more than the ",
         kMaxRuleMatchedNameBytes, " bytes config rules are matched against");
  }
  const std::string tensor_name(name);
  for (std::size_t i = 0; i < config.rules.size(); ++i) {
    const TensorRule& rule = config.rules[i];
    if (std::regex_match(tensor_name, rule.regex)) {
      decision.spec = rule.spec;
      decision.origin = "rules[" + std::to_string(i) + "] (pattern '" + rule.pattern + "')";
    }
  }
  if (!decision.spec) {
    decision.skip_reason = decision.origin == "global" ? "global is null and no rule matches"
                                                       : "disabled by " + decision.origin;
  }
  return decision;
}

}  // namespace palettize
