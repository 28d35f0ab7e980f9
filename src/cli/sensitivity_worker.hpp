#pragma once
// private: include only from src/ and tests/
// The onnxruntime side of `palettize sensitivity`: one long-lived node process running
// tools/ort/sensitivity_worker.js, which computes the reference outputs once and then scores model files
// against them, one JSON request and reply per line over its stdin and stdout.
#include <sys/types.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace palettize::cli {

struct WorkerOptions {
  std::filesystem::path reference;  // the unmodified model
  std::filesystem::path inputs;     // input descriptions (tests/ort/inputs.js format)
  int sets = 1;
  int seed = 1;
  int threads = 1;                   // onnxruntime intra-op threads
  std::vector<std::string> outputs;  // empty: every model output
  std::string transform = "none";    // "log": score log(max(output, 1e-30))
  bool reference_outputs = true;     // false: the reference is not run (activation_stats() only)
};

// The node executable: $PALETTIZE_NODE, else `node` found on PATH. Error when there is none.
std::filesystem::path find_node();
// The worker script: $PALETTIZE_ORT_WORKER, else tools/ort/sensitivity_worker.js in the first directory above
// this executable that has it. Error when not found, or when onnxruntime-node is not installed beside it.
std::filesystem::path find_worker_script();

// A directory for the models handed to the worker, removed with everything in it when the run ends.
struct ScratchDir {
  std::filesystem::path path;
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

class OrtWorker {
 public:
  // Starts the worker and waits until it has the reference outputs. Throws Error with the worker's message
  // when it cannot start (model not loadable, input missing, ...).
  explicit OrtWorker(const WorkerOptions& options);
  ~OrtWorker();  // closes the worker's stdin and waits for it
  OrtWorker(const OrtWorker&) = delete;
  OrtWorker& operator=(const OrtWorker&) = delete;

  // {"ready": true, "outputs": [...], "inputs": {...}} as the worker announced it.
  const nlohmann::json& ready() const { return ready_; }
  // Scores one model file: {"outputs": {NAME: {"signal", "noise"}}, "damage", "snr_db", "seconds"}.
  // Throws Error when onnxruntime fails on it or the worker died.
  nlohmann::json evaluate(const std::filesystem::path& model);
  // Runs `model` (the reference with more outputs) on the same inputs and returns, for each value named in
  // `channels` ({VALUE: AXIS}), {"dims", "mean_square": [one per index along AXIS]} over every input set.
  nlohmann::json activation_stats(const std::filesystem::path& model, const nlohmann::json& channels);

 private:
  nlohmann::json read_reply(const std::string& waiting_for);

  pid_t pid_ = -1;
  int to_worker_ = -1;
  FILE* from_worker_ = nullptr;
  nlohmann::json ready_;
};

}  // namespace palettize::cli
