// Fuzz target: the safetensors reader (header JSON and data layout) on a whole file held in memory.
// Invariants of an accepted file: every tensor lies inside the data section, sizes match shape x dtype, the
// tensors tile the data section in order, and re-serializing the header reproduces the same layout.
#include <cstdint>

#include "fuzz_support.hpp"
#include "palettize/safetensors.hpp"

namespace palettize::fuzz {
namespace {

void check_layout(const SafetensorsLayout& layout, std::size_t file_size) {
  PALETTIZE_FUZZ_ASSERT(layout.data_offset >= 8 && layout.data_offset <= file_size);
  const uint64_t data_size = file_size - layout.data_offset;
  PALETTIZE_FUZZ_ASSERT(layout.tensors.size() <= kMaxSafetensorsTensors);
  uint64_t covered = 0;
  for (const TensorInfo& tensor : layout.tensors) {
    PALETTIZE_FUZZ_ASSERT(tensor.shape.size() <= kMaxSafetensorsRank);
    PALETTIZE_FUZZ_ASSERT(tensor.begin == covered);  // in order, no gap, no overlap
    PALETTIZE_FUZZ_ASSERT(tensor.begin <= tensor.end && tensor.end <= data_size);
    const auto numel = static_cast<uint64_t>(shape_numel(tensor.shape));
    PALETTIZE_FUZZ_ASSERT(tensor.byte_size() / dtype_size(tensor.dtype) == numel);
    PALETTIZE_FUZZ_ASSERT(tensor.byte_size() % dtype_size(tensor.dtype) == 0);
    covered = tensor.end;
  }
  PALETTIZE_FUZZ_ASSERT(covered == data_size);
}

// The writer's header for the parsed tensors must parse back to the same tensors and metadata.
void check_rewrite(const SafetensorsLayout& layout) {
  std::vector<TensorDecl> decls;
  for (const TensorInfo& tensor : layout.tensors) decls.push_back({tensor.name, tensor.dtype, tensor.shape});
  std::vector<std::byte> file;
  try {
    file = safetensors_header(decls, layout.metadata);
  } catch (const Error&) {
    return;  // names the writer refuses (empty, "__metadata__") may still be readable
  }
  const std::size_t header_size = file.size();
  const uint64_t data_size = layout.tensors.empty() ? 0 : layout.tensors.back().end;
  file.resize(header_size + data_size);
  const SafetensorsLayout reread = parse_safetensors(file, "rewritten");
  PALETTIZE_FUZZ_ASSERT(reread.data_offset == header_size);
  PALETTIZE_FUZZ_ASSERT(reread.metadata == layout.metadata);
  PALETTIZE_FUZZ_ASSERT(reread.tensors.size() == layout.tensors.size());
  for (std::size_t i = 0; i < reread.tensors.size(); ++i) {
    const TensorInfo& a = reread.tensors[i];
    const TensorInfo& b = layout.tensors[i];
    PALETTIZE_FUZZ_ASSERT(a.dtype == b.dtype && a.shape == b.shape && a.begin == b.begin && a.end == b.end);
  }
}

}  // namespace
}  // namespace palettize::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace palettize;
  fuzz::refuse_with_error_only([&] {
    const SafetensorsLayout layout = parse_safetensors(fuzz::as_bytes(data, size), "fuzz.safetensors");
    fuzz::check_layout(layout, size);
    fuzz::check_rewrite(layout);
  });
  return 0;
}
