// `palettize plan` and `palettize compress --target-bits` (issue 8), run as a subprocess.
#include <gtest/gtest.h>

#include "cli_test_support.hpp"
#include "palettize/container.hpp"
#include "palettize/spec_json.hpp"

namespace palettize::testing {
namespace {

namespace fs = std::filesystem;

class PlanCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("palettize-plan-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::vector<NamedTensor> tensors{
        {"encoder.conv.weight", random_tensor(DType::F16, {32, 8, 3, 3}, 1)},
        {"encoder.fc.weight", random_tensor(DType::F32, {64, 48}, 2)},
        {"decoder.out[0].weight", random_tensor(DType::BF16, {48, 64}, 3)},
        {"decoder.bias", random_tensor(DType::F32, {64}, 4)},
        {"step", int64_tensor({2})},
    };
    write_safetensors(model(), tensors);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path model() const { return dir_ / "model.safetensors"; }
  fs::path path(const std::string& name) const { return dir_ / name; }

  fs::path dir_;
};

int64_t stored_bits(const Checkpoint& checkpoint, const std::string& name) {
  int64_t bytes = 0;
  for (const CheckpointEntry& entry : checkpoint.tensors()) {
    if (entry.name == name || entry.name.rfind(name + ".", 0) == 0) bytes += static_cast<int64_t>(entry.byte_size);
  }
  return bytes * 8;
}

TEST_F(PlanCli, PlanMeetsTheTargetAndCompressAppliesAndRecordsTheSameRecipe) {
  const RunResult plan = run_palettize({"plan", model().string(), "--target-bits", "4.5", "--json"});
  ASSERT_EQ(plan.exit_code, 0) << describe(plan);
  const nlohmann::json recipe = plan.json().at("recipe");
  EXPECT_LE(recipe.at("bits_per_weight").get<double>(), 4.5);
  EXPECT_EQ(recipe.at("weights").get<int64_t>(), 32 * 72 + 64 * 48 + 48 * 64);
  EXPECT_TRUE(recipe.at("proven_optimal").get<bool>());
  ASSERT_EQ(recipe.at("tensors").size(), 3u);  // the bias and the int64 tensor are not eligible

  const RunResult compress =
      run_palettize({"compress", model().string(), path("out.safetensors").string(), "--target-bits", "4.5", "--quiet"});
  ASSERT_EQ(compress.exit_code, 0) << describe(compress);
  const Checkpoint out(path("out.safetensors"));
  const nlohmann::json recorded = nlohmann::json::parse(out.shard(0).metadata().at("palettize.recipe"));
  EXPECT_EQ(recorded, recipe);
  const std::vector<ContainerEntry> entries = read_container_entries(out);
  for (const nlohmann::json& tensor : recipe.at("tensors")) {
    const std::string name = tensor.at("name");
    // Sizes predicted by the plan are the container's real byte counts.
    EXPECT_EQ(stored_bits(out, name), tensor.at("bits").get<int64_t>()) << name;
    const auto entry = std::find_if(entries.begin(), entries.end(), [&](const auto& e) { return e.name == name; });
    if (tensor.at("spec").is_null()) {
      EXPECT_EQ(entry, entries.end()) << name;
    } else {
      ASSERT_NE(entry, entries.end()) << name;
      EXPECT_EQ(entry->spec, spec_from_json(tensor.at("spec"))) << name;
    }
  }
}

TEST_F(PlanCli, SavedConfigReappliesTheRecipe) {
  const RunResult plan = run_palettize({"plan", model().string(), "--target-bits", "3.2", "--save-config",
                                        path("recipe.json").string(), "--quiet"});
  ASSERT_EQ(plan.exit_code, 0) << describe(plan);
  EXPECT_NE(plan.out.find("bits/weight"), std::string::npos);
  const RunResult direct = run_palettize(
      {"compress", model().string(), path("a.safetensors").string(), "--target-bits", "3.2", "--quiet"});
  const RunResult via_config = run_palettize({"compress", model().string(), path("b.safetensors").string(),
                                              "--config", path("recipe.json").string(), "--quiet"});
  ASSERT_EQ(direct.exit_code, 0) << describe(direct);
  ASSERT_EQ(via_config.exit_code, 0) << describe(via_config);
  const Checkpoint a(path("a.safetensors")), b(path("b.safetensors"));
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (const CheckpointEntry& entry : a.tensors()) {
    EXPECT_TRUE(same_bytes(a.view(entry.name).data, b.view(entry.name).data)) << entry.name;
  }
}

TEST_F(PlanCli, ImportanceMovesBitsToTheImportantTensor) {
  auto bits_of = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args{"plan", model().string(), "--target-bits", "4", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    const RunResult run = run_palettize(args);
    EXPECT_EQ(run.exit_code, 0) << describe(run);
    const nlohmann::json report = run.json();
    for (const nlohmann::json& tensor : report.at("recipe").at("tensors")) {
      if (tensor.at("name") == "encoder.fc.weight") return tensor.at("bits_per_weight").get<double>();
    }
    return -1.0;
  };
  std::ofstream(path("importance.json")) << R"({"tensors": {"encoder.fc.weight": 1000, "decoder.bias": 5}})";
  EXPECT_GT(bits_of({"--importance", path("importance.json").string()}), bits_of({}));
  std::ofstream(path("bad.json")) << R"({"tensors": {"missing.weight": 2}})";
  const RunResult bad = run_palettize({"plan", model().string(), "--target-bits", "4", "--importance",
                                       path("bad.json").string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("'missing.weight' is not a tensor of the model"), std::string::npos) << bad.err;
}

TEST_F(PlanCli, CurveIsAnSvgWithTheUniformPointsMarked) {
  const RunResult run = run_palettize({"plan", model().string(), "--curve", path("curve.svg").string(),
                                       "--curve-points", "9", "--candidates", "2,4,8", "--json"});
  ASSERT_EQ(run.exit_code, 0) << describe(run);
  const std::string svg = read_text(path("curve.svg"));
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  for (const char* label : {"all n2", "all n4", "all n8"}) EXPECT_NE(svg.find(label), std::string::npos) << label;
  EXPECT_EQ(run.json().at("curve").at("sweep").size(), 9u);
  EXPECT_EQ(run.json().at("curve").at("uniform").size(), 3u);
}

TEST_F(PlanCli, BadRequestsExitTwoWithAReason) {
  auto expect_error = [&](const std::vector<std::string>& args, const std::string& needle) {
    const RunResult run = run_palettize(args);
    EXPECT_EQ(run.exit_code, 2) << describe(run);
    EXPECT_NE(run.err.find(needle), std::string::npos) << describe(run);
  };
  expect_error({"plan", model().string(), "--target-bits", "1.5"}, "below the smallest achievable average");
  expect_error({"plan", model().string()}, "give --target-bits");
  expect_error({"plan", model().string(), "--target-bits", "4", "--candidates", "4,5"}, "n_bits 5");
  expect_error({"plan", model().string(), "--curve", path("c.svg").string(), "--save-config",
                path("r.json").string()},
               "--save-config needs --target-bits");
  expect_error({"compress", model().string(), path("o.safetensors").string(), "--target-bits", "4",
                "--sensitivities", model().string()},
               "excludes");
  EXPECT_FALSE(fs::exists(path("o.safetensors")));
}

}  // namespace
}  // namespace palettize::testing
