#pragma once
#include <string_view>

namespace palettize {
// The library version, e.g. "0.1.0".
std::string_view version();
}  // namespace palettize
