// Validation of a safetensors header and data layout. Nothing read from the file is trusted: every size is
// checked against the file before use and every product goes through checked arithmetic.
#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <string>

#include "io/json_strict.hpp"
#include "palettize/error.hpp"
#include "palettize/safetensors.hpp"

namespace palettize {
namespace {

static_assert(std::endian::native == std::endian::little, "safetensors is little-endian; so is this code");

constexpr std::string_view kMetadataKey = "__metadata__";

uint64_t read_u64_le(const std::byte* bytes) {
  uint64_t value = 0;
  std::memcpy(&value, bytes, sizeof value);
  return value;
}

std::string tensor_label(std::string_view file_label, std::string_view name) {
  return detail::concat(file_label, ": tensor '", name, "'");
}

Metadata parse_metadata(const nlohmann::json& json, std::string_view file_label) {
  check(json.is_object(), file_label, ": \"__metadata__\" must be a JSON object of strings, got ", json.type_name());
  Metadata metadata;
  for (const auto& [key, value] : json.items()) {
    check(value.is_string(), file_label, ": \"__metadata__\" value of key \"", key, "\" must be a string, got ",
          value.type_name());
    metadata.emplace(key, value.get<std::string>());
  }
  return metadata;
}

uint64_t json_to_u64(const nlohmann::json& value, const std::string& label, std::string_view what) {
  check(value.is_number_unsigned() || (value.is_number_integer() && value.get<int64_t>() >= 0), label, ": ", what,
        " must be non-negative integers, got ", value.dump());
  return value.get<uint64_t>();
}

Shape parse_shape(const nlohmann::json& json, const std::string& label) {
  check(json.is_array(), label, ": \"shape\" must be an array, got ", json.type_name());
  check(json.size() <= kMaxSafetensorsRank, label, ": rank ", json.size(), " exceeds the limit of ",
        kMaxSafetensorsRank);
  Shape shape;
  for (const auto& dim : json) {
    uint64_t value = json_to_u64(dim, label, "shape dimensions");
    check(value <= uint64_t(std::numeric_limits<int64_t>::max()), label, ": shape dimension ", value, " is too large");
    shape.push_back(static_cast<int64_t>(value));
  }
  return shape;
}

DType parse_dtype(const nlohmann::json& json, const std::string& label) {
  check(json.is_string(), label, ": \"dtype\" must be a string, got ", json.type_name());
  try {
    return dtype_from_name(json.get<std::string>());
  } catch (const Error& error) {
    fail(label, ": ", error.what());
  }
}

uint64_t expected_byte_size(DType dtype, const Shape& shape, const std::string& label) {
  int64_t numel = 0;
  try {
    numel = shape_numel(shape);
  } catch (const Error& error) {
    fail(label, ": ", error.what());
  }
  uint64_t bytes = 0;
  check(!__builtin_mul_overflow(uint64_t(numel), uint64_t(dtype_size(dtype)), &bytes), label, ": shape ",
        shape_to_string(shape), " x ", dtype_name(dtype), " overflows 64 bits");
  return bytes;
}

TensorInfo parse_entry(const std::string& name, const nlohmann::json& json, uint64_t data_size,
                       std::string_view file_label) {
  const std::string label = tensor_label(file_label, name);
  check(!name.empty(), file_label, ": a tensor has an empty name");
  check(json.is_object(), label, ": entry must be a JSON object, got ", json.type_name());
  for (const auto& [key, value] : json.items()) {
    check(key == "dtype" || key == "shape" || key == "data_offsets", label, ": unexpected key \"", key,
          "\" (expected exactly dtype, shape, data_offsets)");
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) check(json.contains(key), label, ": missing \"", key, "\"");

  TensorInfo info;
  info.name = name;
  info.dtype = parse_dtype(json["dtype"], label);
  info.shape = parse_shape(json["shape"], label);
  const auto& offsets = json["data_offsets"];
  check(offsets.is_array() && offsets.size() == 2, label, ": \"data_offsets\" must be [begin, end], got ", offsets.dump());
  info.begin = json_to_u64(offsets[0], label, "data_offsets");
  info.end = json_to_u64(offsets[1], label, "data_offsets");
  check(info.begin <= info.end, label, ": data_offsets [", info.begin, ", ", info.end, "] has begin > end");
  check(info.end <= data_size, label, ": data_offsets [", info.begin, ", ", info.end,
        "] lie outside the data section of ", data_size, " bytes");
  const uint64_t expected = expected_byte_size(info.dtype, info.shape, label);
  check(info.byte_size() == expected, label, ": data_offsets [", info.begin, ", ", info.end, "] hold ",
        info.byte_size(), " bytes but shape ", shape_to_string(info.shape), " of ", dtype_name(info.dtype),
        " needs ", expected);
  return info;
}

// safetensors' own rule: the tensors, sorted by offset, tile the data section exactly.
void check_coverage(std::vector<TensorInfo>& tensors, uint64_t data_size, std::string_view file_label) {
  std::sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.end != b.end) return a.end < b.end;
    return a.name < b.name;
  });
  uint64_t covered = 0;
  const TensorInfo* previous = nullptr;
  for (const auto& info : tensors) {
    if (info.begin < covered) {
      fail(tensor_label(file_label, info.name), ": data_offsets [", info.begin, ", ", info.end,
           "] overlap tensor '", previous->name, "' at [", previous->begin, ", ", previous->end, "]");
    }
    check(info.begin == covered, tensor_label(file_label, info.name), ": data_offsets [", info.begin, ", ",
          info.end, "] leave a gap of ", info.begin - covered, " bytes after offset ", covered,
          " in the data section");
    covered = info.end;
    previous = &info;
  }
  check(covered == data_size, file_label, ": the tensors cover ", covered, " bytes of the data section but it holds ",
        data_size, " bytes (", data_size - covered, " trailing bytes belong to no tensor)");
}

}  // namespace

SafetensorsLayout parse_safetensors(std::span<const std::byte> file_bytes, std::string_view file_label) {
  check(file_bytes.size() >= 8, file_label, ": file is ", file_bytes.size(),
        " bytes, too short for a safetensors file (at least 8 bytes of header length)");
  const uint64_t header_size = read_u64_le(file_bytes.data());
  check(header_size <= kMaxSafetensorsHeaderBytes, file_label, ": header length ", header_size,
        " exceeds the limit of ", kMaxSafetensorsHeaderBytes, " bytes");
  check(header_size <= file_bytes.size() - 8, file_label, ": header length ", header_size,
        " is larger than the file allows (", file_bytes.size() - 8, " bytes after the length); truncated file?");
  check(header_size >= 2, file_label, ": header length ", header_size, " is too small for a JSON object");

  SafetensorsLayout layout;
  layout.data_offset = 8 + header_size;
  const uint64_t data_size = file_bytes.size() - layout.data_offset;
  const std::string_view header(reinterpret_cast<const char*>(file_bytes.data()) + 8, header_size);
  const std::string header_label = detail::concat(file_label, ": header");
  // Every valid header has depth 3 (object > entry > shape) and arrays of at most the rank limit, so
  // anything larger is refused while parsing, before it can allocate.
  io::JsonLimits limits{3, kMaxSafetensorsRank};
  const nlohmann::json json = io::parse_json_strict(header, header_label, limits);
  check(json.is_object(), header_label, " must be a JSON object, got ", json.type_name());

  const std::size_t tensor_count = json.size() - (json.contains(kMetadataKey) ? 1 : 0);
  check(tensor_count <= kMaxSafetensorsTensors, file_label, ": ", tensor_count, " tensors exceed the limit of ",
        kMaxSafetensorsTensors);
  layout.tensors.reserve(tensor_count);
  for (const auto& [key, value] : json.items()) {
    if (key == kMetadataKey) {
      layout.metadata = parse_metadata(value, file_label);
    } else {
      layout.tensors.push_back(parse_entry(key, value, data_size, file_label));
    }
  }
  check_coverage(layout.tensors, data_size, file_label);
  return layout;
}

}  // namespace palettize
