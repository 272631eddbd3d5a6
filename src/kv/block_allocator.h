// Reference-counted allocator of fixed-size KV blocks, identified by ids
// [0, n_blocks), with prefix sharing and LRU eviction.
//
// A block is in exactly one of three states:
//   free      ref == 0, not cached: on the free list;
//   cached    ref == 0, sealed with a content hash: in the prefix index and on
//             the LRU list, reusable by a later request with the same prefix,
//             evicted (least recently released first) when free blocks run out;
//   used      ref > 0 (sealed or not).
// "Available" blocks are free + cached: what allocate() can hand out.
//
// Prefix sharing: a sequence seals each of its blocks once the block is full
// (seal()), registering hash_block(parent hash, tokens) in the index. A new
// sequence looks up its own chain of block hashes (match_prefix(), a query)
// and takes a reference on every matched block (acquire()), so it never
// recomputes nor stores them again. A sealed block is immutable: only a
// sequence's last, unsealed block is ever written.
//
// Plan, then apply: the const methods never mutate; allocate() fails without
// side effects when too few blocks are available.
// Thread safety: none (the scheduler owns it and runs on one thread).
#pragma once

#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "kv/block_hash.h"

namespace tandem {

using BlockId = int32_t;

struct KvBlockStats {
  int32_t total = 0;
  int32_t used = 0;    // ref > 0
  int32_t free = 0;    // ref == 0, not cached
  int32_t cached = 0;  // ref == 0, cached (evictable)
  int32_t sealed = 0;  // blocks in the prefix index, used or not
  int64_t prefix_queried_tokens = 0;  // prompt tokens looked up (record_prefix_query)
  int64_t prefix_hit_tokens = 0;      // of which found in cached blocks
  int64_t evictions = 0;              // cached blocks reused for other content
};

class BlockAllocator {
 public:
  BlockAllocator(int32_t n_blocks, int32_t block_size);
  BlockAllocator(const BlockAllocator&) = delete;
  BlockAllocator& operator=(const BlockAllocator&) = delete;

  int32_t n_blocks() const { return static_cast<int32_t>(blocks_.size()); }
  int32_t block_size() const { return block_size_; }
  // Blocks allocate() can hand out now: free + cached.
  int32_t available() const { return static_cast<int32_t>(free_.size()) + n_cached_; }
  bool can_allocate(int32_t n) const { return n <= available(); }
  int32_t ref_count(BlockId id) const { return block(id).ref; }
  bool is_sealed(BlockId id) const { return block(id).sealed; }
  // The hash a sealed block is indexed under.
  BlockHash hash_of(BlockId id) const {
    TANDEM_CHECK(block(id).sealed, "hash_of: block is not sealed");
    return block(id).hash;
  }
  KvBlockStats stats() const;

  // Longest prefix of the chain `hashes` (hash i covers tokens
  // [i*block_size, (i+1)*block_size) of `tokens`) held in sealed blocks; their
  // ids in order. Each hit is verified against the stored parent hash and
  // tokens, so a hash collision can only shorten the match. Does not mutate.
  std::vector<BlockId> match_prefix(std::span<const BlockHash> hashes,
                                    std::span<const int32_t> tokens) const;

  // Takes a reference on a sealed block (a cached one becomes used again).
  void acquire(BlockId id);
  // Appends `n` new blocks (ref 1, unsealed) to `out`, free blocks first, then
  // evicting cached blocks least recently released first. ResourceExhausted
  // and no change when fewer than n are available.
  Status allocate(int32_t n, std::vector<BlockId>& out);
  // Drops one reference. At zero a sealed block becomes cached (most recently
  // used end of the LRU list), an unsealed one free.
  void release(BlockId id);
  // Releases a sequence's table, last block first, so that its tail blocks
  // are evicted before its head (heads are the most shared prefixes).
  void release_all(std::span<const BlockId> table);
  // Registers a full, used, unsealed block under `hash` = hash_block(parent,
  // tokens). If another block already holds that hash, returns false and
  // leaves this one unsealed (it is freed, not cached, on release).
  bool seal(BlockId id, BlockHash parent, BlockHash hash, std::span<const int32_t> tokens);
  // Drops every cached block from the index (they become free).
  void clear_cache();

  void record_prefix_query(int64_t queried_tokens, int64_t hit_tokens);

  // Full consistency check, O(n_blocks): states partition the blocks, lists
  // and index agree with the blocks. Returns the first violation found.
  Status check_invariants() const;

 private:
  struct Block {
    int32_t ref = 0;
    bool sealed = false;
    BlockHash hash = 0;
    BlockHash parent = 0;
    std::list<BlockId>::iterator lru_it;  // valid when cached
  };
  const Block& block(BlockId id) const;
  Block& block(BlockId id);
  void unseal(BlockId id);

  int32_t block_size_;
  std::vector<Block> blocks_;
  std::vector<int32_t> tokens_;   // [n_blocks][block_size]: a sealed block's token ids
  std::vector<BlockId> free_;     // stack; pops the lowest ids first
  std::list<BlockId> lru_;        // cached blocks, least recently released first
  int32_t n_cached_ = 0;
  std::unordered_map<BlockHash, BlockId> index_;
  int64_t prefix_queried_tokens_ = 0;
  int64_t prefix_hit_tokens_ = 0;
  int64_t evictions_ = 0;
};

}  // namespace tandem
