#pragma once
// private: include only from src/ and tests/
// A checkpoint seen as the tensors it represents: each palettized tensor (all its parts) is one logical
// tensor, at the position of its first stored part; every other stored tensor is itself.
#include <map>
#include <string>
#include <vector>

#include "palettize/container.hpp"

namespace palettize::tools {

struct LogicalTensor {
  std::string name;
  DType dtype = DType::F32;  // original dtype
  Shape shape;               // original shape
  std::size_t shard = 0;
  const ContainerEntry* entry = nullptr;  // set for palettized tensors
  std::vector<std::string> stored_names;  // the tensors that hold it in the file
  uint64_t stored_bytes = 0;

  int64_t numel() const { return shape_numel(shape); }
  double bits_per_weight() const;
};

class ContainerView {
 public:
  explicit ContainerView(const Checkpoint& checkpoint);

  const Checkpoint& checkpoint() const { return *checkpoint_; }
  bool is_container() const { return !entries_.empty(); }
  const std::vector<LogicalTensor>& tensors() const { return tensors_; }  // stream order
  const LogicalTensor* find(const std::string& name) const;

  // The dense tensor: decoded (palettized) or a copy of the stored bytes.
  Tensor dense(const LogicalTensor& tensor) const;
  void release(const LogicalTensor& tensor) const;

 private:
  const Checkpoint* checkpoint_;
  std::vector<ContainerEntry> entries_;
  std::vector<LogicalTensor> tensors_;
  std::map<std::string, std::size_t> by_name_;
};

}  // namespace palettize::tools
