#pragma once
// private: include only from src/ and tests/
// The compress plan (src/tools/plan.hpp) under the command-line tool's namespace.
#include "tools/plan.hpp"

namespace palettize::cli {

using tools::misfit_warning;
using tools::plan_checkpoint;
using tools::plan_tensor;
using tools::TensorPlan;

}  // namespace palettize::cli
