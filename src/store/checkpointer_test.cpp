#include "store/checkpointer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>

#include "base/fault_env.h"
#include "store/store_test_util.h"

namespace tandem::store {
namespace {

using testing::State;
using testing::TempDir;

// Passes through to the POSIX env, but sync_dir waits while the gate is
// closed: a disk that has fallen behind.
class GateEnv final : public Env {
 public:
  void close_gate() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = false;
  }
  void open_gate() {
    {
      std::lock_guard<std::mutex> l(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  // Waits until a persist is blocked at the gate.
  void wait_blocked() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return waiting_ > 0; });
  }
  Result<std::unique_ptr<WritableFile>> new_writable_file(const std::string& p) override {
    return base_->new_writable_file(p);
  }
  Result<std::string> read_file(const std::string& p) override { return base_->read_file(p); }
  Result<std::string> read_range(const std::string& p, uint64_t o, size_t n) override {
    return base_->read_range(p, o, n);
  }
  Result<uint64_t> file_size(const std::string& p) override { return base_->file_size(p); }
  bool file_exists(const std::string& p) override { return base_->file_exists(p); }
  Status rename(const std::string& a, const std::string& b) override { return base_->rename(a, b); }
  Result<bool> rename_no_replace(const std::string& a, const std::string& b) override {
    return base_->rename_no_replace(a, b);
  }
  Status remove_file(const std::string& p) override { return base_->remove_file(p); }
  Status create_dir(const std::string& p) override { return base_->create_dir(p); }
  Result<std::vector<std::string>> list_dir(const std::string& p) override { return base_->list_dir(p); }
  Status sync_fs(const std::string& p) override { return base_->sync_fs(p); }
  Status sync_dir(const std::string& p) override {
    std::unique_lock<std::mutex> l(mu_);
    waiting_++;
    cv_.notify_all();
    cv_.wait(l, [&] { return open_; });
    waiting_--;
    l.unlock();
    return base_->sync_dir(p);
  }
  Result<std::unique_ptr<FileLock>> lock_file(const std::string& p, bool e, bool w) override {
    return base_->lock_file(p, e, w);
  }
  int64_t now_micros() override { return base_->now_micros(); }

 private:
  Env* base_ = Env::posix();
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int waiting_ = 0;
};

std::unique_ptr<Store> open_store(const std::string& dir, Env* env = Env::posix()) {
  auto s = Store::open(dir, testing::small_options(), env);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return std::move(s).value();
}

TEST(Checkpointer, SavesInBackgroundAndCallerMayReuseItsMemory) {
  TempDir tmp;
  std::map<int64_t, State> saved;
  {
    Checkpointer ck(open_store(tmp.sub("s")), CheckpointerOptions{});
    EXPECT_EQ(ck.durable_step(), -1);
    State s = testing::small_state(1);
    for (int step = 0; step < 6; ++step) {
      ASSERT_TRUE(ck.save(s.request(step)).ok());
      saved[step] = s;
      testing::perturb(&s.tensors["model.w1"], step);  // the caller overwrites its state at once
    }
    ASSERT_TRUE(ck.flush().ok());
    EXPECT_EQ(ck.durable_step(), 5);
    auto stats = ck.stats();
    EXPECT_EQ(stats.persisted, 6);
    EXPECT_EQ(stats.failed, 0);
    EXPECT_GT(stats.chunk_file_bytes, 0u);
  }
  auto store = open_store(tmp.sub("s"));
  EXPECT_EQ(store->latest_step().value(), 5);
  for (const auto& [step, s] : saved) EXPECT_TRUE(testing::restores_exactly(*store, step, s));
}

TEST(Checkpointer, CoalescePolicySkipsToNewestStep) {
  TempDir tmp;
  GateEnv gate;
  CheckpointerOptions o;
  o.slots = 2;
  o.policy = BackpressurePolicy::kCoalesce;
  State s1 = testing::small_state(1), s2 = testing::small_state(2), s3 = testing::small_state(3),
        s4 = testing::small_state(4);
  {
    Checkpointer ck(open_store(tmp.sub("s"), &gate), o);
    gate.close_gate();
    ASSERT_TRUE(ck.save(s1.request(1)).ok());  // persisting, held at the gate
    gate.wait_blocked();
    ASSERT_TRUE(ck.save(s2.request(2)).ok());  // queued
    ASSERT_TRUE(ck.save(s3.request(3)).ok());  // replaces 2 without waiting
    ASSERT_TRUE(ck.save(s4.request(4)).ok());  // replaces 3
    EXPECT_EQ(ck.stats().coalesced, 2);
    gate.open_gate();
    ASSERT_TRUE(ck.flush().ok());
    EXPECT_EQ(ck.durable_step(), 4);
  }
  auto store = open_store(tmp.sub("s"));
  EXPECT_EQ(store->steps().value(), (std::vector<int64_t>{1, 4}));
  EXPECT_TRUE(testing::restores_exactly(*store, 1, s1));
  EXPECT_TRUE(testing::restores_exactly(*store, 4, s4));
}

TEST(Checkpointer, BlockPolicyWaitsForABuffer) {
  TempDir tmp;
  GateEnv gate;
  CheckpointerOptions o;
  o.slots = 2;
  o.policy = BackpressurePolicy::kBlock;
  State s = testing::small_state(1);
  Checkpointer ck(open_store(tmp.sub("s"), &gate), o);
  gate.close_gate();
  ASSERT_TRUE(ck.save(s.request(1)).ok());
  gate.wait_blocked();
  ASSERT_TRUE(ck.save(s.request(2)).ok());
  auto third = std::async(std::launch::async, [&] { return ck.save(s.request(3)); });
  EXPECT_EQ(third.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout)
      << "both buffers are taken; save must wait";
  gate.open_gate();
  ASSERT_TRUE(third.get().ok());
  ASSERT_TRUE(ck.flush().ok());
  EXPECT_EQ(ck.store().steps().value(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(ck.stats().coalesced, 0);
}

TEST(Checkpointer, BackgroundFailureIsReportedAndLaterSavesWork) {
  TempDir tmp;
  FaultEnv env(Env::posix());
  auto store = open_store(tmp.sub("s"), &env);
  Checkpointer ck(std::move(store), CheckpointerOptions{});
  State s = testing::small_state(1);
  ASSERT_TRUE(ck.save(s.request(1)).ok());
  ASSERT_TRUE(ck.flush().ok());
  env.reset_counter();
  env.arm(3, FaultKind::kNoSpace);
  ASSERT_TRUE(ck.save(testing::small_state(2).request(2)).ok());
  Status st = ck.flush();
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.to_string();
  EXPECT_EQ(ck.durable_step(), 1);
  EXPECT_TRUE(ck.flush().ok()) << "reported once";
  ASSERT_TRUE(ck.save(s.request(3)).ok());
  ASSERT_TRUE(ck.flush().ok());
  EXPECT_EQ(ck.durable_step(), 3);
  EXPECT_TRUE(ck.store().verify().ok());
}

TEST(Checkpointer, StagingLimitIsEnforced) {
  TempDir tmp;
  CheckpointerOptions o;
  o.max_slot_bytes = 1000;
  Checkpointer ck(open_store(tmp.sub("s")), o);
  EXPECT_EQ(ck.save(testing::small_state(1).request(1)).code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace tandem::store

namespace tandem::store {
namespace {

TEST(Checkpointer, BackgroundRetentionKeepsTheStoreBounded) {
  testing::TempDir tmp;
  CheckpointerOptions o;
  o.gc_every = 3;
  o.retention.keep_last = 2;
  std::map<int64_t, testing::State> saved;
  {
    Checkpointer ck(open_store(tmp.sub("s")), o);
    testing::State s = testing::small_state(1);
    for (int step = 1; step <= 9; ++step) {
      ASSERT_TRUE(ck.save(s.request(step)).ok());
      ASSERT_TRUE(ck.flush().ok());
      saved[step] = s;
      for (auto& [n, d] : s.tensors) testing::perturb(&d, step);
    }
    EXPECT_EQ(ck.stats().gc_runs, 3);
    EXPECT_GT(ck.stats().gc_bytes_freed, 0u);
  }
  auto store = open_store(tmp.sub("s"));
  EXPECT_EQ(store->steps().value(), (std::vector<int64_t>{8, 9}));
  EXPECT_TRUE(testing::restores_exactly(*store, 9, saved[9]));
  EXPECT_TRUE(testing::restores_exactly(*store, 8, saved[8]));
  EXPECT_TRUE(store->verify().ok());
}

}  // namespace
}  // namespace tandem::store
