// Helpers for the CLI tests: run build/palettize as a subprocess and build small checkpoints.
#pragma once
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io_test_helpers.hpp"
#include "palettize/safetensors.hpp"
#include "palettize/tensor.hpp"

extern char** environ;

namespace palettize::testing {

inline const std::string kPalettizeBinary = PALETTIZE_BINARY_DIR "/palettize";

struct RunResult {
  int exit_code = -1;   // exit status, or -1 when killed by a signal
  int signal = 0;       // the signal that killed it, if any
  std::string out;
  std::string err;
  nlohmann::json json() const { return nlohmann::json::parse(out); }
};

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Starts palettize with `args`; stdout and stderr go to files in `scratch`. Returns the child's pid.
inline pid_t spawn_palettize(const std::vector<std::string>& args, const std::filesystem::path& out_file,
                             const std::filesystem::path& err_file) {
  std::vector<std::string> argv_storage{kPalettizeBinary};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  const int status = posix_spawn(&pid, kPalettizeBinary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (status != 0) throw std::runtime_error("cannot start " + kPalettizeBinary);
  return pid;
}

inline RunResult wait_palettize(pid_t pid, const std::filesystem::path& out_file,
                                const std::filesystem::path& err_file) {
  int status = 0;
  waitpid(pid, &status, 0);
  RunResult result;
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  result.out = read_text(out_file);
  result.err = read_text(err_file);
  std::filesystem::remove(out_file);
  std::filesystem::remove(err_file);
  return result;
}

// Whether onnxruntime-node is installed in the source tree (scripts/bootstrap), for tests that run models.
inline bool ort_installed() {
  return std::filesystem::is_directory(std::filesystem::path(PALETTIZE_SOURCE_DIR) / "node_modules" / "onnxruntime-node");
}

// Runs palettize to completion. The captured streams live outside `scratch` so they never count as outputs.
inline RunResult run_palettize(const std::vector<std::string>& args) {
  static int counter = 0;
  const auto base = std::filesystem::temp_directory_path() /
                    ("palettize-cli-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  const auto out_file = base.string() + ".out";
  const auto err_file = base.string() + ".err";
  return wait_palettize(spawn_palettize(args, out_file, err_file), out_file, err_file);
}

inline std::string describe(const RunResult& result) {
  return "exit " + std::to_string(result.exit_code) + " signal " + std::to_string(result.signal) +
         "\n--- stdout:\n" + result.out + "\n--- stderr:\n" + result.err;
}

// Gaussian weights with a few outliers, rounded to `dtype`.
inline Tensor random_tensor(DType dtype, const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> values(static_cast<std::size_t>(shape_numel(shape)));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = (i % 97 == 5) ? 8 * normal(rng) : normal(rng);
  return make_tensor(dtype, shape, values);
}

// Positive importances, for --sensitivities.
inline Tensor random_importances(DType dtype, const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(0.01f, 2.0f);
  std::vector<float> values(static_cast<std::size_t>(shape_numel(shape)));
  for (float& value : values) value = uniform(rng);
  return make_tensor(dtype, shape, values);
}

inline Tensor int64_tensor(const Shape& shape) {
  Tensor tensor{DType::I64, shape, {}};
  const int64_t count = shape_numel(shape);
  tensor.data.resize(static_cast<std::size_t>(count) * 8);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t value = i * 7 - 3;
    std::memcpy(tensor.data.data() + i * 8, &value, 8);
  }
  return tensor;
}

// Writes `tensors` as a sharded checkpoint: shard i holds tensors[i], index at `index_path`.
inline void write_sharded(const std::filesystem::path& index_path,
                          const std::vector<std::vector<NamedTensor>>& shards) {
  nlohmann::json weight_map = nlohmann::json::object();
  uint64_t total = 0;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const std::string file = "model-0000" + std::to_string(i + 1) + "-of-0000" + std::to_string(shards.size()) +
                             ".safetensors";
    write_safetensors(index_path.parent_path() / file, shards[i]);
    for (const NamedTensor& tensor : shards[i]) {
      weight_map[tensor.name] = file;
      total += tensor.tensor.data.size();
    }
  }
  std::ofstream(index_path) << nlohmann::json{{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}}.dump();
}

inline bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace palettize::testing
