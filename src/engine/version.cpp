#include "palettize/version.hpp"

namespace palettize {
std::string_view version() { return PALETTIZE_VERSION; }
}  // namespace palettize
