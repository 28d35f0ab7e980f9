// What compress prints: a summary table for people, JSON for machines.
#include <cmath>
#include <ostream>

#include "cli/compress.hpp"
#include "cli/format.hpp"
#include "cli/table.hpp"
#include "palettize/spec_json.hpp"

namespace palettize::cli {
namespace {

struct Totals {
  std::size_t palettized = 0, copied = 0, skipped = 0;
  int64_t palettized_weights = 0;
  uint64_t palettized_bytes = 0;  // stored bytes of the palettized tensors' parts
  uint64_t original_bytes = 0;    // their dense bytes
  double sse = 0, signal = 0;
  double bits_per_weight() const {
    return palettized_weights ? 8.0 * static_cast<double>(palettized_bytes) / static_cast<double>(palettized_weights) : 0;
  }
  double snr_db() const { return sse == 0 ? INFINITY : 10 * std::log10(signal / sse); }
};

Totals totals_of(const CompressResult& result) {
  Totals totals;
  for (std::size_t i = 0; i < result.plans.size(); ++i) {
    const TensorPlan& plan = result.plans[i];
    const TensorResult& tensor = result.tensors[i];
    if (!plan.entry) {
      ++(plan.misfit ? totals.skipped : totals.copied);
      continue;
    }
    ++totals.palettized;
    totals.palettized_weights += shape_numel(plan.shape);
    totals.palettized_bytes += tensor.stored_bytes;
    totals.original_bytes += plan.byte_size;
    totals.sse += tensor.metrics->sse;
    totals.signal += tensor.metrics->signal;
  }
  return totals;
}

double bits_per_weight(uint64_t bytes, const Shape& shape) {
  const int64_t count = shape_numel(shape);
  return count ? 8.0 * static_cast<double>(bytes) / static_cast<double>(count) : 0;
}

std::string ratio(uint64_t before, uint64_t after) {
  return after ? format_decimal(static_cast<double>(before) / static_cast<double>(after), 2) + "x" : "-";
}

}  // namespace

void print_compress_table(const CompressResult& result, std::ostream& out) {
  using Align = Table::Align;
  Table table({{"tensor"}, {"shape"}, {"dtype"}, {"spec"}, {"bits/w", Align::right}, {"SNR dB", Align::right}});
  for (std::size_t i = 0; i < result.plans.size(); ++i) {
    const TensorPlan& plan = result.plans[i];
    if (!plan.entry) continue;
    const TensorResult& tensor = result.tensors[i];
    table.add_row({plan.name, format_shape(plan.shape), std::string(dtype_name(plan.dtype)),
                   spec_short_form(plan.entry->spec),
                   format_decimal(bits_per_weight(tensor.stored_bytes, plan.shape), 3),
                   format_decimal(tensor.metrics->snr_db, 2)});
  }
  const Totals totals = totals_of(result);
  if (!table.empty()) {
    table.add_rule();
    table.add_row({"total: " + std::to_string(totals.palettized) + " palettized", "", "", "",
                   format_decimal(totals.bits_per_weight(), 3), format_decimal(totals.snr_db(), 2)});
    table.print(out);
  }
  out << totals.palettized << " palettized (" << format_bytes(static_cast<double>(totals.original_bytes)) << " -> "
      << format_bytes(static_cast<double>(totals.palettized_bytes)) << ", "
      << ratio(totals.original_bytes, totals.palettized_bytes) << "), " << totals.copied << " copied unchanged, "
      << totals.skipped << " skipped\n";
  out << "wrote " << result.output_files.front().string() << ": "
      << format_bytes(static_cast<double>(result.input_file_bytes)) << " -> "
      << format_bytes(static_cast<double>(result.output_file_bytes)) << " ("
      << ratio(result.input_file_bytes, result.output_file_bytes) << ") in " << format_decimal(result.seconds, 1)
      << " s\n";
}

nlohmann::json compress_result_json(const CompressOptions& options, const CompressResult& result) {
  nlohmann::json tensors = nlohmann::json::array();
  for (std::size_t i = 0; i < result.plans.size(); ++i) {
    const TensorPlan& plan = result.plans[i];
    const TensorResult& tensor = result.tensors[i];
    nlohmann::json row = {{"name", plan.name},
                          {"shape", plan.shape},
                          {"dtype", dtype_name(plan.dtype)},
                          {"status", plan.entry ? "palettized" : plan.misfit ? "skipped" : "copied"},
                          {"bytes", tensor.stored_bytes},
                          {"bits_per_weight", json_number(bits_per_weight(tensor.stored_bytes, plan.shape))}};
    if (plan.entry) {
      row["spec"] = spec_to_json(plan.entry->spec);
      row["spec_from"] = plan.origin;
      row["sse"] = tensor.metrics->sse;
      row["mse"] = tensor.metrics->mse;
      row["snr_db"] = json_number(tensor.metrics->snr_db);
      row["max_abs_err"] = tensor.metrics->max_abs_err;
      row["seconds"] = tensor.seconds;
    } else {
      row["reason"] = plan.skip_reason;
    }
    tensors.push_back(std::move(row));
  }
  const Totals totals = totals_of(result);
  std::vector<std::string> outputs;
  for (const auto& file : result.output_files) outputs.push_back(file.string());
  return {{"input", options.input.string()},
          {"output", options.output.string()},
          {"output_files", outputs},
          {"config", model_config_to_json(result.config)},
          {"tensors", tensors},
          {"warnings", result.warnings},
          {"total",
           {{"palettized", totals.palettized},
            {"copied", totals.copied},
            {"skipped", totals.skipped},
            {"sse", totals.sse},
            {"snr_db", json_number(totals.snr_db())},
            {"bits_per_weight", json_number(totals.bits_per_weight())},
            {"input_file_bytes", result.input_file_bytes},
            {"output_file_bytes", result.output_file_bytes},
            {"compression_ratio", json_number(static_cast<double>(result.input_file_bytes) /
                                              static_cast<double>(result.output_file_bytes))},
            {"seconds", result.seconds}}}};
}

}  // namespace palettize::cli
