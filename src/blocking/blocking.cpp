#include "blocking/blocking.hpp"

#include "palettize/error.hpp"

namespace palettize {
namespace {

[[noreturn]] void incompatible(const std::string& message) { throw IncompatibleSpecError(message); }

}  // namespace

BlockLayout::BlockLayout(const Shape& shape, const PalettizationSpec& spec)
    : shape_(shape), cluster_dim_(spec.cluster_dim) {
  if (shape.empty()) incompatible("Tensor shape [] is a scalar; palettization needs at least 1 dimension.");
  const int64_t numel = shape_numel(shape);
  if (numel == 0) incompatible(detail::concat("Tensor shape ", shape_to_string(shape), " is empty."));
  output_channels_ = shape[0];
  rest_ = numel / output_channels_;

  if (const auto* grouped = std::get_if<PerGroupedChannelGranularity>(&spec.granularity)) {
    grouped_ = true;
    axis_ = spec.resolved_axis();
    group_size_ = grouped->group_size;
    if (static_cast<int64_t>(shape.size()) <= axis_) {
      incompatible(detail::concat("Tensor shape ", shape_to_string(shape), " has insufficient dimensions for axis ",
                                  axis_, ". Parameter must have at least ", axis_ + 1, " dimensions."));
    }
    const int64_t axis_size = shape[axis_];
    if (axis_size % group_size_ != 0) {
      incompatible(detail::concat("Tensor size ", axis_size, " along axis ", axis_, " of shape ",
                                  shape_to_string(shape), " is not divisible by group_size ", group_size_, "."));
    }
    num_blocks_ = axis_size / group_size_;
    if (axis_ == 1) inner_ = rest_ / shape[1];
  }

  if (output_channels_ % cluster_dim_ != 0) {
    incompatible(detail::concat("Tensor dimension ", output_channels_, " along output channel axis of shape ",
                                shape_to_string(shape), " is not divisible by cluster_dim ", cluster_dim_, "."));
  }
  if (grouped_ && axis_ == 0 && group_size_ % cluster_dim_ != 0) {
    incompatible(detail::concat("group_size ", group_size_, " along output channel axis of shape ",
                                shape_to_string(shape), " is not divisible by cluster_dim ", cluster_dim_,
                                " (vectors run along output channels and may not cross groups)."));
  }
}

BlockRect BlockLayout::block(int64_t b) const {
  if (!grouped_) return {0, item_rows(), 0, rest_};
  if (axis_ == 0) {
    const int64_t rows_per_block = group_size_ / cluster_dim_;
    return {b * rows_per_block, (b + 1) * rows_per_block, 0, rest_};
  }
  const int64_t span = group_size_ * inner_;
  return {0, item_rows(), b * span, (b + 1) * span};
}

Shape BlockLayout::lut_shape(int n_bits) const {
  Shape lut(shape_.size(), 1);
  if (grouped_) lut[static_cast<std::size_t>(axis_)] = num_blocks_;
  lut.push_back(int64_t{1} << n_bits);
  lut.push_back(cluster_dim_);
  return lut;
}

Shape BlockLayout::index_shape() const {
  Shape index = shape_;
  index[0] /= cluster_dim_;
  return index;
}

}  // namespace palettize
