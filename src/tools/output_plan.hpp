#pragma once
// private: include only from src/ and tests/
// Where a rewritten checkpoint goes: a single file for a single-file input, or "<stem>.safetensors.index.json"
// plus "<stem>-00001-of-0000N.safetensors" shards (one per input shard) for a sharded input.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "palettize/safetensors.hpp"

namespace palettize::tools {

// Checks that OUT has the input's kind (sharded input <-> OUT ending in ".index.json") and that no output
// file would be one of `protected_files` (the input's files, sensitivities...), even with --force.
void check_output_path(const Checkpoint& input, const std::filesystem::path& output,
                       const std::vector<std::filesystem::path>& protected_files);

// One ShardPlan per input shard with its output file name; tensors and metadata are left to the caller.
std::vector<ShardPlan> output_shard_skeleton(const Checkpoint& input, const std::filesystem::path& output);

// The input index's "metadata" minus "total_size" (the writer recomputes it).
nlohmann::json output_index_metadata(const Checkpoint& input);

// Every file of a checkpoint (the index, then the shards) and their total size on disk.
std::vector<std::filesystem::path> checkpoint_files(const Checkpoint& checkpoint);
std::vector<std::filesystem::path> output_files(const std::filesystem::path& output,
                                                const std::vector<ShardPlan>& shards);
uint64_t total_file_size(const std::vector<std::filesystem::path>& files);

}  // namespace palettize::tools
