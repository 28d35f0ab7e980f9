#include "cli/sensitivity_worker.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>

#include "palettize/error.hpp"

namespace palettize::cli {
namespace {

constexpr const char* kWorkerRelative = "tools/ort/sensitivity_worker.js";

bool is_executable(const std::filesystem::path& path) {
  return std::filesystem::is_regular_file(path) && access(path.c_str(), X_OK) == 0;
}

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    check(n > 0, "the onnxruntime worker stopped reading its requests (", std::strerror(errno), ")");
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

ScratchDir::ScratchDir() {
  path = std::filesystem::temp_directory_path() / ("palettize-ort-" + std::to_string(getpid()));
  std::filesystem::create_directories(path);
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path, ignored);
}

std::filesystem::path find_node() {
  if (const char* chosen = std::getenv("PALETTIZE_NODE"); chosen != nullptr && *chosen != '\0') {
    check(is_executable(chosen), "PALETTIZE_NODE=", chosen, " is not an executable file");
    return chosen;
  }
  const char* path = std::getenv("PATH");
  std::string_view dirs = path == nullptr ? "" : path;
  while (!dirs.empty()) {
    const std::size_t colon = std::min(dirs.find(':'), dirs.size());
    const std::filesystem::path candidate = std::filesystem::path(dirs.substr(0, colon)) / "node";
    if (colon > 0 && is_executable(candidate)) return candidate;
    dirs.remove_prefix(std::min(colon + 1, dirs.size()));
  }
  fail("node (Node.js) was not found on PATH; sensitivity runs models in onnxruntime-node and needs it "
       "(install Node.js, or set PALETTIZE_NODE to its executable)");
}

std::filesystem::path find_worker_script() {
  std::filesystem::path script;
  if (const char* chosen = std::getenv("PALETTIZE_ORT_WORKER"); chosen != nullptr && *chosen != '\0') {
    script = chosen;
    check(std::filesystem::is_regular_file(script), "PALETTIZE_ORT_WORKER=", chosen, " is not a file");
  } else {
    std::error_code error;
    const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
    for (std::filesystem::path dir = exe.parent_path(); !error && !dir.empty(); dir = dir.parent_path()) {
      if (std::filesystem::is_regular_file(dir / kWorkerRelative)) {
        script = dir / kWorkerRelative;
        break;
      }
      if (dir == dir.parent_path()) break;
    }
    check(!script.empty(), kWorkerRelative, " was not found in any directory above ", exe.string(),
          "; set PALETTIZE_ORT_WORKER to the script in a palettize source tree");
  }
  // The worker loads onnxruntime-node from the node_modules of the tree it lives in.
  const std::filesystem::path root = std::filesystem::absolute(script).parent_path().parent_path().parent_path();
  check(std::filesystem::is_directory(root / "node_modules" / "onnxruntime-node"), "onnxruntime-node is not installed in ",
        (root / "node_modules").string(), "; install it with scripts/bootstrap (or npm ci --ignore-scripts in ",
        root.string(), ")");
  return script;
}

OrtWorker::OrtWorker(const WorkerOptions& options) {
  const std::filesystem::path node = find_node();
  const std::filesystem::path script = find_worker_script();
  std::vector<std::string> args{node.string(),
                                script.string(),
                                options.reference.string(),
                                options.inputs.string(),
                                "--sets",
                                std::to_string(options.sets),
                                "--seed",
                                std::to_string(options.seed),
                                "--threads",
                                std::to_string(options.threads),
                                "--transform",
                                options.transform};
  if (!options.reference_outputs) args.push_back("--no-reference");
  if (!options.outputs.empty()) {
    std::string joined;
    for (const std::string& name : options.outputs) joined += (joined.empty() ? "" : ",") + name;
    args.insert(args.end(), {"--outputs", joined});
  }
  int requests[2];
  int replies[2];
  check(pipe2(requests, O_CLOEXEC) == 0 && pipe2(replies, O_CLOEXEC) == 0, "cannot create pipes for the worker: ",
        std::strerror(errno));
  // A dead worker must surface as an Error on write, not kill palettize with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  pid_ = fork();
  check(pid_ >= 0, "cannot start the onnxruntime worker: ", std::strerror(errno));
  if (pid_ == 0) {
    dup2(requests[0], STDIN_FILENO);
    dup2(replies[1], STDOUT_FILENO);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(node.c_str(), argv.data());
    const std::string message = "palettize: cannot run " + node.string() + ": " + std::strerror(errno) + "\n";
    [[maybe_unused]] auto ignored = write(STDERR_FILENO, message.data(), message.size());
    _exit(127);
  }
  close(requests[0]);
  close(replies[1]);
  to_worker_ = requests[1];
  from_worker_ = fdopen(replies[0], "r");
  check(from_worker_ != nullptr, "cannot read from the onnxruntime worker: ", std::strerror(errno));
  ready_ = read_reply("the reference outputs of " + options.reference.string());
}

OrtWorker::~OrtWorker() {
  if (to_worker_ >= 0) close(to_worker_);
  if (from_worker_ != nullptr) std::fclose(from_worker_);
  if (pid_ > 0) {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

nlohmann::json OrtWorker::read_reply(const std::string& waiting_for) {
  char* line = nullptr;
  std::size_t capacity = 0;
  const ssize_t length = getline(&line, &capacity, from_worker_);
  const std::string text = length > 0 ? std::string(line, static_cast<std::size_t>(length)) : std::string();
  std::free(line);
  check(length > 0, "the onnxruntime worker exited while computing ", waiting_for,
        " (its message, if any, is above)");
  nlohmann::json reply = nlohmann::json::parse(text, nullptr, false);
  check(!reply.is_discarded() && reply.is_object(), "the onnxruntime worker answered with something not JSON: ",
        text.substr(0, 200));
  check(!reply.contains("error"), "onnxruntime, ", waiting_for, ": ", reply.value("error", std::string()));
  return reply;
}

nlohmann::json OrtWorker::evaluate(const std::filesystem::path& model) {
  write_all(to_worker_, nlohmann::json{{"model", model.string()}}.dump() + "\n");
  return read_reply(model.string());
}

nlohmann::json OrtWorker::activation_stats(const std::filesystem::path& model, const nlohmann::json& channels) {
  write_all(to_worker_, nlohmann::json{{"activations", model.string()}, {"channels", channels}}.dump() + "\n");
  return read_reply("the activations of " + model.string())["activations"];
}

}  // namespace palettize::cli
