// private test helper: QuantGranularity builders (designated initializers that skip fields trip
// -Wmissing-field-initializers).
#pragma once
#include <cstdint>
#include <optional>

#include "palettize/spec.hpp"

namespace palettize::testing {

inline QuantGranularity per_channel(std::optional<int64_t> axis) {
  QuantGranularity granularity;
  granularity.type = QuantGranularity::Type::per_channel;
  granularity.axis = axis;
  return granularity;
}

inline QuantGranularity per_block(std::optional<int64_t> axis, std::optional<int64_t> block_size) {
  QuantGranularity granularity;
  granularity.type = QuantGranularity::Type::per_block;
  granularity.axis = axis;
  granularity.block_size = block_size;
  return granularity;
}

}  // namespace palettize::testing
