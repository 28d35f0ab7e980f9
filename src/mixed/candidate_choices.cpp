// Candidate lists with granularities, scales and sensitivities: "4,6,8,6@tensor,4@g32,6@tensor+scale,4+sens".
#include <algorithm>
#include <charconv>

#include "palettize/error.hpp"
#include "palettize/measured_search.hpp"
#include "palettize/mixed_precision.hpp"

namespace palettize {
namespace {

int parse_positive(std::string_view digits, std::string_view item, std::string_view text) {
  int value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  check(error == std::errc{} && end == digits.data() + digits.size() && !digits.empty() && value >= 1,
        "candidates: '", item, "' in '", text,
        "' is not a candidate (expected N, N@tensor or N@gK, each optionally +scale and then +sens, e.g. "
        "4,6,8,6@tensor,4@g32,6@tensor+scale,4+sens)");
  return value;
}

// "N", "N@tensor" or "N@gK" (`label`, the item without its +scale suffix) into choice.n_bits, granularity
// and label.
void parse_bits_and_granularity(std::string_view label, std::string_view item, std::string_view text,
                                CandidateChoice& choice) {
  const std::size_t at = label.find('@');
  choice.n_bits = parse_positive(label.substr(0, at), item, text);
  const int bits[] = {choice.n_bits};
  check_candidate_bits(bits);
  choice.label = candidate_label(choice.n_bits);
  if (at == std::string_view::npos) return;
  const std::string_view granularity = label.substr(at + 1);
  if (granularity == "tensor") {
    choice.granularity = PerTensorGranularity{};
    choice.label += "@tensor";
    return;
  }
  check(granularity.size() > 1 && granularity[0] == 'g', "candidates: '", item, "' in '", text,
        "': after @ comes 'tensor' or gK (a LUT per K channels), e.g. 6@tensor, 4@g32");
  PerGroupedChannelGranularity grouped;
  grouped.group_size = parse_positive(granularity.substr(1), item, text);
  choice.granularity = grouped;
  // From the parsed value, so that 6@g032 and 6@g32 are recognised as the same candidate.
  choice.label += "@g" + std::to_string(grouped.group_size);
}

constexpr std::string_view kScaleSuffix = "+scale";
constexpr std::string_view kSensitivitiesSuffix = "+sens";

// Strips `suffix` from the end of `item` when it is there.
bool take_suffix(std::string_view& item, std::string_view suffix) {
  if (!item.ends_with(suffix)) return false;
  item.remove_suffix(suffix.size());
  return true;
}

CandidateChoice parse_choice(std::string_view item, std::string_view text) {
  CandidateChoice choice;
  std::string_view rest = item;
  choice.sensitivities = take_suffix(rest, kSensitivitiesSuffix);
  choice.per_channel_scale = take_suffix(rest, kScaleSuffix);
  parse_bits_and_granularity(rest, item, text, choice);
  if (choice.per_channel_scale) choice.label += kScaleSuffix;
  if (choice.sensitivities) choice.label += kSensitivitiesSuffix;
  return choice;
}

}  // namespace

std::vector<CandidateChoice> parse_candidate_choices(std::string_view text) {
  std::vector<CandidateChoice> choices;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    CandidateChoice choice = parse_choice(text.substr(start, comma - start), text);
    check(std::none_of(choices.begin(), choices.end(), [&](const CandidateChoice& c) { return c.label == choice.label; }),
          "candidates: ", choice.label, " is listed twice in '", text, "'");
    choices.push_back(std::move(choice));
    start = comma + 1;
  }
  return choices;
}

PalettizationSpec candidate_spec(const PalettizationSpec& base, const CandidateChoice& choice) {
  PalettizationSpec spec = base.with_resolved_axis();
  spec.n_bits = choice.n_bits;
  if (const auto* grouped = choice.granularity ? std::get_if<PerGroupedChannelGranularity>(&*choice.granularity) : nullptr) {
    PerGroupedChannelGranularity resolved = *grouped;
    resolved.axis = base.resolved_axis();
    spec.granularity = resolved;
  } else if (choice.granularity) {
    spec.granularity = *choice.granularity;
  }
  if (choice.per_channel_scale) spec.enable_per_channel_scale = true;
  return spec;
}

}  // namespace palettize
