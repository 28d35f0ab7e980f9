#pragma once
// private: include only from src/ and tests/
// Shared pieces of the command-line tool: exit codes, the command table, messages on stderr.
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "palettize/tools.hpp"

namespace palettize::cli {

// Exit codes: 0 success, 2 bad input or usage (palettize::Error, CLI11 parse errors), 1 internal failure
// (any other exception: a bug in palettize). Signals: 128 + signal number (130 SIGINT, 143 SIGTERM).
inline constexpr int kExitOk = 0;
inline constexpr int kExitInternal = 1;
inline constexpr int kExitBadInput = 2;

// A subcommand: its CLI11 parser and what runs when it was chosen. Options are bound to state captured
// by `run`, so each command file owns its options.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Command add_compress_command(CLI::App& parent);
Command add_decompress_command(CLI::App& parent);
Command add_inspect_command(CLI::App& parent);
Command add_eval_command(CLI::App& parent);
Command add_spec_command(CLI::App& parent);
Command add_plan_command(CLI::App& parent);  // mixed precision (issue 8)
Command add_sensitivity_command(CLI::App& parent);  // output-aware importance in onnxruntime (issue 8)
Command add_search_command(CLI::App& parent);       // mixed precision by measurement in onnxruntime (issue 8)
Command add_calibrate_command(CLI::App& parent);    // per-element sensitivities from activations (issue 8)

// --config FILE / --preset NAME / --spec JSON, which exclude each other, bound to `options`; the help texts
// say what the chosen config decides for this command.
struct ConfigHelp {
  std::string config, preset, spec;
};
void add_config_options(CLI::App& app, tools::CompressOptions& options, const ConfigHelp& help);

// "palettize: warning: <message>" on stderr.
void warn(std::string_view message);

}  // namespace palettize::cli
