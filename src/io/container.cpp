// Container v1, writing side: entries, part declarations, part bytes and metadata (docs/FORMAT.md).
#include "palettize/container.hpp"

#include <bit>
#include <cstring>
#include <set>

#include "palettize/error.hpp"
#include "palettize/packing.hpp"
#include "palettize/spec_json.hpp"

namespace palettize {
namespace {

static_assert(std::endian::native == std::endian::little, "container parts are little-endian");

// Bound on a palettized tensor's elements: keeps every derived count (LUT entries <= 2^8 x elements, index
// bits <= 8 x elements) far from 64-bit overflow, whatever a hostile container declares.
constexpr int64_t kMaxPalettizedElements = int64_t{1} << 48;

DType lut_storage_dtype(const ContainerEntry& entry) {
  if (!entry.spec.lut_qspec) return entry.dtype;
  switch (entry.spec.lut_qspec->dtype) {
    case QuantDtype::int8: return DType::I8;
    case QuantDtype::uint8: return DType::U8;
    case QuantDtype::float8_e4m3fn: return DType::F8_E4M3;
    case QuantDtype::float8_e5m2: return DType::F8_E5M2;
    default: fail("tensor '", entry.name, "': LUT dtype ", to_string(entry.spec.lut_qspec->dtype),
                  " cannot be stored (int8, uint8, float8_e4m3fn or float8_e5m2)");
  }
}

bool has_zero_point(const ContainerEntry& entry) {
  return entry.spec.lut_qspec && !is_float_quant_dtype(entry.spec.lut_qspec->dtype);
}

// [NB_0, ..., NB_{R-1}, 1, 1]
Shape lut_param_shape(const ContainerEntry& entry) {
  Shape shape(entry.lut_shape.begin(), entry.lut_shape.end() - 2);
  shape.push_back(1);
  shape.push_back(1);
  return shape;
}

Shape channel_scale_shape(const ContainerEntry& entry) {
  Shape shape(entry.shape.size(), 1);
  shape[0] = entry.shape[0];
  return shape;
}

template <typename Value>
std::vector<std::byte> raw_bytes(const std::vector<Value>& values) {
  std::vector<std::byte> bytes(values.size() * sizeof(Value));
  if (!bytes.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

// Floats that must already be exact in `dtype`: the container stores them without further rounding.
std::vector<std::byte> exact_dtype_bytes(const std::vector<float>& values, DType dtype, const std::string& label) {
  std::vector<std::byte> bytes(values.size() * dtype_size(dtype));
  for (std::size_t i = 0; i < values.size(); ++i) {
    const float rounded = round_to_dtype(dtype, values[i]);
    check(std::bit_cast<uint32_t>(rounded) == std::bit_cast<uint32_t>(values[i]), label, " entry ", i, " (",
          values[i], ") is not exactly representable in ", dtype_name(dtype));
    store_from_f32(dtype, bytes.data(), i, values[i]);
  }
  return bytes;
}

std::vector<std::byte> zero_point_bytes(const std::vector<int32_t>& zero_points, DType dtype, const std::string& label) {
  const int32_t low = dtype == DType::I8 ? -128 : 0;
  const int32_t high = dtype == DType::I8 ? 127 : 255;
  std::vector<std::byte> bytes(zero_points.size());
  for (std::size_t i = 0; i < zero_points.size(); ++i) {
    check(zero_points[i] >= low && zero_points[i] <= high, label, " LUT zero point ", zero_points[i],
          " does not fit ", dtype_name(dtype));
    bytes[i] = std::byte(static_cast<uint8_t>(zero_points[i]));
  }
  return bytes;
}

void check_count(std::size_t actual, int64_t expected, const std::string& label, const char* part) {
  check(static_cast<int64_t>(actual) == expected, label, ": ", part, " holds ", actual, " values, expected ", expected);
}

}  // namespace

ContainerEntry make_container_entry(std::string name, DType dtype, Shape shape, const PalettizationSpec& spec) {
  const std::string label = detail::concat("tensor '", name, "'");
  check(!name.empty(), "a palettized tensor has an empty name");
  check(is_palettizable(dtype), label, ": dtype ", dtype_name(dtype), " is not palettizable (F32, F16 or BF16)");
  check(!shape.empty() && shape.size() + 2 <= kMaxSafetensorsRank, label, ": rank ", shape.size(),
        " is outside 1..", kMaxSafetensorsRank - 2);
  int64_t numel = 0;
  try {
    numel = shape_numel(shape);
  } catch (const Error& error) {
    fail(label, ": ", error.what());
  }
  check(numel > 0 && numel <= kMaxPalettizedElements, label, ": shape ", shape_to_string(shape), " has ", numel,
        " elements; palettized tensors hold 1 to 2^48 elements");
  ContainerEntry entry{std::move(name), dtype, std::move(shape), spec.with_resolved_axis(), {}, {}};
  PalettizedLayout layout;
  try {
    layout = palettized_layout(entry.shape, entry.spec);
  } catch (const IncompatibleSpecError& error) {
    throw IncompatibleSpecError(detail::concat(label, " of shape ", shape_to_string(entry.shape), ": ", error.what()));
  } catch (const Error& error) {
    fail(label, ": ", error.what());
  }
  entry.lut_shape = std::move(layout.lut_shape);
  entry.index_shape = std::move(layout.index_shape);
  return entry;
}

std::vector<TensorDecl> container_parts(const ContainerEntry& entry) {
  const auto indices = static_cast<int64_t>(
      packed_size_bytes(static_cast<std::size_t>(shape_numel(entry.index_shape)), entry.spec.n_bits));
  std::vector<TensorDecl> parts;
  parts.push_back({entry.name + std::string(kLutSuffix), lut_storage_dtype(entry), entry.lut_shape});
  parts.push_back({entry.name + std::string(kIndicesSuffix), DType::U8, {indices}});
  if (entry.spec.lut_qspec) {
    parts.push_back({entry.name + std::string(kLutScaleSuffix), DType::F32, lut_param_shape(entry)});
    if (has_zero_point(entry)) {
      parts.push_back({entry.name + std::string(kLutZeroPointSuffix), lut_storage_dtype(entry), lut_param_shape(entry)});
    }
  }
  if (entry.spec.enable_per_channel_scale) {
    parts.push_back({entry.name + std::string(kChannelScaleSuffix), entry.dtype, channel_scale_shape(entry)});
  }
  return parts;
}

std::vector<std::string> container_part_names(const ContainerEntry& entry) {
  std::vector<std::string> names;
  for (auto& part : container_parts(entry)) names.push_back(std::move(part.name));
  return names;
}

namespace {

// Indices per piece when the packed indices are streamed: a multiple of 8, so each piece is whole bytes.
constexpr std::size_t kIndicesPerPiece = std::size_t{1} << 22;
// Where container_parts puts the indices: after the LUT.
constexpr std::size_t kIndicesPart = 1;

// encode_palettized; without `pack_indices`, the indices part is left empty for the caller to stream.
std::vector<NamedTensor> encoded_parts(const ContainerEntry& entry, const PalettizedTensor& p, bool pack_indices) {
  const std::string label = detail::concat("tensor '", entry.name, "'");
  check(p.dtype == entry.dtype && p.shape == entry.shape, label, ": palettized tensor is ", dtype_name(p.dtype), " ",
        shape_to_string(p.shape), " but the container entry is ", dtype_name(entry.dtype), " ",
        shape_to_string(entry.shape));
  check(p.spec == entry.spec, label, ": palettized with spec ", spec_to_json_string(p.spec),
        " but the container entry says ", spec_to_json_string(entry.spec));
  check(p.lut_shape == entry.lut_shape && p.index_shape == entry.index_shape, label, ": LUT shape ",
        shape_to_string(p.lut_shape), " / index shape ", shape_to_string(p.index_shape), " differ from the expected ",
        shape_to_string(entry.lut_shape), " / ", shape_to_string(entry.index_shape));
  const int64_t lut_values = shape_numel(entry.lut_shape);
  const int64_t num_luts = lut_values / p.lut_entries();
  check_count(p.lut.size(), lut_values, label, "the LUT");
  check_count(p.indices.size(), shape_numel(entry.index_shape), label, "the index tensor");

  std::vector<TensorDecl> parts = container_parts(entry);
  std::vector<NamedTensor> out;
  auto add = [&](std::vector<std::byte> bytes) {
    const TensorDecl& decl = parts[out.size()];
    out.push_back({decl.name, Tensor{decl.dtype, decl.shape, std::move(bytes)}});
  };
  if (entry.spec.lut_qspec) {
    check_count(p.quantized_lut.size(), lut_values, label, "the quantized LUT");
    add(raw_bytes(p.quantized_lut));
  } else {
    add(exact_dtype_bytes(p.lut, entry.dtype, label + " LUT"));
  }
  std::vector<std::byte> packed(pack_indices ? packed_size_bytes(p.indices.size(), entry.spec.n_bits) : 0);
  if (pack_indices) {
    try {
      pack_indices_into(p.indices, entry.spec.n_bits,
                        std::span<uint8_t>(reinterpret_cast<uint8_t*>(packed.data()), packed.size()));
    } catch (const Error& error) {
      fail(label, ": ", error.what());
    }
  }
  add(std::move(packed));
  if (entry.spec.lut_qspec) {
    check_count(p.lut_scale.size(), num_luts, label, "the LUT scales");
    add(raw_bytes(p.lut_scale));
    if (has_zero_point(entry)) {
      check_count(p.lut_zero_point.size(), num_luts, label, "the LUT zero points");
      add(zero_point_bytes(p.lut_zero_point, lut_storage_dtype(entry), label));
    }
  }
  if (entry.spec.enable_per_channel_scale) {
    check_count(p.channel_scale.size(), entry.shape[0], label, "the channel scales");
    add(exact_dtype_bytes(p.channel_scale, entry.dtype, label + " channel scale"));
  }
  for (const auto& part : out) {
    const bool streamed = !pack_indices && part.name == parts[kIndicesPart].name;
    check(streamed || part.tensor.data.size() == TensorDecl{part.name, part.tensor.dtype, part.tensor.shape}.byte_size(),
          label, ": part ", part.name, " has the wrong byte size");
  }
  return out;
}

}  // namespace

std::vector<NamedTensor> encode_palettized(const ContainerEntry& entry, const PalettizedTensor& p) {
  return encoded_parts(entry, p, true);
}

void write_palettized(CheckpointWriter& writer, const ContainerEntry& entry, const PalettizedTensor& p) {
  const std::vector<NamedTensor> parts = encoded_parts(entry, p, false);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i != kIndicesPart) {
      writer.write_tensor(parts[i].name, parts[i].tensor.data);
      continue;
    }
    // The indices, packed piece by piece into one buffer instead of all at once: no copy of the whole
    // packed stream in memory (8 MB for 16 M indices at 4 bits), and no page faults for one.
    const int n_bits = entry.spec.n_bits;
    const std::span<const uint8_t> indices(p.indices);
    std::vector<uint8_t> piece(packed_size_bytes(std::min(indices.size(), kIndicesPerPiece), n_bits));
    writer.begin_tensor(parts[i].name);
    for (std::size_t begin = 0; begin < indices.size(); begin += kIndicesPerPiece) {
      const std::span<const uint8_t> chunk = indices.subspan(begin, std::min(kIndicesPerPiece, indices.size() - begin));
      const std::span<uint8_t> bytes(piece.data(), packed_size_bytes(chunk.size(), n_bits));
      try {
        pack_indices_into(chunk, n_bits, bytes);
      } catch (const Error& error) {
        // Named by its position among all the indices, as encode_palettized names it.
        try {
          (void)pack_indices(indices, n_bits);
        } catch (const Error& whole) {
          fail("tensor '", entry.name, "': ", whole.what());
        }
        fail("tensor '", entry.name, "': ", error.what());
      }
      writer.append(std::as_bytes(bytes));
    }
    writer.end_tensor();
  }
}

nlohmann::json container_entry_json(const ContainerEntry& entry) {
  return {{"shape", entry.shape},
          {"dtype", std::string(dtype_name(entry.dtype))},
          {"spec", spec_to_json(entry.spec)},
          {"index_shape", entry.index_shape}};
}

Metadata container_metadata(const Metadata& base, std::span<const ContainerEntry> entries) {
  for (const auto& [key, value] : base) {
    check(!key.starts_with("palettize."), "input metadata already has key \"", key,
          "\": the input is already a palettize container");
  }
  nlohmann::json tensors = nlohmann::json::object();
  for (const auto& entry : entries) {
    check(!tensors.contains(entry.name), "tensor '", entry.name, "' is palettized twice");
    tensors[entry.name] = container_entry_json(entry);
  }
  Metadata metadata = base;
  metadata.emplace(kContainerVersionKey, kContainerVersion);
  metadata.emplace(kContainerTensorsKey, tensors.dump());
  return metadata;
}

void check_container_names(std::span<const std::string> input_names, std::span<const ContainerEntry> entries) {
  std::set<std::string_view> taken(input_names.begin(), input_names.end());
  std::set<std::string> parts;
  for (const auto& entry : entries) {
    for (const auto& part : container_part_names(entry)) {
      check(!taken.contains(part), "cannot palettize tensor '", entry.name, "': the output would need a tensor named '",
            part, "' but the input already has one");
      check(parts.insert(part).second, "cannot palettize tensor '", entry.name, "': its part name '", part,
            "' clashes with a part of another palettized tensor");
    }
  }
}

}  // namespace palettize
