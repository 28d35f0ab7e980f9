// private: include only from src/ and tests/
#pragma once
// Blocking (§2, §2.1, §3.6): which weights share a LUT, and in what order they are visited.
//
// Every weight tensor of shape [O, d1, ..., d_{R-1}] is seen as a grid of "items" (scalars, or vectors of
// cluster_dim weights) indexed by (o', r): o' in [0, O/cd) is the output-channel position divided by the
// vector length, r in [0, rest) the flat position over the other axes (rest = numel / O). Item (o', r)
// holds weights (o'*cd + j, r) for j = 0..cd-1, i.e. vectors always run along the output-channel axis
// (Core ML vector_axis = 0). Item t = o' * rest + r is also its position in the index tensor.
//
// A block (the weights of one LUT) is a rectangle of that grid:
//   per-tensor:       all items;
//   grouped, axis 0:  o' in one run of group_size/cd output-channel positions (consecutive output channels);
//   grouped, axis 1:  r in one run of group_size input channels x the trailing (spatial) positions.
// For a conv [O, I, k...] this is the reference's reshape to [O, I*K] (axis 0) or [O*K, I] (axis 1) and
// consecutive groups along that axis; vectors along true output channels fix its mixed-spatial vectors.
#include <cstdint>

#include "palettize/spec.hpp"
#include "palettize/tensor.hpp"

namespace palettize {

struct BlockRect {
  int64_t o_begin, o_end;  // item rows (output channels / cluster_dim)
  int64_t r_begin, r_end;  // flat positions over the non-output axes
  int64_t num_items() const { return (o_end - o_begin) * (r_end - r_begin); }
};

class BlockLayout {
 public:
  // Throws IncompatibleSpecError when the spec cannot apply to the shape. The spec must be valid.
  BlockLayout(const Shape& shape, const PalettizationSpec& spec);

  int64_t output_channels() const { return output_channels_; }
  int64_t rest() const { return rest_; }
  int64_t cluster_dim() const { return cluster_dim_; }
  int64_t item_rows() const { return output_channels_ / cluster_dim_; }
  int64_t num_items() const { return item_rows() * rest_; }
  int64_t num_blocks() const { return num_blocks_; }
  BlockRect block(int64_t b) const;
  // The block (LUT) that item (o', r) belongs to.
  int64_t block_of(int64_t item_row, int64_t r) const {
    if (!grouped_) return 0;
    if (axis_ == 0) return item_row * cluster_dim_ / group_size_;
    return r / inner_ / group_size_;
  }

  // Flat element index of weight j of item (o', r).
  int64_t element_index(int64_t item_row, int64_t r, int64_t j) const {
    return (item_row * cluster_dim_ + j) * rest_ + r;
  }

  Shape lut_shape(int n_bits) const;  // [NB_0, ..., NB_{R-1}, 2^n, cd]
  Shape index_shape() const;

 private:
  Shape shape_;
  int axis_ = 0;
  bool grouped_ = false;
  int64_t group_size_ = 1;
  int64_t output_channels_ = 1;
  int64_t rest_ = 1;
  int64_t inner_ = 1;  // positions after axis 1 (spatial), for axis-1 groups
  int64_t cluster_dim_ = 1;
  int64_t num_blocks_ = 1;
};

}  // namespace palettize
