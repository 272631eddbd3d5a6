// FaultEnv: an Env over another Env that numbers every mutating call (create,
// append, fsync, close, rename, remove, mkdir, directory fsync) and can fail
// the N-th one, so a test can enumerate every write/fsync/rename point of an
// operation and crash at each.
//
// A crash makes the armed call and every later mutating call fail with
// IO_ERROR ("injected crash"), as if the process had died there. Then
// simulate_power_loss() rewrites the real files to what a machine crash could
// leave: data appended since a file's last sync() is dropped (or, with
// torn writes, a prefix of it survives), and names created, renamed or
// removed since the last sync_dir() of their directory are rolled back
// (a rename that replaced a file brings the old file back).
//
// Thread-safe; all bookkeeping is under one mutex.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/env.h"

namespace tandem {

enum class FaultKind {
  kNone,
  kCrash,      // the call fails and the process is considered dead
  kTornWrite,  // an append writes half its bytes, then crash; power loss keeps partial tails
  kNoSpace,    // the call fails with RESOURCE_EXHAUSTED (ENOSPC); later calls work
  kIoError,    // the call fails with IO_ERROR (EIO); later calls work
};

class FaultEnv final : public Env {
 public:
  explicit FaultEnv(Env* base) : base_(base) {}

  // Fails the mutating call with index `point` (0-based, counted from
  // construction or reset_counter()).
  void arm(int64_t point, FaultKind kind);
  void disarm();
  void reset_counter();
  // Mutating calls seen so far.
  int64_t points() const;
  bool crashed() const;
  // Label of each point seen ("append tmp/x", "sync ...") for failure messages.
  std::vector<std::string> point_log() const;

  // Applies a machine crash to the files below (see the header comment) and
  // forgets all tracking; the env is usable again afterwards.
  Status simulate_power_loss();

  Result<std::unique_ptr<WritableFile>> new_writable_file(const std::string& path) override;
  // Numbered like new_writable_file ("create"); the file below is the base
  // Env's direct file, whose appends are counted and torn the same way.
  Result<std::unique_ptr<WritableFile>> new_direct_writable_file(const std::string& path) override;
  Result<std::string> read_file(const std::string& path) override { return base_->read_file(path); }
  Result<std::string> read_range(const std::string& path, uint64_t offset, size_t n) override {
    return base_->read_range(path, offset, n);
  }
  Result<uint64_t> file_size(const std::string& path) override { return base_->file_size(path); }
  bool file_exists(const std::string& path) override { return base_->file_exists(path); }
  Status rename(const std::string& from, const std::string& to) override;
  Result<bool> rename_no_replace(const std::string& from, const std::string& to) override;
  Status remove_file(const std::string& path) override;
  Status create_dir(const std::string& path) override;
  Result<std::vector<std::string>> list_dir(const std::string& path) override {
    return base_->list_dir(path);
  }
  Status sync_dir(const std::string& path) override;
  // Makes every tracked file's data durable (not directory entries).
  Status sync_fs(const std::string& path) override;
  Result<std::unique_ptr<FileLock>> lock_file(const std::string& path, bool exclusive, bool wait) override {
    return base_->lock_file(path, exclusive, wait);
  }
  int64_t now_micros() override { return base_->now_micros(); }

 private:
  friend class FaultWritableFile;
  struct FileState {
    uint64_t synced = 0;  // bytes durable
    uint64_t size = 0;    // bytes written
  };
  struct DirOp {
    enum Kind { kCreate, kRename, kRemove } kind;
    std::string path;  // created / removed / rename target
    std::string from;  // rename source
    bool replaced = false;
    std::string old_content;  // content of a replaced target
    FileState old_state;
  };

  Result<std::unique_ptr<WritableFile>> new_file(const std::string& path, bool direct);
  // Counts a mutating call; returns the injected failure, if any.
  Status tick(const std::string& label, FaultKind* kind_out = nullptr);
  void note_append(const std::string& path, uint64_t n);
  void note_sync(const std::string& path);

  Env* base_;
  mutable std::mutex mu_;
  int64_t counter_ = 0;
  int64_t armed_point_ = -1;
  FaultKind armed_kind_ = FaultKind::kNone;
  bool crashed_ = false;
  bool torn_ = false;
  std::vector<std::string> log_;
  std::map<std::string, FileState> files_;
  std::vector<DirOp> pending_;  // directory operations not yet made durable
};

}  // namespace tandem
