// Crash-safe output: temporary sibling, fsync, rename, fsync of the directory.
#include "palettize/output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "io/posix_write.hpp"
#include "io/temp_registry.hpp"
#include "palettize/error.hpp"

namespace palettize {
namespace {

constexpr std::size_t kBufferBytes = 1 << 20;

bool path_exists(const std::filesystem::path& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0;
}

void check_may_write(const std::filesystem::path& target, bool force) {
  check(force || !path_exists(target), target.string(), ": output already exists (use --force to overwrite)");
  struct stat info {};
  if (::stat(target.c_str(), &info) == 0) {
    check(S_ISREG(info.st_mode), target.string(), ": output exists and is not a regular file");
  }
}

std::filesystem::path directory_of(const std::filesystem::path& target) {
  return target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
}

// A fresh temporary name next to the target, created with O_EXCL (mode 0666 minus umask, like the target
// would get from a plain open), and known to the signal handlers *before* it is created: registered after
// the open(), a SIGINT arriving in between left the file behind (CliCrashSafety caught it under ASan). A
// name that turns out to exist is unregistered again; a signal in that instant unlinks that file, which
// can only be the temporary of a dead process that had our pid.
struct TempFile {
  int fd = -1;
  int slot = -1;
};

TempFile create_temp(const std::filesystem::path& target, std::filesystem::path& temp_path) {
  static std::atomic<unsigned> counter{0};
  const std::filesystem::path directory = directory_of(target);
  for (int attempt = 0; attempt < 100; ++attempt) {
    const std::string name = detail::concat(".", target.filename().string(), ".tmp-", ::getpid(), "-",
                                            counter.fetch_add(1));
    temp_path = directory / name;
    const int slot = io::register_temp_file(temp_path.c_str());
    const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return {fd, slot};
    const int error = errno;
    io::unregister_temp_file(slot);
    check(error == EEXIST, target.string(), ": cannot create temporary file ", temp_path.string(), ": ",
          std::strerror(error));
  }
  fail(target.string(), ": cannot find a free temporary file name in ", directory.string());
}

void sync_directory(const std::filesystem::path& directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // some file systems refuse; the rename itself already happened
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

namespace io {

void write_all(int fd, const std::byte* data, std::size_t size, std::string_view label) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0 && errno == EINTR) continue;
    check(written > 0, label, ": write failed: ", written < 0 ? std::strerror(errno) : "no progress");
    data += written;
    size -= static_cast<std::size_t>(written);
  }
}

void sync_fd(int fd, std::string_view label) {
  int result = 0;
  do {
    result = ::fsync(fd);
  } while (result != 0 && errno == EINTR);
  check(result == 0, label, ": fsync failed: ", std::strerror(errno));
}

}  // namespace io

OutputFile::OutputFile(std::filesystem::path target, bool force) : target_(std::move(target)), force_(force) {
  check(!target_.empty(), "output path is empty");
  const std::filesystem::path directory = directory_of(target_);
  struct stat info {};
  check(::stat(directory.c_str(), &info) == 0 && S_ISDIR(info.st_mode), target_.string(),
        ": output directory ", directory.string(), " does not exist");
  check_may_write(target_, force_);
  const TempFile temp = create_temp(target_, temp_path_);
  fd_ = temp.fd;
  registry_slot_ = temp.slot;
  try {
    buffer_.reserve(kBufferBytes);
  } catch (...) {
    abort();
    throw;
  }
}

OutputFile::~OutputFile() {
  if (!committed_) abort();
}

void OutputFile::write(std::span<const std::byte> bytes) {
  check(fd_ >= 0, target_.string(), ": write after the file was finished");
  if (buffer_.size() + bytes.size() > kBufferBytes) flush_buffer();
  if (bytes.size() >= kBufferBytes) {
    io::write_all(fd_, bytes.data(), bytes.size(), target_.string());
  } else {
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  }
  bytes_written_ += bytes.size();
}

void OutputFile::write(std::string_view text) {
  write(std::span<const std::byte>(reinterpret_cast<const std::byte*>(text.data()), text.size()));
}

void OutputFile::flush_buffer() {
  if (buffer_.empty()) return;
  io::write_all(fd_, buffer_.data(), buffer_.size(), target_.string());
  buffer_.clear();
}

void OutputFile::finish() {
  if (fd_ < 0) {
    check(!temp_path_.empty() || committed_, target_.string(), ": output was aborted");
    return;
  }
  flush_buffer();
  io::sync_fd(fd_, target_.string());
  const int fd = std::exchange(fd_, -1);
  check(::close(fd) == 0, target_.string(), ": close failed: ", std::strerror(errno));
}

void OutputFile::commit() {
  if (committed_) return;
  finish();
  check_may_write(target_, force_);
  check(::rename(temp_path_.c_str(), target_.c_str()) == 0, target_.string(), ": cannot rename ",
        temp_path_.string(), " into place: ", std::strerror(errno));
  committed_ = true;
  io::unregister_temp_file(std::exchange(registry_slot_, -1));
  temp_path_.clear();
  sync_directory(directory_of(target_));
}

void OutputFile::abort() noexcept {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  if (!temp_path_.empty()) {
    ::unlink(temp_path_.c_str());
    temp_path_.clear();
  }
  io::unregister_temp_file(std::exchange(registry_slot_, -1));
  buffer_.clear();
}

// ---- OutputGroup ----

OutputFile& OutputGroup::add(std::filesystem::path target) {
  for (const auto& file : files_) {
    check(file->target() != target, target.string(), ": the same output file is written twice");
  }
  files_.push_back(std::make_unique<OutputFile>(std::move(target), force_));
  return *files_.back();
}

void OutputGroup::commit() {
  for (auto& file : files_) file->finish();
  std::vector<bool> existed;
  for (auto& file : files_) {
    check_may_write(file->target(), force_);
    existed.push_back(path_exists(file->target()));
  }
  std::size_t renamed = 0;
  try {
    for (; renamed < files_.size(); ++renamed) files_[renamed]->commit();
  } catch (...) {
    // Undo what can be undone: outputs this commit created (not ones it overwrote with force).
    for (std::size_t i = 0; i < renamed; ++i) {
      if (!existed[i]) ::unlink(files_[i]->target().c_str());
    }
    abort();
    throw;
  }
}

void OutputGroup::abort() noexcept {
  for (auto& file : files_) {
    if (!file->committed()) file->abort();
  }
}

}  // namespace palettize
