#include "base/fault_env.h"

#include <unistd.h>

#include <algorithm>

namespace tandem {

class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultEnv* env, std::string path, std::unique_ptr<WritableFile> base)
      : env_(env), path_(std::move(path)), base_(std::move(base)) {}

  Status append(const void* data, size_t n) override {
    FaultKind kind = FaultKind::kNone;
    Status st = env_->tick("append " + path_, &kind);
    if (!st.ok()) {
      if (kind == FaultKind::kTornWrite && n > 1) {
        // Half of the bytes reach the file before the "process" dies.
        if (base_->append(data, n / 2).ok()) env_->note_append(path_, n / 2);
      }
      return st;
    }
    TANDEM_RETURN_IF_ERROR(base_->append(data, n));
    env_->note_append(path_, n);
    return ok_status();
  }
  Status sync() override {
    TANDEM_RETURN_IF_ERROR(env_->tick("sync " + path_));
    TANDEM_RETURN_IF_ERROR(base_->sync());
    env_->note_sync(path_);
    return ok_status();
  }
  Status close() override {
    TANDEM_RETURN_IF_ERROR(env_->tick("close " + path_));
    return base_->close();
  }
  bool bypasses_page_cache() const override { return base_->bypasses_page_cache(); }

 private:
  FaultEnv* env_;
  std::string path_;
  std::unique_ptr<WritableFile> base_;
};

void FaultEnv::arm(int64_t point, FaultKind kind) {
  std::lock_guard<std::mutex> lock(mu_);
  armed_point_ = point;
  armed_kind_ = kind;
}

void FaultEnv::disarm() {
  std::lock_guard<std::mutex> lock(mu_);
  armed_point_ = -1;
  armed_kind_ = FaultKind::kNone;
}

void FaultEnv::reset_counter() {
  std::lock_guard<std::mutex> lock(mu_);
  counter_ = 0;
  log_.clear();
}

int64_t FaultEnv::points() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counter_;
}

bool FaultEnv::crashed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return crashed_;
}

std::vector<std::string> FaultEnv::point_log() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_;
}

Status FaultEnv::tick(const std::string& label, FaultKind* kind_out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (crashed_) return io_error("injected crash: process is dead (" + label + ")");
  const int64_t me = counter_++;
  log_.push_back(label);
  if (me != armed_point_) return ok_status();
  if (kind_out) *kind_out = armed_kind_;
  switch (armed_kind_) {
    case FaultKind::kNone:
      return ok_status();
    case FaultKind::kCrash:
      crashed_ = true;
      return io_error("injected crash at point " + std::to_string(me) + " (" + label + ")");
    case FaultKind::kTornWrite:
      crashed_ = true;
      torn_ = true;
      return io_error("injected torn write and crash at point " + std::to_string(me) + " (" + label + ")");
    case FaultKind::kNoSpace:
      return {StatusCode::kResourceExhausted,
              "injected ENOSPC at point " + std::to_string(me) + " (" + label + ")"};
    case FaultKind::kIoError:
      return io_error("injected EIO at point " + std::to_string(me) + " (" + label + ")");
  }
  return ok_status();
}

void FaultEnv::note_append(const std::string& path, uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  files_[path].size += n;
}

void FaultEnv::note_sync(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& f = files_[path];
  f.synced = f.size;
}

Result<std::unique_ptr<WritableFile>> FaultEnv::new_writable_file(const std::string& path) {
  return new_file(path, false);
}

Result<std::unique_ptr<WritableFile>> FaultEnv::new_direct_writable_file(const std::string& path) {
  return new_file(path, true);
}

Result<std::unique_ptr<WritableFile>> FaultEnv::new_file(const std::string& path, bool direct) {
  TANDEM_RETURN_IF_ERROR(tick("create " + path));
  const bool existed = base_->file_exists(path);
  TANDEM_ASSIGN_OR_RETURN(auto f, direct ? base_->new_direct_writable_file(path) : base_->new_writable_file(path));
  std::lock_guard<std::mutex> lock(mu_);
  // Truncation of an existing file is treated as durable data loss at once
  // (callers never truncate files they need).
  files_[path] = FileState{};
  if (!existed) pending_.push_back(DirOp{DirOp::kCreate, path, "", false, "", {}});
  return std::unique_ptr<WritableFile>(new FaultWritableFile(this, path, std::move(f)));
}

Status FaultEnv::rename(const std::string& from, const std::string& to) {
  TANDEM_RETURN_IF_ERROR(tick("rename " + from + " -> " + to));
  DirOp op{DirOp::kRename, to, from, false, "", {}};
  if (base_->file_exists(to)) {
    auto old = base_->read_file(to);
    if (old.ok()) {
      op.replaced = true;
      op.old_content = std::move(old.value());
    }
  }
  TANDEM_RETURN_IF_ERROR(base_->rename(from, to));
  std::lock_guard<std::mutex> lock(mu_);
  if (op.replaced) {
    auto it = files_.find(to);
    op.old_state = it != files_.end() ? it->second : FileState{op.old_content.size(), op.old_content.size()};
  }
  auto it = files_.find(from);
  if (it != files_.end()) {
    files_[to] = it->second;
    files_.erase(it);
  } else {
    files_.erase(to);
  }
  pending_.push_back(std::move(op));
  return ok_status();
}

Result<bool> FaultEnv::rename_no_replace(const std::string& from, const std::string& to) {
  TANDEM_RETURN_IF_ERROR(tick("rename_no_replace " + from + " -> " + to));
  TANDEM_ASSIGN_OR_RETURN(bool done, base_->rename_no_replace(from, to));
  if (!done) return false;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(from);
  if (it != files_.end()) {
    files_[to] = it->second;
    files_.erase(it);
  }
  pending_.push_back(DirOp{DirOp::kRename, to, from, false, "", {}});
  return true;
}

Status FaultEnv::remove_file(const std::string& path) {
  TANDEM_RETURN_IF_ERROR(tick("remove " + path));
  TANDEM_RETURN_IF_ERROR(base_->remove_file(path));
  std::lock_guard<std::mutex> lock(mu_);
  files_.erase(path);
  // An unlink that is lost in a crash brings a file back; the store must
  // tolerate that (a resurrected chunk or manifest). We model it as durable,
  // the harmless direction for the store's invariants, and keep no content.
  return ok_status();
}

Status FaultEnv::create_dir(const std::string& path) {
  TANDEM_RETURN_IF_ERROR(tick("mkdir " + path));
  return base_->create_dir(path);
}

Status FaultEnv::sync_dir(const std::string& path) {
  TANDEM_RETURN_IF_ERROR(tick("sync_dir " + path));
  TANDEM_RETURN_IF_ERROR(base_->sync_dir(path));
  std::lock_guard<std::mutex> lock(mu_);
  std::string dir = path;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                [&](const DirOp& op) { return path_dirname(op.path) == dir; }),
                 pending_.end());
  return ok_status();
}

Status FaultEnv::sync_fs(const std::string& path) {
  TANDEM_RETURN_IF_ERROR(tick("sync_fs " + path));
  TANDEM_RETURN_IF_ERROR(base_->sync_fs(path));
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [p, st] : files_) st.synced = st.size;
  return ok_status();
}

Status FaultEnv::simulate_power_loss() {
  std::lock_guard<std::mutex> lock(mu_);
  // Roll back directory operations, newest first.
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
    const DirOp& op = *it;
    if (op.kind == DirOp::kCreate) {
      if (base_->file_exists(op.path)) TANDEM_RETURN_IF_ERROR(base_->remove_file(op.path));
      files_.erase(op.path);
    } else if (op.kind == DirOp::kRename) {
      if (!base_->file_exists(op.path)) continue;
      TANDEM_RETURN_IF_ERROR(base_->rename(op.path, op.from));
      auto f = files_.find(op.path);
      if (f != files_.end()) {
        files_[op.from] = f->second;
        files_.erase(op.path);
      }
      if (op.replaced) {
        TANDEM_ASSIGN_OR_RETURN(auto w, base_->new_writable_file(op.path));
        TANDEM_RETURN_IF_ERROR(w->append(op.old_content.data(), op.old_content.size()));
        TANDEM_RETURN_IF_ERROR(w->close());
        files_[op.path] = op.old_state;
      }
    }
  }
  // Drop unsynced tails (keep half of each with torn writes).
  for (const auto& [path, st] : files_) {
    if (st.size == st.synced || !base_->file_exists(path)) continue;
    uint64_t keep = st.synced + (torn_ ? (st.size - st.synced) / 2 : 0);
    if (::truncate(path.c_str(), static_cast<off_t>(keep)) != 0)
      return io_error("simulate_power_loss: truncate '" + path + "' failed");
  }
  files_.clear();
  pending_.clear();
  crashed_ = false;
  torn_ = false;
  armed_point_ = -1;
  armed_kind_ = FaultKind::kNone;
  return ok_status();
}

}  // namespace tandem
