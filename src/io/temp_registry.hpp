// private: include only from src/ and tests/
#pragma once
// The process-wide registry of live temporary files, readable from a signal handler.
#include <cstddef>

namespace palettize::io {

// Stores a copy of `path` and returns its slot. Error when the path is too long or all slots are taken.
int register_temp_file(const char* path);
void unregister_temp_file(int slot) noexcept;

}  // namespace palettize::io
