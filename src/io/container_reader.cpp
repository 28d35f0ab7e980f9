// Container v1, reading side. A container is untrusted input: its metadata is parsed strictly and every
// part is checked against the entry before a single value is used.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <set>

#include "io/json_strict.hpp"
#include "palettize/container.hpp"
#include "palettize/error.hpp"
#include "palettize/lut_quant.hpp"
#include "palettize/packing.hpp"
#include "palettize/spec_json.hpp"

namespace palettize {
namespace {

Shape parse_shape(const nlohmann::json& json, const std::string& label, const char* key) {
  check(json.is_array(), label, ": \"", key, "\" must be an array of integers");
  Shape shape;
  for (const auto& dim : json) {
    check(dim.is_number_integer() && dim.get<int64_t>() >= 0 && !(dim.is_number_unsigned() && dim.get<uint64_t>() > uint64_t(INT64_MAX)),
          label, ": \"", key, "\" must hold non-negative integers, got ", json.dump());
    shape.push_back(dim.get<int64_t>());
  }
  return shape;
}

ContainerEntry parse_entry(const std::string& name, const nlohmann::json& json, std::string_view file_label) {
  const std::string label = detail::concat(file_label, ": palettized tensor '", name, "'");
  check(json.is_object(), label, ": description must be a JSON object");
  for (const auto& [key, value] : json.items()) {
    check(key == "shape" || key == "dtype" || key == "spec" || key == "index_shape", label, ": unexpected key \"", key,
          "\" (expected shape, dtype, spec, index_shape)");
  }
  for (const char* key : {"shape", "dtype", "spec", "index_shape"}) {
    check(json.contains(key), label, ": missing \"", key, "\"");
  }
  const Shape shape = parse_shape(json["shape"], label, "shape");
  const Shape index_shape = parse_shape(json["index_shape"], label, "index_shape");
  check(json["dtype"].is_string(), label, ": \"dtype\" must be a string");
  try {
    const DType dtype = dtype_from_name(json["dtype"].get<std::string>());
    const PalettizationSpec spec = spec_from_json(json["spec"]);
    check(spec.with_resolved_axis() == spec, "the spec's grouped axis must be recorded");
    ContainerEntry entry = make_container_entry(name, dtype, shape, spec);
    check(entry.index_shape == index_shape, "index_shape ", shape_to_string(index_shape), " differs from ",
          shape_to_string(entry.index_shape), " derived from the shape and spec");
    return entry;
  } catch (const Error& error) {
    fail(label, ": ", error.what());
  } catch (const nlohmann::json::exception& error) {
    fail(label, ": ", error.what());
  }
}

// One part, present with exactly the declared dtype, shape and byte size.
TensorView part_view(const TensorDecl& decl, const TensorLookup& lookup, const std::string& label) {
  const std::optional<TensorView> view = lookup(decl.name);
  check(view.has_value(), label, ": part '", decl.name, "' is missing");
  check(view->dtype == decl.dtype, label, ": part '", decl.name, "' has dtype ", dtype_name(view->dtype),
        ", expected ", dtype_name(decl.dtype));
  check(view->shape == decl.shape, label, ": part '", decl.name, "' has shape ", shape_to_string(view->shape),
        ", expected ", shape_to_string(decl.shape));
  check(view->data.size() == decl.byte_size(), label, ": part '", decl.name, "' holds ", view->data.size(),
        " bytes, expected ", decl.byte_size());
  return *view;
}

std::vector<float> finite_floats(const TensorView& view, const std::string& label, const char* what, bool positive) {
  std::vector<float> values(view.data.size() / dtype_size(view.dtype));
  if (view.dtype == DType::F32) {
    if (!values.empty()) std::memcpy(values.data(), view.data.data(), view.data.size());
  } else {
    values = to_f32(view);
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    check(std::isfinite(values[i]) && (!positive || values[i] > 0), label, ": ", what, " ", i, " is ", values[i],
          positive ? " (must be finite and positive)" : " (must be finite)");
  }
  return values;
}

std::vector<uint8_t> raw_u8(const TensorView& view) {
  std::vector<uint8_t> bytes(view.data.size());
  if (!bytes.empty()) std::memcpy(bytes.data(), view.data.data(), bytes.size());
  return bytes;
}

// lut = dtype((q - zp) * scale) per LUT, as the format defines.
void dequantize_lut(PalettizedTensor& p, const std::string& label) {
  const QuantizationSpec& qspec = *p.spec.lut_qspec;
  const std::size_t entries = static_cast<std::size_t>(p.lut_entries());
  p.lut.resize(p.quantized_lut.size());
  for (std::size_t i = 0; i < p.lut.size(); ++i) {
    const std::size_t table = i / entries;
    const LutQuantParams params{p.lut_scale[table], p.lut_zero_point.empty() ? 0 : p.lut_zero_point[table]};
    p.lut[i] = round_to_dtype(p.dtype, dequantize_lut_code(p.quantized_lut[i], params, qspec));
    check(std::isfinite(p.lut[i]), label, ": LUT code ", int{p.quantized_lut[i]}, " at entry ", i,
          " dequantizes to ", p.lut[i]);
  }
}

}  // namespace

bool is_container(const Metadata& metadata) { return metadata.contains(std::string(kContainerVersionKey)); }

std::vector<ContainerEntry> parse_container_metadata(const Metadata& metadata, std::string_view file_label) {
  const auto version = metadata.find(std::string(kContainerVersionKey));
  const auto tensors = metadata.find(std::string(kContainerTensorsKey));
  if (version == metadata.end() && tensors == metadata.end()) return {};
  check(version != metadata.end(), file_label, ": metadata has \"", kContainerTensorsKey, "\" but no \"",
        kContainerVersionKey, "\"");
  check(version->second == kContainerVersion, file_label, ": unsupported palettize container version \"",
        version->second, "\" (this build reads version ", kContainerVersion, ")");
  check(tensors != metadata.end(), file_label, ": metadata has \"", kContainerVersionKey, "\" but no \"",
        kContainerTensorsKey, "\"");
  const std::string label = detail::concat(file_label, ": \"", kContainerTensorsKey, "\"");
  const nlohmann::json json = io::parse_json_strict(tensors->second, label, io::JsonLimits{8, kMaxSafetensorsRank});
  check(json.is_object(), label, " must be a JSON object, got ", json.type_name());
  check(json.size() <= kMaxSafetensorsTensors, label, ": too many entries");
  std::vector<ContainerEntry> entries;
  for (const auto& [name, value] : json.items()) entries.push_back(parse_entry(name, value, file_label));
  return entries;  // nlohmann objects iterate in key order: already sorted by name
}

std::vector<ContainerEntry> read_container_entries(const Checkpoint& checkpoint) {
  std::vector<ContainerEntry> all;
  std::set<std::string> seen;
  for (std::size_t shard = 0; shard < checkpoint.shard_files().size(); ++shard) {
    const SafetensorsReader& reader = checkpoint.shard(shard);
    const std::string label = reader.path().string();
    for (auto& entry : parse_container_metadata(reader.metadata(), label)) {
      check(seen.insert(entry.name).second, label, ": palettized tensor '", entry.name,
            "' is also listed by another shard");
      check(!checkpoint.contains(entry.name), label, ": palettized tensor '", entry.name,
            "' is also stored as a dense tensor");
      for (const auto& part : container_part_names(entry)) {
        check(reader.contains(part), label, ": part '", part, "' of palettized tensor '", entry.name,
              "' is missing from this file");
      }
      all.push_back(std::move(entry));
    }
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return all;
}

PalettizedTensor load_palettized(const ContainerEntry& entry, const TensorLookup& lookup, std::string_view file_label) {
  const std::string label = detail::concat(file_label, ": palettized tensor '", entry.name, "'");
  const std::vector<TensorDecl> parts = container_parts(entry);
  std::size_t next = 0;
  PalettizedTensor p;
  p.dtype = entry.dtype;
  p.shape = entry.shape;
  p.spec = entry.spec;
  p.lut_shape = entry.lut_shape;
  p.index_shape = entry.index_shape;

  const TensorView lut = part_view(parts[next++], lookup, label);
  const TensorView indices = part_view(parts[next++], lookup, label);
  const auto index_count = static_cast<std::size_t>(shape_numel(entry.index_shape));
  try {
    p.indices.resize(index_count);
    unpack_indices_into(raw_u8(indices), entry.spec.n_bits, p.indices);
  } catch (const Error& error) {
    fail(label, ": ", error.what());
  }
  for (std::size_t i = 0; i < p.indices.size(); ++i) {
    check(p.indices[i] < entry.spec.lut_size(), label, ": index ", i, " is ", int{p.indices[i]}, " but the LUT has ",
          entry.spec.lut_size(), " entries");
  }
  if (entry.spec.lut_qspec) {
    p.quantized_lut = raw_u8(lut);
    p.lut_scale = finite_floats(part_view(parts[next++], lookup, label), label, "LUT scale", true);
    if (!is_float_quant_dtype(entry.spec.lut_qspec->dtype)) {
      const TensorView zero_points = part_view(parts[next++], lookup, label);
      for (const std::byte code : zero_points.data) {
        const auto raw = std::to_integer<uint8_t>(code);
        p.lut_zero_point.push_back(zero_points.dtype == DType::I8 ? int32_t{static_cast<int8_t>(raw)} : int32_t{raw});
      }
    }
    dequantize_lut(p, label);
  } else {
    p.lut = finite_floats(lut, label, "LUT entry", false);
  }
  if (entry.spec.enable_per_channel_scale) {
    p.channel_scale = finite_floats(part_view(parts[next++], lookup, label), label, "channel scale", false);
  }
  try {
    validate(p);
  } catch (const Error& error) {
    fail(label, ": ", error.what());
  }
  return p;
}

PalettizedTensor load_palettized(const ContainerEntry& entry, const Checkpoint& checkpoint) {
  check(checkpoint.contains(entry.name + std::string(kLutSuffix)), checkpoint.path().string(),
        ": part '", entry.name, kLutSuffix, "' of palettized tensor '", entry.name, "' is missing");
  const SafetensorsReader& shard = checkpoint.shard(checkpoint.entry(entry.name + std::string(kLutSuffix)).shard);
  TensorLookup lookup = [&shard](const std::string& name) -> std::optional<TensorView> {
    if (!shard.contains(name)) return std::nullopt;
    return shard.view(name);
  };
  return load_palettized(entry, lookup, shard.path().string());
}

}  // namespace palettize
