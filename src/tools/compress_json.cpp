// What compress reports: totals and the JSON form (`palettize compress --json`).
#include <cmath>

#include "palettize/spec_json.hpp"
#include "palettize/tools.hpp"

namespace palettize::tools {
namespace {

double bits_per_weight(uint64_t bytes, const Shape& shape) {
  const int64_t count = shape_numel(shape);
  return count ? 8.0 * static_cast<double>(bytes) / static_cast<double>(count) : 0;
}

}  // namespace

nlohmann::json json_number(double value) {
  if (!std::isfinite(value)) return nullptr;
  return value;
}

double CompressTotals::bits_per_weight() const {
  return palettized_weights ? 8.0 * static_cast<double>(palettized_bytes) / static_cast<double>(palettized_weights)
                            : 0;
}

double CompressTotals::snr_db() const { return sse == 0 ? INFINITY : 10 * std::log10(signal / sse); }

CompressTotals compress_totals(const CompressResult& result) {
  CompressTotals totals;
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
  const CompressTotals totals = compress_totals(result);
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

}  // namespace palettize::tools
