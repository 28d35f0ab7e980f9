#pragma once
// The palettize container format v1 (docs/FORMAT.md): a plain safetensors file (or sharded checkpoint) in
// which each palettized tensor NAME of rank R is stored as
//   NAME.lut             [NB_0, ..., NB_{R-1}, 2^n_bits, cluster_dim], original dtype, or I8/U8/F8_E4M3/F8_E5M2
//                        codes when the spec has a lut_qspec
//   NAME.indices         U8 [packed_size_bytes(numel(index_shape), n_bits)], the packed index bitstream
//   NAME.lut_scale       F32 [NB_0, ..., NB_{R-1}, 1, 1]                 (only with lut_qspec)
//   NAME.lut_zero_point  I8/U8 like the LUT, [NB_0, ..., NB_{R-1}, 1, 1] (only with an int8/uint8 lut_qspec)
//   NAME.channel_scale   original dtype, [O, 1, ..., 1] (rank R)         (only with enable_per_channel_scale)
// and described in "__metadata__" by "palettize.version": "1" and "palettize.tensors", a JSON string
// {NAME: {"shape", "dtype", "spec", "index_shape"}}. Every other tensor is stored unchanged.
// In a sharded checkpoint each shard is such a file for the tensors it holds; all parts of NAME live in
// the same shard and that shard's "palettize.tensors" lists NAME.
//
// Layouts depend only on (shape, dtype, spec), so a writer can declare every output tensor before
// palettizing anything and then stream the parts tensor by tensor.
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "palettize/engine.hpp"
#include "palettize/safetensors.hpp"

namespace palettize {

inline constexpr std::string_view kContainerVersionKey = "palettize.version";
inline constexpr std::string_view kContainerTensorsKey = "palettize.tensors";
inline constexpr std::string_view kContainerVersion = "1";

// Part name suffixes, in the order the parts are stored.
inline constexpr std::string_view kLutSuffix = ".lut";
inline constexpr std::string_view kIndicesSuffix = ".indices";
inline constexpr std::string_view kLutScaleSuffix = ".lut_scale";
inline constexpr std::string_view kLutZeroPointSuffix = ".lut_zero_point";
inline constexpr std::string_view kChannelScaleSuffix = ".channel_scale";

// One palettized tensor as the container describes it.
struct ContainerEntry {
  std::string name;
  DType dtype = DType::F32;  // original dtype: F32, F16 or BF16
  Shape shape;               // original shape, rank >= 1
  PalettizationSpec spec;    // grouped axis resolved
  Shape index_shape;         // shape with dim 0 divided by cluster_dim
  Shape lut_shape;           // [NB_0, ..., NB_{R-1}, 2^n_bits, cluster_dim]
};

// Builds the entry for palettizing `name` (shape, dtype) with `spec`. Throws Error (naming the tensor) when
// the dtype is not palettizable, the spec is invalid or does not fit the shape (rank, group_size and
// cluster_dim divisibility), or the shape's rank exceeds kMaxSafetensorsRank - 2.
ContainerEntry make_container_entry(std::string name, DType dtype, Shape shape, const PalettizationSpec& spec);

// Declarations of the entry's parts, in storage order (lut, indices, [lut_scale, [lut_zero_point]],
// [channel_scale]). Feed them to SafetensorsWriter / ShardPlan.
std::vector<TensorDecl> container_parts(const ContainerEntry& entry);
// The same names only.
std::vector<std::string> container_part_names(const ContainerEntry& entry);

// The parts' bytes for a palettized tensor, matching container_parts(entry) one for one. Throws Error when
// `palettized` does not match the entry (shape, dtype, spec, sizes of every field).
std::vector<NamedTensor> encode_palettized(const ContainerEntry& entry, const PalettizedTensor& palettized);
// The same parts written to `writer` in order, the packed indices streamed piece by piece (never whole in
// memory). The writer must expect these parts next.
void write_palettized(CheckpointWriter& writer, const ContainerEntry& entry, const PalettizedTensor& palettized);

// JSON value of one entry in "palettize.tensors": {"shape", "dtype", "spec", "index_shape"}.
nlohmann::json container_entry_json(const ContainerEntry& entry);

// `base` plus "palettize.version" and "palettize.tensors" for `entries`. Error when `base` already has a
// "palettize." key (the input is already a container) or two entries share a name.
Metadata container_metadata(const Metadata& base, std::span<const ContainerEntry> entries);

// Error when a part name of some entry is also the name of an input tensor or of another entry or part
// (e.g. the input already has "X.lut" and X is palettized). `input_names` are the names of every input
// tensor (pass-through and palettized originals alike).
void check_container_names(std::span<const std::string> input_names, std::span<const ContainerEntry> entries);

// ---- Reading ----

// True when `metadata` has the "palettize.version" key.
bool is_container(const Metadata& metadata);

// Parses "palettize.version" / "palettize.tensors" of one file's metadata into entries sorted by name
// (empty when neither key is present). Validates everything that does not need tensor data: version "1",
// tensors JSON is an object of objects with exactly the four keys, shapes and dtypes valid, spec valid and
// fitting the shape, index_shape equal to the derived one. `file_label` names the file in errors.
std::vector<ContainerEntry> parse_container_metadata(const Metadata& metadata, std::string_view file_label);

// Entries of every shard of a checkpoint, sorted by name; checks that each entry's parts are tensors of the
// shard whose metadata lists it, and that no name is listed twice.
std::vector<ContainerEntry> read_container_entries(const Checkpoint& checkpoint);

// Looks up a stored tensor by name; returns nullopt when absent.
using TensorLookup = std::function<std::optional<TensorView>(const std::string& name)>;

// Rebuilds the PalettizedTensor of `entry` from its parts, validating every part against the entry: names
// present, dtypes and shapes exact, index stream length, every index < 2^n_bits, finite LUT entries, scales
// finite and > 0 (channel scales finite). With lut_qspec, `quantized_lut`, `lut_scale` and `lut_zero_point`
// (empty for FP8) come from the file and `lut` is recomputed as round_to_dtype(dtype,
// dequantize_lut_code(code)). A hostile file yields Error, never undefined behaviour.
PalettizedTensor load_palettized(const ContainerEntry& entry, const TensorLookup& lookup,
                                 std::string_view file_label);
PalettizedTensor load_palettized(const ContainerEntry& entry, const Checkpoint& checkpoint);

}  // namespace palettize
