// Large engine buffers in transparent huge pages (see detail::kHugePageBufferBytes in engine.hpp).
#include <sys/mman.h>

#include <new>

#include "palettize/engine.hpp"

namespace palettize::detail {
namespace {

// The x86-64 and arm64 (4 KiB base page) huge page: buffers start on it so that every whole 2 MiB of them
// can be one page.
constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

}  // namespace

void* allocate_huge_page_buffer(std::size_t bytes) {
  void* buffer = ::operator new(bytes, std::align_val_t{kHugePageBytes});
#ifdef MADV_HUGEPAGE
  // Advisory: where huge pages are off, or the call fails, the buffer faults in as ordinary pages.
  ::madvise(buffer, bytes, MADV_HUGEPAGE);
#endif
  return buffer;
}

void free_huge_page_buffer(void* buffer) noexcept { ::operator delete(buffer, std::align_val_t{kHugePageBytes}); }

}  // namespace palettize::detail
