#include "onnx/decode_graph.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "onnx/onnx_tensor.hpp"
#include "palettize/dtype.hpp"
#include "palettize/error.hpp"
#include "palettize/packing.hpp"

namespace palettize::onnx_io {
namespace {

struct Attribute {
  std::string name;
  std::vector<int64_t> ints;  // one value = an INT attribute, several = INTS
  bool is_list = false;
};

Attribute int_attr(std::string name, int64_t value) { return {std::move(name), {value}, false}; }
Attribute ints_attr(std::string name, std::vector<int64_t> values) { return {std::move(name), std::move(values), true}; }

// Accumulates the nodes and initializers of one decode subgraph and tracks nothing else.
class Builder {
 public:
  explicit Builder(const GraphContext& context) : context_(context) {}

  int64_t opset() const { return context_.opset; }

  std::string data(onnx::TensorProto tensor) {
    std::string name = tensor.name();
    out_.initializers.push_back(std::move(tensor));
    return name;
  }
  std::string data(const std::string& preferred, int32_t type, const Shape& dims, std::span<const std::byte> bytes) {
    return data(make_tensor(context_.reserve(preferred), type, dims, bytes));
  }
  // A small constant, shared with the other decode subgraphs of the graph when one has the same content.
  std::string constant(onnx::TensorProto tensor) {
    std::string key = std::to_string(tensor.data_type()) + ":";
    for (int64_t d : tensor.dims()) key += std::to_string(d) + ",";
    key += ":" + tensor.raw_data();
    if (context_.shared_constants) {
      if (auto it = context_.shared_constants->find(key); it != context_.shared_constants->end()) return it->second;
    }
    tensor.set_name(context_.reserve(""));
    if (context_.shared_constants) (*context_.shared_constants)[key] = tensor.name();
    return data(std::move(tensor));
  }
  std::string i64(const Shape& values) {
    const Shape dims{static_cast<int64_t>(values.size())};
    return constant(make_int64_tensor("", dims, values));
  }
  std::string i32_scalar(int32_t value) { return constant(make_int32_tensor("", {}, std::span(&value, 1))); }
  std::string i32(const std::vector<int32_t>& values, const Shape& dims) {
    return constant(make_int32_tensor("", dims, values));
  }

  std::string node(const std::string& op, std::vector<std::string> inputs, std::vector<Attribute> attributes = {}) {
    onnx::NodeProto& n = out_.nodes.emplace_back();
    n.set_op_type(op);
    for (auto& input : inputs) n.add_input(std::move(input));
    const std::string output = context_.reserve("");
    n.add_output(output);
    for (const Attribute& a : attributes) {
      onnx::AttributeProto* proto = n.add_attribute();
      proto->set_name(a.name);
      if (a.is_list) {
        proto->set_type(onnx::AttributeProto::INTS);
        for (int64_t v : a.ints) proto->add_ints(v);
      } else {
        proto->set_type(onnx::AttributeProto::INT);
        proto->set_i(a.ints.at(0));
      }
    }
    return output;
  }
  std::string cast(const std::string& input, int32_t to) { return node("Cast", {input}, {int_attr("to", to)}); }
  std::string reshape(const std::string& input, const Shape& shape) { return node("Reshape", {input, i64(shape)}); }

  void set_part(const std::string& suffix, const std::string& name) { out_.part_names[suffix] = name; }
  DecodeSubgraph finish(const std::string& output_name) {
    check(!out_.nodes.empty(), "internal: empty decode subgraph for ", output_name);
    out_.nodes.back().set_output(0, output_name);
    return std::move(out_);
  }

 private:
  const GraphContext& context_;
  DecodeSubgraph out_;
};

const NamedTensor* find_part(std::span<const NamedTensor> parts, const std::string& name) {
  for (const NamedTensor& p : parts)
    if (p.name == name) return &p;
  return nullptr;
}

const NamedTensor& require_part(std::span<const NamedTensor> parts, const ContainerEntry& entry, std::string_view suffix) {
  const NamedTensor* part = find_part(parts, entry.name + std::string(suffix));
  check(part != nullptr, "internal: palettized tensor ", entry.name, " has no part ", suffix);
  return *part;
}

int64_t rank_of(const ContainerEntry& entry) { return static_cast<int64_t>(entry.shape.size()); }

// The index tensor with every axis that has several LUTs split as [NB_i, d_i / NB_i], and the block
// offsets (b * K) shaped to broadcast against it; empty offsets when there is one LUT.
struct BlockedIndexShape {
  Shape shape;
  Shape offsets_shape;
  int64_t num_luts = 1;
};

BlockedIndexShape blocked_index_shape(const ContainerEntry& entry) {
  BlockedIndexShape out;
  for (int64_t i = 0; i < rank_of(entry); ++i) {
    const int64_t blocks = entry.lut_shape[static_cast<std::size_t>(i)];
    const int64_t dim = entry.index_shape[static_cast<std::size_t>(i)];
    out.num_luts *= blocks;
    if (blocks == 1) {
      out.shape.push_back(dim);
      out.offsets_shape.push_back(1);
      continue;
    }
    check(dim % blocks == 0, "internal: index axis ", i, " of ", entry.name, " (", dim, ") is not a multiple of its ",
          blocks, " LUT blocks");
    out.shape.insert(out.shape.end(), {blocks, dim / blocks});
    out.offsets_shape.insert(out.offsets_shape.end(), {blocks, 1});
  }
  return out;
}

std::string slice_prefix(Builder& b, const std::string& input, int64_t count) {
  if (b.opset() < 10)
    return b.node("Slice", {input}, {ints_attr("starts", {0}), ints_attr("ends", {count}), ints_attr("axes", {0})});
  return b.node("Slice", {input, b.i64({0}), b.i64({count}), b.i64({0})});
}

// Packed bitstream -> INT32 indices with LUT block offsets added, shaped as blocked_index_shape().
std::string unpack_indices(Builder& b, const ContainerEntry& entry, const NamedTensor& packed_part) {
  const int n_bits = entry.spec.n_bits;
  const int64_t count = shape_numel(entry.index_shape);
  const PackingPeriod period = packing_period(n_bits);
  const int64_t periods = (count + period.indices - 1) / period.indices;

  std::vector<std::byte> padded(static_cast<std::size_t>(periods * period.bytes), std::byte{0});
  const auto& packed = packed_part.tensor.data;
  check(packed.size() == packed_size_bytes(static_cast<std::size_t>(count), n_bits) && packed.size() <= padded.size(),
        "internal: packed indices of ", entry.name, " have ", packed.size(), " bytes");
  std::copy(packed.begin(), packed.end(), padded.begin());

  const Shape data_shape = n_bits == 8 ? Shape{count} : Shape{periods, period.bytes};
  const std::string stored = b.data(packed_part.name, kUint8, data_shape, padded);
  b.set_part(std::string(kIndicesSuffix), stored);
  std::string x = b.cast(stored, kInt32);

  Shape current = data_shape;
  if (n_bits != 8) {
    std::vector<int32_t> low(period.indices), high(period.indices), divisor(period.indices);
    for (int64_t e = 0; e < period.indices; ++e) {
      const int64_t bit = e * n_bits;
      low[e] = static_cast<int32_t>(bit / 8);
      high[e] = static_cast<int32_t>(std::min(bit / 8 + 1, period.bytes - 1));
      divisor[e] = int32_t{1} << (bit % 8);
    }
    const Shape e_dims{period.indices};
    if (period.bytes > 1) {
      const std::string lo = b.node("Gather", {x, b.i32(low, e_dims)}, {int_attr("axis", 1)});
      const std::string hi = b.node("Gather", {x, b.i32(high, e_dims)}, {int_attr("axis", 1)});
      x = b.node("Add", {lo, b.node("Mul", {hi, b.i32_scalar(256)})});
    }
    const std::string shifted = b.node("Div", {x, b.i32(divisor, e_dims)});
    const std::string k = b.i32_scalar(static_cast<int32_t>(entry.spec.lut_size()));
    // Mod exists from opset 10; before, x mod K = x - (x / K) * K (all values are non-negative).
    x = b.opset() >= 10 ? b.node("Mod", {shifted, k})
                        : b.node("Sub", {shifted, b.node("Mul", {b.node("Div", {shifted, k}), k})});
    current = {periods, period.indices};
  }

  const BlockedIndexShape blocked = blocked_index_shape(entry);
  if (periods * period.indices != count) {
    x = slice_prefix(b, b.reshape(x, {periods * period.indices}), count);
    current = {count};
  }
  if (current != blocked.shape) x = b.reshape(x, blocked.shape);
  if (blocked.num_luts > 1) {
    std::vector<int32_t> offsets(static_cast<std::size_t>(blocked.num_luts));
    for (std::size_t i = 0; i < offsets.size(); ++i) offsets[i] = static_cast<int32_t>(i * entry.spec.lut_size());
    x = b.node("Add", {x, b.i32(offsets, blocked.offsets_shape)});
  }
  return x;
}

// Every FP8 value as FLOAT16: E5M2 is FLOAT16 with the low 8 mantissa bits cut off, and E4M3FN's range
// and precision (2^-9 .. 448, 3 mantissa bits) lie inside FLOAT16's, so each entry is exact.
onnx::TensorProto fp8_table(QuantDtype dtype) {
  std::vector<uint16_t> table(256);
  for (int code = 0; code < 256; ++code) {
    const auto bits = static_cast<uint8_t>(code);
    table[code] = f32_to_f16(dtype == QuantDtype::float8_e4m3fn ? e4m3fn_to_f32(bits) : e5m2_to_f32(bits));
  }
  return make_tensor("", kFloat16, Shape{256}, std::as_bytes(std::span<const uint16_t>(table)));
}

// Quantized LUT codes -> float32 values (q - zp) * scale, shaped [NB, K * V].
std::string dequantized_lut(Builder& b, const ContainerEntry& entry, std::span<const NamedTensor> parts,
                            int64_t num_luts) {
  const QuantDtype qdtype = entry.spec.lut_qspec->dtype;
  const NamedTensor& codes = require_part(parts, entry, kLutSuffix);
  const Shape code_dims{num_luts, entry.spec.lut_size() * entry.spec.cluster_dim};
  const Shape per_lut{num_luts, 1};
  std::string values;
  if (!is_float_quant_dtype(qdtype)) {
    const std::string stored = b.data(codes.name, onnx_type_of(codes.tensor.dtype), code_dims, codes.tensor.data);
    b.set_part(std::string(kLutSuffix), stored);
    values = b.cast(stored, kFloat);
    if (const NamedTensor* zp = find_part(parts, entry.name + std::string(kLutZeroPointSuffix))) {
      const std::string zp_name = b.data(zp->name, onnx_type_of(zp->tensor.dtype), per_lut, zp->tensor.data);
      b.set_part(std::string(kLutZeroPointSuffix), zp_name);
      values = b.node("Sub", {values, b.cast(zp_name, kFloat)});
    }
  } else if (b.opset() >= 19) {
    const std::string stored = b.data(codes.name, onnx_type_of(codes.tensor.dtype), code_dims, codes.tensor.data);
    b.set_part(std::string(kLutSuffix), stored);
    values = b.cast(stored, kFloat);
  } else {
    // Cast from FLOAT8 needs opset 19; older models look the codes up in a table of all 256 values.
    const std::string stored = b.data(codes.name, kUint8, code_dims, codes.tensor.data);
    b.set_part(std::string(kLutSuffix), stored);
    const std::string table = b.constant(fp8_table(qdtype));
    values = b.cast(b.node("Gather", {table, b.cast(stored, kInt32)}), kFloat);
  }
  const NamedTensor& scale = require_part(parts, entry, kLutScaleSuffix);
  const std::string scale_name = b.data(scale.name, kFloat, per_lut, scale.tensor.data);
  b.set_part(std::string(kLutScaleSuffix), scale_name);
  return b.node("Mul", {values, scale_name});
}

// The LUT as Gather data: [NB * K] for scalars, [NB * K, V] for vectors, in the weight dtype.
std::string lut_values(Builder& b, const ContainerEntry& entry, std::span<const NamedTensor> parts, int64_t num_luts) {
  const int64_t rows = num_luts * entry.spec.lut_size();
  const int64_t dim = entry.spec.cluster_dim;
  const Shape gather_shape = dim == 1 ? Shape{rows} : Shape{rows, dim};
  if (!entry.spec.lut_qspec) {
    const NamedTensor& lut = require_part(parts, entry, kLutSuffix);
    const std::string stored = b.data(lut.name, onnx_type_of(entry.dtype), gather_shape, lut.tensor.data);
    b.set_part(std::string(kLutSuffix), stored);
    return stored;
  }
  std::string values = dequantized_lut(b, entry, parts, num_luts);
  if (entry.dtype != DType::F32) values = b.cast(values, onnx_type_of(entry.dtype));
  return b.reshape(values, gather_shape);
}

// Gathered values [blocked index shape (, V)] -> the weight's shape.
std::string to_weight_shape(Builder& b, const ContainerEntry& entry, const std::string& gathered,
                            const Shape& gathered_shape) {
  const int64_t dim = entry.spec.cluster_dim;
  if (dim == 1) return gathered_shape == entry.shape ? gathered : b.reshape(gathered, entry.shape);
  const int64_t rows = entry.index_shape[0];
  const int64_t rest = shape_numel(entry.shape) / entry.shape[0];
  const std::string grid = b.reshape(gathered, {rows, rest, dim});
  const std::string transposed = b.node("Transpose", {grid}, {ints_attr("perm", {0, 2, 1})});
  return b.reshape(transposed, entry.shape);
}

std::string apply_channel_scale(Builder& b, const ContainerEntry& entry, std::span<const NamedTensor> parts,
                                const std::string& weight) {
  const NamedTensor& scale = require_part(parts, entry, kChannelScaleSuffix);
  const int32_t type = onnx_type_of(entry.dtype);
  const std::string stored = b.data(scale.name, type, scale.tensor.shape, scale.tensor.data);
  b.set_part(std::string(kChannelScaleSuffix), stored);
  if (entry.dtype == DType::F32) return b.node("Mul", {weight, stored});
  // float32(entry) * float32(scale), rounded once to the weight dtype, as palettize::decode does.
  const std::string product = b.node("Mul", {b.cast(weight, kFloat), b.cast(stored, kFloat)});
  return b.cast(product, type);
}

}  // namespace

PackingPeriod packing_period(int n_bits) {
  check(n_bits >= 1 && n_bits <= 8, "internal: n_bits ", n_bits, " out of range");
  const int64_t indices = 8 / std::gcd(n_bits, 8);
  return {indices, indices * n_bits / 8};
}

DecodeSubgraph build_decode_subgraph(const ContainerEntry& entry, std::span<const NamedTensor> parts,
                                     const std::string& output_name, const GraphContext& context) {
  check(context.opset >= 7, "ONNX opset ", context.opset, " is too old for palettized tensors (needs 7 or later)");
  Builder b(context);
  const BlockedIndexShape blocked = blocked_index_shape(entry);
  const std::string indices = unpack_indices(b, entry, require_part(parts, entry, kIndicesSuffix));
  const std::string lut = lut_values(b, entry, parts, blocked.num_luts);
  std::string weight = b.node("Gather", {lut, indices}, {int_attr("axis", 0)});
  Shape gathered_shape = blocked.shape;
  if (entry.spec.cluster_dim > 1) gathered_shape.push_back(entry.spec.cluster_dim);
  weight = to_weight_shape(b, entry, weight, gathered_shape);
  if (entry.spec.enable_per_channel_scale) weight = apply_channel_scale(b, entry, parts, weight);
  // The last node must compute the output; a bare LUT initializer cannot occur (there is always a Gather).
  return b.finish(output_name);
}

}  // namespace palettize::onnx_io
