#pragma once
// private: include only from src/ and tests/
// `palettize compress`: the run is tools::run_compress (palettize/tools.hpp); the command prints its report.
#include <memory>
#include <ostream>

#include "palettize/tools.hpp"

namespace palettize::cli {

using tools::compress_result_json;
using tools::compress_totals;
using tools::CompressOptions;
using tools::CompressResult;
using tools::CompressTotals;
using tools::config_from_options;
using tools::TensorPlan;
using tools::TensorResult;

void print_compress_table(const CompressResult& result, std::ostream& out);

}  // namespace palettize::cli
