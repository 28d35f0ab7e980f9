// private: include only from src/ and tests/
#pragma once
// The scalar validation rules of PalettizationSpec, on int64 values so the JSON reader can apply them
// before narrowing a value to the field's type (a huge n_bits must report itself, not its wrapped value).
#include <cstdint>

namespace palettize::spec_rules {

void check_n_bits(int64_t n_bits);
void check_cluster_dim(int64_t cluster_dim);
void check_grouped_axis(int64_t axis);
void check_group_size(int64_t group_size);

}  // namespace palettize::spec_rules
