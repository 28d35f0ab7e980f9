// Python values <-> JSON, so the Python API reuses the C++ spec reader (spec_json.hpp) and with it every
// type check and message of the JSON form.
#include <array>
#include <climits>
#include <string_view>

#include "bindings.hpp"
#include "palettize/error.hpp"
#include "palettize/spec.hpp"
#include "palettize/spec_json.hpp"

namespace palettize::python {
namespace {

using nlohmann::json;

json int_to_json(py::handle value, const std::string& path) {
  int overflow = 0;
  const long long signed_value = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
  if (overflow == 0) {
    if (signed_value == -1 && PyErr_Occurred()) throw py::error_already_set();
    return json(static_cast<int64_t>(signed_value));
  }
  if (overflow > 0) {
    const unsigned long long unsigned_value = PyLong_AsUnsignedLongLong(value.ptr());
    if (!PyErr_Occurred()) return json(static_cast<uint64_t>(unsigned_value));
    PyErr_Clear();
  }
  fail(path, " is out of the 64-bit integer range, got ", py::str(value).cast<std::string>());
}

json dict_to_json(const py::dict& dict, const std::string& path) {
  json object = json::object();
  for (const auto& [key, item] : dict) {
    check(py::isinstance<py::str>(key), path, " keys must be strings, got ", py::repr(key).cast<std::string>());
    const auto name = key.cast<std::string>();
    object[name] = to_json(item, path.empty() ? name : path + "." + name);
  }
  return object;
}

json sequence_to_json(py::handle sequence, const std::string& path) {
  json array = json::array();
  std::size_t index = 0;
  for (py::handle item : sequence) array.push_back(to_json(item, path + "[" + std::to_string(index++) + "]"));
  return array;
}

// numpy scalars and 0-d arrays carry .item(), which gives the plain Python value.
bool is_numpy_scalar(py::handle value) {
  return py::hasattr(value, "dtype") && py::hasattr(value, "item") && py::hasattr(value, "ndim") &&
         value.attr("ndim").cast<int>() == 0;
}

// The granularity's dict form, taken from the spec writer so both forms stay identical.
json granularity_to_json(const PalettizationGranularity& granularity) {
  PalettizationSpec holder;
  holder.granularity = granularity;
  return spec_to_json(holder).at("granularity");
}

std::string type_name(py::handle value) { return py::str(py::type::handle_of(value).attr("__name__")); }

}  // namespace

json to_json(py::handle value, const std::string& path) {
  if (value.is_none()) return nullptr;
  if (PyBool_Check(value.ptr())) return value.cast<bool>();
  if (PyLong_Check(value.ptr())) return int_to_json(value, path);
  if (PyFloat_Check(value.ptr())) return value.cast<double>();
  if (py::isinstance<py::str>(value)) return value.cast<std::string>();
  if (py::isinstance<py::dict>(value)) return dict_to_json(value.cast<py::dict>(), path);
  if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) return sequence_to_json(value, path);
  if (py::isinstance<PalettizationSpec>(value)) return spec_to_json(value.cast<const PalettizationSpec&>());
  if (py::isinstance<QuantizationSpec>(value)) return qspec_to_json(value.cast<const QuantizationSpec&>());
  if (py::isinstance<PerTensorGranularity>(value)) return granularity_to_json(value.cast<PerTensorGranularity>());
  if (py::isinstance<PerGroupedChannelGranularity>(value)) {
    return granularity_to_json(value.cast<PerGroupedChannelGranularity>());
  }
  if (is_numpy_scalar(value)) return to_json(value.attr("item")(), path);
  fail(path, " cannot be given as a Python ", type_name(value), " (", py::repr(value).cast<std::string>(),
       "); expected None, bool, int, float, str, dict, list or a palettize spec object");
}

namespace {

// The reference's dump order (§1.2); keys not listed follow in JSON order.
constexpr std::array<std::string_view, 12> kFieldOrder = {
    "n_bits",       "lut_qspec",   "dtype",       "qscheme",
    "qformulation", "granularity", "cluster_dim", "enable_per_channel_scale",
    "type",         "axis",        "group_size",  "block_size"};

py::dict object_from_json(const json& object) {
  py::dict dict;
  for (std::string_view name : kFieldOrder) {
    const auto found = object.find(std::string(name));
    if (found != object.end()) dict[py::str(std::string(name))] = from_json(*found);
  }
  for (const auto& [key, item] : object.items()) {
    if (!dict.contains(py::str(key))) dict[py::str(key)] = from_json(item);
  }
  return dict;
}

}  // namespace

py::object from_json(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return py::none();
    case json::value_t::boolean:
      return py::bool_(value.get<bool>());
    case json::value_t::number_integer:
      return py::int_(value.get<int64_t>());
    case json::value_t::number_unsigned:
      return py::int_(value.get<uint64_t>());
    case json::value_t::number_float:
      return py::float_(value.get<double>());
    case json::value_t::string:
      return py::str(value.get<std::string>());
    case json::value_t::object:
      return object_from_json(value);
    case json::value_t::array: {
      py::list list;
      for (const json& item : value) list.append(from_json(item));
      return list;
    }
    default:
      fail("internal: JSON value of type ", value.type_name(), " has no Python form");
  }
}

}  // namespace palettize::python
