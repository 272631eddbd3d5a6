#include "kv/block_allocator.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace tandem {
namespace {

std::vector<int32_t> iota_tokens(int32_t n, int32_t first) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) t[static_cast<size_t>(i)] = first + i;
  return t;
}

// Allocates blocks for `tokens` as a sequence would (reusing its cached
// prefix) and seals every full block. Returns the table.
std::vector<BlockId> fill(BlockAllocator& a, const std::vector<int32_t>& tokens) {
  std::vector<BlockHash> hashes;
  extend_block_hashes(tokens, a.block_size(), hashes);
  std::vector<BlockId> table = a.match_prefix(hashes, tokens);
  for (BlockId b : table) a.acquire(b);
  const int32_t need = (static_cast<int32_t>(tokens.size()) + a.block_size() - 1) / a.block_size();
  EXPECT_TRUE(a.allocate(need - static_cast<int32_t>(table.size()), table).ok());
  for (size_t i = 0; i < hashes.size(); ++i) {
    if (a.is_sealed(table[i])) continue;
    a.seal(table[i], i == 0 ? kRootBlockHash : hashes[i - 1], hashes[i],
           std::span<const int32_t>(tokens).subspan(i * static_cast<size_t>(a.block_size()),
                                                    static_cast<size_t>(a.block_size())));
  }
  return table;
}

TEST(BlockHashTest, ChainDependsOnParentAndTokens) {
  const std::vector<int32_t> a{1, 2, 3, 4}, b{1, 2, 3, 5};
  EXPECT_EQ(hash_block(kRootBlockHash, a), hash_block(kRootBlockHash, a));
  EXPECT_NE(hash_block(kRootBlockHash, a), hash_block(kRootBlockHash, b));
  EXPECT_NE(hash_block(kRootBlockHash, a), hash_block(hash_block(kRootBlockHash, a), a));
  std::vector<BlockHash> h;
  extend_block_hashes(iota_tokens(10, 0), 4, h);
  ASSERT_EQ(h.size(), 2u);  // the partial third block is not hashed
  EXPECT_EQ(h[1], hash_block(h[0], std::vector<int32_t>{4, 5, 6, 7}));
  extend_block_hashes(iota_tokens(12, 0), 4, h);  // extends, keeps the first two
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[2], hash_block(h[1], std::vector<int32_t>{8, 9, 10, 11}));
}

TEST(BlockAllocatorTest, AllocateReleaseAndExhaustion) {
  BlockAllocator a(4, 16);
  std::vector<BlockId> t;
  ASSERT_TRUE(a.allocate(3, t).ok());
  EXPECT_EQ(t, (std::vector<BlockId>{0, 1, 2}));
  EXPECT_EQ(a.available(), 1);
  EXPECT_FALSE(a.can_allocate(2));
  Status st = a.allocate(2, t);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(t.size(), 3u);  // failed allocation changes nothing
  EXPECT_EQ(a.available(), 1);
  a.release_all(t);
  EXPECT_EQ(a.available(), 4);
  EXPECT_EQ(a.stats().used, 0);
  EXPECT_TRUE(a.check_invariants().ok());
}

TEST(BlockAllocatorTest, PrefixIsSharedAndSurvivesRelease) {
  BlockAllocator a(16, 4);
  const auto p1 = iota_tokens(10, 100);  // 2 full blocks + 2 tokens
  const auto t1 = fill(a, p1);
  ASSERT_EQ(t1.size(), 3u);
  EXPECT_EQ(a.stats().sealed, 2);

  auto p2 = iota_tokens(8, 100);  // same first 8 tokens, then different ones
  p2.insert(p2.end(), {7, 7, 7, 7, 7});
  const auto t2 = fill(a, p2);
  ASSERT_EQ(t2.size(), 4u);
  EXPECT_EQ(t2[0], t1[0]);
  EXPECT_EQ(t2[1], t1[1]);
  EXPECT_NE(t2[2], t1[2]);
  EXPECT_EQ(a.ref_count(t1[0]), 2);
  EXPECT_EQ(a.stats().used, 5);

  a.release_all(t1);
  a.release_all(t2);
  KvBlockStats s = a.stats();
  EXPECT_EQ(s.used, 0);
  EXPECT_EQ(s.cached, 3);  // blocks 0, 1 of the prefix and p2's third full block
  EXPECT_TRUE(a.check_invariants().ok());

  // A third request finds all three cached blocks.
  std::vector<BlockHash> h;
  extend_block_hashes(p2, 4, h);
  EXPECT_EQ(a.match_prefix(h, p2).size(), 3u);
  // A different first block matches nothing, even with a later block equal.
  auto p3 = p2;
  p3[0] = 999;
  std::vector<BlockHash> h3;
  extend_block_hashes(p3, 4, h3);
  EXPECT_TRUE(a.match_prefix(h3, p3).empty());
}

TEST(BlockAllocatorTest, EvictsLeastRecentlyReleasedAndTailFirst) {
  BlockAllocator a(6, 2);
  const auto ta = fill(a, {1, 2, 3, 4});  // 2 sealed blocks
  const auto tb = fill(a, {5, 6, 7, 8});
  a.release_all(ta);  // LRU: a1, a0
  a.release_all(tb);  // LRU: a1, a0, b1, b0
  EXPECT_EQ(a.stats().cached, 4);
  std::vector<BlockId> t;
  ASSERT_TRUE(a.allocate(3, t).ok());  // 2 free, then evicts a's tail block
  EXPECT_EQ(a.stats().evictions, 1);
  EXPECT_EQ(t[2], ta[1]);
  std::vector<BlockHash> h;
  const std::vector<int32_t> pa{1, 2, 3, 4};
  extend_block_hashes(pa, 2, h);
  EXPECT_EQ(a.match_prefix(h, pa).size(), 1u);  // a's head block is still cached
  EXPECT_TRUE(a.check_invariants().ok());
}

TEST(BlockAllocatorTest, DuplicateSealKeepsFirstAndFreesSecond) {
  BlockAllocator a(4, 2);
  const std::vector<int32_t> p{1, 2};
  std::vector<BlockHash> h;
  extend_block_hashes(p, 2, h);
  std::vector<BlockId> t1, t2;
  ASSERT_TRUE(a.allocate(1, t1).ok());
  ASSERT_TRUE(a.allocate(1, t2).ok());
  EXPECT_TRUE(a.seal(t1[0], kRootBlockHash, h[0], p));
  EXPECT_FALSE(a.seal(t2[0], kRootBlockHash, h[0], p));
  a.release_all(t2);
  EXPECT_EQ(a.stats().free, 3);
  a.release_all(t1);
  EXPECT_EQ(a.stats().cached, 1);
  a.clear_cache();
  EXPECT_EQ(a.stats().free, 4);
  EXPECT_TRUE(a.check_invariants().ok());
}

TEST(BlockAllocatorTest, CollisionIsCaughtByTokenCheck) {
  BlockAllocator a(4, 2);
  const std::vector<int32_t> p{1, 2};
  std::vector<BlockId> t;
  ASSERT_TRUE(a.allocate(1, t).ok());
  const BlockHash h = hash_block(kRootBlockHash, p);
  ASSERT_TRUE(a.seal(t[0], kRootBlockHash, h, p));
  // A forged chain claiming the same hash for other tokens must not match.
  const std::vector<int32_t> q{3, 4};
  const std::vector<BlockHash> forged{h};
  EXPECT_TRUE(a.match_prefix(forged, q).empty());
  EXPECT_EQ(a.match_prefix(forged, p).size(), 1u);
}

// Thousands of random scenarios against a model of what every block holds:
// sequences share prefixes, grow token by token, seal full blocks, release.
// Checks after every operation: the allocator's invariants, ref counts equal
// the number of tables holding each block, shared blocks hold exactly the
// tokens the sharing sequence expects, a block is only written while private.
TEST(BlockAllocatorTest, RandomizedScenarios) {
  std::mt19937_64 rng(12345);
  int64_t total_hits = 0;
  for (int scenario = 0; scenario < 2000; ++scenario) {
    const int32_t bs = 1 + static_cast<int32_t>(rng() % 4);
    const int32_t n_blocks = 4 + static_cast<int32_t>(rng() % 24);
    BlockAllocator a(n_blocks, bs);
    std::vector<int32_t> content(static_cast<size_t>(n_blocks * bs), -1);  // what the "KV" holds
    struct Seq {
      std::vector<int32_t> tokens;
      std::vector<BlockHash> hashes;
      std::vector<BlockId> table;
      size_t sealed = 0;
    };
    std::vector<Seq> seqs;
    // A few shared "system prompts" so prefixes collide often.
    std::vector<std::vector<int32_t>> bases;
    for (int i = 0; i < 3; ++i) {
      std::vector<int32_t> b(static_cast<size_t>(rng() % 12));
      for (auto& x : b) x = static_cast<int32_t>(rng() % 3);
      bases.push_back(b);
    }
    auto write = [&](Seq& s, size_t from) {
      for (size_t p = from; p < s.tokens.size(); ++p) {
        const BlockId b = s.table[p / static_cast<size_t>(bs)];
        ASSERT_EQ(a.ref_count(b), 1) << "writing into a shared block";
        ASSERT_FALSE(a.is_sealed(b)) << "writing into a sealed block";
        content[static_cast<size_t>(b * bs) + p % static_cast<size_t>(bs)] = s.tokens[p];
      }
    };
    auto seal_full = [&](Seq& s) {
      extend_block_hashes(s.tokens, bs, s.hashes);
      for (; s.sealed < s.hashes.size(); ++s.sealed) {
        const BlockId b = s.table[s.sealed];
        if (a.is_sealed(b)) continue;
        a.seal(b, s.sealed == 0 ? kRootBlockHash : s.hashes[s.sealed - 1], s.hashes[s.sealed],
               std::span<const int32_t>(s.tokens).subspan(s.sealed * static_cast<size_t>(bs),
                                                          static_cast<size_t>(bs)));
      }
    };
    for (int op = 0; op < 60; ++op) {
      const int kind = static_cast<int>(rng() % 3);
      if (kind == 0 || seqs.empty()) {  // new sequence
        Seq s;
        s.tokens = bases[rng() % bases.size()];
        const size_t extra = 1 + rng() % 6;
        for (size_t i = 0; i < extra; ++i) s.tokens.push_back(static_cast<int32_t>(rng() % 3));
        extend_block_hashes(s.tokens, bs, s.hashes);
        // Never match the last token: it must be computed for logits.
        const size_t max_match = (s.tokens.size() - 1) / static_cast<size_t>(bs);
        std::vector<BlockHash> q(s.hashes.begin(), s.hashes.begin() + static_cast<ptrdiff_t>(max_match));
        std::vector<BlockId> hit = a.match_prefix(q, s.tokens);
        const int32_t need = (static_cast<int32_t>(s.tokens.size()) + bs - 1) / bs;
        int32_t revive = 0;
        for (BlockId b : hit) revive += a.ref_count(b) == 0;
        const int32_t fresh = need - static_cast<int32_t>(hit.size());
        if (fresh + revive > a.available()) continue;  // would not fit: plan says no
        for (BlockId b : hit) {
          a.acquire(b);
          for (int32_t j = 0; j < bs; ++j)  // the shared block holds our tokens
            ASSERT_EQ(content[static_cast<size_t>(b * bs + j)],
                      s.tokens[s.table.size() * static_cast<size_t>(bs) + static_cast<size_t>(j)]);
          s.table.push_back(b);
        }
        total_hits += static_cast<int64_t>(hit.size());
        a.record_prefix_query(static_cast<int64_t>(s.tokens.size()),
                              static_cast<int64_t>(hit.size()) * bs);
        ASSERT_TRUE(a.allocate(fresh, s.table).ok());
        s.sealed = 0;
        write(s, hit.size() * static_cast<size_t>(bs));
        seal_full(s);
        seqs.push_back(std::move(s));
      } else if (kind == 1) {  // grow one sequence by a token
        Seq& s = seqs[rng() % seqs.size()];
        const size_t pos = s.tokens.size();
        if (pos % static_cast<size_t>(bs) == 0) {
          if (!a.can_allocate(1)) continue;
          ASSERT_TRUE(a.allocate(1, s.table).ok());
        }
        s.tokens.push_back(static_cast<int32_t>(rng() % 3));
        write(s, pos);
        seal_full(s);
      } else {  // release one sequence
        const size_t i = rng() % seqs.size();
        a.release_all(seqs[i].table);
        seqs.erase(seqs.begin() + static_cast<ptrdiff_t>(i));
      }
      ASSERT_TRUE(a.check_invariants().ok()) << a.check_invariants().to_string();
      std::map<BlockId, int32_t> refs;
      for (const Seq& s : seqs)
        for (BlockId b : s.table) ++refs[b];
      int32_t used = 0;
      for (BlockId b = 0; b < n_blocks; ++b) {
        ASSERT_EQ(a.ref_count(b), refs.count(b) ? refs[b] : 0) << "block " << b;
        used += a.ref_count(b) > 0;
      }
      ASSERT_EQ(a.stats().used, used);
      ASSERT_EQ(a.stats().used + a.stats().free + a.stats().cached, n_blocks);
    }
    for (const Seq& s : seqs) a.release_all(s.table);
    ASSERT_EQ(a.stats().used, 0);
    ASSERT_TRUE(a.check_invariants().ok());
  }
  EXPECT_GT(total_hits, 1000);  // the scenarios really exercised sharing
}

}  // namespace
}  // namespace tandem
