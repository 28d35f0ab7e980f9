// Issue 6 through the command-line tool, for what test_cli_errors.cpp does not already reach: the rest of
// the hostile-input corpus (each exits 2 naming the file and the problem and writes nothing), zero-size
// tensors, and crash safety (a full disk, a file-size limit, an interrupted run that is then re-run).
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <csignal>
#include <thread>

#include "cli_test_support.hpp"
#include "palettize/container.hpp"
#include "palettize/engine.hpp"
#include "palettize/spec_json.hpp"

namespace palettize::testing {
namespace {

std::vector<NamedTensor> small_model() {
  return {{"w", random_tensor(DType::F32, {32, 48}, 21)}, {"b", random_tensor(DType::F32, {32}, 22)}};
}

void expect_refused(const RunResult& run, const std::string& file_name, const std::string& message_part) {
  EXPECT_EQ(run.exit_code, 2) << describe(run);
  EXPECT_NE(run.err.find("palettize: error: "), std::string::npos) << run.err;
  EXPECT_NE(run.err.find(file_name), std::string::npos) << "expected the file name in\n" << run.err;
  EXPECT_NE(run.err.find(message_part), std::string::npos) << "expected '" << message_part << "' in\n" << run.err;
}

std::vector<std::byte> prefix(const std::vector<std::byte>& bytes, std::size_t size) {
  return {bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(size)};
}

struct HostileCase {
  std::string label;
  std::vector<std::byte> bytes;
  std::string message_part;
};

// Truncations at every section of a valid file, and header defects test_cli_errors.cpp does not cover.
std::vector<HostileCase> hostile_cases(const std::vector<std::byte>& valid) {
  uint64_t header_size = 0;
  std::memcpy(&header_size, valid.data(), 8);
  const std::string u8x4 = R"({"dtype":"U8","shape":[4],"data_offsets":)";
  return {
      {"cut_in_length", prefix(valid, 5), "too short for a safetensors file"},
      {"cut_after_length", prefix(valid, 8), "is larger than the file allows"},
      {"cut_in_header", prefix(valid, 8 + header_size / 2), "is larger than the file allows"},
      {"cut_after_header", prefix(valid, 8 + header_size), "lie outside the data section"},
      {"cut_last_byte", prefix(valid, valid.size() - 1), "lie outside the data section"},
      {"not_utf8", raw_safetensors("{\"w\xFF\":" + u8x4 + "[0,4]}}", 4), "invalid JSON"},
      {"not_an_object", raw_safetensors("[1, 2]", 0), "must be a JSON object, got array"},
      {"gap", raw_safetensors(R"({"a":)" + u8x4 + R"([0,4]},"b":)" + u8x4 + "[5,9]}}", 9), "leave a gap of 1 bytes"},
      {"uncovered_tail", raw_safetensors(R"({"a":)" + u8x4 + "[0,4]}}", 6), "2 trailing bytes belong to no tensor"},
      {"shape_overflow",
       raw_safetensors(R"({"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0),
       "overflows 64 bits"},
      {"duplicate_name", raw_safetensors(R"({"a":)" + u8x4 + R"([0,4]},"a":)" + u8x4 + "[4,8]}}", 8),
       "duplicate JSON key \"a\""},
      {"rank_limit",
       raw_safetensors(R"({"a":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}})", 1),
       "longer than 16"},
      {"dtype_size_mismatch", raw_safetensors(R"({"a":{"dtype":"BF16","shape":[3],"data_offsets":[0,8]}})", 8),
       "shape [3] of BF16 needs 6"},
  };
}

TEST(CliHostileCorpus, SafetensorsDefectsExit2NamingTheProblemAndWriteNothing) {
  ScratchDir valid_dir;
  write_safetensors(valid_dir / "valid.safetensors", small_model());
  for (const HostileCase& hostile : hostile_cases(read_bytes(valid_dir / "valid.safetensors"))) {
    SCOPED_TRACE(hostile.label);
    ScratchDir dir;
    const std::string name = hostile.label + ".safetensors";
    write_bytes(dir / name, hostile.bytes);
    const std::string out = (dir / "out.safetensors").string();
    expect_refused(run_palettize({"compress", (dir / name).string(), out}), name, hostile.message_part);
    expect_refused(run_palettize({"decompress", (dir / name).string(), out}), name, hostile.message_part);
    expect_refused(run_palettize({"inspect", (dir / name).string()}), name, hostile.message_part);
    EXPECT_EQ(dir.files(), std::vector<std::string>{name}) << "something was written";
    EXPECT_EQ(read_bytes(dir / name), hostile.bytes) << "the input changed";
  }
}

// A valid container of one palettized tensor "w" [16, 8] (2 bits, per tensor), whose parts a test may break.
struct BrokenContainer {
  ContainerEntry entry;
  std::vector<NamedTensor> parts;

  BrokenContainer() {
    const PalettizationSpec spec = parse_spec_json(R"({"n_bits":2})");
    const Tensor weight = random_tensor(DType::F32, {16, 8}, 5);
    entry = make_container_entry("w", DType::F32, {16, 8}, spec);
    parts = encode_palettized(entry, palettize(weight.view(), spec));
  }
  Tensor& part(const std::string& name) {
    for (NamedTensor& p : parts) {
      if (p.name == name) return p.tensor;
    }
    throw std::runtime_error("no part " + name);
  }
  void write(const std::filesystem::path& path) const {
    write_safetensors(path, parts, container_metadata({}, std::span(&entry, 1)));
  }
};

TEST(CliHostileCorpus, BrokenContainersExit2NamingThePartAndWriteNothing) {
  std::vector<std::pair<std::string, BrokenContainer>> cases;
  {
    BrokenContainer short_indices;
    Tensor& indices = short_indices.part("w.indices");
    indices.data.resize(indices.data.size() - 1);
    indices.shape = {static_cast<int64_t>(indices.data.size())};
    cases.emplace_back("part 'w.indices' has shape [31], expected [32]", std::move(short_indices));
  }
  {
    BrokenContainer wrong_lut;
    wrong_lut.part("w.lut").shape = {1, 1, 2, 2};  // same bytes, not the [1, 1, 4, 1] the spec needs
    cases.emplace_back("part 'w.lut' has shape [1, 1, 2, 2], expected [1, 1, 4, 1]", std::move(wrong_lut));
  }
  {
    BrokenContainer nan_lut;
    store_from_f32(DType::F32, nan_lut.part("w.lut").data.data(), 2, std::numeric_limits<float>::quiet_NaN());
    cases.emplace_back("LUT entry 2 is nan", std::move(nan_lut));
  }
  for (const auto& [message, container] : cases) {
    SCOPED_TRACE(message);
    ScratchDir dir;
    container.write(dir / "c.safetensors");
    expect_refused(run_palettize({"decompress", (dir / "c.safetensors").string(), (dir / "d.safetensors").string()}),
                   "c.safetensors", message);
    EXPECT_EQ(dir.files(), std::vector<std::string>{"c.safetensors"});
  }
}

TEST(CliHostileCorpus, ZeroSizeTensorsAreCopiedWithAWarningOrRefusedUnderStrict) {
  ScratchDir dir;
  write_safetensors(dir / "m.safetensors", std::vector<NamedTensor>{{"empty", random_tensor(DType::F32, {0, 64}, 1)},
                                                                    {"w", random_tensor(DType::F32, {32, 48}, 2)}});
  std::ofstream(dir / "all.yaml") << "min_elements: 0\n";  // makes the empty tensor eligible
  const RunResult copied = run_palettize({"compress", (dir / "m.safetensors").string(), (dir / "o.safetensors").string(),
                                          "--config", (dir / "all.yaml").string(), "--quiet"});
  ASSERT_EQ(copied.exit_code, 0) << describe(copied);
  EXPECT_NE(copied.err.find("skipping 'empty' [0, 64]"), std::string::npos) << copied.err;
  const Checkpoint output(dir / "o.safetensors");
  EXPECT_EQ(output.entry("empty").shape, (Shape{0, 64}));
  EXPECT_TRUE(output.contains("w.lut"));

  const RunResult strict = run_palettize({"compress", (dir / "m.safetensors").string(), (dir / "s.safetensors").string(),
                                          "--config", (dir / "all.yaml").string(), "--strict"});
  expect_refused(strict, "empty", "[0, 64]");
  EXPECT_FALSE(std::filesystem::exists(dir / "s.safetensors"));
}

// ---- crash safety ----

// A model large enough that the output does not fit in a few hundred KiB.
void write_large_model(const std::filesystem::path& path) {
  std::vector<NamedTensor> tensors;
  for (int i = 0; i < 4; ++i) tensors.push_back({"layer" + std::to_string(i), random_tensor(DType::F32, {256, 256}, i)});
  write_safetensors(path, tensors);
}

// Runs palettize with RLIMIT_FSIZE = `max_file_bytes`, as `ulimit -f` would.
RunResult run_with_file_size_limit(const std::vector<std::string>& args, rlim_t max_file_bytes) {
  const auto base = std::filesystem::temp_directory_path() / ("palettize-fsize-" + std::to_string(::getpid()));
  const std::string out_file = base.string() + ".out";
  const std::string err_file = base.string() + ".err";
  struct rlimit original {};
  ::getrlimit(RLIMIT_FSIZE, &original);
  struct rlimit limited = original;
  limited.rlim_cur = max_file_bytes;
  // The child inherits the soft limit; the test process itself writes nothing large meanwhile.
  ::setrlimit(RLIMIT_FSIZE, &limited);
  const pid_t pid = spawn_palettize(args, out_file, err_file);
  ::setrlimit(RLIMIT_FSIZE, &original);
  return wait_palettize(pid, out_file, err_file);
}

TEST(CliCrashSafety, FileSizeLimitFailsCleanlyAndARerunSucceeds) {
  ScratchDir dir;
  write_large_model(dir / "m.safetensors");
  const auto input = read_bytes(dir / "m.safetensors");
  const std::vector<std::string> args{"compress", (dir / "m.safetensors").string(), (dir / "o.safetensors").string(),
                                      "--quiet"};
  const RunResult limited = run_with_file_size_limit(args, 64 << 10);
  EXPECT_EQ(limited.exit_code, 2) << describe(limited);
  EXPECT_NE(limited.err.find("o.safetensors: write failed: File too large"), std::string::npos) << limited.err;
  EXPECT_EQ(dir.files(), std::vector<std::string>{"m.safetensors"}) << "a partial output was left behind";
  EXPECT_EQ(read_bytes(dir / "m.safetensors"), input);
  const RunResult rerun = run_palettize(args);
  EXPECT_EQ(rerun.exit_code, 0) << describe(rerun);
  EXPECT_EQ(dir.files(), (std::vector<std::string>{"m.safetensors", "o.safetensors"}));
}

// A full disk: a 64 KiB tmpfs (the output needs about 130 KiB). Needs the right to mount (root in CI);
// skipped elsewhere.
class TinyFilesystem {
 public:
  explicit TinyFilesystem(const std::filesystem::path& where) : path_(where) {
    std::filesystem::create_directory(path_);
    mounted_ = ::mount("tmpfs", path_.c_str(), "tmpfs", 0, "size=64k") == 0;
  }
  ~TinyFilesystem() {
    if (mounted_) ::umount(path_.c_str());
  }
  bool mounted() const { return mounted_; }

 private:
  std::filesystem::path path_;
  bool mounted_ = false;
};

TEST(CliCrashSafety, FullDiskFailsCleanlyAndARerunElsewhereSucceeds) {
  ScratchDir dir;
  write_large_model(dir / "m.safetensors");
  const auto input = read_bytes(dir / "m.safetensors");
  const TinyFilesystem full(dir / "full");
  if (!full.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  const RunResult run = run_palettize({"compress", (dir / "m.safetensors").string(),
                                       (dir / "full" / "o.safetensors").string(), "--quiet"});
  EXPECT_EQ(run.exit_code, 2) << describe(run);
  EXPECT_NE(run.err.find("o.safetensors: write failed: No space left on device"), std::string::npos) << run.err;
  EXPECT_TRUE(std::filesystem::is_empty(dir / "full")) << "a partial output was left on the full disk";
  EXPECT_EQ(read_bytes(dir / "m.safetensors"), input);
  const RunResult rerun =
      run_palettize({"compress", (dir / "m.safetensors").string(), (dir / "o.safetensors").string(), "--quiet"});
  EXPECT_EQ(rerun.exit_code, 0) << describe(rerun);
}

bool has_temporary_file(const ScratchDir& dir) {
  for (const std::string& name : dir.files()) {
    if (name.find(".tmp-") != std::string::npos) return true;
  }
  return false;
}

// After SIGINT (usually mid-write), the same command run again succeeds and writes exactly what an
// uninterrupted run writes. test_cli_errors.cpp's CliSignals checks the interruption itself more closely.
TEST(CliCrashSafety, InterruptedRunLeavesNothingAndTheRerunMatchesACleanRun) {
  ScratchDir dir;
  write_large_model(dir / "m.safetensors");
  const std::vector<std::string> args{"compress", (dir / "m.safetensors").string(), (dir / "o.safetensors").string(),
                                      "--threads", "1", "--quiet"};
  const auto streams = std::filesystem::temp_directory_path() / ("palettize-rerun-" + std::to_string(::getpid()));
  const pid_t pid = spawn_palettize(args, streams.string() + ".out", streams.string() + ".err");
  for (int i = 0; i < 60000 && !has_temporary_file(dir); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ::kill(pid, SIGINT);
  const RunResult interrupted = wait_palettize(pid, streams.string() + ".out", streams.string() + ".err");
  if (interrupted.exit_code == 128 + SIGINT) {
    EXPECT_EQ(dir.files(), std::vector<std::string>{"m.safetensors"});
  } else {
    ASSERT_EQ(interrupted.exit_code, 0) << describe(interrupted);  // finished before the signal
    std::filesystem::remove(dir / "o.safetensors");
  }
  const RunResult rerun = run_palettize(args);
  ASSERT_EQ(rerun.exit_code, 0) << describe(rerun);
  std::filesystem::rename(dir / "o.safetensors", dir / "first.safetensors");
  ASSERT_EQ(run_palettize(args).exit_code, 0);
  EXPECT_EQ(read_bytes(dir / "first.safetensors"), read_bytes(dir / "o.safetensors"));
}

}  // namespace
}  // namespace palettize::testing
