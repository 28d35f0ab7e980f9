// Sharded checkpoints: CheckpointWriter -> index.json + shards -> Checkpoint, and the index errors we refuse.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "io_test_helpers.hpp"
#include "palettize/safetensors.hpp"

namespace palettize {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::error_message;
using testing::ScratchDir;

std::vector<std::byte> filled(std::size_t size, int seed) {
  std::vector<std::byte> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = std::byte((i * 7 + seed) & 0xFF);
  return bytes;
}

std::vector<ShardPlan> two_shards() {
  return {ShardPlan{"model-00001-of-00002.safetensors", {{"b", DType::F32, {2, 2}}, {"a", DType::U8, {3}}}, {{"format", "pt"}}},
          ShardPlan{"model-00002-of-00002.safetensors", {{"c", DType::BF16, {4}}, {"e", DType::F16, {0}}}, {}}};
}

void write_all_planned(CheckpointWriter& writer, const std::vector<ShardPlan>& plans) {
  int seed = 0;
  for (const auto& plan : plans) {
    for (const auto& tensor : plan.tensors) {
      EXPECT_EQ(writer.next().name, tensor.name);
      writer.write_tensor(tensor.name, filled(tensor.byte_size(), seed++));
    }
  }
  EXPECT_FALSE(writer.has_next());
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

TEST(ShardedCheckpoint, RoundTrip) {
  ScratchDir dir;
  const auto index_path = dir / "model.safetensors.index.json";
  {
    CheckpointWriter writer(index_path, two_shards(), false, {{"origin", "test"}});
    write_all_planned(writer, two_shards());
    writer.commit();
  }
  EXPECT_THAT(dir.files(), ElementsAre("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                       "model.safetensors.index.json"));
  std::ifstream index_file(index_path);
  const auto index = nlohmann::json::parse(index_file);
  EXPECT_EQ(index["metadata"]["total_size"], 16 + 3 + 8 + 0);
  EXPECT_EQ(index["metadata"]["origin"], "test");
  EXPECT_EQ(index["weight_map"]["c"], "model-00002-of-00002.safetensors");

  Checkpoint checkpoint(index_path);
  EXPECT_TRUE(checkpoint.is_sharded());
  EXPECT_THAT(checkpoint.shard_files(), ElementsAre("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"));
  std::vector<std::string> names;
  for (const auto& entry : checkpoint.tensors()) names.push_back(entry.name);
  EXPECT_THAT(names, ElementsAre("b", "a", "c", "e"));
  EXPECT_EQ(checkpoint.entry("c").shard, 1u);
  EXPECT_EQ(checkpoint.entry("c").dtype, DType::BF16);
  EXPECT_EQ(checkpoint.shard(0).metadata().at("format"), "pt");
  EXPECT_EQ(checkpoint.index_metadata()["origin"], "test");
  const auto view = checkpoint.view("a");
  EXPECT_EQ(std::vector<std::byte>(view.data.begin(), view.data.end()), filled(3, 1));
  checkpoint.release("a");
  EXPECT_THAT(error_message([&] { checkpoint.entry("zz"); }), HasSubstr("no tensor named 'zz'"));
}

TEST(ShardedCheckpoint, SingleFileThroughTheSameApi) {
  ScratchDir dir;
  const auto path = dir / "one.safetensors";
  std::vector<ShardPlan> plan{ShardPlan{"ignored", {{"w", DType::F32, {3}}}, {{"k", "v"}}}};
  {
    CheckpointWriter writer(path, plan, false);
    write_all_planned(writer, plan);
    writer.commit();
  }
  EXPECT_THAT(dir.files(), ElementsAre("one.safetensors"));
  Checkpoint checkpoint(path);
  EXPECT_FALSE(checkpoint.is_sharded());
  EXPECT_THAT(checkpoint.shard_files(), ElementsAre("one.safetensors"));
  EXPECT_EQ(checkpoint.tensors().size(), 1u);
  EXPECT_TRUE(checkpoint.index_metadata().empty());
  EXPECT_THAT(error_message([&] { CheckpointWriter writer(dir / "two.safetensors", two_shards(), false); }),
              HasSubstr("exactly one shard"));
}

TEST(ShardedCheckpoint, IncompleteWriteLeavesNoFiles) {
  ScratchDir dir;
  {
    CheckpointWriter writer(dir / "m.safetensors.index.json", two_shards(), false);
    writer.write_tensor("b", filled(16, 0));
    writer.write_tensor("a", filled(3, 0));
    writer.write_tensor("c", filled(8, 0));  // the first shard is finished, its temporary waits for commit
    EXPECT_THAT(error_message([&] { writer.commit(); }), HasSubstr("'e' was planned but not written"));
  }
  EXPECT_TRUE(dir.files().empty());
}

TEST(ShardedCheckpoint, WriterErrors) {
  ScratchDir dir;
  const auto index_path = dir / "m.safetensors.index.json";
  {
    CheckpointWriter writer(index_path, two_shards(), false);
    EXPECT_THAT(error_message([&] { writer.write_tensor("a", filled(3, 0)); }), HasSubstr("expected 'b'"));
  }
  auto clash = two_shards();
  clash[1].tensors.push_back({"a", DType::U8, {1}});
  EXPECT_THAT(error_message([&] { CheckpointWriter writer(index_path, clash, false); }),
              HasSubstr("'a' is planned in two shards"));
  auto escape = two_shards();
  escape[0].file_name = "../evil.safetensors";
  EXPECT_THAT(error_message([&] { CheckpointWriter writer(index_path, escape, false); }),
              HasSubstr("plain file name"));
  write_text(dir / "model-00002-of-00002.safetensors", "existing");
  EXPECT_THAT(error_message([&] { CheckpointWriter writer(index_path, two_shards(), false); }),
              HasSubstr("model-00002-of-00002.safetensors: output already exists"));
  EXPECT_THAT(dir.files(), ElementsAre("model-00002-of-00002.safetensors"));
  {
    CheckpointWriter writer(index_path, two_shards(), true);
    write_all_planned(writer, two_shards());
    writer.commit();
  }
  EXPECT_NO_THROW(Checkpoint{index_path});
}

class BrokenIndex : public ::testing::Test {
 protected:
  void SetUp() override {
    CheckpointWriter writer(index_path_, two_shards(), false);
    write_all_planned(writer, two_shards());
    writer.commit();
  }
  std::string open_error(const std::string& index_text) {
    write_text(index_path_, index_text);
    return error_message([&] { Checkpoint checkpoint(index_path_); });
  }
  ScratchDir dir_;
  std::filesystem::path index_path_ = dir_ / "m.safetensors.index.json";
  const std::string shard1_ = "model-00001-of-00002.safetensors";
  const std::string shard2_ = "model-00002-of-00002.safetensors";
};

TEST_F(BrokenIndex, MissingShardFile) {
  std::filesystem::remove(dir_ / shard2_);
  EXPECT_THAT(error_message([&] { Checkpoint checkpoint(index_path_); }),
              HasSubstr(shard2_ + ": cannot open"));
}

TEST_F(BrokenIndex, TensorListedButAbsent) {
  EXPECT_THAT(open_error(R"({"weight_map":{"a":")" + shard1_ + R"(","b":")" + shard1_ + R"(","c":")" + shard2_ +
                         R"(","e":")" + shard2_ + R"(","ghost":")" + shard2_ + R"("}})"),
              HasSubstr("tensor 'ghost' is listed in weight_map under " + shard2_ + " but that shard has no such tensor"));
}

TEST_F(BrokenIndex, TensorInShardButNotInWeightMap) {
  EXPECT_THAT(open_error(R"({"weight_map":{"a":")" + shard1_ + R"(","b":")" + shard1_ + R"(","c":")" + shard2_ + R"("}})"),
              HasSubstr("tensor 'e' is not listed in the weight_map"));
}

TEST_F(BrokenIndex, TensorMappedToTheWrongShard) {
  EXPECT_THAT(open_error(R"({"weight_map":{"a":")" + shard1_ + R"(","b":")" + shard1_ + R"(","c":")" + shard2_ +
                         R"(","e":")" + shard1_ + R"("}})"),
              HasSubstr("tensor 'e' is listed in weight_map under " + shard1_));
}

TEST_F(BrokenIndex, MalformedIndexJson) {
  EXPECT_THAT(open_error("[]"), HasSubstr("index must be a JSON object"));
  EXPECT_THAT(open_error("{"), HasSubstr("invalid JSON"));
  EXPECT_THAT(open_error("{}"), HasSubstr("missing \"weight_map\""));
  EXPECT_THAT(open_error(R"({"weight_map":[]})"), HasSubstr("\"weight_map\" must be an object"));
  EXPECT_THAT(open_error(R"({"weight_map":{"a":1}})"), HasSubstr("weight_map entry of tensor 'a' must be a string"));
  EXPECT_THAT(open_error(R"({"weight_map":{"a":"x","a":"y"}})"), HasSubstr("duplicate JSON key \"a\""));
  EXPECT_THAT(open_error(R"({"metadata":3,"weight_map":{}})"), HasSubstr("\"metadata\" must be an object"));
  EXPECT_THAT(open_error(R"({"weight_map":{"a":"/etc/passwd"}})"), HasSubstr("plain file name"));
  EXPECT_THAT(open_error(R"({"weight_map":{"a":".."}})"), HasSubstr("plain file name"));
  EXPECT_THAT(open_error(R"({"weight_map":{"a":""}})"), HasSubstr("empty shard file name"));
}

TEST_F(BrokenIndex, BrokenShardIsReportedWithItsPath) {
  write_text(dir_ / shard2_, "garbage!garbage!");
  EXPECT_THAT(error_message([&] { Checkpoint checkpoint(index_path_); }), HasSubstr(shard2_ + ": header length"));
}

}  // namespace
}  // namespace palettize
