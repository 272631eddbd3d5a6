#include "base/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

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
