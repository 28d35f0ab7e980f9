#pragma once
// Crash-safe output files. Bytes go to a temporary file in the target's directory; only commit() moves it
// over the target (fsync first, rename, fsync the directory), so a reader never sees a half-written file and
// a failure, an exception or a signal leaves no partial output behind.
//
// Every live temporary path is also kept in a process-wide registry of fixed C strings, so a SIGINT/SIGTERM
// handler can unlink them with async-signal-safe calls only (see unlink_live_temp_files()).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace palettize {

// One output file written through a temporary sibling "<target>.tmp-XXXXXX".
// Write errors (ENOSPC included: "No space left on device") throw Error naming the target file.
class OutputFile {
 public:
  // Refuses (Error) when `target` exists and `force` is false, or when its directory does not exist.
  OutputFile(std::filesystem::path target, bool force);
  ~OutputFile();  // removes the temporary file unless committed; never throws
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(std::span<const std::byte> bytes);
  void write(std::string_view text);
  uint64_t bytes_written() const { return bytes_written_; }

  // Flushes, fsyncs and closes the temporary file, keeping it (still not visible under the target name).
  // Idempotent. Lets a multi-file output close its files early and rename them all at the end.
  void finish();
  // finish(), then renames the temporary file over the target and fsyncs the directory. Re-checks the
  // no-overwrite rule (the target may have appeared meanwhile).
  void commit();
  // Closes and removes the temporary file. Idempotent; never throws.
  void abort() noexcept;

  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& temp_path() const { return temp_path_; }
  bool committed() const { return committed_; }

 private:
  void flush_buffer();

  std::filesystem::path target_;
  std::filesystem::path temp_path_;
  bool force_ = false;
  int fd_ = -1;
  int registry_slot_ = -1;
  bool committed_ = false;
  uint64_t bytes_written_ = 0;
  std::vector<std::byte> buffer_;
};

// Several outputs committed together (a sharded checkpoint): all temporary files are written and finished
// first, then renamed in the order they were added (put the index file last). If a rename fails, targets
// this commit created are removed again, so the set is all-or-nothing as far as the file system allows
// (an overwritten target, with force, cannot be restored). Uncommitted files are removed on destruction.
class OutputGroup {
 public:
  explicit OutputGroup(bool force) : force_(force) {}
  // Checks the no-overwrite rule for `target` immediately (and again at commit).
  OutputFile& add(std::filesystem::path target);
  void commit();
  void abort() noexcept;
  std::size_t size() const { return files_.size(); }
  OutputFile& file(std::size_t i) { return *files_.at(i); }

 private:
  bool force_;
  std::vector<std::unique_ptr<OutputFile>> files_;
};

// Unlinks every live temporary output file of the process. Async-signal-safe (unlink() only, on paths
// stored as C strings when each file was created): call it from a SIGINT/SIGTERM handler.
void unlink_live_temp_files() noexcept;

// Convenience for the CLI: installs SIGINT and SIGTERM handlers that call unlink_live_temp_files(), restore
// the default disposition and re-raise the signal (so the exit status still says "killed by signal").
void install_temp_file_cleanup_handlers();

// Number of live temporary files (for tests).
std::size_t live_temp_file_count();

}  // namespace palettize
