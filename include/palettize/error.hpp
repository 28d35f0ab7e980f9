#pragma once
// The one error type of the library. Anything the user can cause (bad spec, bad file, a tensor the spec
// cannot apply to) throws palettize::Error with a message that names the culprit. Any other exception
// escaping the library is a bug in palettize, and the CLI reports it as an internal failure.
#include <sstream>
#include <stdexcept>
#include <string>

namespace palettize {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// The spec is valid but cannot apply to this tensor (rank too small, sizes not divisible by group_size or
// cluster_dim). Tools skip such a tensor with a warning, or fail with --strict.
class IncompatibleSpecError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
}  // namespace detail

// Throws palettize::Error built from the streamed parts when `condition` is false. The parts are evaluated
// even when the condition holds: inside loops over elements write `if (!cond) fail(...)` instead.
template <typename... Parts>
inline void check(bool condition, const Parts&... parts) {
  if (!condition) throw Error(detail::concat(parts...));
}

template <typename... Parts>
[[noreturn]] inline void fail(const Parts&... parts) {
  throw Error(detail::concat(parts...));
}

}  // namespace palettize
