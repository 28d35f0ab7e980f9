// `palettize spec check JSON`: validates a spec and prints its normalized JSON form.
#include <iostream>
#include <memory>

#include "cli/cli_common.hpp"
#include "palettize/error.hpp"
#include "palettize/spec_json.hpp"

namespace palettize::cli {

Command add_spec_command(CLI::App& parent) {
  auto text = std::make_shared<std::string>();
  CLI::App* spec = parent.add_subcommand("spec", "Work with palettization specs");
  spec->require_subcommand(1);
  CLI::App* check_command = spec->add_subcommand(
      "check", "Validate a spec given as JSON; print its normalized form (every field, defaults filled in)");
  check_command->add_option("JSON", *text, "the spec, e.g. '{\"n_bits\":4,\"cluster_dim\":2}'")->required();
  return Command{spec, [text] {
                   std::cout << spec_to_json_string(parse_spec_json(*text)) << "\n";
                   return kExitOk;
                 }};
}

}  // namespace palettize::cli
