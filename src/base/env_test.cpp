#include "base/env.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>

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

}  // namespace
}  // namespace tandem
