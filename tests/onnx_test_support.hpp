#pragma once
// Test support for the ONNX tests: tiny models built with the protobuf classes, and a reference
// interpreter for the operators decode subgraphs use, written from the ONNX operator documentation
// (independent of src/onnx), so a test can execute a decode subgraph without onnxruntime.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "onnx/onnx_proto.hpp"
#include "palettize/dtype.hpp"
#include "palettize/tensor.hpp"

namespace palettize::onnx_test {

inline int32_t onnx_type(DType dtype) {
  switch (dtype) {
    case DType::F32: return 1;
    case DType::F16: return 10;
    case DType::BF16: return 16;
    default: throw std::runtime_error("test: unexpected dtype");
  }
}

inline onnx::TensorProto tensor_proto(const std::string& name, const TensorView& view) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx_type(view.dtype));
  for (int64_t d : view.shape) t.add_dims(d);
  t.set_raw_data(reinterpret_cast<const char*>(view.data.data()), view.data.size());
  return t;
}

inline void add_value_info(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list, const std::string& name,
                           int32_t type, const Shape& shape) {
  onnx::ValueInfoProto* v = list->Add();
  v->set_name(name);
  auto* tensor_type = v->mutable_type()->mutable_tensor_type();
  tensor_type->set_elem_type(type);
  for (int64_t d : shape) tensor_type->mutable_shape()->add_dim()->set_dim_value(d);
}

inline onnx::NodeProto constant_node(const std::string& output, const onnx::TensorProto& value) {
  onnx::NodeProto n;
  n.set_op_type("Constant");
  n.set_name("const_" + output);
  n.add_output(output);
  onnx::AttributeProto* a = n.add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  *a->mutable_t() = value;
  return n;
}

inline onnx::NodeProto unary_node(const std::string& op, const std::string& input, const std::string& output) {
  onnx::NodeProto n;
  n.set_op_type(op);
  n.add_input(input);
  n.add_output(output);
  return n;
}

enum class Storage { initializer, constant, constant_in_if };

// Adds "If_0" on a Constant true condition "cond", with output `output`; `fill(branch_graph, branch_name)`
// builds each of then_branch and else_branch.
inline void add_constant_if(onnx::GraphProto* g, const std::string& output,
                            const std::function<void(onnx::GraphProto*, const std::string&)>& fill) {
  onnx::TensorProto cond;
  cond.set_name("cond");
  cond.set_data_type(9);
  cond.set_raw_data(std::string(1, '\1'));
  *g->add_node() = constant_node("cond", cond);
  onnx::NodeProto* if_node = g->add_node();
  if_node->set_op_type("If");
  if_node->set_name("If_0");
  if_node->add_input("cond");
  if_node->add_output(output);
  for (const std::string branch : {"then_branch", "else_branch"}) {
    onnx::AttributeProto* a = if_node->add_attribute();
    a->set_name(branch);
    a->set_type(onnx::AttributeProto::GRAPH);
    onnx::GraphProto* sub = a->mutable_g();
    sub->set_name(branch);
    fill(sub, branch);
  }
}

inline onnx::NodeProto output_node(const std::string& input, const std::string& output, bool cast_to_float) {
  onnx::NodeProto n = unary_node(cast_to_float ? "Cast" : "Identity", input, output);
  if (cast_to_float) {
    onnx::AttributeProto* to = n.add_attribute();
    to->set_name("to");
    to->set_type(onnx::AttributeProto::INT);
    to->set_i(1);
  }
  return n;
}

// Sets `model` up as IR 8, ai.onnx opset 13, and returns its graph, named `name`.
inline onnx::GraphProto* opset13_graph(onnx::ModelProto& model, const std::string& name) {
  model.set_ir_version(8);
  onnx::OperatorSetIdProto* op = model.add_opset_import();
  op->set_domain("");
  op->set_version(13);
  onnx::GraphProto* g = model.mutable_graph();
  g->set_name(name);
  return g;
}

// A model without inputs whose output "y" is the weight "w" (Identity, or Cast to FLOAT with
// cast_to_float: onnxruntime-node has no bfloat16 tensors). With constant_in_if the weight is a Constant
// inside both branches of an If on a constant condition, under the same name, as sibling subgraphs may.
inline onnx::ModelProto weight_model(const TensorView& w, Storage storage, int64_t opset, bool cast_to_float = false) {
  onnx::ModelProto model;
  model.set_ir_version(opset >= 21 ? 10 : 8);
  model.set_producer_name("palettize-test");
  onnx::OperatorSetIdProto* op = model.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  onnx::GraphProto* g = model.mutable_graph();
  g->set_name("weight");
  const onnx::TensorProto value = tensor_proto("w", w);
  if (storage == Storage::initializer) {
    *g->add_initializer() = value;
    *g->add_node() = output_node("w", "y", cast_to_float);
  } else if (storage == Storage::constant) {
    *g->add_node() = constant_node("w", value);
    *g->add_node() = output_node("w", "y", cast_to_float);
  } else {
    add_constant_if(g, "y", [&](onnx::GraphProto* sub, const std::string& branch) {
      *sub->add_node() = constant_node("w", value);
      *sub->add_node() = output_node("w", "y_" + branch, cast_to_float);
      add_value_info(sub->mutable_output(), "y_" + branch, cast_to_float ? 1 : onnx_type(w.dtype), w.shape);
    });
  }
  add_value_info(g->mutable_output(), "y", cast_to_float ? 1 : onnx_type(w.dtype), w.shape);
  return model;
}

// ---- Reference interpreter ----

struct Value {
  int32_t type = 1;
  Shape shape;
  std::vector<double> v;  // exact element values (floats hold their float32/16 value)
};

inline std::vector<int64_t> strides_of(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

inline bool is_float_type(int32_t t) { return t == 1 || t == 10 || t == 16; }

inline double round_to_type(int32_t type, double x) {
  switch (type) {
    case 1: return static_cast<float>(x);
    case 10: return f16_to_f32(f32_to_f16(static_cast<float>(x)));
    case 16: return bf16_to_f32(f32_to_bf16(static_cast<float>(x)));
    case 2: case 3: case 6: case 7: return x;
    default: throw std::runtime_error("test interpreter: Cast to type " + std::to_string(type));
  }
}

inline Value from_proto(const onnx::TensorProto& t) {
  Value out;
  out.type = t.data_type();
  out.shape.assign(t.dims().begin(), t.dims().end());
  const int64_t n = shape_numel(out.shape);
  const std::string& raw = t.raw_data();
  auto read = [&](int64_t i, auto tag) {
    decltype(tag) x;
    if (static_cast<std::size_t>((i + 1) * sizeof(x)) > raw.size()) throw std::runtime_error("test: short raw_data");
    std::memcpy(&x, raw.data() + i * sizeof(x), sizeof(x));
    return x;
  };
  for (int64_t i = 0; i < n; ++i) {
    switch (out.type) {
      case 1: out.v.push_back(read(i, float{})); break;
      case 10: out.v.push_back(f16_to_f32(read(i, uint16_t{}))); break;
      case 16: out.v.push_back(bf16_to_f32(read(i, uint16_t{}))); break;
      case 2: out.v.push_back(read(i, uint8_t{})); break;
      case 3: out.v.push_back(read(i, int8_t{})); break;
      case 6: out.v.push_back(read(i, int32_t{})); break;
      case 7: out.v.push_back(static_cast<double>(read(i, int64_t{}))); break;
      case 17: out.v.push_back(e4m3fn_to_f32(read(i, uint8_t{}))); break;
      case 19: out.v.push_back(e5m2_to_f32(read(i, uint8_t{}))); break;
      default: throw std::runtime_error("test interpreter: tensor type " + std::to_string(out.type));
    }
  }
  return out;
}

inline Value broadcast(const Value& a, const Value& b, double (*f)(int32_t, double, double)) {
  if (a.type != b.type) throw std::runtime_error("test interpreter: mixed types in a binary op");
  const std::size_t rank = std::max(a.shape.size(), b.shape.size());
  Shape sa(rank - a.shape.size(), 1), sb(rank - b.shape.size(), 1), out_shape(rank);
  sa.insert(sa.end(), a.shape.begin(), a.shape.end());
  sb.insert(sb.end(), b.shape.begin(), b.shape.end());
  for (std::size_t i = 0; i < rank; ++i) {
    if (sa[i] != sb[i] && sa[i] != 1 && sb[i] != 1) throw std::runtime_error("test interpreter: bad broadcast");
    out_shape[i] = std::max(sa[i], sb[i]);
  }
  Value out{a.type, out_shape, std::vector<double>(static_cast<std::size_t>(shape_numel(out_shape)))};
  const auto so = strides_of(out_shape), ka = strides_of(sa), kb = strides_of(sb);
  for (int64_t i = 0; i < static_cast<int64_t>(out.v.size()); ++i) {
    int64_t ia = 0, ib = 0;
    for (std::size_t d = 0; d < rank; ++d) {
      const int64_t coord = (i / so[d]) % out_shape[d];
      ia += (sa[d] == 1 ? 0 : coord) * ka[d];
      ib += (sb[d] == 1 ? 0 : coord) * kb[d];
    }
    out.v[i] = f(a.type, a.v[ia], b.v[ib]);
  }
  return out;
}

inline double arith_result(int32_t type, double r) {
  if (type == 1) return static_cast<float>(r);
  if (type == 6) {
    if (r < INT32_MIN || r > INT32_MAX) throw std::runtime_error("test interpreter: int32 overflow");
    return r;
  }
  throw std::runtime_error("test interpreter: arithmetic on type " + std::to_string(type));
}

inline int64_t attr_int(const onnx::NodeProto& n, const std::string& name, int64_t fallback) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.i();
  return fallback;
}
inline std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return {a.ints().begin(), a.ints().end()};
  return {};
}

// Evaluates the value `output` of `graph` from its initializers (and Constant nodes).
class Interpreter {
 public:
  explicit Interpreter(const onnx::GraphProto& graph) : graph_(graph) {
    for (const auto& t : graph.initializer()) values_[t.name()] = from_proto(t);
  }

  const Value& eval(const std::string& name) {
    if (auto it = values_.find(name); it != values_.end()) return it->second;
    for (const auto& n : graph_.node())
      for (const auto& out : n.output())
        if (out == name) return values_[name] = run(n);
    throw std::runtime_error("test interpreter: no value " + name);
  }

 private:
  Value run(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    if (op == "Constant") return from_proto(n.attribute(0).t());
    const Value a = eval(n.input(0));
    if (op == "Identity") return a;
    if (op == "Cast") {
      Value out = a;
      out.type = static_cast<int32_t>(attr_int(n, "to", 0));
      for (double& x : out.v) x = round_to_type(out.type, x);
      return out;
    }
    if (op == "Transpose") return transpose(a, attr_ints(n, "perm"));
    if (op == "Slice") return slice(n, a);
    const Value b = eval(n.input(1));
    if (op == "Add") return broadcast(a, b, [](int32_t t, double x, double y) { return arith_result(t, x + y); });
    if (op == "Sub") return broadcast(a, b, [](int32_t t, double x, double y) { return arith_result(t, x - y); });
    if (op == "Mul")
      return broadcast(a, b, [](int32_t t, double x, double y) {
        return t == 1 ? double(static_cast<float>(x) * static_cast<float>(y)) : arith_result(t, x * y);
      });
    if (op == "Div")
      return broadcast(a, b, [](int32_t t, double x, double y) {
        if (t == 1) return double(static_cast<float>(x) / static_cast<float>(y));
        return arith_result(t, std::trunc(x / y));
      });
    if (op == "Mod")
      return broadcast(a, b, [](int32_t t, double x, double y) {
        if (t != 6 || y <= 0) throw std::runtime_error("test interpreter: Mod on non-int32 or divisor <= 0");
        return std::fmod(x, y) + (std::fmod(x, y) < 0 ? y : 0);  // integer Mod takes the divisor's sign
      });
    if (op == "Reshape") return reshape(a, b);
    if (op == "Gather") return gather(a, b, attr_int(n, "axis", 0));
    throw std::runtime_error("test interpreter: operator " + op);
  }

  static Value reshape(const Value& a, const Value& shape) {
    Value out = a;
    out.shape.clear();
    int64_t known = 1, infer = -1;
    for (std::size_t i = 0; i < shape.v.size(); ++i) {
      int64_t d = static_cast<int64_t>(shape.v[i]);
      if (d == 0) d = a.shape.at(i);
      if (d == -1) infer = static_cast<int64_t>(i);
      else known *= d;
      out.shape.push_back(d);
    }
    if (infer >= 0) out.shape[infer] = static_cast<int64_t>(a.v.size()) / known;
    if (shape_numel(out.shape) != static_cast<int64_t>(a.v.size())) throw std::runtime_error("test: bad Reshape");
    return out;
  }

  static Value gather(const Value& data, const Value& indices, int64_t axis) {
    if (axis < 0) axis += static_cast<int64_t>(data.shape.size());
    Shape out_shape(data.shape.begin(), data.shape.begin() + axis);
    out_shape.insert(out_shape.end(), indices.shape.begin(), indices.shape.end());
    out_shape.insert(out_shape.end(), data.shape.begin() + axis + 1, data.shape.end());
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= data.shape[i];
    for (std::size_t i = axis + 1; i < data.shape.size(); ++i) inner *= data.shape[i];
    const int64_t dim = data.shape[axis];
    Value out{data.type, out_shape, {}};
    for (int64_t o = 0; o < outer; ++o)
      for (double index : indices.v) {
        int64_t k = static_cast<int64_t>(index);
        if (k < 0) k += dim;
        if (k < 0 || k >= dim) throw std::runtime_error("test interpreter: Gather index out of range");
        for (int64_t i = 0; i < inner; ++i) out.v.push_back(data.v[(o * dim + k) * inner + i]);
      }
    return out;
  }

  static Value transpose(const Value& a, const std::vector<int64_t>& perm) {
    Shape out_shape;
    for (int64_t p : perm) out_shape.push_back(a.shape[p]);
    Value out{a.type, out_shape, std::vector<double>(a.v.size())};
    const auto si = strides_of(a.shape), so = strides_of(out_shape);
    for (int64_t i = 0; i < static_cast<int64_t>(a.v.size()); ++i) {
      int64_t src = 0;
      for (std::size_t d = 0; d < perm.size(); ++d) src += ((i / so[d]) % out_shape[d]) * si[perm[d]];
      out.v[i] = a.v[src];
    }
    return out;
  }

  Value slice(const onnx::NodeProto& n, const Value& a) {
    std::vector<int64_t> starts = attr_ints(n, "starts"), ends = attr_ints(n, "ends"), axes = attr_ints(n, "axes");
    auto ints_of = [&](int i) {
      const Value& v = eval(n.input(i));
      return std::vector<int64_t>(v.v.begin(), v.v.end());
    };
    if (n.input_size() >= 3) {
      starts = ints_of(1);
      ends = ints_of(2);
      if (n.input_size() >= 4) axes = ints_of(3);
    }
    if (a.shape.size() != 1 || axes != std::vector<int64_t>{0}) throw std::runtime_error("test: 1-D Slice only");
    Value out = a;
    out.v.assign(a.v.begin() + starts[0], a.v.begin() + std::min<int64_t>(ends[0], a.shape[0]));
    out.shape = {static_cast<int64_t>(out.v.size())};
    return out;
  }

  const onnx::GraphProto& graph_;
  std::map<std::string, Value> values_;
};

// The interpreter's result as a dense tensor of `dtype`.
inline Tensor to_tensor(const Value& value, DType dtype) {
  Tensor t;
  t.dtype = dtype;
  t.shape = value.shape;
  t.data.resize(value.v.size() * dtype_size(dtype));
  for (std::size_t i = 0; i < value.v.size(); ++i) store_from_f32(dtype, t.data.data(), i, static_cast<float>(value.v[i]));
  return t;
}

}  // namespace palettize::onnx_test
