// The spec classes, in coreai_opt's vocabulary: PalettizationSpec, PerTensorGranularity,
// PerGroupedChannelGranularity, QuantizationSpec, the default spec and the presets. Every constructor goes
// through the C++ JSON reader (spec_json.hpp), so types, rules and messages are the engine's own; the
// objects are immutable, like the reference's frozen pydantic models.
#include <functional>
#include <string>

#include <pybind11/stl.h>

#include "bindings.hpp"
#include "palettize/error.hpp"
#include "palettize/spec.hpp"
#include "palettize/spec_json.hpp"

namespace palettize::python {
namespace {

using nlohmann::json;

std::string py_bool(bool value) { return value ? "True" : "False"; }

std::string repr_of(const PerTensorGranularity&) { return "PerTensorGranularity()"; }

std::string repr_of(const PerGroupedChannelGranularity& granularity) {
  const std::string axis = granularity.axis ? std::to_string(*granularity.axis) : "None";
  return "PerGroupedChannelGranularity(axis=" + axis + ", group_size=" + std::to_string(granularity.group_size) + ")";
}

std::string repr_of(const QuantizationSpec& qspec) {
  std::string text = "QuantizationSpec(dtype='" + std::string(to_string(qspec.dtype)) + "', qscheme='" +
                     std::string(to_string(qspec.qscheme)) + "', qformulation='" +
                     std::string(to_string(qspec.qformulation)) + "'";
  if (qspec.granularity != QuantGranularity{}) {
    text += ", granularity=" + py::repr(from_json(qspec_to_json(qspec).at("granularity"))).cast<std::string>();
  }
  return text + ")";
}

std::string repr_of(const PalettizationSpec& spec) {
  const std::string qspec = spec.lut_qspec ? repr_of(*spec.lut_qspec) : "None";
  const std::string granularity = std::visit([](const auto& g) { return repr_of(g); }, spec.granularity);
  return "PalettizationSpec(n_bits=" + std::to_string(spec.n_bits) + ", lut_qspec=" + qspec +
         ", granularity=" + granularity + ", cluster_dim=" + std::to_string(spec.cluster_dim) +
         ", enable_per_channel_scale=" + py_bool(spec.enable_per_channel_scale) + ")";
}

// A spec holding only `granularity` (a dict), read by the C++ reader: gives the granularity's own checks.
PalettizationGranularity granularity_from_json(const json& granularity) {
  return spec_from_json(json{{"granularity", granularity}}).granularity;
}

json granularity_json(const PalettizationGranularity& granularity) {
  PalettizationSpec holder;
  holder.granularity = granularity;
  return spec_to_json(holder).at("granularity");
}

// QuantizationSpec's dtype may also be a numpy dtype or type, or a torch dtype ("torch.int8").
json quant_dtype_json(py::handle dtype) {
  if (py::isinstance<py::str>(dtype) || dtype.is_none()) return to_json(dtype, "dtype");
  const std::string text = py::str(dtype);
  if (text.rfind("torch.", 0) == 0) return text.substr(6);
  return py::module_::import("numpy").attr("dtype")(dtype).attr("name").cast<std::string>();
}

// to_dict / from_dict, ==, hash and pickling, shared by the four spec classes.
template <typename Class, typename T>
void add_value_semantics(Class& cls, std::function<json(const T&)> write, std::function<T(const json&)> read) {
  cls.def(
      "to_dict", [write](const T& self) { return from_json(write(self)); },
      "The reference's dict form (JSON-compatible).");
  cls.def_static(
      "from_dict", [read](const py::object& dict) { return read(to_json(dict, "")); }, py::arg("data"),
      "Builds the object from its dict form; raises ValueError for unknown fields or bad values.");
  cls.def(
      "__eq__", [](const T& self, const T& other) { return self == other; }, py::is_operator());
  cls.def("__hash__", [write](const T& self) { return std::hash<std::string>{}(write(self).dump()); });
  cls.def("__repr__", [](const T& self) { return repr_of(self); });
  cls.def(py::pickle([write](const T& self) -> py::dict { return from_json(write(self)); },
                     [read](const py::dict& state) { return read(to_json(state, "")); }));
}

void bind_granularities(py::module_& module) {
  py::class_<PerTensorGranularity> per_tensor(module, "PerTensorGranularity",
                                              "One LUT for the whole tensor (registry key 'per_tensor').");
  per_tensor.def(py::init([](const py::object& axis) {
                   return std::get<PerTensorGranularity>(granularity_from_json(
                       json{{"type", "per_tensor"}, {"axis", to_json(axis, "granularity.axis")}}));
                 }),
                 py::arg("axis") = py::none());
  per_tensor.def_property_readonly("axis", [](const PerTensorGranularity&) { return py::none(); });
  add_value_semantics<decltype(per_tensor), PerTensorGranularity>(
      per_tensor, [](const PerTensorGranularity& g) { return granularity_json(g); },
      [](const json& j) {
        check(j.is_object() && j.value("type", "") == "per_tensor", "expected a per_tensor granularity dict, got ",
              j.dump());
        return std::get<PerTensorGranularity>(granularity_from_json(j));
      });

  py::class_<PerGroupedChannelGranularity> grouped(
      module, "PerGroupedChannelGranularity",
      "One LUT per group of `group_size` consecutive output (axis 0) or input (axis 1) channels.");
  grouped.def(py::init([](const py::object& axis, const py::object& group_size) {
                json dict{{"type", "per_grouped_channel"}, {"axis", to_json(axis, "granularity.axis")}};
                if (!group_size.is_none()) dict["group_size"] = to_json(group_size, "granularity.group_size");
                return std::get<PerGroupedChannelGranularity>(granularity_from_json(dict));
              }),
              py::arg("axis") = py::none(), py::arg("group_size") = py::none());
  grouped.def_property_readonly("axis", [](const PerGroupedChannelGranularity& g) { return g.axis; });
  grouped.def_property_readonly("group_size", [](const PerGroupedChannelGranularity& g) { return g.group_size; });
  add_value_semantics<decltype(grouped), PerGroupedChannelGranularity>(
      grouped, [](const PerGroupedChannelGranularity& g) { return granularity_json(g); },
      [](const json& j) {
        check(j.is_object() && j.value("type", "") == "per_grouped_channel",
              "expected a per_grouped_channel granularity dict, got ", j.dump());
        return std::get<PerGroupedChannelGranularity>(granularity_from_json(j));
      });
}

void bind_quantization_spec(py::module_& module) {
  py::class_<QuantizationSpec> qspec(module, "QuantizationSpec",
                                     "How a LUT is quantized (lut_qspec): dtype, qscheme, qformulation, granularity.");
  qspec.def(py::init([](const py::object& dtype, const py::object& qscheme, const py::object& qformulation,
                        const py::object& granularity) {
              json dict{{"dtype", quant_dtype_json(dtype)},
                        {"qscheme", to_json(qscheme, "qscheme")},
                        {"qformulation", to_json(qformulation, "qformulation")}};
              if (!granularity.is_none()) dict["granularity"] = to_json(granularity, "granularity");
              return qspec_from_json(dict);
            }),
            py::arg("dtype") = "int8", py::arg("qscheme") = "symmetric", py::arg("qformulation") = "zp",
            py::arg("granularity") = py::none());
  qspec.def_property_readonly("dtype", [](const QuantizationSpec& q) { return std::string(to_string(q.dtype)); });
  qspec.def_property_readonly("qscheme", [](const QuantizationSpec& q) { return std::string(to_string(q.qscheme)); });
  qspec.def_property_readonly("qformulation",
                              [](const QuantizationSpec& q) { return std::string(to_string(q.qformulation)); });
  qspec.def_property_readonly("granularity",
                              [](const QuantizationSpec& q) { return from_json(qspec_to_json(q).at("granularity")); });
  qspec.def_property_readonly("quant_min",
                              [](const QuantizationSpec& q) { return quant_range(q.dtype, q.qscheme).qmin; });
  qspec.def_property_readonly("quant_max",
                              [](const QuantizationSpec& q) { return quant_range(q.dtype, q.qscheme).qmax; });
  add_value_semantics<decltype(qspec), QuantizationSpec>(qspec, qspec_to_json, qspec_from_json);
}

py::object granularity_object(const PalettizationGranularity& granularity) {
  return std::visit([](const auto& g) { return py::cast(g); }, granularity);
}

void bind_palettization_spec(py::module_& module) {
  py::class_<PalettizationSpec> spec(module, "PalettizationSpec",
                                     "coreai_opt's PalettizationSpec: n_bits, lut_qspec, granularity, cluster_dim, "
                                     "enable_per_channel_scale. Immutable; invalid values raise ValueError.");
  spec.def(py::init([](const py::object& n_bits, const py::object& lut_qspec, const py::object& granularity,
                       const py::object& cluster_dim, const py::object& enable_per_channel_scale) {
             json dict{{"n_bits", to_json(n_bits, "n_bits")},
                       {"lut_qspec", to_json(lut_qspec, "lut_qspec")},
                       {"cluster_dim", to_json(cluster_dim, "cluster_dim")},
                       {"enable_per_channel_scale", to_json(enable_per_channel_scale, "enable_per_channel_scale")}};
             if (!granularity.is_none()) dict["granularity"] = to_json(granularity, "granularity");
             return spec_from_json(dict);
           }),
           py::arg("n_bits") = 4, py::arg("lut_qspec") = py::none(), py::arg("granularity") = py::none(),
           py::arg("cluster_dim") = 1, py::arg("enable_per_channel_scale") = false);
  spec.def_property_readonly("n_bits", [](const PalettizationSpec& s) { return s.n_bits; });
  spec.def_property_readonly("lut_qspec", [](const PalettizationSpec& s) { return s.lut_qspec; });
  spec.def_property_readonly("granularity",
                             [](const PalettizationSpec& s) { return granularity_object(s.granularity); });
  spec.def_property_readonly("cluster_dim", [](const PalettizationSpec& s) { return s.cluster_dim; });
  spec.def_property_readonly("enable_per_channel_scale",
                             [](const PalettizationSpec& s) { return s.enable_per_channel_scale; });
  spec.def(
      "to_json", [](const PalettizationSpec& s) { return spec_to_json_string(s); },
      "The dict form as compact JSON text.");
  spec.def_static(
      "from_json", [](const std::string& text) { return parse_spec_json(text); }, py::arg("text"));
  add_value_semantics<decltype(spec), PalettizationSpec>(spec, spec_to_json, spec_from_json);
}

// Reference presets (§5.2): w4/w6 take the grouping as keyword arguments, like coreai_opt's.
PalettizationSpec grouped_preset(const char* name, py::handle axis, py::handle group_size) {
  json dict = spec_to_json(preset_spec(name));
  dict["granularity"]["axis"] = to_json(axis, "axis");
  dict["granularity"]["group_size"] = to_json(group_size, "group_size");
  return spec_from_json(dict);
}

void bind_presets(py::module_& module) {
  module.def("default_weight_palettization_spec", &default_weight_palettization_spec,
             "All defaults: 4-bit, per-tensor, scalar, no LUT quantization, no per-channel scale.");
  module.def(
      "preset", [](const std::string& name) { return preset_spec(name); }, py::arg("name"),
      "A named preset: 'default', 'w4', 'w6' or 'w8'.");
  py::module_ presets = module.def_submodule("presets", "coreai_opt's palettization presets.");
  presets.def(
      "w4", [](const py::object& axis, const py::object& size) { return grouped_preset("w4", axis, size); },
      py::kw_only(), py::arg("axis") = 0, py::arg("group_size") = 16,
      "4-bit, one LUT per `group_size` channels along `axis`.");
  presets.def(
      "w6", [](const py::object& axis, const py::object& size) { return grouped_preset("w6", axis, size); },
      py::kw_only(), py::arg("axis") = 0, py::arg("group_size") = 16,
      "6-bit, one LUT per `group_size` channels along `axis`.");
  presets.def(
      "w8", [] { return preset_spec("w8"); }, "8-bit, one LUT per tensor.");
  presets.def(
      "default", [] { return preset_spec("default"); }, "The default spec.");
}

}  // namespace

void bind_specs(py::module_& module) {
  bind_granularities(module);
  bind_quantization_spec(module);
  bind_palettization_spec(module);
  bind_presets(module);
}

}  // namespace palettize::python
