#include "tools/output_plan.hpp"

#include <cstdio>

#include "palettize/error.hpp"

namespace palettize::tools {
namespace {

bool ends_with(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shard_stem(const std::filesystem::path& index_path) {
  std::string name = index_path.filename().string();
  for (std::string_view suffix : {".safetensors.index.json", ".index.json"}) {
    if (ends_with(name, suffix)) return name.substr(0, name.size() - suffix.size());
  }
  return name;
}

bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::error_code error;
  return std::filesystem::equivalent(a, b, error) && !error;
}

}  // namespace

void check_output_path(const Checkpoint& input, const std::filesystem::path& output,
                       const std::vector<std::filesystem::path>& protected_files) {
  const bool sharded_output = Checkpoint::is_index_path(output);
  check(!input.is_sharded() || sharded_output, output.string(), ": the input ", input.path().string(),
        " is sharded, so the output must be an index too (a path ending in .safetensors.index.json)");
  check(input.is_sharded() || !sharded_output, output.string(), ": the input ", input.path().string(),
        " is a single file, so the output must be a single .safetensors file, not an index");
  check(!shard_stem(output).empty(), output.string(), ": the output file name has no stem");
  for (const auto& file : output_files(output, output_shard_skeleton(input, output))) {
    for (const auto& input_file : protected_files) {
      check(!same_file(file, input_file), "output ", file.string(), " would overwrite the input ",
            input_file.string(), "; choose another output path");
    }
  }
}

std::vector<ShardPlan> output_shard_skeleton(const Checkpoint& input, const std::filesystem::path& output) {
  const std::size_t count = input.shard_files().size();
  std::vector<ShardPlan> shards(count);
  for (std::size_t i = 0; i < count; ++i) {
    if (!input.is_sharded()) {
      shards[i].file_name = output.filename().string();
      continue;
    }
    char suffix[64];
    std::snprintf(suffix, sizeof suffix, "-%05zu-of-%05zu.safetensors", i + 1, count);
    shards[i].file_name = shard_stem(output) + suffix;
  }
  return shards;
}

nlohmann::json output_index_metadata(const Checkpoint& input) {
  nlohmann::json metadata = input.index_metadata();
  metadata.erase("total_size");
  return metadata;
}

std::vector<std::filesystem::path> checkpoint_files(const Checkpoint& checkpoint) {
  std::vector<std::filesystem::path> files;
  if (checkpoint.is_sharded()) files.push_back(checkpoint.path());
  for (std::size_t i = 0; i < checkpoint.shard_files().size(); ++i) files.push_back(checkpoint.shard(i).path());
  return files;
}

std::vector<std::filesystem::path> output_files(const std::filesystem::path& output,
                                                const std::vector<ShardPlan>& shards) {
  if (!Checkpoint::is_index_path(output)) return {output};
  std::vector<std::filesystem::path> files{output};
  for (const ShardPlan& shard : shards) files.push_back(output.parent_path() / shard.file_name);
  return files;
}

uint64_t total_file_size(const std::vector<std::filesystem::path>& files) {
  uint64_t total = 0;
  for (const auto& file : files) total += std::filesystem::file_size(file);
  return total;
}

}  // namespace palettize::tools
