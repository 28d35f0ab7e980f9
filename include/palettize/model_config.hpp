#pragma once
// Model config: which tensors of a checkpoint get which PalettizationSpec.
//
// A config file (YAML, or JSON for *.json) has three optional keys:
//   global:       a spec for every eligible tensor no rule matches. A spec is a dict in the JSON form of
//                 spec_json.hpp (missing fields take defaults), a preset name ("w4", "w6", "w8", "default"),
//                 or null (leave those tensors untouched). When the key is absent the default spec applies
//                 (4-bit, per-tensor), as in coreai_opt where an omitted global_config means the default
//                 4-bit config (§5.1 of the reference); write `global: null` to palettize only what rules name.
//   rules:        an ordered list of {pattern: <ECMAScript regex, matched against the whole tensor name>,
//                 spec: <spec | preset name | null>}. Among the rules that match, the LAST one wins and
//                 overrides `global`; a null spec leaves the tensor untouched.
//   min_elements: tensors with fewer elements are left untouched (default 1024).
// Eligibility comes before any rule: only floating tensors (F32, F16, BF16) of rank >= 2 with at least
// `min_elements` elements are palettized; everything else is copied unchanged.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "palettize/dtype.hpp"
#include "palettize/spec.hpp"

namespace palettize {

inline constexpr int64_t kMinEligibleRank = 2;
inline constexpr int64_t kDefaultMinElements = 1024;
// Documented limit: rules are matched against tensor names of at most this many bytes. std::regex recurses
// once per character, so a checkpoint with a name of tens of kilobytes would overflow the stack; with rules,
// resolve_tensor_spec refuses a longer name with an Error instead.
inline constexpr std::size_t kMaxRuleMatchedNameBytes = 1024;
// Documented limits on a rule's pattern. std::regex's compiler also recurses per character (8 KiB of nested
// groups overflows an ASan stack), and libstdc++ multiplies a back-reference number or repeat count by ten
// without an overflow check (undefined behaviour from 19 digits on), so longer patterns and longer numbers
// are refused before compiling. 4096 bytes holds every escaped name of kMaxRuleMatchedNameBytes.
inline constexpr std::size_t kMaxRulePatternBytes = 4096;
inline constexpr std::size_t kMaxRulePatternNumberDigits = 9;

struct TensorRule {
  std::string pattern;                     // as written in the config
  std::regex regex;                        // compiled ECMAScript form of `pattern`
  std::optional<PalettizationSpec> spec;   // none: matching tensors stay dense
};

struct ModelConfig {
  std::optional<PalettizationSpec> global = default_weight_palettization_spec();
  std::vector<TensorRule> rules;
  int64_t min_elements = kDefaultMinElements;
  std::string source = "<defaults>";       // where the config came from, for messages
};

// Reads a config file: *.json is parsed as JSON (exact error positions), anything else as YAML.
// Throws Error naming the file and the offending key for unknown keys, bad types, bad regexes and bad specs.
ModelConfig load_model_config(const std::filesystem::path& path);
// Same, from text; `source` names the origin in messages.
ModelConfig model_config_from_yaml(std::string_view text, std::string_view source);
ModelConfig model_config_from_json_text(std::string_view text, std::string_view source);
ModelConfig model_config_from_json(const nlohmann::json& json, std::string_view source);

// A rule for `pattern` (ECMAScript, whole-name match). Throws Error for an invalid regex. Compiling the regex
// here keeps <regex>'s compiler (and g++ 12's false -Wmaybe-uninitialized in it under sanitizers) in one file.
TensorRule make_tensor_rule(std::string pattern, std::optional<PalettizationSpec> spec);

// A config whose only content is a global spec (the --preset and --spec shortcuts).
ModelConfig model_config_for_global(const PalettizationSpec& spec, std::string source);

// The JSON form of a config (rules in order, specs normalized); load(to_json(c)) is equivalent to c.
nlohmann::json model_config_to_json(const ModelConfig& config);

// What the config decides for one tensor.
struct SpecDecision {
  std::optional<PalettizationSpec> spec;  // set: palettize with this spec
  std::string origin;                     // which entry decided: "global", "rules[2] (pattern 'x')", or
                                          // "not eligible"
  std::string skip_reason;                // set when `spec` is empty: why the tensor stays dense
  bool eligible = false;                  // dtype, rank and size allow palettization at all
};

SpecDecision resolve_tensor_spec(const ModelConfig& config, std::string_view name, DType dtype,
                                 std::span<const int64_t> shape);

}  // namespace palettize
