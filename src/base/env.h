// Env: the file system and clock, behind an interface so tests can swap in a
// fault-injecting implementation (FaultEnv) and crash a program at any write,
// fsync or rename. Paths are plain strings; every method is thread-safe.
//
// Durability contract the callers rely on (POSIX semantics):
//  - data appended to a WritableFile is durable only after sync();
//  - a created, renamed or removed name is durable only after sync_dir() on
//    the directory that holds it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

namespace tandem {

// A file opened for writing from the start (created or truncated).
// Not thread-safe; one owner. The destructor closes without syncing.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status append(const void* data, size_t n) = 0;
  virtual Status sync() = 0;  // fsync: data and size durable
  // Hint: start writing the data back now (no durability promise).
  virtual void start_writeback() {}
  // Flushes what append() still holds (new_direct_writable_file) to the file
  // system, without syncing, and closes.
  virtual Status close() = 0;
  // True while appends bypass the page cache (O_DIRECT).
  virtual bool bypasses_page_cache() const { return false; }
};

// An advisory lock (flock) held until destruction.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class Env {
 public:
  virtual ~Env() = default;

  virtual Result<std::unique_ptr<WritableFile>> new_writable_file(const std::string& path) = 0;
  // The same contract, for a file written once in large sequential appends
  // (pack files): where the file system allows, data bypasses the page cache
  // (O_DIRECT from aligned buffers, written by a background thread), which
  // saves the kernel's copy into the cache. append() copies the bytes and may
  // return before they reach the file system; a write error is returned by a
  // later append(), sync() or close(). File systems that refuse O_DIRECT
  // (tmpfs: EINVAL) get a plain file. The default is new_writable_file.
  virtual Result<std::unique_ptr<WritableFile>> new_direct_writable_file(const std::string& path) {
    return new_writable_file(path);
  }
  virtual Result<std::string> read_file(const std::string& path) = 0;
  // Reads up to n bytes at offset; fewer at end of file.
  virtual Result<std::string> read_range(const std::string& path, uint64_t offset, size_t n) = 0;
  virtual Result<uint64_t> file_size(const std::string& path) = 0;
  virtual bool file_exists(const std::string& path) = 0;
  // Atomically replaces `to` if it exists.
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  // Atomically renames unless `to` exists; then returns false and leaves both.
  virtual Result<bool> rename_no_replace(const std::string& from, const std::string& to) = 0;
  virtual Status remove_file(const std::string& path) = 0;
  // Creates the directory (and missing parents); OK if it exists.
  virtual Status create_dir(const std::string& path) = 0;
  // Names in the directory, without "." and "..", unsorted.
  virtual Result<std::vector<std::string>> list_dir(const std::string& path) = 0;
  virtual Status sync_dir(const std::string& path) = 0;
  // syncfs: the data of every file on path's file system is durable on
  // return (one call instead of an fsync per file; it also waits for other
  // writers' dirty data on that file system).
  virtual Status sync_fs(const std::string& path) = 0;
  // flock on `path` (created if missing). With wait == false and the lock
  // held elsewhere, returns a null pointer.
  virtual Result<std::unique_ptr<FileLock>> lock_file(const std::string& path, bool exclusive,
                                                      bool wait) = 0;
  virtual int64_t now_micros() = 0;

  // The process-wide POSIX implementation (never destroyed).
  static Env* posix();
};

// Joins with exactly one '/'.
std::string path_join(const std::string& a, const std::string& b);
std::string path_dirname(const std::string& p);
std::string path_basename(const std::string& p);

// Writes `data` to `path` through a temporary name: tmp, fsync, rename,
// fsync of the directory.
Status write_file_atomic(Env* env, const std::string& path, const std::string& data);

}  // namespace tandem
