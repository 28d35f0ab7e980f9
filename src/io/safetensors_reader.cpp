// The memory-mapped reader. The mapping is read-only and private; tensor views point straight into it.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <utility>

#include "palettize/error.hpp"
#include "palettize/safetensors.hpp"

namespace palettize {
namespace {

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::size_t page_size() {
  static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

}  // namespace

SafetensorsReader::SafetensorsReader(const std::filesystem::path& path) : path_(path) {
  const std::string label = path.string();
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  check(fd.get() >= 0, label, ": cannot open: ", std::strerror(errno));
  struct stat info {};
  check(::fstat(fd.get(), &info) == 0, label, ": cannot stat: ", std::strerror(errno));
  check(S_ISREG(info.st_mode), label, ": not a regular file");
  size_ = static_cast<uint64_t>(info.st_size);
  check(size_ >= 8, label, ": file is ", size_, " bytes, too short for a safetensors file (at least 8 bytes)");
  void* map = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  check(map != MAP_FAILED, label, ": cannot memory-map ", size_, " bytes: ", std::strerror(errno));
  map_ = static_cast<const std::byte*>(map);
  try {
    layout_ = parse_safetensors(std::span<const std::byte>(map_, size_), label);
  } catch (...) {
    ::munmap(const_cast<std::byte*>(map_), size_);
    map_ = nullptr;
    throw;
  }
  for (std::size_t i = 0; i < layout_.tensors.size(); ++i) by_name_.emplace(layout_.tensors[i].name, i);
}

SafetensorsReader::~SafetensorsReader() {
  if (map_ != nullptr) ::munmap(const_cast<std::byte*>(map_), size_);
}

SafetensorsReader::SafetensorsReader(SafetensorsReader&& other) noexcept
    : path_(std::move(other.path_)),
      map_(std::exchange(other.map_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      layout_(std::move(other.layout_)),
      by_name_(std::move(other.by_name_)) {}

SafetensorsReader& SafetensorsReader::operator=(SafetensorsReader&& other) noexcept {
  if (this != &other) {
    if (map_ != nullptr) ::munmap(const_cast<std::byte*>(map_), size_);
    path_ = std::move(other.path_);
    map_ = std::exchange(other.map_, nullptr);
    size_ = std::exchange(other.size_, 0);
    layout_ = std::move(other.layout_);
    by_name_ = std::move(other.by_name_);
  }
  return *this;
}

const TensorInfo* SafetensorsReader::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &layout_.tensors[it->second];
}

bool SafetensorsReader::contains(std::string_view name) const { return find(name) != nullptr; }

const TensorInfo& SafetensorsReader::info(std::string_view name) const {
  const TensorInfo* found = find(name);
  check(found != nullptr, path_.string(), ": no tensor named '", name, "'");
  return *found;
}

TensorView SafetensorsReader::view(std::string_view name) const {
  const TensorInfo& tensor = info(name);
  const std::byte* begin = map_ + layout_.data_offset + tensor.begin;
  return TensorView{tensor.dtype, tensor.shape, std::span<const std::byte>(begin, tensor.byte_size())};
}

void SafetensorsReader::release(std::string_view name) const {
  const TensorInfo& tensor = info(name);
  // Dropping a page a neighbour shares is harmless: untouched private file pages are re-read on access.
  const std::size_t page = page_size();
  const uint64_t first = layout_.data_offset + tensor.begin;
  const uint64_t last = layout_.data_offset + tensor.end;
  const uint64_t start = first / page * page;
  const uint64_t stop = std::min<uint64_t>((last + page - 1) / page * page, size_);
  if (start >= stop) return;
  // Advisory: a failure only means the pages stay resident, so it is not an error.
  ::madvise(const_cast<std::byte*>(map_) + start, stop - start, MADV_DONTNEED);
}

}  // namespace palettize
