// Fuzz target: the spec JSON reader. An accepted spec is valid and survives a round trip through its
// canonical JSON form unchanged.
#include <cstdint>

#include "fuzz_support.hpp"
#include "palettize/spec_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace palettize;
  fuzz::refuse_with_error_only([&] {
    const PalettizationSpec spec = parse_spec_json(fuzz::as_text(data, size));
    spec.validate();  // parse_spec_json validates: this must not throw
    const std::string canonical = spec_to_json_string(spec);
    const PalettizationSpec again = parse_spec_json(canonical);
    PALETTIZE_FUZZ_ASSERT(again == spec);
    PALETTIZE_FUZZ_ASSERT(spec_to_json_string(again) == canonical);
  });
  return 0;
}
