// Fuzz target: the container reader. Input layout (see make_seeds.cpp):
//   u16 little-endian L | L bytes: "palettize.tensors" JSON text | a safetensors file holding the parts.
// With L > 0 the text replaces the file's own "palettize.tensors" (and "palettize.version" is set to "1"),
// so the fuzzer mutates the entry JSON directly instead of a JSON string inside the header JSON.
// Every accepted entry goes through load_palettized -> validate -> decode, the path decompress takes.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "fuzz_support.hpp"
#include "palettize/container.hpp"

namespace palettize::fuzz {
namespace {

void decode_entry(const ContainerEntry& entry, const std::map<std::string, TensorView>& stored) {
  const TensorLookup lookup = [&](const std::string& name) -> std::optional<TensorView> {
    const auto found = stored.find(name);
    if (found == stored.end()) return std::nullopt;
    return found->second;
  };
  const PalettizedTensor palettized = load_palettized(entry, lookup, "fuzz.safetensors");
  validate(palettized);  // load_palettized promises a consistent tensor: this must not throw
  const Tensor dense = decode(palettized);
  PALETTIZE_FUZZ_ASSERT(dense.shape == entry.shape && dense.dtype == entry.dtype);
  PALETTIZE_FUZZ_ASSERT(dense.data.size() == static_cast<std::size_t>(shape_numel(entry.shape)) * dtype_size(entry.dtype));
}

void run(const uint8_t* data, std::size_t size) {
  InputReader input(data, size);
  const std::size_t override_size = input.u16();
  const std::span<const uint8_t> override_text = input.take(override_size);
  const std::span<const uint8_t> file = input.rest();

  const SafetensorsLayout layout = parse_safetensors(as_bytes(file.data(), file.size()), "fuzz.safetensors");
  Metadata metadata = layout.metadata;
  if (!override_text.empty()) {
    metadata[std::string(kContainerVersionKey)] = std::string(kContainerVersion);
    metadata[std::string(kContainerTensorsKey)] = std::string(as_text(override_text.data(), override_text.size()));
  }
  const std::vector<ContainerEntry> entries = parse_container_metadata(metadata, "fuzz.safetensors");

  std::map<std::string, TensorView> stored;
  const std::byte* data_section = as_bytes(file.data(), file.size()).data() + layout.data_offset;
  for (const TensorInfo& info : layout.tensors) {
    stored.emplace(info.name, TensorView{info.dtype, info.shape, {data_section + info.begin, info.byte_size()}});
  }
  for (const ContainerEntry& entry : entries) {
    refuse_with_error_only([&] { decode_entry(entry, stored); });
  }
}

}  // namespace
}  // namespace palettize::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  palettize::fuzz::refuse_with_error_only([&] { palettize::fuzz::run(data, size); });
  return 0;
}
