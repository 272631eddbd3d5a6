// Fault injection: every write, fsync and rename point of a save is made to
// crash (then a machine crash is simulated), to tear its write, or to fail
// with ENOSPC / EIO. Bit flips in every chunk and manifest file. After each:
// the failure was reported, every previously committed step restores
// bit-exactly, verify passes (bit flips: the damage is reported instead), and
// the store keeps working.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <cstdio>
#include <random>

#include "base/fault_env.h"
#include "store/store.h"
#include "store/store_test_util.h"

namespace tandem::store {
namespace {

using testing::State;
using testing::TempDir;
namespace fs = std::filesystem;

const char* kind_name(FaultKind k) {
  switch (k) {
    case FaultKind::kCrash: return "crash";
    case FaultKind::kTornWrite: return "torn";
    case FaultKind::kNoSpace: return "enospc";
    case FaultKind::kIoError: return "eio";
    default: return "none";
  }
}

struct States {
  State s1, s2, s3;
  States() {
    s1 = testing::small_state(1);
    s2 = s1;
    testing::perturb(&s2.tensors["model.w1"], 2);
    testing::perturb(&s2.tensors["opt.m"], 3);
    s3 = s2;
    testing::perturb(&s3.tensors["model.w1"], 4);
    s3.blobs["rng"][0] ^= 1;
    s3.blobs["new"] = std::vector<uint8_t>(5000, 9);
  }
};

// One store per scenario: step 1 committed by another instance, step 2 by
// the faulted instance (so step 3 can be a delta), step 3 faulted.
class FaultTest : public ::testing::TestWithParam<std::tuple<bool, FaultKind>> {};

TEST_P(FaultTest, EveryPointOfASave) {
  const bool delta = std::get<0>(GetParam());
  const FaultKind kind = std::get<1>(GetParam());
  StoreOptions opts = testing::small_options(delta, /*threads=*/1);  // deterministic order
  opts.batch_bytes = 3 * opts.chunk_bytes;  // several hash/register/write batches per save
  TempDir tmp;
  const std::string base = tmp.sub("base");
  States st;
  {
    auto s = Store::open(base, opts);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->save(st.s1.request(1)).ok());
  }
  // Count the points of the save of step 3.
  int64_t n_points = 0;
  {
    const std::string dir = tmp.sub("count");
    fs::copy(base, dir, fs::copy_options::recursive);
    FaultEnv env(Env::posix());
    auto s = Store::open(dir, opts, &env).value();
    ASSERT_TRUE(s->save(st.s2.request(2)).ok());
    env.reset_counter();
    auto r = s->save(st.s3.request(3));
    ASSERT_TRUE(r.ok());
    if (delta) {
      EXPECT_GT(r->delta_chunks, 0u);
    }
    n_points = env.points();
  }
  ASSERT_GE(n_points, 30);
  std::printf("[ points   ] the save has %lld write/fsync/rename points; each one fails in turn\n",
              static_cast<long long>(n_points));
  const bool crashes = kind == FaultKind::kCrash || kind == FaultKind::kTornWrite;
  int committed_anyway = 0;
  for (int64_t point = 0; point < n_points; ++point) {
    SCOPED_TRACE(std::string(kind_name(kind)) + " at point " + std::to_string(point));
    const std::string dir = tmp.sub("run");
    fs::remove_all(dir);
    fs::copy(base, dir, fs::copy_options::recursive);
    FaultEnv env(Env::posix());
    std::string label;
    {
      auto s = Store::open(dir, opts, &env).value();
      ASSERT_TRUE(s->save(st.s2.request(2)).ok());
      env.reset_counter();
      env.arm(point, kind);
      auto r = s->save(st.s3.request(3));
      ASSERT_FALSE(r.ok()) << "the fault must be reported";
      label = env.point_log().back();
      if (crashes) {
        EXPECT_TRUE(env.crashed());
        EXPECT_NE(r.status().message().find("injected"), std::string::npos) << r.status().to_string();
      }
    }
    if (crashes) {
      ASSERT_TRUE(env.simulate_power_loss().ok());
    }
    SCOPED_TRACE("point was: " + label);
    auto store = Store::open(dir, opts).value();
    auto v = store->verify();
    ASSERT_TRUE(v.ok()) << v.problems[0];
    EXPECT_TRUE(testing::restores_exactly(*store, 1, st.s1));
    EXPECT_TRUE(testing::restores_exactly(*store, 2, st.s2));
    auto steps = store->steps().value();
    if (steps.size() == 3) {
      committed_anyway++;  // failed after the manifest was durable (LATEST update)
      EXPECT_TRUE(testing::restores_exactly(*store, 3, st.s3));
    }
    const int64_t latest = store->latest_step().value();
    EXPECT_TRUE(latest == 2 || latest == 3) << latest;
    // The store keeps working: save again, collect garbage, restore all.
    ASSERT_TRUE(store->save(st.s3.request(3)).ok());
    auto gc = store->gc();
    ASSERT_TRUE(gc.ok()) << gc.status().to_string();
    EXPECT_TRUE(testing::restores_exactly(*store, 1, st.s1));
    EXPECT_TRUE(testing::restores_exactly(*store, 2, st.s2));
    EXPECT_TRUE(testing::restores_exactly(*store, 3, st.s3));
    EXPECT_TRUE(store->verify().ok());
    EXPECT_EQ(store->latest_step().value(), 3);
    EXPECT_TRUE(env.list_dir(dir + "/tmp").value().empty()) << "gc removes a dead writer's temporary files";
  }
  EXPECT_GT(committed_anyway, 0) << "some points are after the manifest's commit";
  EXPECT_LT(committed_anyway, n_points);
}

INSTANTIATE_TEST_SUITE_P(AllKinds, FaultTest,
                         ::testing::Combine(::testing::Bool(),
                                            ::testing::Values(FaultKind::kCrash, FaultKind::kTornWrite,
                                                              FaultKind::kNoSpace, FaultKind::kIoError)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "delta_" : "full_") +
                                  kind_name(std::get<1>(info.param));
                         });

void flip_bit(const std::string& path, size_t offset, int bit) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c;
  f.read(&c, 1);
  c = static_cast<char>(c ^ (1 << bit));
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

// A flipped bit anywhere in any chunk or manifest: restores either return
// the exact bytes or DATA_LOSS, never other bytes; verify reports it.
TEST(BitFlips, EveryFileIsCheckedNeverLoadedSilently) {
  TempDir tmp;
  const std::string base = tmp.sub("base");
  States st;
  const std::map<int64_t, const State*> want = {{1, &st.s1}, {2, &st.s2}, {3, &st.s3}};
  {
    auto s = Store::open(base, testing::small_options(/*delta=*/true)).value();
    for (const auto& [step, state] : want) ASSERT_TRUE(s->save(state->request(step)).ok());
  }
  // (file, trials): a pack holds a save's chunks, its index and footer, so it
  // gets more random flips than a manifest.
  std::vector<std::pair<std::string, int>> files;
  for (const auto& e : fs::directory_iterator(base + "/packs")) files.push_back({"packs/" + e.path().filename().string(), 24});
  for (const auto& e : fs::directory_iterator(base + "/manifests"))
    files.push_back({"manifests/" + e.path().filename().string(), 3});
  ASSERT_EQ(files.size(), 6u);
  std::mt19937 rng(5);
  int failures_seen = 0;
  for (const auto& [f, trials] : files)
    for (int trial = 0; trial < trials; ++trial) {
      SCOPED_TRACE(f + " trial " + std::to_string(trial));
      const std::string dir = tmp.sub("run");
      fs::remove_all(dir);
      fs::copy(base, dir, fs::copy_options::recursive);
      const size_t size = fs::file_size(dir + "/" + f);
      size_t offset = rng() % size;
      // Packs: the first flips hit the footer and the index for sure.
      if (f.starts_with("packs/") && trial == 0) offset = size - 1 - rng() % kPackFooterBytes;
      if (f.starts_with("packs/") && trial == 1) offset = size - kPackFooterBytes - 1 - rng() % kPackIndexEntryBytes;
      flip_bit(dir + "/" + f, offset, static_cast<int>(rng() % 8));
      auto store = Store::open(dir).value();
      EXPECT_FALSE(store->verify().ok());
      int damaged_steps = 0;
      for (const auto& [step, state] : want) {
        auto m = store->read_manifest(step);
        if (!m.ok()) {
          EXPECT_EQ(m.status().code(), StatusCode::kDataLoss);
          damaged_steps++;
          continue;
        }
        bool step_ok = true;
        for (const auto* group : {&state->tensors, &state->blobs})
          for (const auto& [name, data] : *group) {
            auto got = store->read_entry(*m, name);
            if (!got.ok()) {
              EXPECT_EQ(got.status().code(), StatusCode::kDataLoss) << got.status().to_string();
              step_ok = false;
              continue;
            }
            ASSERT_EQ(got->size(), data.size());
            if (!data.empty()) {
              ASSERT_EQ(std::memcmp(got->data(), data.data(), data.size()), 0) << name << " loaded wrong bytes";
            }
          }
        if (!step_ok) damaged_steps++;
      }
      EXPECT_GE(damaged_steps, 1);
      failures_seen += damaged_steps;
    }
  EXPECT_GT(failures_seen, 0);
}

TEST(BitFlips, DamagedLatestIsReported) {
  TempDir tmp;
  const std::string dir = tmp.sub("s");
  auto s = Store::open(dir).value();
  ASSERT_TRUE(s->save(testing::small_state(1).request(1)).ok());
  std::ofstream(dir + "/LATEST") << "1x\n";
  EXPECT_EQ(s->latest_step().status().code(), StatusCode::kDataLoss);
  EXPECT_FALSE(s->verify().ok());
}

// A real write error in the pack's background (O_DIRECT) writers, below
// FaultEnv: a file size limit fails them with EFBIG. The save reports it,
// the committed step still restores, and the next save (limit lifted) works.
TEST(BackgroundWrites, PackWriteErrorFailsTheSave) {
  TempDir tmp;
  const std::string dir = tmp.sub("s");
  StoreOptions opts;
  opts.zstd_level = 0;
  State a, b;
  a.blobs["x"] = testing::random_floats(1 << 20, 1);                // 4 MiB
  b.blobs["x"] = testing::random_floats(4 << 20, 2);                // 16 MiB: over the limit
  auto store = Store::open(dir, opts).value();
  ASSERT_TRUE(store->save(a.request(1)).ok());
  struct rlimit old;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = old;
  lim.rlim_cur = 8u << 20;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
  auto r = store->save(b.request(2));
  ::setrlimit(RLIMIT_FSIZE, &old);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(store->steps().value(), (std::vector<int64_t>{1}));
  EXPECT_TRUE(testing::restores_exactly(*store, 1, a));
  EXPECT_TRUE(store->verify().ok());
  ASSERT_TRUE(store->save(b.request(2)).ok());
  EXPECT_TRUE(testing::restores_exactly(*store, 2, b));
  ASSERT_TRUE(store->gc().ok());
  EXPECT_TRUE(Env::posix()->list_dir(dir + "/tmp").value().empty());
  EXPECT_TRUE(store->verify().ok());
}

}  // namespace
}  // namespace tandem::store
