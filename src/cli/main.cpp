// palettize: the command-line tool. Parses the command line, runs the chosen command and maps failures to
// exit codes (see cli_common.hpp).
#include <csignal>
#include <cstring>
#include <exception>
#include <iostream>
#include <vector>

#include <unistd.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "cli/cli_common.hpp"
#include "palettize/error.hpp"
#include "palettize/output_file.hpp"

namespace palettize::cli {

void add_config_options(CLI::App& app, tools::CompressOptions& options, const ConfigHelp& help) {
  CLI::Option* config = app.add_option("--config", options.config_file, help.config);
  CLI::Option* preset = app.add_option("--preset", options.preset, help.preset)->check(CLI::IsMember({"w4", "w6", "w8"}));
  CLI::Option* spec = app.add_option("--spec", options.spec_json, help.spec);
  config->excludes(preset)->excludes(spec);
  preset->excludes(spec);
}

void warn(std::string_view message) { std::cerr << "palettize: warning: " << message << "\n"; }

namespace {

// Async-signal-safe: removes every temporary output file, says why, exits 128 + signal.
extern "C" void on_terminating_signal(int signal_number) {
  const char* message = signal_number == SIGINT ? "\npalettize: interrupted (SIGINT); no output was written\n"
                                                : "\npalettize: terminated (SIGTERM); no output was written\n";
  unlink_live_temp_files();
  [[maybe_unused]] auto ignored = write(STDERR_FILENO, message, std::strlen(message));
  _exit(128 + signal_number);
}

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_terminating_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  // Past a file-size limit (ulimit -f) the kernel sends SIGXFSZ, whose default action kills the process and
  // leaves the temporary output behind. Ignored, the write fails with EFBIG instead and the normal error
  // path removes every temporary file and names the output.
  signal(SIGXFSZ, SIG_IGN);
}

int run(int argc, char** argv) {
  CLI::App app{"palettize: compress neural-network weights to n-bit look-up tables (palettization)", "palettize"};
  app.set_version_flag("--version", std::string("palettize ") + PALETTIZE_VERSION);
  app.require_subcommand(1);
  std::vector<Command> commands{add_compress_command(app), add_decompress_command(app), add_inspect_command(app),
                                add_eval_command(app), add_spec_command(app), add_plan_command(app),
                                add_sensitivity_command(app), add_search_command(app),
                                add_calibrate_command(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& done) {
    return app.exit(done);  // --help, --version
  } catch (const CLI::ParseError& error) {
    app.exit(error);
    return kExitBadInput;
  }
  for (const Command& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  return kExitBadInput;  // unreachable: require_subcommand(1)
}

// Blocks of a few hundred KiB each (split tables, DP layers, index buffers) are allocated and freed once per
// block; above glibc's default 128 KiB they would each be a fresh mmap, faulted in page by page and
// unmapped again: n2/g16 on a 4096x4096 tensor spent a third of its CPU time in the kernel. Below 64 MiB
// they now come from the heap and are reused; a freed top of up to 256 MiB is kept rather than trimmed.
void keep_block_buffers_in_the_heap() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

}  // namespace
}  // namespace palettize::cli

int main(int argc, char** argv) {
  using namespace palettize::cli;
  install_signal_handlers();
  keep_block_buffers_in_the_heap();
  try {
    return run(argc, argv);
  } catch (const palettize::Error& error) {
    std::cerr << "palettize: error: " << error.what() << "\n";
    return kExitBadInput;
  } catch (const std::exception& error) {
    std::cerr << "palettize: internal error (please report): " << error.what() << "\n";
    return kExitInternal;
  } catch (...) {
    std::cerr << "palettize: internal error (please report): unknown exception\n";
    return kExitInternal;
  }
}
