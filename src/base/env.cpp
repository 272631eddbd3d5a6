#include "base/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "base/check.h"
#include "base/huge_pages.h"
#include "base/stream_copy.h"

namespace tandem {

namespace {

Status errno_status(const std::string& what, const std::string& path, int err) {
  std::string msg = what + " '" + path + "': " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return {StatusCode::kResourceExhausted, msg + " (free disk space)"};
  if (err == ENOENT) return not_found(msg);
  return io_error(msg);
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  Status append(const void* data, size_t n) override {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return errno_status("write", path_, errno);
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    return ok_status();
  }
  Status sync() override {
    if (::fdatasync(fd_) != 0) return errno_status("fsync", path_, errno);
    return ok_status();
  }
  void start_writeback() override { (void)::sync_file_range(fd_, 0, 0, SYNC_FILE_RANGE_WRITE); }
  Status close() override {
    if (fd_ < 0) return ok_status();
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return errno_status("close", path_, errno);
    return ok_status();
  }

 private:
  std::string path_;
  int fd_;
};

bool set_direct(int fd, bool on) {
  int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0) return false;
  fl = on ? (fl | O_DIRECT) : (fl & ~O_DIRECT);
  return ::fcntl(fd, F_SETFL, fl) == 0;
}

// O_DIRECT needs the buffer address, the file offset and the length aligned
// to the device's logical block size; 4096 covers the disks we run on.
constexpr size_t kDirectAlign = 4096;
// One pwrite per buffer (4 MiB: the block queue's largest request here).
// Two writer threads keep two writes in flight, so the disk does not idle
// while a writer waits to be scheduled on a busy machine (the page cache's
// writeback runs in kernel threads and has no such gap); six buffers: two
// being written, the rest queued or being filled.
constexpr size_t kDirectBufferBytes = size_t{4} << 20;
constexpr int kDirectWriters = 2;
constexpr int kDirectBuffers = 6;
// How far extend_ahead() keeps the file's size ahead of the appends.
constexpr uint64_t kDirectPreallocBytes = uint64_t{64} << 20;

using AlignedBuffer = HugePages;

// Buffers are 2 MiB-aligned and asked to be transparent huge pages: a
// request to the disk takes at most max_segments physically contiguous
// pieces (254 on the development VM's virtio disk), so a 4 MiB write from
// 4 KiB pages is split into four requests, and O_DIRECT then reached only
// 1.2-1.3 GB/s where the page cache's writeback (large folios) reached 2+;
// from huge pages the same writes reached 1.6-2.7 GB/s (store_bench disk).
// Buffers are reused across files (a save writes one pack per step):
// allocating and faulting in 24 MiB per file would cost more than the copy
// it saves on small saves.
class DirectBufferPool {
 public:
  static DirectBufferPool& get() {
    static DirectBufferPool* pool = new DirectBufferPool();  // never destroyed
    return *pool;
  }
  AlignedBuffer take() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        AlignedBuffer b = std::move(free_.back());
        free_.pop_back();
        return b;
      }
    }
    AlignedBuffer b = alloc_huge_pages(kDirectBufferBytes);
    TANDEM_CHECK(b != nullptr, "out of memory for an O_DIRECT buffer");
    return b;
  }
  void give(AlignedBuffer b) {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < kKeep) free_.push_back(std::move(b));
  }

 private:
  static constexpr size_t kKeep = kDirectBuffers;
  std::mutex mu_;
  std::vector<AlignedBuffer> free_;
};

// memcpy into an O_DIRECT buffer. Only the disk reads the buffer, and it
// does so after the writer's pwrite: non-temporal stores skip reading the
// destination's lines into the cache first (the disk's DMA left them out of
// it) and keep the caller's data in the cache. store_fence() must run before
// another thread hands the buffer to the kernel.
void copy_to_direct_buffer(uint8_t* dst, const uint8_t* src, size_t n) { stream_copy(dst, src, n, 4096); }

// Writes n bytes at off. On a descriptor opened with O_DIRECT, an EINVAL
// (the file system accepted the flag at open but refuses the I/O) or a
// short write that leaves the rest unaligned switches the descriptor to
// buffered I/O and goes on; *direct says which mode the descriptor is in.
Status pwrite_all(int fd, const std::string& path, const uint8_t* p, size_t n, uint64_t off, bool* direct) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL && *direct) {
        if (!set_direct(fd, false)) return errno_status("fcntl(clear O_DIRECT)", path, errno);
        *direct = false;
        continue;
      }
      return errno_status("write", path, errno);
    }
    p += w;
    n -= static_cast<size_t>(w);
    off += static_cast<uint64_t>(w);
    if (*direct && n > 0 && static_cast<size_t>(w) % kDirectAlign != 0) {
      if (!set_direct(fd, false)) return errno_status("fcntl(clear O_DIRECT)", path, errno);
      *direct = false;
    }
  }
  return ok_status();
}

// A file written through O_DIRECT from aligned buffers. append() copies into
// the current buffer; full buffers are written by background threads (each
// at its own offset; the order does not matter before sync()), so the caller
// (hashing, encoding) does not wait for the disk unless every buffer is full. The tail that does not fill an aligned block is
// written through the page cache by sync() or close() (the descriptor's
// O_DIRECT is cleared first), after which appends go straight to pwrite.
class PosixDirectWritableFile final : public WritableFile {
 public:
  PosixDirectWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {
    cur_ = DirectBufferPool::get().take();
    for (int i = 0; i < kDirectWriters; ++i) io_.emplace_back([this] { io_loop(); });
  }
  ~PosixDirectWritableFile() override {
    // Appended bytes reach the file even when the owner drops it without
    // close() (a failed save): like the buffered file, whose write() has
    // already put them in the page cache.
    if (fd_ >= 0) (void)close();
    stop_io();
  }

  Status append(const void* data, size_t n) override {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    if (buffered_) {
      TANDEM_RETURN_IF_ERROR(first_error());
      bool direct = false;
      TANDEM_RETURN_IF_ERROR(pwrite_all(fd_, path_, p, n, pos_, &direct));
      pos_ += n;
      return ok_status();
    }
    while (n > 0) {
      const size_t k = std::min(n, kDirectBufferBytes - used_);
      copy_to_direct_buffer(cur_.get() + used_, p, k);
      used_ += k;
      p += k;
      n -= k;
      if (used_ == kDirectBufferBytes) TANDEM_RETURN_IF_ERROR(submit());
    }
    return first_error();
  }

  Status sync() override {
    TANDEM_RETURN_IF_ERROR(write_tail());
    if (::fdatasync(fd_) != 0) return errno_status("fsync", path_, errno);
    return ok_status();
  }

  void start_writeback() override {
    if (!bypasses_page_cache()) (void)::sync_file_range(fd_, 0, 0, SYNC_FILE_RANGE_WRITE);
  }

  Status close() override {
    if (fd_ < 0) return ok_status();
    Status st = write_tail();
    stop_io();
    const int rc = ::close(fd_);
    fd_ = -1;
    if (!st.ok()) return st;
    if (rc != 0) return errno_status("close", path_, errno);
    return ok_status();
  }

  bool bypasses_page_cache() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return !buffered_ && direct_;
  }

 private:
  struct Job {
    AlignedBuffer buf;
    size_t bytes;
    uint64_t offset;
  };

  Status first_error() {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }

  // Queues the full current buffer and takes a free one (waits while every
  // buffer is queued).
  Status submit() {
    store_fence();  // the copies' non-temporal stores, before a writer takes the buffer
    extend_ahead(pos_ + used_);
    std::unique_lock<std::mutex> lock(mu_);
    queue_.push_back(Job{std::move(cur_), used_, pos_});
    pos_ += used_;
    used_ = 0;
    ++outstanding_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !spare_.empty() || outstanding_ < kDirectBuffers; });
    if (!spare_.empty()) {
      cur_ = std::move(spare_.back());
      spare_.pop_back();
    } else {
      lock.unlock();
      cur_ = DirectBufferPool::get().take();
      lock.lock();
    }
    return error_;
  }

  // Keeps the file's size (fallocate, which also sets it) ahead of the
  // writes: ext4 takes the inode lock exclusively for an O_DIRECT write past
  // the end of the file and waits there for the write to finish, so the
  // second writer spun on the lock and the disk saw one write at a time.
  // write_tail() cuts the file back to what was appended. Best effort: where
  // fallocate is refused, writes extend the file as before.
  void extend_ahead(uint64_t end) {
    if (end <= allocated_ || !preallocate_) return;
    const uint64_t want = end + kDirectPreallocBytes;
    if (::fallocate(fd_, 0, static_cast<off_t>(allocated_), static_cast<off_t>(want - allocated_)) == 0)
      allocated_ = want;
    else
      preallocate_ = false;
  }

  void io_loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ and nothing left
      Job job = std::move(queue_.front());
      queue_.pop_front();
      const bool skip = !error_.ok();  // after an error, nothing more reaches the file
      bool direct = direct_;
      lock.unlock();
      Status st = skip ? ok_status() : pwrite_all(fd_, path_, job.buf.get(), job.bytes, job.offset, &direct);
      lock.lock();
      if (!direct) direct_ = false;  // O_DIRECT is cleared on the shared descriptor, never set again
      if (!st.ok() && error_.ok()) error_ = st;
      spare_.push_back(std::move(job.buf));
      --outstanding_;
      cv_.notify_all();
    }
  }

  // Waits for the queue, then writes the current buffer: its aligned part
  // directly, the rest through the page cache; later appends are buffered.
  Status write_tail() {
    if (buffered_) return first_error();
    store_fence();
    bool direct;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return outstanding_ == 0; });
      if (!error_.ok()) return error_;
      direct = direct_;
    }
    const size_t aligned = direct ? used_ / kDirectAlign * kDirectAlign : 0;
    Status st = ok_status();
    if (aligned > 0) st = pwrite_all(fd_, path_, cur_.get(), aligned, pos_, &direct);
    if (st.ok() && direct && !set_direct(fd_, false)) st = errno_status("fcntl(clear O_DIRECT)", path_, errno);
    if (st.ok()) {
      direct = false;
      st = pwrite_all(fd_, path_, cur_.get() + aligned, used_ - aligned, pos_ + aligned, &direct);
    }
    if (st.ok() && allocated_ > pos_ + used_ && ::ftruncate(fd_, static_cast<off_t>(pos_ + used_)) != 0)
      st = errno_status("ftruncate", path_, errno);
    allocated_ = 0;
    preallocate_ = false;
    std::lock_guard<std::mutex> lock(mu_);
    direct_ = false;
    buffered_ = true;
    pos_ += used_;
    used_ = 0;
    if (!st.ok() && error_.ok()) error_ = st;
    return error_;
  }

  void stop_io() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      cv_.notify_all();
    }
    for (auto& t : io_) t.join();
    io_.clear();
    if (cur_) DirectBufferPool::get().give(std::move(cur_));
    for (auto& b : spare_) DirectBufferPool::get().give(std::move(b));
    spare_.clear();
  }

  const std::string path_;
  int fd_;
  // Owner's side (append / sync / close): the buffer being filled.
  AlignedBuffer cur_;
  size_t used_ = 0;
  uint64_t pos_ = 0;  // file offset of cur_[0] (buffered: of the next append)
  uint64_t allocated_ = 0;  // the file's size as fallocate left it (extend_ahead)
  bool preallocate_ = true;
  // Shared with the I/O thread, under mu_.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::vector<AlignedBuffer> spare_;
  int outstanding_ = 0;  // queued or being written
  bool stop_ = false;
  bool direct_ = true;     // the descriptor still has O_DIRECT
  bool buffered_ = false;  // the tail was written: appends go straight to pwrite
  Status error_;
  std::vector<std::thread> io_;
};

class PosixFileLock final : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { ::close(fd_); }  // closing releases the flock

 private:
  int fd_;
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> new_writable_file(const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return errno_status("open for writing", path, errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
  }

  Result<std::unique_ptr<WritableFile>> new_direct_writable_file(const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0644);
    if (fd < 0 && errno == EINVAL) return new_writable_file(path);  // e.g. tmpfs before Linux 6.6
    if (fd < 0) return errno_status("open for writing", path, errno);
    return std::unique_ptr<WritableFile>(new PosixDirectWritableFile(path, fd));
  }

  Result<std::string> read_file(const std::string& path) override {
    TANDEM_ASSIGN_OR_RETURN(uint64_t size, file_size(path));
    return read_range(path, 0, size);
  }

  Result<std::string> read_range(const std::string& path, uint64_t offset, size_t n) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_status("open", path, errno);
    std::string out(n, '\0');
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd, out.data() + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return errno_status("read", path, err);
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    ::close(fd);
    out.resize(got);
    return out;
  }

  Result<uint64_t> file_size(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return errno_status("stat", path, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  bool file_exists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }

  Status rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return errno_status("rename to '" + to + "' of", from, errno);
    return ok_status();
  }

  Result<bool> rename_no_replace(const std::string& from, const std::string& to) override {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return true;
    if (errno == EEXIST) return false;
    if (errno == EINVAL || errno == ENOSYS) {
      // File systems without RENAME_NOREPLACE: link() fails with EEXIST too.
      if (::link(from.c_str(), to.c_str()) == 0) {
        ::unlink(from.c_str());
        return true;
      }
      if (errno == EEXIST) return false;
    }
    return errno_status("rename to '" + to + "' of", from, errno);
  }

  Status remove_file(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return errno_status("remove", path, errno);
    return ok_status();
  }

  Status create_dir(const std::string& path) override {
    if (path.empty()) return invalid_argument("empty directory name");
    if (::mkdir(path.c_str(), 0755) == 0) return ok_status();
    if (errno == EEXIST) {
      struct stat st;
      if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return ok_status();
      return invalid_argument("'" + path + "' exists and is not a directory");
    }
    if (errno == ENOENT) {
      std::string parent = path_dirname(path);
      if (parent != path && !parent.empty()) {
        TANDEM_RETURN_IF_ERROR(create_dir(parent));
        if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return ok_status();
      }
    }
    return errno_status("mkdir", path, errno);
  }

  Result<std::vector<std::string>> list_dir(const std::string& path) override {
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return errno_status("list directory", path, errno);
    std::vector<std::string> out;
    while (struct dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      out.emplace_back(e->d_name);
    }
    ::closedir(d);
    return out;
  }

  Status sync_dir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_status("open directory", path, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return errno_status("fsync directory", path, err);
    return ok_status();
  }

  Status sync_fs(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_status("open", path, errno);
    int rc = ::syncfs(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return errno_status("syncfs", path, err);
    return ok_status();
  }

  Result<std::unique_ptr<FileLock>> lock_file(const std::string& path, bool exclusive, bool wait) override {
    // Lock files may be unlinked by whoever holds them (gc removes a dead
    // writer's lock). A lock taken on a file that was unlinked between our
    // open and our flock guards nothing: check that the path still names the
    // locked inode, else start again on the new file.
    for (;;) {
      int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) return errno_status("open lock file", path, errno);
      int op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
      while (::flock(fd, op) != 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        if (err == EWOULDBLOCK) return std::unique_ptr<FileLock>();
        return errno_status("flock", path, err);
      }
      struct stat by_fd, by_path;
      if (::fstat(fd, &by_fd) == 0 && ::stat(path.c_str(), &by_path) == 0 && by_fd.st_ino == by_path.st_ino &&
          by_fd.st_dev == by_path.st_dev) {
        return std::unique_ptr<FileLock>(new PosixFileLock(fd));
      }
      ::close(fd);
    }
  }

  int64_t now_micros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace

Env* Env::posix() {
  static PosixEnv* env = new PosixEnv();
  return env;
}

std::string path_join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (a.back() == '/') return a + b;
  return a + "/" + b;
}

std::string path_dirname(const std::string& p) {
  std::string s = p;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  auto pos = s.rfind('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return s.substr(0, pos);
}

std::string path_basename(const std::string& p) {
  std::string s = p;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  auto pos = s.rfind('/');
  return pos == std::string::npos ? s : s.substr(pos + 1);
}

Status write_file_atomic(Env* env, const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp";
  {
    TANDEM_ASSIGN_OR_RETURN(auto f, env->new_writable_file(tmp));
    TANDEM_RETURN_IF_ERROR(f->append(data.data(), data.size()));
    TANDEM_RETURN_IF_ERROR(f->sync());
    TANDEM_RETURN_IF_ERROR(f->close());
  }
  TANDEM_RETURN_IF_ERROR(env->rename(tmp, path));
  return env->sync_dir(path_dirname(path));
}

}  // namespace tandem
