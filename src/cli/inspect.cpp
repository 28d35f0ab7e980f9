// `palettize inspect FILE`: what a checkpoint holds, per tensor: shape, dtype, spec, bits per weight, bytes.
#include <iostream>
#include <memory>

#include "cli/cli_common.hpp"
#include "cli/container_view.hpp"
#include "cli/format.hpp"
#include "cli/output_plan.hpp"
#include "cli/table.hpp"
#include "palettize/spec_json.hpp"

namespace palettize::cli {
namespace {

struct InspectOptions {
  std::filesystem::path file;
  bool json = false;
};

struct InspectTotals {
  std::size_t palettized = 0;
  int64_t palettized_weights = 0;
  uint64_t palettized_bytes = 0;
  uint64_t tensor_bytes = 0;
};

InspectTotals totals_of(const ContainerView& container) {
  InspectTotals totals;
  for (const LogicalTensor& tensor : container.tensors()) {
    totals.tensor_bytes += tensor.stored_bytes;
    if (!tensor.entry) continue;
    ++totals.palettized;
    totals.palettized_weights += tensor.numel();
    totals.palettized_bytes += tensor.stored_bytes;
  }
  return totals;
}

double average_bits(const InspectTotals& totals) {
  return totals.palettized_weights
             ? 8.0 * static_cast<double>(totals.palettized_bytes) / static_cast<double>(totals.palettized_weights)
             : 0;
}

void print_table(const ContainerView& container, std::ostream& out) {
  using Align = Table::Align;
  Table table({{"tensor"}, {"shape"}, {"dtype"}, {"spec"}, {"bits/w", Align::right}, {"bytes", Align::right}});
  for (const LogicalTensor& tensor : container.tensors()) {
    table.add_row({tensor.name, format_shape(tensor.shape), std::string(dtype_name(tensor.dtype)),
                   tensor.entry ? spec_short_form(tensor.entry->spec) : "-",
                   format_decimal(tensor.bits_per_weight(), 3), std::to_string(tensor.stored_bytes)});
  }
  table.print(out);
  const InspectTotals totals = totals_of(container);
  out << container.tensors().size() << " tensors, " << totals.palettized << " palettized";
  if (totals.palettized) out << " (" << format_decimal(average_bits(totals), 3) << " bits/weight)";
  out << "; " << format_bytes(static_cast<double>(total_file_size(checkpoint_files(container.checkpoint()))))
      << " on disk\n";
}

nlohmann::json inspect_json(const ContainerView& container) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const LogicalTensor& tensor : container.tensors()) {
    nlohmann::json row = {{"name", tensor.name},
                          {"shape", tensor.shape},
                          {"dtype", dtype_name(tensor.dtype)},
                          {"spec", tensor.entry ? spec_to_json(tensor.entry->spec) : nlohmann::json(nullptr)},
                          {"bits_per_weight", tensor.bits_per_weight()},
                          {"bytes", tensor.stored_bytes},
                          {"stored_as", tensor.stored_names}};
    if (container.checkpoint().is_sharded()) row["shard"] = container.checkpoint().shard_files().at(tensor.shard);
    tensors.push_back(std::move(row));
  }
  const InspectTotals totals = totals_of(container);
  return {{"path", container.checkpoint().path().string()},
          {"container_version", container.is_container() ? nlohmann::json(kContainerVersion) : nlohmann::json(nullptr)},
          {"tensors", tensors},
          {"total",
           {{"tensors", container.tensors().size()},
            {"palettized", totals.palettized},
            {"palettized_bits_per_weight", totals.palettized ? json_number(average_bits(totals)) : nullptr},
            {"tensor_bytes", totals.tensor_bytes},
            {"file_bytes", total_file_size(checkpoint_files(container.checkpoint()))}}}};
}

}  // namespace

Command add_inspect_command(CLI::App& parent) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* app = parent.add_subcommand(
      "inspect", "List the tensors of a checkpoint or palettize container: shape, dtype, spec, bits per weight, bytes");
  app->add_option("FILE", options->file, ".safetensors file or sharded *.safetensors.index.json")->required();
  app->add_flag("--json", options->json, "print JSON instead of a table");
  return Command{app, [options] {
                   refuse_onnx(options->file);
                   const Checkpoint checkpoint(options->file);
                   const ContainerView container(checkpoint);
                   if (options->json) {
                     std::cout << inspect_json(container).dump(2) << "\n";
                   } else {
                     print_table(container, std::cout);
                   }
                   return kExitOk;
                 }};
}

}  // namespace palettize::cli
