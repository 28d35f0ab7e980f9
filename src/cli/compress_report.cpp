// What compress prints for people: a summary table (the JSON form is tools::compress_result_json).
#include <cmath>
#include <ostream>

#include "cli/compress.hpp"
#include "cli/format.hpp"
#include "cli/table.hpp"

namespace palettize::cli {
namespace {

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
  const CompressTotals totals = compress_totals(result);
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

}  // namespace palettize::cli
