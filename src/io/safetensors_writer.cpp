// Streaming safetensors writer: the header is computed from declarations, then tensor bytes follow in order.
#include <bit>
#include <cstring>
#include <set>

#include "palettize/error.hpp"
#include "palettize/safetensors.hpp"

namespace palettize {
uint64_t TensorDecl::byte_size() const {
  check(shape.size() <= kMaxSafetensorsRank, "tensor '", name, "': rank ", shape.size(), " exceeds the limit of ",
        kMaxSafetensorsRank);
  uint64_t bytes = 0;
  const auto numel = static_cast<uint64_t>(shape_numel(shape));
  check(!__builtin_mul_overflow(numel, uint64_t(dtype_size(dtype)), &bytes), "tensor '", name, "': shape ",
        shape_to_string(shape), " overflows 64 bits");
  return bytes;
}

std::vector<std::byte> safetensors_header(std::span<const TensorDecl> tensors, const Metadata& metadata) {
  check(tensors.size() <= kMaxSafetensorsTensors, tensors.size(), " tensors exceed the limit of ",
        kMaxSafetensorsTensors);
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string_view> names;
  uint64_t offset = 0;
  for (const auto& tensor : tensors) {
    check(!tensor.name.empty(), "a tensor to write has an empty name");
    check(tensor.name != "__metadata__", "a tensor cannot be named \"__metadata__\"");
    check(names.insert(tensor.name).second, "tensor '", tensor.name, "' is declared twice");
    const uint64_t size = tensor.byte_size();
    uint64_t end = 0;
    check(!__builtin_add_overflow(offset, size, &end), "tensor '", tensor.name, "': data offsets overflow 64 bits");
    header[tensor.name] = {{"dtype", std::string(dtype_name(tensor.dtype))}, {"shape", tensor.shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& error) {
    fail("cannot write safetensors header (tensor names and metadata must be valid UTF-8): ", error.what());
  }
  // Pad with spaces to a multiple of 8, as the reference writer does, so the data section starts aligned.
  text.append((8 - text.size() % 8) % 8, ' ');
  check(text.size() <= kMaxSafetensorsHeaderBytes, "safetensors header of ", text.size(),
        " bytes exceeds the limit of ", kMaxSafetensorsHeaderBytes);
  std::vector<std::byte> bytes(8 + text.size());
  const uint64_t length = text.size();
  static_assert(std::endian::native == std::endian::little);
  std::memcpy(bytes.data(), &length, 8);
  std::memcpy(bytes.data() + 8, text.data(), text.size());
  return bytes;
}

SafetensorsWriter::SafetensorsWriter(OutputFile& out, std::vector<TensorDecl> tensors, const Metadata& metadata)
    : out_(&out), tensors_(std::move(tensors)) {
  out_->write(safetensors_header(tensors_, metadata));
}

const TensorDecl& SafetensorsWriter::next() const {
  check(has_next(), out_->target().string(), ": every declared tensor has been written already");
  return tensors_[next_];
}

void SafetensorsWriter::write_tensor(std::string_view name, std::span<const std::byte> bytes) {
  const std::string label = out_->target().string();
  check(!open_bytes_, label, ": tensor '", name, "' written before '", tensors_[next_].name, "' was ended");
  check(has_next(), label, ": tensor '", name, "' written after every declared tensor");
  const TensorDecl& expected = tensors_[next_];
  check(expected.name == name, label, ": tensor '", name, "' written out of order; expected '", expected.name, "'");
  check(bytes.size() == expected.byte_size(), label, ": tensor '", name, "' has ", bytes.size(),
        " bytes but was declared as ", shape_to_string(expected.shape), " ", dtype_name(expected.dtype), " (",
        expected.byte_size(), " bytes)");
  out_->write(bytes);
  ++next_;
}

void SafetensorsWriter::begin_tensor(std::string_view name) {
  const std::string label = out_->target().string();
  check(!open_bytes_, label, ": tensor '", name, "' begun before '", tensors_[next_].name, "' was ended");
  check(has_next(), label, ": tensor '", name, "' written after every declared tensor");
  const TensorDecl& expected = tensors_[next_];
  check(expected.name == name, label, ": tensor '", name, "' written out of order; expected '", expected.name, "'");
  open_bytes_ = 0;
}

void SafetensorsWriter::append(std::span<const std::byte> bytes) {
  check(open_bytes_.has_value(), out_->target().string(), ": bytes appended outside a tensor");
  const TensorDecl& expected = tensors_[next_];
  check(*open_bytes_ + bytes.size() <= expected.byte_size(), out_->target().string(), ": tensor '", expected.name,
        "' given more than its declared ", expected.byte_size(), " bytes");
  out_->write(bytes);
  *open_bytes_ += bytes.size();
}

void SafetensorsWriter::end_tensor() {
  check(open_bytes_.has_value(), out_->target().string(), ": end of a tensor that was not begun");
  const TensorDecl& expected = tensors_[next_];
  check(*open_bytes_ == expected.byte_size(), out_->target().string(), ": tensor '", expected.name, "' has ",
        *open_bytes_, " bytes but was declared as ", shape_to_string(expected.shape), " ", dtype_name(expected.dtype),
        " (", expected.byte_size(), " bytes)");
  open_bytes_.reset();
  ++next_;
}

void SafetensorsWriter::finish() {
  if (has_next()) {
    fail(out_->target().string(), ": tensor '", tensors_[next_].name, "' was declared but not ",
         open_bytes_ ? "completed" : "written");
  }
}

void write_safetensors(const std::filesystem::path& path, std::span<const NamedTensor> tensors,
                       const Metadata& metadata, bool force) {
  std::vector<TensorDecl> decls;
  for (const auto& named : tensors) decls.push_back({named.name, named.tensor.dtype, named.tensor.shape});
  OutputFile out(path, force);
  SafetensorsWriter writer(out, std::move(decls), metadata);
  for (const auto& named : tensors) writer.write_tensor(named.name, named.tensor.data);
  writer.finish();
  out.commit();
}

}  // namespace palettize
