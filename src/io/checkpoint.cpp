// Checkpoints: one safetensors file, or a Hugging Face index.json naming the shard of every tensor.
#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "io/json_strict.hpp"
#include "palettize/error.hpp"
#include "palettize/safetensors.hpp"

namespace palettize {
namespace {

constexpr std::string_view kIndexSuffix = ".index.json";

// Shards are plain names next to the index: a hostile index must not reach other directories.
void check_shard_file_name(const std::string& name, std::string_view label) {
  check(!name.empty(), label, ": empty shard file name");
  check(name.find('/') == std::string::npos && name.find('\\') == std::string::npos && name != "." && name != "..",
        label, ": shard file name \"", name, "\" must be a plain file name in the index's directory");
  check(name.find('\0') == std::string::npos, label, ": shard file name contains a NUL byte");
}

std::string read_small_file(const std::filesystem::path& path, uint64_t limit) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  check(!error, path.string(), ": cannot read: ", error.message());
  check(size <= limit, path.string(), ": file of ", size, " bytes exceeds the limit of ", limit, " bytes");
  std::ifstream in(path, std::ios::binary);
  check(in.good(), path.string(), ": cannot open");
  std::string text(size, '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  check(in.gcount() == static_cast<std::streamsize>(size), path.string(), ": short read");
  return text;
}

struct IndexFile {
  nlohmann::json metadata = nlohmann::json::object();
  std::map<std::string, std::string> weight_map;  // tensor -> shard file
};

IndexFile parse_index(const std::filesystem::path& path) {
  const std::string label = path.string();
  const nlohmann::json json =
      io::parse_json_strict(read_small_file(path, kMaxIndexJsonBytes), label, io::JsonLimits{32, std::size_t(-1)});
  check(json.is_object(), label, ": index must be a JSON object, got ", json.type_name());
  check(json.contains("weight_map"), label, ": missing \"weight_map\"");
  IndexFile index;
  if (json.contains("metadata") && !json["metadata"].is_null()) {
    check(json["metadata"].is_object(), label, ": \"metadata\" must be an object, got ", json["metadata"].type_name());
    index.metadata = json["metadata"];
  }
  const auto& weight_map = json["weight_map"];
  check(weight_map.is_object(), label, ": \"weight_map\" must be an object, got ", weight_map.type_name());
  check(weight_map.size() <= kMaxSafetensorsTensors * 16, label, ": too many tensors in \"weight_map\"");
  for (const auto& [name, shard] : weight_map.items()) {
    check(shard.is_string(), label, ": weight_map entry of tensor '", name, "' must be a string, got ", shard.type_name());
    check_shard_file_name(shard.get<std::string>(), label);
    index.weight_map.emplace(name, shard.get<std::string>());
  }
  return index;
}

}  // namespace

bool Checkpoint::is_index_path(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  return name.size() > kIndexSuffix.size() && name.ends_with(kIndexSuffix);
}

Checkpoint::Checkpoint(const std::filesystem::path& path) : path_(path) {
  sharded_ = is_index_path(path);
  if (!sharded_) {
    shard_files_.push_back(path.filename().string());
    shards_.emplace_back(path);
  } else {
    const IndexFile index = parse_index(path);
    index_metadata_ = index.metadata;
    std::set<std::string> files;
    for (const auto& [name, file] : index.weight_map) files.insert(file);
    check(files.size() <= kMaxShards, path.string(), ": ", files.size(), " shards exceed the limit of ", kMaxShards);
    shard_files_.assign(files.begin(), files.end());
    for (const auto& file : shard_files_) shards_.emplace_back(path.parent_path() / file);
    for (const auto& [name, file] : index.weight_map) {
      const SafetensorsReader& shard = shards_[std::lower_bound(shard_files_.begin(), shard_files_.end(), file) -
                                               shard_files_.begin()];
      check(shard.contains(name), path.string(), ": tensor '", name, "' is listed in weight_map under ", file,
            " but that shard has no such tensor");
    }
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      for (const auto& info : shards_[i].tensors()) {
        auto it = index.weight_map.find(info.name);
        check(it != index.weight_map.end(), shards_[i].path().string(), ": tensor '", info.name,
              "' is not listed in the weight_map of ", path.string());
        check(it->second == shard_files_[i], shards_[i].path().string(), ": tensor '", info.name,
              "' is also in this shard, but the weight_map of ", path.string(), " puts it in ", it->second);
      }
    }
  }
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    for (const auto& info : shards_[i].tensors()) {
      check(by_name_.emplace(info.name, entries_.size()).second, path.string(), ": tensor '", info.name,
            "' appears in more than one shard");
      entries_.push_back({info.name, i, info.dtype, info.shape, info.byte_size()});
    }
  }
}

bool Checkpoint::contains(std::string_view name) const { return by_name_.find(name) != by_name_.end(); }

const CheckpointEntry& Checkpoint::entry(std::string_view name) const {
  auto it = by_name_.find(name);
  check(it != by_name_.end(), path_.string(), ": no tensor named '", name, "'");
  return entries_[it->second];
}

TensorView Checkpoint::view(std::string_view name) const { return shards_[entry(name).shard].view(name); }

void Checkpoint::release(std::string_view name) const { shards_[entry(name).shard].release(name); }

// ---- CheckpointWriter ----

CheckpointWriter::CheckpointWriter(const std::filesystem::path& path, std::vector<ShardPlan> shards, bool force,
                                   nlohmann::json index_metadata)
    : path_(path), sharded_(Checkpoint::is_index_path(path)), plans_(std::move(shards)),
      index_metadata_(std::move(index_metadata)), outputs_(force) {
  const std::string label = path.string();
  check(index_metadata_.is_object(), label, ": index metadata must be a JSON object");
  check(sharded_ || plans_.size() == 1, label, ": a single-file output takes exactly one shard, got ", plans_.size());
  check(plans_.size() <= kMaxShards, label, ": ", plans_.size(), " shards exceed the limit of ", kMaxShards);
  std::set<std::string> names;
  std::set<std::string> files;
  for (auto& plan : plans_) {
    if (!sharded_) plan.file_name = path.filename().string();
    check_shard_file_name(plan.file_name, label);
    check(files.insert(plan.file_name).second, label, ": shard file ", plan.file_name, " is planned twice");
    check(!sharded_ || plan.file_name != path.filename().string(), label, ": a shard cannot be the index file itself");
    for (const auto& tensor : plan.tensors) {
      check(names.insert(tensor.name).second, label, ": tensor '", tensor.name, "' is planned in two shards");
    }
    // Refuse an existing output now, before any work is done (checked again at commit).
    const std::filesystem::path target = sharded_ ? path.parent_path() / plan.file_name : path;
    check(force || !std::filesystem::exists(target), target.string(), ": output already exists (use --force to overwrite)");
  }
  check(force || !std::filesystem::exists(path), label, ": output already exists (use --force to overwrite)");
  open_shard(0);
  advance();
}

CheckpointWriter::~CheckpointWriter() { outputs_.abort(); }

void CheckpointWriter::open_shard(std::size_t index) {
  current_shard_ = index;
  writer_.reset();
  if (index > 0) outputs_.file(index - 1).finish();  // keep few files open: finished temps wait for commit
  if (index >= plans_.size()) return;
  const ShardPlan& plan = plans_[index];
  OutputFile& out = outputs_.add(sharded_ ? path_.parent_path() / plan.file_name : path_);
  writer_ = std::make_unique<SafetensorsWriter>(out, plan.tensors, plan.metadata);
}

// Moves past shards whose tensors are all written (or that have none), so has_next()/next() just look.
void CheckpointWriter::advance() {
  while (current_shard_ < plans_.size() && !writer_->has_next()) {
    writer_->finish();
    open_shard(current_shard_ + 1);
  }
}

bool CheckpointWriter::has_next() const { return current_shard_ < plans_.size(); }

const TensorDecl& CheckpointWriter::next() const {
  check(has_next(), path_.string(), ": every planned tensor has been written already");
  return writer_->next();
}

void CheckpointWriter::write_tensor(std::string_view name, std::span<const std::byte> bytes) {
  check(has_next(), path_.string(), ": tensor '", name, "' written after every planned tensor");
  writer_->write_tensor(name, bytes);
  advance();
}

void CheckpointWriter::begin_tensor(std::string_view name) {
  check(has_next(), path_.string(), ": tensor '", name, "' written after every planned tensor");
  writer_->begin_tensor(name);
}

void CheckpointWriter::append(std::span<const std::byte> bytes) {
  check(has_next(), path_.string(), ": bytes appended after every planned tensor");
  writer_->append(bytes);
}

void CheckpointWriter::end_tensor() {
  check(has_next(), path_.string(), ": end of a tensor after every planned tensor");
  writer_->end_tensor();
  advance();
}

void CheckpointWriter::commit() {
  if (has_next()) fail(path_.string(), ": tensor '", next().name, "' was planned but not written");
  if (sharded_) {
    nlohmann::json index = nlohmann::json::object();
    uint64_t total_size = 0;
    nlohmann::json weight_map = nlohmann::json::object();
    for (const auto& plan : plans_) {
      for (const auto& tensor : plan.tensors) {
        total_size += tensor.byte_size();
        weight_map[tensor.name] = plan.file_name;
      }
    }
    index["metadata"] = index_metadata_;
    index["metadata"]["total_size"] = total_size;
    index["weight_map"] = std::move(weight_map);
    OutputFile& out = outputs_.add(path_);
    out.write(index.dump(2) + "\n");
  }
  outputs_.commit();
}

}  // namespace palettize
