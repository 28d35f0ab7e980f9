#include "tools/container_view.hpp"

#include "palettize/error.hpp"

namespace palettize::tools {

double LogicalTensor::bits_per_weight() const {
  const int64_t count = numel();
  return count ? 8.0 * static_cast<double>(stored_bytes) / static_cast<double>(count) : 0;
}

ContainerView::ContainerView(const Checkpoint& checkpoint)
    : checkpoint_(&checkpoint), entries_(read_container_entries(checkpoint)) {
  std::map<std::string, std::size_t> entry_of_part;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    for (const std::string& part : container_part_names(entries_[i])) entry_of_part[part] = i;
  }
  std::map<std::size_t, std::size_t> logical_of_entry;
  for (const CheckpointEntry& stored : checkpoint.tensors()) {
    const auto part = entry_of_part.find(stored.name);
    if (part == entry_of_part.end()) {
      check(!by_name_.contains(stored.name), checkpoint.path().string(), ": tensor '", stored.name,
            "' is stored both densely and palettized");
      by_name_[stored.name] = tensors_.size();
      tensors_.push_back(LogicalTensor{stored.name, stored.dtype, stored.shape, stored.shard, nullptr,
                                       {stored.name}, stored.byte_size});
      continue;
    }
    auto [logical, first_part] = logical_of_entry.try_emplace(part->second, tensors_.size());
    if (first_part) {
      const ContainerEntry& entry = entries_[part->second];
      check(!by_name_.contains(entry.name), checkpoint.path().string(), ": tensor '", entry.name,
            "' is stored both densely and palettized");
      by_name_[entry.name] = tensors_.size();
      tensors_.push_back(LogicalTensor{entry.name, entry.dtype, entry.shape, stored.shard, &entry, {}, 0});
    }
    LogicalTensor& tensor = tensors_[logical->second];
    tensor.stored_names.push_back(stored.name);
    tensor.stored_bytes += stored.byte_size;
  }
}

const LogicalTensor* ContainerView::find(const std::string& name) const {
  const auto found = by_name_.find(name);
  return found == by_name_.end() ? nullptr : &tensors_[found->second];
}

Tensor ContainerView::dense(const LogicalTensor& tensor) const {
  if (tensor.entry) return decode(load_palettized(*tensor.entry, *checkpoint_));
  const TensorView view = checkpoint_->view(tensor.name);
  return Tensor{view.dtype, view.shape, std::vector<std::byte>(view.data.begin(), view.data.end())};
}

void ContainerView::release(const LogicalTensor& tensor) const {
  for (const std::string& name : tensor.stored_names) checkpoint_->release(name);
}

}  // namespace palettize::tools
