// The palettize tool when things go wrong: hostile or broken files, bad configs and options, existing
// outputs, signals. Every failure exits 2 (bad input or usage) or 128 + signal, with a message naming the
// problem, and leaves no output file behind.
#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include "cli_test_support.hpp"
#include "palettize/container.hpp"
#include "palettize/engine.hpp"
#include "palettize/spec_json.hpp"

namespace palettize::testing {
namespace {

std::vector<NamedTensor> small_model() {
  return {{"w", random_tensor(DType::F32, {32, 48}, 11)}, {"b", random_tensor(DType::F32, {32}, 12)}};
}

void expect_bad_input(const RunResult& run, const std::string& message_part) {
  EXPECT_EQ(run.exit_code, 2) << describe(run);
  EXPECT_NE(run.err.find("palettize: error: "), std::string::npos) << run.err;
  EXPECT_NE(run.err.find(message_part), std::string::npos) << "expected '" << message_part << "' in\n" << run.err;
}

std::string header_json(const std::string& tensors) { return "{" + tensors + "}"; }

struct HostileFile {
  const char* label;
  std::vector<std::byte> bytes;
  const char* message_part;
};

std::vector<HostileFile> hostile_files(const std::vector<std::byte>& valid) {
  const std::string two_overlapping =
      R"("a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]})";
  const std::string short_f32 = R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]})";
  return {
      {"truncated", std::vector<std::byte>(valid.begin(), valid.end() - 10), "lie outside the data section"},
      {"too_short", std::vector<std::byte>(3), "too short for a safetensors file"},
      {"oversized_header_length", raw_safetensors("{}", 0, uint64_t{1} << 40), "header length 1099511627776 exceeds"},
      {"header_past_end", raw_safetensors("{}", 0, 4096), "header length"},
      {"overlapping_offsets", raw_safetensors(header_json(two_overlapping), 24), "overlap tensor 'a'"},
      {"wrong_dtype_size", raw_safetensors(header_json(short_f32), 8), "shape [2, 2] of F32 needs 16"},
      {"bad_json", raw_safetensors(R"({"a": [1,)", 8), "invalid JSON"},
      {"unknown_dtype", raw_safetensors(R"({"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", 8),
       "unknown dtype 'F33'"},
  };
}

TEST(CliErrors, HostileFilesExit2NamingTheProblemAndLeaveNoOutput) {
  ScratchDir dir;
  write_safetensors(dir / "valid.safetensors", small_model());
  for (const HostileFile& hostile : hostile_files(read_bytes(dir / "valid.safetensors"))) {
    SCOPED_TRACE(hostile.label);
    ScratchDir case_dir;
    const auto input = case_dir / (std::string(hostile.label) + ".safetensors");
    write_bytes(input, hostile.bytes);
    const RunResult compress = run_palettize({"compress", input.string(), (case_dir / "out.safetensors").string()});
    expect_bad_input(compress, input.filename().string() + ": ");
    expect_bad_input(compress, hostile.message_part);
    expect_bad_input(run_palettize({"inspect", input.string()}), hostile.message_part);
    expect_bad_input(run_palettize({"decompress", input.string(), (case_dir / "out.safetensors").string()}),
                     hostile.message_part);
    expect_bad_input(run_palettize({"eval", input.string(), (dir / "valid.safetensors").string()}),
                     hostile.message_part);
    EXPECT_EQ(case_dir.files(), std::vector<std::string>{input.filename().string()}) << "something was written";
  }
}

TEST(CliErrors, BadConfigsExit2NamingTheFileAndKey) {
  ScratchDir dir;
  write_safetensors(dir / "m.safetensors", small_model());
  const std::vector<std::pair<std::string, std::string>> configs{
      {"global: {n_bits: 5}\n", "c.yaml:1: global: n_bits must be one of {1, 2, 3, 4, 6, 8}, got 5"},
      {"rules:\n  - {pattern: 'a(', spec: w4}\n", "c.yaml:2: rules[0].pattern: invalid regex 'a('"},
      {"glob: w4\n", "c.yaml:1: glob: unknown key 'glob'"},
      {"global: [w4\n", "c.yaml:2:1: invalid YAML"},
  };
  for (const auto& [text, message] : configs) {
    std::ofstream(dir / "c.yaml") << text;
    expect_bad_input(run_palettize({"compress", (dir / "m.safetensors").string(), (dir / "o.safetensors").string(),
                                    "--config", (dir / "c.yaml").string()}),
                     message);
  }
  std::ofstream(dir / "c.json") << R"({"global": {"n_bits": 4}, "rules": [})";
  expect_bad_input(run_palettize({"compress", (dir / "m.safetensors").string(), (dir / "o.safetensors").string(),
                                  "--config", (dir / "c.json").string()}),
                   "c.json: invalid JSON");
  expect_bad_input(run_palettize({"compress", (dir / "m.safetensors").string(), (dir / "o.safetensors").string(),
                                  "--config", (dir / "missing.yaml").string()}),
                   "missing.yaml: cannot open the config file");
  EXPECT_EQ(dir.files(), (std::vector<std::string>{"c.json", "c.yaml", "m.safetensors"}));
}

TEST(CliErrors, BadOptionsAreUsageErrors) {
  ScratchDir dir;
  write_safetensors(dir / "m.safetensors", small_model());
  const std::string in = (dir / "m.safetensors").string();
  const std::string out = (dir / "o.safetensors").string();
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"frobnicate"},
           {"compress", in},
           {"compress", in, out, "--preset", "w5"},
           {"compress", in, out, "--preset", "w4", "--spec", "{}"},
           {"compress", in, out, "--preset", "w4", "--config", "c.yaml"},
           {"compress", in, out, "--threads", "-1"},
           {"compress", in, out, "--no-such-flag"},
           {"spec"},
       }) {
    const RunResult run = run_palettize(args);
    EXPECT_EQ(run.exit_code, 2) << describe(run);
    EXPECT_FALSE(run.err.empty());
  }
  expect_bad_input(run_palettize({"compress", in, out, "--spec", R"({"n_bits":4,"bits":2})"}),
                   "--spec: Unknown field 'bits'");
  EXPECT_EQ(dir.files(), std::vector<std::string>{"m.safetensors"});
}

TEST(CliErrors, ExistingOutputIsKeptUnlessForced) {
  ScratchDir dir;
  write_safetensors(dir / "m.safetensors", small_model());
  write_bytes(dir / "o.safetensors", std::vector<std::byte>(5, std::byte{7}));
  const RunResult refused = run_palettize({"compress", (dir / "m.safetensors").string(),
                                           (dir / "o.safetensors").string()});
  expect_bad_input(refused, "o.safetensors");
  EXPECT_NE(refused.err.find("--force"), std::string::npos) << refused.err;
  EXPECT_EQ(read_bytes(dir / "o.safetensors"), std::vector<std::byte>(5, std::byte{7}));
  const RunResult forced = run_palettize({"compress", (dir / "m.safetensors").string(),
                                          (dir / "o.safetensors").string(), "--force", "--quiet"});
  ASSERT_EQ(forced.exit_code, 0) << describe(forced);
  EXPECT_TRUE(Checkpoint(dir / "o.safetensors").contains("w.lut"));
  EXPECT_EQ(dir.files(), (std::vector<std::string>{"m.safetensors", "o.safetensors"}));
}

TEST(CliErrors, TheInputIsNeverAnOutputEvenWithForce) {
  ScratchDir dir;
  write_safetensors(dir / "m.safetensors", small_model());
  const auto before = read_bytes(dir / "m.safetensors");
  expect_bad_input(run_palettize({"compress", (dir / "m.safetensors").string(), (dir / "m.safetensors").string(),
                                  "--force"}),
                   "would overwrite the input");
  expect_bad_input(run_palettize({"compress", (dir / "m.safetensors").string(),
                                  (dir / "." / "m.safetensors").string(), "--force"}),
                   "would overwrite the input");
  EXPECT_EQ(read_bytes(dir / "m.safetensors"), before);
}

TEST(CliErrors, ContainersAndPlainFilesGoToTheRightCommand) {
  ScratchDir dir;
  write_safetensors(dir / "m.safetensors", small_model());
  expect_bad_input(run_palettize({"decompress", (dir / "m.safetensors").string(), (dir / "d.safetensors").string()}),
                   "not a palettize container");
  ASSERT_EQ(run_palettize({"compress", (dir / "m.safetensors").string(), (dir / "o.safetensors").string(), "--quiet"})
                .exit_code,
            0);
  expect_bad_input(run_palettize({"compress", (dir / "o.safetensors").string(), (dir / "oo.safetensors").string()}),
                   "already a palettize container");
  expect_bad_input(run_palettize({"eval", (dir / "o.safetensors").string(), (dir / "o.safetensors").string()}),
                   "ORIGINAL is a palettize container");
  write_safetensors(dir / "other.safetensors", std::vector<NamedTensor>{{"w", random_tensor(DType::F32, {32, 16}, 1)}});
  expect_bad_input(run_palettize({"eval", (dir / "other.safetensors").string(), (dir / "o.safetensors").string()}),
                   "tensor 'w' is F32 [32, 48] but the original is F32 [32, 16]");
  EXPECT_EQ(dir.files(), (std::vector<std::string>{"m.safetensors", "o.safetensors", "other.safetensors"}));
}

TEST(CliErrors, ABrokenContainerIsRejectedByDecompress) {
  ScratchDir dir;
  const NamedTensor weight{"w", random_tensor(DType::F32, {16, 16}, 3)};
  const PalettizationSpec spec = parse_spec_json(R"({"n_bits":2})");
  const ContainerEntry entry = make_container_entry("w", DType::F32, {16, 16}, spec);
  std::vector<NamedTensor> parts = encode_palettized(entry, palettize(weight.tensor.view(), spec));
  parts.pop_back();  // drop w.indices
  write_safetensors(dir / "broken.safetensors", parts, container_metadata({}, std::span(&entry, 1)));
  const RunResult run = run_palettize({"decompress", (dir / "broken.safetensors").string(),
                                       (dir / "d.safetensors").string()});
  expect_bad_input(run, "w.indices");
  EXPECT_EQ(dir.files(), std::vector<std::string>{"broken.safetensors"});
}

TEST(CliErrors, SensitivitiesMustMatchNamesAndShapes) {
  ScratchDir dir;
  write_safetensors(dir / "m.safetensors", small_model());
  write_safetensors(dir / "wrong_shape.safetensors", std::vector<NamedTensor>{{"w", random_importances(DType::F32, {48, 32}, 1)}});
  write_safetensors(dir / "missing.safetensors", std::vector<NamedTensor>{{"v", random_importances(DType::F32, {32, 48}, 1)}});
  write_safetensors(dir / "integer.safetensors", std::vector<NamedTensor>{{"w", int64_tensor({32, 48})}});
  const std::string in = (dir / "m.safetensors").string();
  const std::string out = (dir / "o.safetensors").string();
  expect_bad_input(run_palettize({"compress", in, out, "--sensitivities", (dir / "wrong_shape.safetensors").string()}),
                   "sensitivity tensor 'w' has shape [48, 32] but the weight has shape [32, 48]");
  expect_bad_input(run_palettize({"compress", in, out, "--sensitivities", (dir / "missing.safetensors").string()}),
                   "no sensitivity tensor 'w'");
  expect_bad_input(run_palettize({"compress", in, out, "--sensitivities", (dir / "integer.safetensors").string()}),
                   "has dtype I64; expected a floating dtype");
  EXPECT_FALSE(std::filesystem::exists(dir / "o.safetensors"));
}

TEST(CliErrors, ANonFiniteWeightFailsNamingTheTensorAndWritesNothing) {
  ScratchDir dir;
  std::vector<float> values(32 * 48, 0.25f);
  values[100] = std::nanf("");
  write_safetensors(dir / "m.safetensors",
                    std::vector<NamedTensor>{{"fine", random_tensor(DType::F32, {32, 48}, 1)},
                                             {"broken", make_tensor(DType::F32, {32, 48}, values)}});
  const RunResult run = run_palettize({"compress", (dir / "m.safetensors").string(), (dir / "o.safetensors").string()});
  expect_bad_input(run, "tensor 'broken' [32, 48]: ");
  EXPECT_EQ(dir.files(), std::vector<std::string>{"m.safetensors"});
}

// A model big enough that compress is still writing when the signal arrives.
void write_slow_model(const std::filesystem::path& path) {
  std::vector<NamedTensor> tensors;
  for (int i = 0; i < 12; ++i) tensors.push_back({"layer" + std::to_string(i), random_tensor(DType::F32, {256, 512}, i)});
  write_safetensors(path, tensors);
}

bool has_temporary_file(const ScratchDir& dir) {
  for (const std::string& name : dir.files()) {
    if (name.find(".tmp-") != std::string::npos) return true;
  }
  return false;
}

class CliSignals : public ::testing::TestWithParam<int> {};

// Whenever the signal lands, the outcome is all or nothing: exit 128 + signal with no file written, or (if
// compress already finished) a complete output. The signal is sent once the output's temporary file exists.
TEST_P(CliSignals, InterruptedCompressLeavesNoPartialFile) {
  const int signal_number = GetParam();
  ScratchDir dir;
  write_slow_model(dir / "m.safetensors");
  const auto streams = std::filesystem::temp_directory_path() / ("palettize-signal-" + std::to_string(::getpid()));
  const pid_t pid = spawn_palettize({"compress", (dir / "m.safetensors").string(), (dir / "o.safetensors").string(),
                                     "--spec", R"({"n_bits":8,"cluster_dim":2})", "--threads", "1"},
                                    streams.string() + ".out", streams.string() + ".err");
  for (int i = 0; i < 60000 && !has_temporary_file(dir); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // The file is registered for cleanup right after it is created; let that happen before the signal.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::kill(pid, signal_number);
  const RunResult run = wait_palettize(pid, streams.string() + ".out", streams.string() + ".err");
  if (run.exit_code == 0) {
    EXPECT_EQ(dir.files(), (std::vector<std::string>{"m.safetensors", "o.safetensors"}));
    GTEST_SKIP() << "compress finished before the signal arrived";
  }
  EXPECT_EQ(run.exit_code, 128 + signal_number) << describe(run);
  EXPECT_NE(run.err.find(signal_number == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)"), std::string::npos)
      << run.err;
  EXPECT_EQ(dir.files(), std::vector<std::string>{"m.safetensors"});
}

INSTANTIATE_TEST_SUITE_P(IntAndTerm, CliSignals, ::testing::Values(SIGINT, SIGTERM));

}  // namespace
}  // namespace palettize::testing
