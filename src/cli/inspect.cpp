// `palettize inspect FILE`: what a checkpoint or ONNX model holds, per tensor: shape, dtype, spec, bits per
// weight, bytes.
#include <iostream>
#include <memory>
#include <optional>

#include "cli/cli_common.hpp"
#include "cli/format.hpp"
#include "cli/table.hpp"
#include "palettize/spec_json.hpp"
#include "tools/container_view.hpp"
#include "tools/onnx_view.hpp"
#include "tools/output_plan.hpp"

namespace palettize::cli {
namespace {

using tools::checkpoint_files;
using tools::ContainerView;
using tools::LogicalTensor;
using tools::onnx_logical_tensors;
using tools::OnnxLogicalTensor;
using tools::total_file_size;

struct InspectOptions {
  std::filesystem::path file;
  bool json = false;
};

// One logical tensor, whatever the file format.
struct InspectRow {
  std::string name;
  Shape shape;
  DType dtype = DType::F32;
  std::optional<PalettizationSpec> spec;  // set for palettized tensors
  uint64_t bytes = 0;
  double bits_per_weight = 0;
  nlohmann::json extra = nlohmann::json::object();  // format-specific JSON fields
};

struct InspectReport {
  std::filesystem::path path;
  bool palettized_file = false;  // a container or a palettized ONNX model
  std::vector<InspectRow> rows;
  uint64_t file_bytes = 0;
};

InspectReport checkpoint_report(const std::filesystem::path& path) {
  const Checkpoint checkpoint(path);
  const ContainerView container(checkpoint);
  InspectReport report{path, container.is_container(), {}, total_file_size(checkpoint_files(checkpoint))};
  for (const LogicalTensor& tensor : container.tensors()) {
    InspectRow row{tensor.name, tensor.shape, tensor.dtype, std::nullopt, tensor.stored_bytes,
                   tensor.bits_per_weight(), nlohmann::json::object()};
    if (tensor.entry) row.spec = tensor.entry->spec;
    row.extra["stored_as"] = tensor.stored_names;
    if (checkpoint.is_sharded()) row.extra["shard"] = checkpoint.shard_files().at(tensor.shard);
    report.rows.push_back(std::move(row));
  }
  return report;
}

// Float tensors only: the rest of the graph is not a weight palettize could touch.
InspectReport onnx_report(const std::filesystem::path& path) {
  const OnnxModel model = OnnxModel::load(path);
  InspectReport report{path, !model.palettized_keys().empty(), {}, std::filesystem::file_size(path)};
  for (const OnnxLogicalTensor& tensor : onnx_logical_tensors(model)) {
    report.rows.push_back(InspectRow{tensor.name, tensor.shape, tensor.dtype, tensor.spec, tensor.stored_bytes,
                                     tensor.bits_per_weight(), nlohmann::json::object()});
  }
  return report;
}

struct InspectTotals {
  std::size_t palettized = 0;
  int64_t palettized_weights = 0;
  uint64_t palettized_bytes = 0;
  uint64_t tensor_bytes = 0;
  double average_bits() const {
    return palettized_weights ? 8.0 * static_cast<double>(palettized_bytes) / static_cast<double>(palettized_weights)
                              : 0;
  }
};

InspectTotals totals_of(const InspectReport& report) {
  InspectTotals totals;
  for (const InspectRow& row : report.rows) {
    totals.tensor_bytes += row.bytes;
    if (!row.spec) continue;
    ++totals.palettized;
    totals.palettized_weights += shape_numel(row.shape);
    totals.palettized_bytes += row.bytes;
  }
  return totals;
}

void print_table(const InspectReport& report, std::ostream& out) {
  using Align = Table::Align;
  Table table({{"tensor"}, {"shape"}, {"dtype"}, {"spec"}, {"bits/w", Align::right}, {"bytes", Align::right}});
  for (const InspectRow& row : report.rows) {
    table.add_row({row.name, format_shape(row.shape), std::string(dtype_name(row.dtype)),
                   row.spec ? spec_short_form(*row.spec) : "-", format_decimal(row.bits_per_weight, 3),
                   std::to_string(row.bytes)});
  }
  table.print(out);
  const InspectTotals totals = totals_of(report);
  out << report.rows.size() << " tensors, " << totals.palettized << " palettized";
  if (totals.palettized) out << " (" << format_decimal(totals.average_bits(), 3) << " bits/weight)";
  out << "; " << format_bytes(static_cast<double>(report.file_bytes)) << " on disk\n";
}

nlohmann::json inspect_json(const InspectReport& report) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const InspectRow& row : report.rows) {
    nlohmann::json item = {{"name", row.name},
                           {"shape", row.shape},
                           {"dtype", dtype_name(row.dtype)},
                           {"spec", row.spec ? spec_to_json(*row.spec) : nlohmann::json(nullptr)},
                           {"bits_per_weight", row.bits_per_weight},
                           {"bytes", row.bytes}};
    item.update(row.extra);
    tensors.push_back(std::move(item));
  }
  const InspectTotals totals = totals_of(report);
  return {{"path", report.path.string()},
          {"container_version", report.palettized_file ? nlohmann::json(kContainerVersion) : nlohmann::json(nullptr)},
          {"tensors", tensors},
          {"total",
           {{"tensors", report.rows.size()},
            {"palettized", totals.palettized},
            {"palettized_bits_per_weight", totals.palettized ? json_number(totals.average_bits()) : nullptr},
            {"tensor_bytes", totals.tensor_bytes},
            {"file_bytes", report.file_bytes}}}};
}

}  // namespace

Command add_inspect_command(CLI::App& parent) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* app = parent.add_subcommand(
      "inspect",
      "List the tensors of a checkpoint, palettize container or ONNX model (its float tensors): shape, dtype, "
      "spec, bits per weight, bytes");
  app->add_option("FILE", options->file, ".safetensors file, sharded *.safetensors.index.json, or .onnx model")
      ->required();
  app->add_flag("--json", options->json, "print JSON instead of a table");
  return Command{app, [options] {
                   const InspectReport report =
                       is_onnx_path(options->file) ? onnx_report(options->file) : checkpoint_report(options->file);
                   if (options->json) {
                     std::cout << inspect_json(report).dump(2) << "\n";
                   } else {
                     print_table(report, std::cout);
                   }
                   return kExitOk;
                 }};
}

}  // namespace palettize::cli
