// private: include only from src/ and tests/
#pragma once
// Checked POSIX writes. Separate so tests can aim them at /dev/full to see the ENOSPC message.
#include <cstddef>
#include <string_view>

namespace palettize::io {

// Writes all `size` bytes to `fd`, retrying on EINTR and short writes. Error "<label>: write failed: <reason>"
// (e.g. "No space left on device").
void write_all(int fd, const std::byte* data, std::size_t size, std::string_view label);
// fsync with the same error convention.
void sync_fd(int fd, std::string_view label);

}  // namespace palettize::io
