#include "io/json_strict.hpp"

#include <set>
#include <string>
#include <vector>

#include "palettize/error.hpp"

namespace palettize::io {
namespace {

using Event = nlohmann::json::parse_event_t;

// Tracks the open containers while nlohmann parses, to see duplicate keys and enforce the limits.
class StrictnessGuard {
 public:
  StrictnessGuard(std::string_view label, const JsonLimits& limits) : label_(label), limits_(limits) {}

  bool on_event(Event event, const nlohmann::json& parsed) {
    switch (event) {
      case Event::object_start: open(false); break;
      case Event::array_start: open(true); break;
      case Event::object_end:
      case Event::array_end: stack_.pop_back(); break;
      case Event::key: on_key(parsed.get_ref<const std::string&>()); break;
      case Event::value: count_element(); break;
    }
    return true;
  }

 private:
  struct Open {
    bool is_array = false;
    std::size_t elements = 0;
    std::set<std::string> keys;
  };

  void open(bool is_array) {
    count_element();
    check(static_cast<int>(stack_.size()) < limits_.max_depth, label_, ": JSON nested deeper than ",
          limits_.max_depth, " levels");
    stack_.push_back(Open{is_array, 0, {}});
  }

  void count_element() {
    if (stack_.empty() || !stack_.back().is_array) return;
    check(++stack_.back().elements <= limits_.max_array_elements, label_, ": JSON array longer than ",
          limits_.max_array_elements, " elements");
  }

  void on_key(const std::string& key) {
    check(stack_.back().keys.insert(key).second, label_, ": duplicate JSON key \"", key, "\"");
  }

  std::string_view label_;
  const JsonLimits& limits_;
  std::vector<Open> stack_;
};

}  // namespace

nlohmann::json parse_json_strict(std::string_view text, std::string_view label, const JsonLimits& limits) {
  // nlohmann stops at a NUL byte as if the input ended there; a raw NUL is never valid JSON, so refuse it
  // rather than ignore whatever follows.
  const std::size_t nul = text.find('\0');
  check(nul == std::string_view::npos, label, ": invalid JSON: NUL byte at offset ", nul);
  StrictnessGuard guard(label, limits);
  auto callback = [&guard](int, Event event, nlohmann::json& parsed) { return guard.on_event(event, parsed); };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true,
                                 /*ignore_comments=*/false);
  } catch (const nlohmann::json::exception& error) {
    fail(label, ": invalid JSON: ", error.what());
  }
}

}  // namespace palettize::io
