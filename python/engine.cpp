// palettize.palettize() and its result: LUTs, indices and scales as numpy arrays in Core ML's
// constexpr_lut_to_dense layout, decode(), and the metrics / packing helpers. The GIL is released while
// the engine works, so Python threads can palettize tensors in parallel.
#include <optional>
#include <sstream>
#include <utility>

#include <pybind11/stl.h>

#include "arrays.hpp"
#include "bindings.hpp"
#include "palettize/engine.hpp"
#include "palettize/error.hpp"
#include "palettize/packing.hpp"
#include "palettize/spec_json.hpp"

namespace palettize::python {
namespace {

// A palettized tensor plus the 16-bit forms of its float parts, so every array the object hands out is
// a read-only view into memory it owns.
struct Palettized {
  PalettizedTensor tensor;
  std::vector<uint16_t> lut_bits;            // lut in the weight's format when it is F16 or BF16
  std::vector<uint16_t> channel_scale_bits;  // likewise
  std::optional<std::vector<uint8_t>> packed;
};

std::vector<uint16_t> to_bits(DType dtype, const std::vector<float>& values) {
  std::vector<uint16_t> bits(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    bits[i] = dtype == DType::F16 ? f32_to_f16(values[i]) : f32_to_bf16(values[i]);
  }
  return bits;
}

Palettized wrap(PalettizedTensor tensor) {
  Palettized result{std::move(tensor), {}, {}, std::nullopt};
  if (result.tensor.dtype != DType::F32) {
    result.lut_bits = to_bits(result.tensor.dtype, result.tensor.lut);
    result.channel_scale_bits = to_bits(result.tensor.dtype, result.tensor.channel_scale);
  }
  return result;
}

// Values in the weight's dtype: float32 as is, float16 / bfloat16 from their 16-bit patterns.
py::array weight_dtype_view(py::handle owner, const Palettized& self, const std::vector<float>& values,
                            const std::vector<uint16_t>& bits, const Shape& shape) {
  const DType dtype = self.tensor.dtype;
  const void* data = dtype == DType::F32 ? static_cast<const void*>(values.data()) : bits.data();
  return readonly_view(owner, numpy_dtype(dtype), shape, data);
}

// [NB_0, ..., NB_{R-1}, 1, 1]: one entry per LUT, shaped like the LUT tensor (§4.1).
Shape per_lut_shape(const PalettizedTensor& tensor) {
  Shape shape = tensor.lut_shape;
  shape[shape.size() - 1] = 1;
  shape[shape.size() - 2] = 1;
  return shape;
}

// [O, 1, ..., 1]: one scale per output channel, broadcastable against the weight.
Shape channel_scale_shape(const PalettizedTensor& tensor) {
  Shape shape(tensor.shape.size(), 1);
  shape[0] = tensor.shape[0];
  return shape;
}

py::tuple shape_tuple(const Shape& shape) {
  py::tuple tuple(shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i) tuple[i] = py::int_(shape[i]);
  return tuple;
}

PalettizationSpec spec_argument(py::handle spec) {
  if (spec.is_none()) return default_weight_palettization_spec();
  if (py::isinstance<PalettizationSpec>(spec)) return spec.cast<PalettizationSpec>();
  if (py::isinstance<py::str>(spec)) return preset_spec(spec.cast<std::string>());
  return spec_from_json(to_json(spec, ""));
}

// Sensitivities as float32, one per weight element, in the weight's shape.
std::optional<py::array> sensitivity_array(py::handle sensitivities, const Shape& weight_shape) {
  if (sensitivities.is_none()) return std::nullopt;
  py::module_ numpy = py::module_::import("numpy");
  auto array = numpy.attr("ascontiguousarray")(sensitivities, py::arg("dtype") = "float32").cast<py::array>();
  const Shape shape(array.shape(), array.shape() + array.ndim());
  check(shape == weight_shape, "sensitivities of shape ", shape_to_string(shape), " do not match the weight of shape ",
        shape_to_string(weight_shape));
  return array;
}

Palettized palettize_array(const py::object& weight, const py::object& spec_value, const py::object& sensitivities,
                           uint64_t seed, std::optional<int> threads, const py::object& dtype,
                           bool enable_fast_kmeans_mode, int rounding_precision) {
  const PalettizationSpec spec = spec_argument(spec_value);
  const InputArray input = input_array(weight, dtype, "weight");
  const std::optional<py::array> sens = sensitivity_array(sensitivities, input.shape());
  if (threads) check(*threads >= 1, "threads must be >= 1 (None = all cores), got ", *threads);
  PalettizeOptions options;
  options.seed = seed;
  options.threads = threads.value_or(0);
  options.enable_fast_kmeans_mode = enable_fast_kmeans_mode;
  options.rounding_precision = rounding_precision;
  const TensorView view = input.view();
  std::span<const float> sensitivity_span;
  if (sens) sensitivity_span = {static_cast<const float*>(sens->data()), static_cast<std::size_t>(sens->size())};
  std::optional<Palettized> result;
  {
    py::gil_scoped_release release;
    result = wrap(palettize::palettize(view, spec, options, sensitivity_span));
  }
  return std::move(*result);
}

std::string repr_of(const Palettized& self) {
  std::ostringstream text;
  const PalettizedTensor& t = self.tensor;
  text << "PalettizedTensor(shape=" << shape_to_string(t.shape) << ", dtype=" << dtype_label(t.dtype)
       << ", lut_shape=" << shape_to_string(t.lut_shape) << ", spec=" << py::repr(py::cast(t.spec)).cast<std::string>()
       << ")";
  return text.str();
}

void bind_result(py::module_& module) {
  py::class_<Palettized> result(module, "PalettizedTensor",
                                "A palettized tensor in Core ML constexpr_lut_to_dense layout; arrays are read-only "
                                "views owned by this object.");
  result.def_property_readonly(
      "lut",
      [](py::object owner) {
        const auto& self = owner.cast<const Palettized&>();
        return weight_dtype_view(owner, self, self.tensor.lut, self.lut_bits, self.tensor.lut_shape);
      },
      "[NB_0, ..., NB_{R-1}, 2^n_bits, cluster_dim] in the weight's dtype (bfloat16 as uint16 bits).");
  result.def_property_readonly(
      "indices",
      [](py::object owner) {
        const auto& t = owner.cast<const Palettized&>().tensor;
        return readonly_view(owner, py::dtype("uint8"), t.index_shape, t.indices.data());
      },
      "Unpacked indices (uint8): the weight's shape with dim 0 divided by cluster_dim.");
  result.def_property_readonly(
      "packed_indices",
      [](py::object owner) {
        auto& self = owner.cast<Palettized&>();
        if (!self.packed) self.packed = pack_indices(self.tensor.indices, self.tensor.spec.n_bits);
        return readonly_view(owner, py::dtype("uint8"), {static_cast<int64_t>(self.packed->size())},
                             self.packed->data());
      },
      "Indices as an n_bits-wide little-endian bitstream, LSB first (Core ML sub-byte order).");
  result.def_property_readonly(
      "channel_scale",
      [](py::object owner) -> py::object {
        const auto& self = owner.cast<const Palettized&>();
        if (self.tensor.channel_scale.empty()) return py::none();
        return weight_dtype_view(owner, self, self.tensor.channel_scale, self.channel_scale_bits,
                                 channel_scale_shape(self.tensor));
      },
      "[O, 1, ..., 1] per-output-channel scale in the weight's dtype, or None.");
  result.def_property_readonly(
      "lut_scale",
      [](py::object owner) -> py::object {
        const auto& t = owner.cast<const Palettized&>().tensor;
        if (t.lut_scale.empty()) return py::none();
        return readonly_view(owner, py::dtype("float32"), per_lut_shape(t), t.lut_scale.data());
      },
      "[NB_0, ..., 1, 1] float32 LUT quantization scale, or None.");
  result.def_property_readonly(
      "lut_zero_point",
      [](py::object owner) -> py::object {
        const auto& t = owner.cast<const Palettized&>().tensor;
        if (t.lut_zero_point.empty()) return py::none();
        return readonly_view(owner, py::dtype("int32"), per_lut_shape(t), t.lut_zero_point.data());
      },
      "[NB_0, ..., 1, 1] int32 LUT zero point, or None (no lut_qspec, or an FP8 LUT).");
  result.def_property_readonly(
      "quantized_lut",
      [](py::object owner) -> py::object {
        const auto& t = owner.cast<const Palettized&>().tensor;
        if (t.quantized_lut.empty()) return py::none();
        const bool is_int8 = t.spec.lut_qspec->dtype == QuantDtype::int8;
        return readonly_view(owner, py::dtype(is_int8 ? "int8" : "uint8"), t.lut_shape, t.quantized_lut.data());
      },
      "LUT codes shaped like lut: int8, uint8, or the FP8 bit patterns as uint8; None without lut_qspec.");
  result.def_property_readonly(
      "spec", [](const Palettized& self) { return self.tensor.spec; }, "The spec as applied (grouped axis resolved).");
  result.def_property_readonly("dtype", [](const Palettized& self) { return dtype_label(self.tensor.dtype); });
  result.def_property_readonly("shape", [](const Palettized& self) { return shape_tuple(self.tensor.shape); });
  result.def_property_readonly("lut_shape", [](const Palettized& self) { return shape_tuple(self.tensor.lut_shape); });
  result.def_property_readonly("index_shape",
                               [](const Palettized& self) { return shape_tuple(self.tensor.index_shape); });
  result.def_property_readonly("num_luts", [](const Palettized& self) { return self.tensor.num_luts(); });
  result.def_property_readonly(
      "size_bits", [](const Palettized& self) { return palettized_size_bits(self.tensor); },
      "Storage cost: packed indices + LUTs (+ LUT scales/zero points) + channel scales.");
  result.def(
      "decode",
      [](const Palettized& self) {
        Tensor dense;
        {
          py::gil_scoped_release release;
          dense = decode(self.tensor);
        }
        return tensor_to_array(std::move(dense));
      },
      "The dense tensor in the weight's dtype (bfloat16 as uint16 bits).");
  result.def("__repr__", &repr_of);
}

void bind_metrics(py::module_& module) {
  py::class_<ErrorMetrics> metrics(module, "ErrorMetrics", "Reconstruction error, computed in double precision.");
  metrics.def_readonly("count", &ErrorMetrics::count)
      .def_readonly("sse", &ErrorMetrics::sse)
      .def_readonly("mse", &ErrorMetrics::mse)
      .def_readonly("signal", &ErrorMetrics::signal)
      .def_readonly("snr_db", &ErrorMetrics::snr_db)
      .def_readonly("max_abs_err", &ErrorMetrics::max_abs_err)
      .def("__repr__", [](const ErrorMetrics& m) {
        std::ostringstream text;
        text << "ErrorMetrics(count=" << m.count << ", sse=" << m.sse << ", mse=" << m.mse << ", snr_db=" << m.snr_db
             << ", max_abs_err=" << m.max_abs_err << ")";
        return text.str();
      });
  module.def(
      "compare",
      [](const py::object& original, const py::object& reconstructed, const py::object& dtype) {
        const InputArray a = input_array(original, dtype, "original");
        const InputArray b = input_array(reconstructed, dtype, "reconstructed");
        const TensorView a_view = a.view();
        const TensorView b_view = b.view();
        py::gil_scoped_release release;
        return compare(a_view, b_view);
      },
      py::arg("original"), py::arg("reconstructed"), py::arg("dtype") = py::none(),
      "SSE, MSE, SNR (dB) and max abs error of `reconstructed` against `original` (same shape).");
}

void bind_packing(py::module_& module) {
  module.def(
      "pack_indices",
      [](const py::object& indices, int n_bits) {
        auto array = py::module_::import("numpy").attr("asarray")(indices).cast<py::array>();
        const std::string name = py::str(array.dtype().attr("name"));
        check(name == "uint8", "indices must be a uint8 array, got ", name);
        array = py::module_::import("numpy").attr("ascontiguousarray")(array).cast<py::array>();
        const std::vector<uint8_t> packed = pack_indices(
            std::span<const uint8_t>(static_cast<const uint8_t*>(array.data()), static_cast<std::size_t>(array.size())),
            n_bits);
        return py::array_t<uint8_t>(static_cast<py::ssize_t>(packed.size()), packed.data());
      },
      py::arg("indices"), py::arg("n_bits"), "Packs uint8 indices (row-major) into the n_bits-wide bitstream.");
  module.def(
      "unpack_indices",
      [](const py::array_t<uint8_t, py::array::c_style>& packed, int n_bits, std::size_t count) {
        const std::vector<uint8_t> indices = unpack_indices(
            std::span<const uint8_t>(packed.data(), static_cast<std::size_t>(packed.size())), n_bits, count);
        return py::array_t<uint8_t>(static_cast<py::ssize_t>(indices.size()), indices.data());
      },
      py::arg("packed"), py::arg("n_bits"), py::arg("count"), "The first `count` indices of a packed bitstream.");
}

}  // namespace

void bind_engine(py::module_& module) {
  bind_result(module);
  bind_metrics(module);
  bind_packing(module);
  module.def("palettize", &palettize_array, py::arg("weight"), py::arg("spec") = py::none(),
             py::arg("sensitivities") = py::none(), py::arg("seed") = 0, py::arg("threads") = py::none(),
             py::arg("dtype") = py::none(), py::kw_only(), py::arg("enable_fast_kmeans_mode") = false,
             py::arg("rounding_precision") = 4,
             "Palettizes a float32/float16 array (or bfloat16 bits as uint16 with dtype='bfloat16') with `spec` "
             "(a PalettizationSpec, its dict form, or a preset name; None = default). `sensitivities`: one "
             "non-negative importance per element. Returns a PalettizedTensor.");
  module.def(
      "palettized_layout",
      [](const py::object& shape, const py::object& spec) {
        const PalettizedLayout layout = palettized_layout(shape.cast<Shape>(), spec_argument(spec));
        py::dict result;
        result["lut_shape"] = shape_tuple(layout.lut_shape);
        result["index_shape"] = shape_tuple(layout.index_shape);
        result["num_luts"] = layout.num_luts;
        result["num_indices"] = layout.num_indices;
        result["packed_index_bytes"] = layout.packed_index_bytes;
        return result;
      },
      py::arg("shape"), py::arg("spec") = py::none(), "Shapes of the parts, known before clustering.");
}

}  // namespace palettize::python
