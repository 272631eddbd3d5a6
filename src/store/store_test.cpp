#include "store/store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "store/store_test_util.h"

namespace tandem::store {
namespace {

using testing::State;
using testing::TempDir;

std::unique_ptr<Store> open_store(const std::string& dir, const StoreOptions& o = testing::small_options()) {
  auto s = Store::open(dir, o);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return std::move(s).value();
}

void flip_bit(const std::string& path, size_t offset, int bit) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good()) << path;
  f.seekg(static_cast<std::streamoff>(offset));
  char c;
  f.read(&c, 1);
  c = static_cast<char>(c ^ (1 << bit));
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

TEST(Store, SavesAndRestoresBitExactly) {
  TempDir tmp;
  auto store = open_store(tmp.sub("s"));
  State s1 = testing::small_state(1);
  auto st = store->save(s1.request(1));
  ASSERT_TRUE(st.ok()) << st.status().to_string();
  EXPECT_EQ(st->chunks, 3u + 1u + 3u + 1u);
  EXPECT_EQ(st->new_chunks, st->chunks);
  EXPECT_TRUE(testing::restores_exactly(*store, 1, s1));
  EXPECT_EQ(store->latest_step().value(), 1);
  auto m = store->read_manifest(1).value();
  const Entry* e = m.find("model.w1");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->dtype, "f32");
  EXPECT_EQ(e->shape, (std::vector<int64_t>{3000}));
  // Reopened by another instance.
  auto again = open_store(tmp.sub("s"));
  EXPECT_TRUE(testing::restores_exactly(*again, 1, s1));
  EXPECT_TRUE(again->verify().ok());
}

TEST(Store, IdenticalSaveWritesNoChunks) {
  TempDir tmp;
  auto store = open_store(tmp.sub("s"));
  State s = testing::small_state(1);
  ASSERT_TRUE(store->save(s.request(1)).ok());
  auto st = store->save(s.request(2));
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->new_chunks, 0u);
  EXPECT_EQ(st->chunk_file_bytes, 0u);
  EXPECT_TRUE(testing::restores_exactly(*store, 2, s));
}

TEST(Store, OnlyChangedChunksAreWritten) {
  TempDir tmp;
  auto store = open_store(tmp.sub("s"));
  State s;
  s.tensors["big"] = testing::random_floats(10 * 1024, 1);  // 10 chunks of 4 KiB
  ASSERT_TRUE(store->save(s.request(1)).ok());
  s.tensors["big"][5 * 4096 + 17] ^= 1;  // one chunk changes
  auto st = store->save(s.request(2));
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->new_chunks, 1u);
  // One record (56-byte header + at most the raw 4 KiB) and the pack's index and footer.
  EXPECT_LE(st->chunk_file_bytes, 56u + 4096u + kPackIndexEntryBytes + kPackFooterBytes);
  EXPECT_TRUE(testing::restores_exactly(*store, 2, s));
}

// Workers append a new chunk as soon as they have hashed it; a chunk that
// repeats within the save (in one batch, or in a later one) is still stored
// once, and a reopened store stores nothing it already has.
TEST(Store, RepeatedChunksInOneSaveAreStoredOnce) {
  TempDir tmp;
  StoreOptions o = testing::small_options();
  o.batch_bytes = 8 * 4096;  // batches of 1, 2, 4, 8, 8... chunks
  o.zstd_level = 0;          // records of known size
  auto store = open_store(tmp.sub("s"), o);
  State s;
  std::vector<uint8_t> chunk = testing::random_floats(1024, 3);  // one 4 KiB chunk
  std::vector<uint8_t> big;
  for (int i = 0; i < 12; ++i) {
    std::vector<uint8_t> c = i % 3 == 0 ? chunk : testing::random_floats(1024, 100 + i);
    big.insert(big.end(), c.begin(), c.end());
  }
  s.tensors["a"] = big;  // chunks 0, 3, 6, 9 repeat `chunk`
  s.tensors["b"] = big;  // all repeats of a's chunks
  s.blobs["c"] = chunk;
  auto st = store->save(s.request(1));
  ASSERT_TRUE(st.ok()) << st.status().to_string();
  EXPECT_EQ(st->chunks, 25u);
  EXPECT_EQ(st->new_chunks, 9u);  // 8 distinct chunks + `chunk`
  EXPECT_EQ(st->chunk_file_bytes, 9 * (56u + 4096u + kPackIndexEntryBytes) + kPackFooterBytes);
  EXPECT_TRUE(testing::restores_exactly(*store, 1, s));
  auto again = open_store(tmp.sub("s"), o);
  auto st2 = again->save(s.request(2));
  ASSERT_TRUE(st2.ok()) << st2.status().to_string();
  EXPECT_EQ(st2->new_chunks, 0u);
  EXPECT_EQ(st2->chunk_file_bytes, 0u);
  EXPECT_TRUE(again->verify().ok());
}

// A delta candidate and a plain item with the same new bytes: one record.
TEST(Store, DeltaCandidateSharingBytesWithAPlainItem) {
  TempDir tmp;
  auto store = open_store(tmp.sub("s"), testing::small_options(/*delta=*/true));
  State s;
  s.tensors["w"] = testing::random_floats(2048, 5);
  ASSERT_TRUE(store->save(s.request(1)).ok());
  testing::perturb(&s.tensors["w"], 6);
  s.blobs["copy"] = s.tensors["w"];
  auto st = store->save(s.request(2));
  ASSERT_TRUE(st.ok()) << st.status().to_string();
  EXPECT_TRUE(testing::restores_exactly(*store, 2, s));
  EXPECT_TRUE(testing::restores_exactly(*store, 1, State{{{"w", testing::random_floats(2048, 5)}}, {}}));
  EXPECT_TRUE(store->verify().ok());
}

TEST(Store, DeltaCodecRestoresAcrossKeyframes) {
  TempDir tmp;
  auto store = open_store(tmp.sub("s"), testing::small_options(/*delta=*/true));
  std::vector<State> states;
  State s = testing::small_state(7);
  uint64_t delta_chunks = 0;
  for (int step = 0; step < 10; ++step) {
    auto st = store->save(s.request(step));
    ASSERT_TRUE(st.ok()) << st.status().to_string();
    delta_chunks += st->delta_chunks;
    if (step % 4 == 0) {
      EXPECT_EQ(st->delta_chunks, 0u) << "keyframe at step " << step;
    }
    states.push_back(s);
    for (auto& [n, d] : s.tensors) testing::perturb(&d, 100 + step, 1e-5f);
  }
  EXPECT_GT(delta_chunks, 0u);
  for (int step = 0; step < 10; ++step) EXPECT_TRUE(testing::restores_exactly(*store, step, states[step]));
  // Keep only the newest step: its delta bases (keyframe step 8) survive gc.
  auto removed = store->apply_retention(RetentionPolicy{1, 0, true});
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->size(), 9u);
  auto gc = store->gc();
  ASSERT_TRUE(gc.ok()) << gc.status().to_string();
  EXPECT_GT(gc->chunks_removed, 0);
  EXPECT_TRUE(testing::restores_exactly(*store, 9, states[9]));
  auto v = store->verify();
  EXPECT_TRUE(v.ok()) << (v.problems.empty() ? "" : v.problems[0]);
}

TEST(Store, DeltaIsSmallerThanFullOnSmallUpdates) {
  uint64_t bytes[2] = {0, 0};
  for (int delta = 0; delta < 2; ++delta) {
    TempDir tmp;
    auto store = open_store(tmp.sub("s"), testing::small_options(delta == 1));
    State s;
    s.tensors["w"] = testing::random_floats(64 * 1024, 3);
    for (int step = 0; step < 4; ++step) {
      auto st = store->save(s.request(step));
      ASSERT_TRUE(st.ok());
      if (step > 0) bytes[delta] += st->chunk_file_bytes;
      testing::perturb(&s.tensors["w"], step, 1e-6f);
    }
  }
  EXPECT_LT(bytes[1], bytes[0] * 3 / 4) << "full " << bytes[0] << " delta " << bytes[1];
}

TEST(Store, CorruptChunkIsReportedNeverLoaded) {
  TempDir tmp;
  auto store = open_store(tmp.sub("s"));
  State s1 = testing::small_state(1);
  State s2 = testing::small_state(20);
  ASSERT_TRUE(store->save(s1.request(1)).ok());
  ASSERT_TRUE(store->save(s2.request(2)).ok());
  auto m = store->read_manifest(2).value();
  const Hash256 victim = m.find("model.w2")->chunks[0].hash;
  const auto [pack, offset] = testing::record_of(tmp.sub("s"), victim);
  ASSERT_FALSE(pack.empty());
  flip_bit(pack, offset + 200, 3);
  auto got = store->read_entry(m, "model.w2");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(got.status().message().find(victim.hex()), std::string::npos);
  EXPECT_TRUE(store->read_entry(m, "model.w1").ok()) << "other entries still load";
  EXPECT_TRUE(testing::restores_exactly(*store, 1, s1));
  auto v = store->verify();
  EXPECT_FALSE(v.ok());
  // A new save of the same content repairs nothing silently: the damaged
  // chunk keeps its name; verify keeps reporting it until it is rewritten.
}

TEST(Store, CorruptManifestIsReported) {
  TempDir tmp;
  auto store = open_store(tmp.sub("s"));
  State s1 = testing::small_state(1);
  ASSERT_TRUE(store->save(s1.request(1)).ok());
  ASSERT_TRUE(store->save(testing::small_state(2).request(2)).ok());
  flip_bit(tmp.sub("s/manifests/00000000000000000002.mf"), 120, 1);
  auto m = store->read_manifest(2);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kDataLoss);
  EXPECT_FALSE(store->verify().ok());
  EXPECT_TRUE(testing::restores_exactly(*store, 1, s1));
  // gc refuses to guess what a damaged manifest needs.
  EXPECT_FALSE(store->gc().ok());
}

TEST(Store, RetentionKeepsLastEveryKthTaggedAndLatest) {
  TempDir tmp;
  auto store = open_store(tmp.sub("s"));
  std::map<int64_t, State> states;
  for (int step = 1; step <= 10; ++step) {
    State s = testing::small_state(step);
    SaveRequest r = s.request(step);
    if (step == 3) r.tags = {"best"};
    ASSERT_TRUE(store->save(r).ok());
    states[step] = s;
  }
  auto removed = store->apply_retention(RetentionPolicy{2, 4, true});
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(store->steps().value(), (std::vector<int64_t>{3, 4, 8, 9, 10}));
  auto gc = store->gc();
  ASSERT_TRUE(gc.ok());
  EXPECT_GT(gc->chunks_removed, 0);
  const auto kept = store->steps().value();
  for (int64_t s : kept) EXPECT_TRUE(testing::restores_exactly(*store, s, states[s]));
  EXPECT_TRUE(store->verify().ok());
  auto du = store->du();
  ASSERT_TRUE(du.ok());
  EXPECT_EQ(du->steps, 5);
  EXPECT_GT(du->compression_ratio(), 0.0);
}

TEST(Store, LatestFollowsCommitsAndEmptyStoreSaysSo) {
  TempDir tmp;
  auto store = open_store(tmp.sub("s"));
  EXPECT_EQ(store->latest_step().status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store->save(testing::small_state(1).request(5)).ok());
  ASSERT_TRUE(store->save(testing::small_state(2).request(7)).ok());
  EXPECT_EQ(store->latest_step().value(), 7);
  EXPECT_EQ(store->read_manifest(6).status().code(), StatusCode::kNotFound);
}

TEST(Store, RejectsBadInput) {
  TempDir tmp;
  auto store = open_store(tmp.sub("s"));
  State s = testing::small_state(1);
  SaveRequest r = s.request(1);
  r.items.push_back(r.items[0]);
  EXPECT_EQ(store->save(r).status().code(), StatusCode::kInvalidArgument);
  r = s.request(-1);
  EXPECT_EQ(store->save(r).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Store::open(tmp.sub("nothing"), {}, Env::posix(), false).status().code(), StatusCode::kNotFound);
  std::ofstream(tmp.sub("file")) << "x";
  EXPECT_FALSE(Store::open(tmp.sub("file")).ok());
  StoreOptions bad;
  bad.chunk_bytes = 10;
  EXPECT_FALSE(Store::open(tmp.sub("t"), bad).ok());
  // A format-1 store (one file per chunk) is refused with a reason.
  std::filesystem::create_directories(tmp.sub("v1"));
  std::ofstream(tmp.sub("v1/STORE")) << "tandem-store 1\n";
  EXPECT_EQ(Store::open(tmp.sub("v1")).status().code(), StatusCode::kUnimplemented);
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// New stores are format 3 (chunks named by BLAKE3); a format-2 store (SHA-256,
// what builds before format 3 wrote) keeps its hash: it restores, verifies,
// deduplicates and takes new saves named by SHA-256, so the two never mix.
TEST(Store, ChunkHashFollowsTheStoreFormat) {
  TempDir tmp;
  State s1 = testing::small_state(1);
  const auto& w1 = s1.tensors.at("model.w1");
  const uint64_t cb = testing::small_options().chunk_bytes;
  ASSERT_GT(w1.size(), cb);
  {
    auto store = open_store(tmp.sub("v3"));
    EXPECT_EQ(store->chunk_hash(), HashKind::kBlake3);
    EXPECT_EQ(read_text(tmp.sub("v3/STORE")), "tandem-store 3 blake3\n");
    ASSERT_TRUE(store->save(s1.request(1)).ok());
    auto m = store->read_manifest(1).value();
    EXPECT_EQ(m.find("model.w1")->chunks[0].hash, blake3(w1.data(), cb));
  }
  StoreOptions v2 = testing::small_options();
  v2.new_store_hash = HashKind::kSha256;
  {
    auto store = open_store(tmp.sub("v2"), v2);
    EXPECT_EQ(store->chunk_hash(), HashKind::kSha256);
    EXPECT_EQ(read_text(tmp.sub("v2/STORE")), "tandem-store 2\n");
    ASSERT_TRUE(store->save(s1.request(1)).ok());
  }
  // Reopened with default options (which would create BLAKE3 stores).
  auto store = open_store(tmp.sub("v2"));
  EXPECT_EQ(store->chunk_hash(), HashKind::kSha256);
  auto m = store->read_manifest(1).value();
  EXPECT_EQ(m.find("model.w1")->chunks[0].hash, sha256(w1.data(), cb));
  EXPECT_TRUE(testing::restores_exactly(*store, 1, s1));
  auto again = store->save(s1.request(2));
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(again->new_chunks, 0u);
  State s3 = s1;
  testing::perturb(&s3.tensors["model.w2"], 9);
  ASSERT_TRUE(store->save(s3.request(3)).ok());
  EXPECT_TRUE(testing::restores_exactly(*store, 3, s3));
  EXPECT_EQ(read_text(tmp.sub("v2/STORE")), "tandem-store 2\n");
  auto report = store->verify();
  EXPECT_TRUE(report.ok());
  ASSERT_TRUE(store->gc().ok());
  EXPECT_TRUE(testing::restores_exactly(*store, 1, s1));
  // An unknown marker is refused.
  std::filesystem::create_directories(tmp.sub("v9"));
  std::ofstream(tmp.sub("v9/STORE")) << "tandem-store 9 xyz\n";
  EXPECT_FALSE(Store::open(tmp.sub("v9")).ok());
}

// A pack whose chunks are mostly dead is rewritten with the live ones only;
// a reader that listed the packs before still restores (it re-lists).
TEST(Store, GcCompactsMostlyDeadPacks) {
  TempDir tmp;
  const std::string dir = tmp.sub("s");
  auto store = open_store(dir);
  State s;
  s.tensors["big"] = testing::random_floats(10 * 1024, 1);  // 10 chunks of 4 KiB, one pack
  ASSERT_TRUE(store->save(s.request(1)).ok());
  for (int c = 0; c < 8; ++c) s.tensors["big"][c * 4096 + 3] ^= 1;  // 8 of them change
  ASSERT_TRUE(store->save(s.request(2)).ok());
  auto reader = open_store(dir);
  ASSERT_TRUE(testing::restores_exactly(*reader, 2, s));  // reader's index: both packs
  ASSERT_EQ(store->apply_retention(RetentionPolicy{1, 0, true}).value(), (std::vector<int64_t>{1}));
  auto gc = store->gc();
  ASSERT_TRUE(gc.ok()) << gc.status().to_string();
  EXPECT_EQ(gc->packs_compacted, 1);
  EXPECT_EQ(gc->packs_removed, 0);
  EXPECT_EQ(gc->chunks_removed, 8);
  EXPECT_GT(gc->bytes_freed, 8u * 2048u);
  EXPECT_TRUE(testing::restores_exactly(*reader, 2, s));
  EXPECT_TRUE(testing::restores_exactly(*store, 2, s));
  EXPECT_TRUE(store->verify().ok());
  auto du = store->du().value();
  EXPECT_EQ(du.pack_files, 2u);
  EXPECT_EQ(du.chunk_files, 10u);
  // Nothing more to do.
  auto again = store->gc().value();
  EXPECT_EQ(again.packs_compacted + again.packs_removed, 0);
}

// Savers keep saving while gc and retention run; afterwards every remaining
// step restores exactly and verify passes.
TEST(Store, GcRunsSafelyDuringConcurrentSaves) {
  TempDir tmp;
  const std::string dir = tmp.sub("s");
  ASSERT_TRUE(Store::open(dir).ok());
  constexpr int kWriters = 2, kSteps = 25;
  std::vector<std::map<int64_t, State>> saved(kWriters);
  std::atomic<int> done{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w)
    writers.emplace_back([&, w] {
      struct Done {
        std::atomic<int>& d;
        ~Done() { d++; }
      } mark{done};
      auto store = open_store(dir, testing::small_options(/*delta=*/w == 1));
      State s = testing::small_state(10 * w);
      for (int i = 0; i < kSteps; ++i) {
        const int64_t step = 1000 * w + i;
        auto st = store->save(s.request(step));
        ASSERT_TRUE(st.ok()) << st.status().to_string();
        saved[w][step] = s;
        // Half the chunks change each step; some states repeat (dedup hits
        // on chunks gc may be collecting).
        if (i % 3 == 2) s = testing::small_state(10 * w);
        else testing::perturb(&s.tensors["model.w1"], i);
      }
    });
  auto gc_store = open_store(dir);
  int rounds = 0;
  while (done.load() < kWriters || rounds < 3) {
    // No ASSERT here: the writer threads must be joined first.
    auto removed = gc_store->apply_retention(RetentionPolicy{3, 0, true});
    auto gc = gc_store->gc();
    EXPECT_TRUE(removed.ok()) << removed.status().to_string();
    EXPECT_TRUE(gc.ok()) << gc.status().to_string();
    ++rounds;
  }
  for (auto& t : writers) t.join();
  auto store = open_store(dir);
  auto v = store->verify();
  EXPECT_TRUE(v.ok()) << (v.problems.empty() ? "" : v.problems[0]);
  const auto kept = store->steps().value();
  for (int64_t step : kept) EXPECT_TRUE(testing::restores_exactly(*store, step, saved[step / 1000][step]));
  EXPECT_GE(kept.size(), 2u);
}

TEST(Store, GcRemovesLeftoversOfDeadWriters) {
  TempDir tmp;
  const std::string dir = tmp.sub("s");
  auto store = open_store(dir);
  ASSERT_TRUE(store->save(testing::small_state(1).request(1)).ok());
  // A writer that died: its lock file is not held, its tmp file is left.
  std::ofstream(dir + "/inflight/deadbeefdeadbeef.lock") << "";
  std::ofstream(dir + "/inflight/deadbeefdeadbeef.refs") << std::string(64, 'a') << "\n";
  std::ofstream(dir + "/tmp/deadbeefdeadbeef.manifest") << "partial";
  // A pack no manifest needs (its save's manifest is gone).
  {
    auto other = open_store(dir);
    ASSERT_TRUE(other->save(testing::small_state(50).request(2)).ok());  // shares no chunk with state 1
  }
  std::filesystem::remove(dir + "/manifests/00000000000000000002.mf");
  auto gc = store->gc();
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->stale_writers, 1);
  EXPECT_EQ(gc->tmp_removed, 1);
  EXPECT_EQ(gc->packs_removed, 1);
  EXPECT_EQ(gc->chunks_removed, 8);
  EXPECT_FALSE(Env::posix()->file_exists(dir + "/inflight/deadbeefdeadbeef.refs"));
  EXPECT_TRUE(testing::restores_exactly(*store, 1, testing::small_state(1)));
}

}  // namespace
}  // namespace tandem::store
