#include "base/env.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "base/fault_env.h"

namespace tandem {
namespace {

class EnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-env-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string p(const std::string& n) const { return path_join(dir_, n); }
  static void write(Env* env, const std::string& path, const std::string& data, bool sync) {
    auto f = env->new_writable_file(path);
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    ASSERT_TRUE((*f)->append(data.data(), data.size()).ok());
    if (sync) {
      ASSERT_TRUE((*f)->sync().ok());
    }
    ASSERT_TRUE((*f)->close().ok());
  }
  std::string dir_;
};

TEST_F(EnvTest, PosixBasics) {
  Env* env = Env::posix();
  ASSERT_TRUE(env->create_dir(p("a/b/c")).ok());
  ASSERT_TRUE(env->create_dir(p("a/b/c")).ok());
  write(env, p("a/x"), "hello world", true);
  EXPECT_EQ(env->read_file(p("a/x")).value(), "hello world");
  EXPECT_EQ(env->read_range(p("a/x"), 6, 100).value(), "world");
  EXPECT_EQ(env->file_size(p("a/x")).value(), 11u);
  write(env, p("a/y"), "y", true);
  EXPECT_FALSE(env->rename_no_replace(p("a/x"), p("a/y")).value());
  EXPECT_EQ(env->read_file(p("a/y")).value(), "y");
  EXPECT_TRUE(env->rename_no_replace(p("a/x"), p("a/z")).value());
  EXPECT_FALSE(env->file_exists(p("a/x")));
  ASSERT_TRUE(env->rename(p("a/z"), p("a/y")).ok());
  EXPECT_EQ(env->read_file(p("a/y")).value(), "hello world");
  auto names = env->list_dir(p("a")).value();
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"b", "y"}));
  ASSERT_TRUE(env->sync_dir(p("a")).ok());
  ASSERT_TRUE(env->remove_file(p("a/y")).ok());
  EXPECT_EQ(env->read_file(p("a/y")).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(env->create_dir("").ok());
}

TEST_F(EnvTest, LocksExcludeAcrossDescriptors) {
  Env* env = Env::posix();
  auto a = env->lock_file(p("L"), true, false);
  ASSERT_TRUE(a.ok() && *a);
  auto b = env->lock_file(p("L"), true, false);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->get(), nullptr);
  a->reset();
  auto c = env->lock_file(p("L"), false, false);
  ASSERT_TRUE(c.ok() && *c);
  auto d = env->lock_file(p("L"), false, false);
  ASSERT_TRUE(d.ok() && *d) << "shared locks coexist";
}

TEST_F(EnvTest, PathHelpers) {
  EXPECT_EQ(path_join("a", "b"), "a/b");
  EXPECT_EQ(path_join("a/", "b"), "a/b");
  EXPECT_EQ(path_dirname("/x/y/z"), "/x/y");
  EXPECT_EQ(path_dirname("z"), ".");
  EXPECT_EQ(path_basename("/x/y/z/"), "z");
}

TEST_F(EnvTest, FaultEnvCountsAndFails) {
  FaultEnv env(Env::posix());
  write(&env, p("f"), "abc", true);  // create, append, sync, close
  EXPECT_EQ(env.points(), 4);
  env.reset_counter();
  env.arm(1, FaultKind::kNoSpace);
  auto f = env.new_writable_file(p("g"));
  ASSERT_TRUE(f.ok());
  Status st = (*f)->append("x", 1);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_FALSE(env.crashed());
  EXPECT_TRUE((*f)->append("y", 1).ok()) << "ENOSPC is not a crash";
  env.reset_counter();
  env.arm(0, FaultKind::kIoError);
  EXPECT_EQ(env.sync_dir(dir_).code(), StatusCode::kIoError);
  EXPECT_TRUE(env.sync_dir(dir_).ok());
}

TEST_F(EnvTest, PowerLossDropsUnsyncedDataAndNames) {
  FaultEnv env(Env::posix());
  write(&env, p("durable"), "keep", true);
  ASSERT_TRUE(env.sync_dir(dir_).ok());
  {
    auto f = env.new_writable_file(p("durable2"));
    ASSERT_TRUE((*f)->append("12345678", 8).ok());
    ASSERT_TRUE((*f)->sync().ok());
    ASSERT_TRUE((*f)->append("tail", 4).ok());  // not synced
    ASSERT_TRUE((*f)->close().ok());
  }
  ASSERT_TRUE(env.sync_dir(dir_).ok());
  write(&env, p("unsynced_name"), "data", true);  // data synced, name not
  // Replace "durable" by rename without a directory fsync: the old one returns.
  write(&env, p("new"), "newer", true);
  ASSERT_TRUE(env.rename(p("new"), p("durable")).ok());
  EXPECT_EQ(env.read_file(p("durable")).value(), "newer");
  ASSERT_TRUE(env.simulate_power_loss().ok());
  EXPECT_EQ(Env::posix()->read_file(p("durable")).value(), "keep");
  EXPECT_FALSE(Env::posix()->file_exists(p("new")));
  EXPECT_FALSE(Env::posix()->file_exists(p("unsynced_name")));
  EXPECT_EQ(Env::posix()->read_file(p("durable2")).value(), "12345678");
}

TEST_F(EnvTest, CrashKillsLaterCallsAndTornWriteKeepsPartialTail) {
  FaultEnv env(Env::posix());
  write(&env, p("t"), "", true);
  ASSERT_TRUE(env.sync_dir(dir_).ok());
  env.reset_counter();
  auto f = env.new_writable_file(p("t"));
  ASSERT_TRUE(f.ok());
  env.arm(1, FaultKind::kTornWrite);
  EXPECT_FALSE((*f)->append("abcdefgh", 8).ok());
  EXPECT_TRUE(env.crashed());
  EXPECT_FALSE((*f)->sync().ok());
  EXPECT_FALSE(env.rename(p("t"), p("u")).ok());
  ASSERT_TRUE(env.simulate_power_loss().ok());
  // 4 of 8 bytes reached the file, none synced; a torn crash keeps half of them.
  EXPECT_EQ(Env::posix()->read_file(p("t")).value(), "ab");
  EXPECT_FALSE(env.crashed());
}

// Appends of odd sizes spanning several 4 MiB direct buffers (written by the
// background writers), a sync with an unaligned tail, appends after it, and
// a file dropped without close(): every byte lands where it was appended.
std::string pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  std::mt19937 rng(seed);
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Whether dir's file system takes O_DIRECT (ext4 does; tmpfs before Linux
// 6.6 does not).
bool supports_direct(const std::string& dir) {
  const std::string probe = path_join(dir, "direct-probe");
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_DIRECT, 0644);
  if (fd >= 0) ::close(fd);
  ::unlink(probe.c_str());
  return fd >= 0;
}

void check_direct_file(Env* env, const std::string& path, bool expect_direct) {
  const std::vector<size_t> sizes = {1, 55, 4096, (1u << 20) + 56, 3u << 20, 7, (5u << 20) + 4095, 56, 4109, 65537, 9u << 20};
  std::string want;
  auto f = env->new_direct_writable_file(path);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  for (size_t i = 0; i < sizes.size(); ++i) {
    const std::string part = pattern(sizes[i], static_cast<uint32_t>(i));
    ASSERT_TRUE((*f)->append(part.data(), part.size()).ok());
    want += part;
  }
  EXPECT_EQ((*f)->bypasses_page_cache(), expect_direct);
  ASSERT_TRUE((*f)->sync().ok());
  EXPECT_EQ(env->read_file(path).value(), want);
  const std::string after = pattern(10000, 99);
  ASSERT_TRUE((*f)->append(after.data(), after.size()).ok());
  want += after;
  ASSERT_TRUE((*f)->sync().ok());
  ASSERT_TRUE((*f)->close().ok());
  EXPECT_EQ(env->read_file(path).value(), want);
}

TEST_F(EnvTest, DirectFileWritesEveryByteInPlace) {
  check_direct_file(Env::posix(), p("direct"), supports_direct(dir_));
  // Dropped without sync or close (a failed save): the appended bytes still
  // reach the file (not durably), as with a buffered file.
  const std::string data = pattern((9u << 20) + 123, 7);
  {
    auto f = Env::posix()->new_direct_writable_file(p("dropped"));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->append(data.data(), data.size()).ok());
  }
  EXPECT_EQ(Env::posix()->read_file(p("dropped")).value(), data);
}

// The file is fallocated ahead of the writes (64 MiB at a time); sync()
// and dropping the file cut it back to exactly what was appended.
TEST_F(EnvTest, DirectFileIsCutBackToWhatWasAppended) {
  const std::string piece = pattern((1u << 20) + 4097, 5);
  std::string want;
  {
    auto f = Env::posix()->new_direct_writable_file(p("long"));
    ASSERT_TRUE(f.ok());
    for (int i = 0; i < 80; ++i) {  // 80 MiB and more: allocated to 68, then 136 MiB
      ASSERT_TRUE((*f)->append(piece.data(), piece.size()).ok());
      want += piece;
    }
    ASSERT_TRUE((*f)->sync().ok());
    ASSERT_EQ(std::filesystem::file_size(p("long")), want.size());
    ASSERT_TRUE((*f)->append("tail", 4).ok());
    want += "tail";
    ASSERT_TRUE((*f)->close().ok());
  }
  ASSERT_EQ(std::filesystem::file_size(p("long")), want.size());
  EXPECT_TRUE(Env::posix()->read_file(p("long")).value() == want);  // (no 70 MiB diff on failure)
  {
    auto f = Env::posix()->new_direct_writable_file(p("dropped_long"));
    ASSERT_TRUE(f.ok());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE((*f)->append(piece.data(), piece.size()).ok());
  }
  EXPECT_EQ(std::filesystem::file_size(p("dropped_long")), 5 * piece.size());
}

TEST_F(EnvTest, DirectFileFallsBackWhereODirectIsRefused) {
  // /dev/shm is tmpfs: before Linux 6.6 open(O_DIRECT) fails with EINVAL and
  // a plain file is returned; later kernels accept it.
  if (!std::filesystem::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm";
  char tmpl[] = "/dev/shm/tandem-env-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string shm = tmpl;
  check_direct_file(Env::posix(), path_join(shm, "f"), supports_direct(shm));
  std::filesystem::remove_all(shm);
}

TEST_F(EnvTest, DirectFileReportsBackgroundWriteErrors) {
  // A file size limit makes a background write fail (EFBIG): the error comes
  // back from a later append, sync or close, never silently.
  struct rlimit old;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = old;
  lim.rlim_cur = 6u << 20;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
  const std::string data = pattern(16u << 20, 3);
  auto f = Env::posix()->new_direct_writable_file(p("big"));
  ASSERT_TRUE(f.ok());
  Status st = ok_status();
  for (size_t off = 0; off < data.size() && st.ok(); off += 1u << 20) st = (*f)->append(data.data() + off, 1u << 20);
  if (st.ok()) st = (*f)->sync();
  Status closed = (*f)->close();
  ::setrlimit(RLIMIT_FSIZE, &old);
  EXPECT_FALSE(st.ok());
  EXPECT_FALSE(closed.ok() && st.ok());
}

TEST_F(EnvTest, FaultEnvNumbersAndTruncatesDirectFiles) {
  FaultEnv env(Env::posix());
  const std::string a = pattern((5u << 20) + 17, 1), b = pattern(1000, 2);
  {
    auto f = env.new_direct_writable_file(p("d"));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->append(a.data(), a.size()).ok());
    ASSERT_TRUE((*f)->sync().ok());
    ASSERT_TRUE((*f)->append(b.data(), b.size()).ok());  // not synced
  }
  ASSERT_TRUE(env.sync_dir(dir_).ok());
  EXPECT_EQ(env.points(), 5);  // create, append, sync, append, sync_dir
  EXPECT_EQ(Env::posix()->read_file(p("d")).value(), a + b);
  ASSERT_TRUE(env.simulate_power_loss().ok());
  EXPECT_EQ(Env::posix()->read_file(p("d")).value(), a);
}

}  // namespace
}  // namespace tandem
