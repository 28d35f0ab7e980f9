#pragma once
// private: include only from src/ and tests/
// Mixed precision over model files (src/tools/mixed_plan.hpp) under the command-line tool's namespace.
#include "tools/mixed_plan.hpp"

namespace palettize::cli {

using tools::kRecipeMetadataKey;
using tools::make_recipe;
using tools::MixedOptions;
using tools::model_candidates;
using tools::ModelCandidates;
using tools::plan_recipe;
using tools::Recipe;

}  // namespace palettize::cli
