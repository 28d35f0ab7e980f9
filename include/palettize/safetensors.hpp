#pragma once
// safetensors files: a validating memory-mapped reader, a streaming writer, and sharded checkpoints
// (Hugging Face "X.safetensors.index.json" + shards). Format: 8-byte little-endian header length N, N bytes
// of UTF-8 JSON {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}, ...},
// then the data section; offsets are relative to the data section.
//
// The reader trusts nothing in the file: every violation below throws palettize::Error with a message that
// names the file, the tensor (when there is one) and the problem.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "palettize/dtype.hpp"
#include "palettize/output_file.hpp"
#include "palettize/tensor.hpp"

namespace palettize {

// Documented limits; inputs beyond them are refused instead of allocating without bound.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100ull << 20;  // 100 MiB of header JSON
inline constexpr std::size_t kMaxSafetensorsTensors = 1'000'000;        // tensors per file
inline constexpr std::size_t kMaxSafetensorsRank = 16;                  // dimensions per tensor
inline constexpr uint64_t kMaxIndexJsonBytes = 100ull << 20;            // size of an index.json
inline constexpr std::size_t kMaxShards = 100'000;                      // shards per checkpoint

// "__metadata__": string -> string, sorted by key (so written files are deterministic).
using Metadata = std::map<std::string, std::string>;

// One tensor entry of a safetensors header.
struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0;  // byte offsets within the data section, end - begin = numel * dtype_size
  uint64_t end = 0;
  uint64_t byte_size() const { return end - begin; }
};

// The validated layout of a safetensors file.
struct SafetensorsLayout {
  uint64_t data_offset = 0;         // 8 + header length: where the data section starts in the file
  Metadata metadata;
  std::vector<TensorInfo> tensors;  // in data order (ascending begin; equal begins, i.e. empty tensors, by name)
};

// Parses and validates the header and data layout of a whole safetensors file held in `file_bytes`.
// `file_label` names the file in error messages. Checks, in order: at least 8 bytes; header length <=
// kMaxSafetensorsHeaderBytes and <= size - 8; header is valid UTF-8 JSON holding an object (trailing spaces
// allowed); no duplicate keys; "__metadata__", if present, is an object of strings; at most
// kMaxSafetensorsTensors entries; each entry is an object with exactly "dtype" (a known safetensors dtype
// name), "shape" (array of at most kMaxSafetensorsRank non-negative integers whose product fits in 64 bits)
// and "data_offsets" ([begin, end], integers, begin <= end <= data section size); end - begin == numel x
// dtype size; sorted by offset the entries neither overlap nor leave gaps, and cover the data section exactly.
SafetensorsLayout parse_safetensors(std::span<const std::byte> file_bytes, std::string_view file_label);

// A read-only memory-mapped safetensors file, validated on open. Views point into the mapping and stay valid
// as long as the reader lives. Not copyable, movable.
class SafetensorsReader {
 public:
  explicit SafetensorsReader(const std::filesystem::path& path);
  ~SafetensorsReader();
  SafetensorsReader(SafetensorsReader&& other) noexcept;
  SafetensorsReader& operator=(SafetensorsReader&& other) noexcept;
  SafetensorsReader(const SafetensorsReader&) = delete;
  SafetensorsReader& operator=(const SafetensorsReader&) = delete;

  const std::filesystem::path& path() const { return path_; }
  uint64_t file_size() const { return size_; }
  const Metadata& metadata() const { return layout_.metadata; }
  const std::vector<TensorInfo>& tensors() const { return layout_.tensors; }  // in data order
  bool contains(std::string_view name) const;
  const TensorInfo& info(std::string_view name) const;  // Error naming file and tensor when absent
  // Zero-copy view into the mapping (data may be unaligned; read elements with memcpy/load_as_f32).
  TensorView view(std::string_view name) const;
  // Drops the mapping's pages that lie entirely inside the tensor's bytes (madvise MADV_DONTNEED), so
  // streaming a checkpoint tensor by tensor keeps RSS bounded. Views stay valid: touching the bytes again
  // reads them back from the file. Safe to call any number of times.
  void release(std::string_view name) const;

 private:
  const TensorInfo* find(std::string_view name) const;

  std::filesystem::path path_;
  const std::byte* map_ = nullptr;
  uint64_t size_ = 0;
  SafetensorsLayout layout_;
  std::map<std::string, std::size_t, std::less<>> by_name_;
};

// ---- Writing ----

// A tensor declared before any bytes are written (the header comes first in the file).
struct TensorDecl {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t byte_size() const;  // numel x dtype size, checked
};

// The header bytes for `tensors` laid out back to back in the given order, and `metadata`: the 8-byte
// length, then compact JSON ("__metadata__" first when non-empty, tensors in declared order) padded with
// spaces to a multiple of 8 bytes. Error on duplicate or empty names, a name "__metadata__", bad shapes.
std::vector<std::byte> safetensors_header(std::span<const TensorDecl> tensors, const Metadata& metadata);

// Streams one safetensors file: the constructor writes the header, then write_tensor() must be called for
// each declared tensor in declared order with exactly its bytes. finish() checks that all were written; the
// caller commits the OutputFile afterwards.
class SafetensorsWriter {
 public:
  SafetensorsWriter(OutputFile& out, std::vector<TensorDecl> tensors, const Metadata& metadata);
  // Error when `name` is not the next declared tensor or the byte count differs from its declaration.
  void write_tensor(std::string_view name, std::span<const std::byte> bytes);
  // The same in pieces, for tensors produced piece by piece (no copy of the whole in memory): begin, append
  // until the declared size is reached, end. Appending past the size, or ending short of it, is an error.
  void begin_tensor(std::string_view name);
  void append(std::span<const std::byte> bytes);
  void end_tensor();
  bool has_next() const { return next_ < tensors_.size(); }
  const TensorDecl& next() const;  // the tensor write_tensor() expects now
  void finish();
  const std::vector<TensorDecl>& tensors() const { return tensors_; }

 private:
  OutputFile* out_;
  std::vector<TensorDecl> tensors_;
  std::size_t next_ = 0;
  std::optional<uint64_t> open_bytes_;  // bytes appended to the tensor begun, while one is
};

// Writes a whole file in one call (small files, tests): header + every tensor, then commits.
struct NamedTensor {
  std::string name;
  Tensor tensor;
};
void write_safetensors(const std::filesystem::path& path, std::span<const NamedTensor> tensors,
                       const Metadata& metadata = {}, bool force = false);

// ---- Sharded checkpoints and the Checkpoint abstraction ----

// One tensor of a checkpoint and the shard that holds it.
struct CheckpointEntry {
  std::string name;
  std::size_t shard = 0;  // index into Checkpoint::shard_files()
  DType dtype = DType::F32;
  Shape shape;
  uint64_t byte_size = 0;
};

// A checkpoint opened from either a single ".safetensors" file or a "*.index.json" of a sharded one
// ({"metadata": {...}, "weight_map": {tensor name: shard file name}}). Shard file names must be plain file
// names in the index's directory (no '/', no "..", not empty). Validation: the index is a JSON object no
// larger than kMaxIndexJsonBytes with an object "weight_map" of strings and an optional object "metadata";
// every shard opens and validates; every tensor of the weight_map is in its shard; every tensor of a shard
// is in the weight_map and mapped to that shard; names are unique across shards.
class Checkpoint {
 public:
  explicit Checkpoint(const std::filesystem::path& path);
  static bool is_index_path(const std::filesystem::path& path);  // name ends with ".index.json"

  const std::filesystem::path& path() const { return path_; }
  bool is_sharded() const { return sharded_; }
  // Shard file names (for a single file: its file name), sorted.
  const std::vector<std::string>& shard_files() const { return shard_files_; }
  const SafetensorsReader& shard(std::size_t index) const { return shards_.at(index); }
  // The index's "metadata" object ({} for a single file or when absent).
  const nlohmann::json& index_metadata() const { return index_metadata_; }
  // Every tensor: shard by shard, within a shard in data order (the order that streams sequentially).
  const std::vector<CheckpointEntry>& tensors() const { return entries_; }
  bool contains(std::string_view name) const;
  const CheckpointEntry& entry(std::string_view name) const;  // Error naming the checkpoint when absent
  TensorView view(std::string_view name) const;
  void release(std::string_view name) const;

 private:
  std::filesystem::path path_;
  bool sharded_ = false;
  std::vector<std::string> shard_files_;
  std::vector<SafetensorsReader> shards_;
  nlohmann::json index_metadata_ = nlohmann::json::object();
  std::vector<CheckpointEntry> entries_;
  std::map<std::string, std::size_t, std::less<>> by_name_;
};

// The plan of one output shard: its file name, its tensors in write order and its "__metadata__".
struct ShardPlan {
  std::string file_name;
  std::vector<TensorDecl> tensors;
  Metadata metadata;
};

// Writes a checkpoint crash-safely. With `index_path` ending in ".index.json" the output is sharded: each
// ShardPlan becomes <index dir>/<file_name>, and at commit an index {"metadata": index_metadata plus
// "total_size" (sum of all tensor bytes), "weight_map": {name: file_name}} is written too. Otherwise exactly
// one ShardPlan is allowed and it is written to `path` itself (its file_name is ignored). Tensors are written
// with write_tensor() in plan order, shard after shard. commit() renames all outputs (index last); if
// anything fails or commit() is never reached, no output file remains.
class CheckpointWriter {
 public:
  CheckpointWriter(const std::filesystem::path& path, std::vector<ShardPlan> shards, bool force,
                   nlohmann::json index_metadata = nlohmann::json::object());
  ~CheckpointWriter();
  void write_tensor(std::string_view name, std::span<const std::byte> bytes);
  // In pieces, as SafetensorsWriter's begin_tensor / append / end_tensor.
  void begin_tensor(std::string_view name);
  void append(std::span<const std::byte> bytes);
  void end_tensor();
  const TensorDecl& next() const;  // the tensor write_tensor() expects now
  bool has_next() const;
  void commit();

 private:
  void open_shard(std::size_t index);
  void advance();

  std::filesystem::path path_;
  bool sharded_ = false;
  std::vector<ShardPlan> plans_;
  nlohmann::json index_metadata_;
  OutputGroup outputs_;
  std::size_t current_shard_ = 0;
  std::unique_ptr<SafetensorsWriter> writer_;
};

}  // namespace palettize
