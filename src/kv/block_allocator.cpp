#include "kv/block_allocator.h"

#include <algorithm>
#include <string>

namespace tandem {

BlockAllocator::BlockAllocator(int32_t n_blocks, int32_t block_size)
    : block_size_(block_size),
      blocks_(static_cast<size_t>(std::max(n_blocks, 0))),
      tokens_(static_cast<size_t>(std::max(n_blocks, 0)) * static_cast<size_t>(std::max(block_size, 0))) {
  TANDEM_CHECK(n_blocks >= 0 && block_size > 0, "BlockAllocator needs n_blocks >= 0, block_size > 0");
  free_.reserve(blocks_.size());
  for (BlockId i = n_blocks - 1; i >= 0; --i) free_.push_back(i);
}

const BlockAllocator::Block& BlockAllocator::block(BlockId id) const {
  TANDEM_CHECK(id >= 0 && id < n_blocks(), "block id " + std::to_string(id) + " out of range");
  return blocks_[static_cast<size_t>(id)];
}

BlockAllocator::Block& BlockAllocator::block(BlockId id) {
  TANDEM_CHECK(id >= 0 && id < n_blocks(), "block id " + std::to_string(id) + " out of range");
  return blocks_[static_cast<size_t>(id)];
}

KvBlockStats BlockAllocator::stats() const {
  KvBlockStats s;
  s.total = n_blocks();
  s.free = static_cast<int32_t>(free_.size());
  s.cached = n_cached_;
  s.used = s.total - s.free - s.cached;
  s.sealed = static_cast<int32_t>(index_.size());
  s.prefix_queried_tokens = prefix_queried_tokens_;
  s.prefix_hit_tokens = prefix_hit_tokens_;
  s.evictions = evictions_;
  return s;
}

std::vector<BlockId> BlockAllocator::match_prefix(std::span<const BlockHash> hashes,
                                                  std::span<const int32_t> tokens) const {
  TANDEM_CHECK(tokens.size() >= hashes.size() * static_cast<size_t>(block_size_),
               "match_prefix: fewer tokens than the hashed blocks cover");
  std::vector<BlockId> out;
  BlockHash parent = kRootBlockHash;
  for (size_t i = 0; i < hashes.size(); ++i) {
    auto it = index_.find(hashes[i]);
    if (it == index_.end()) break;
    const BlockId id = it->second;
    const Block& b = blocks_[static_cast<size_t>(id)];
    const auto want = tokens.subspan(i * static_cast<size_t>(block_size_), static_cast<size_t>(block_size_));
    const int32_t* have = tokens_.data() + static_cast<size_t>(id) * static_cast<size_t>(block_size_);
    if (b.parent != parent || !std::equal(want.begin(), want.end(), have)) break;
    out.push_back(id);
    parent = hashes[i];
  }
  return out;
}

void BlockAllocator::acquire(BlockId id) {
  Block& b = block(id);
  TANDEM_CHECK(b.sealed, "acquire: block " + std::to_string(id) + " is not sealed");
  if (b.ref == 0) {
    lru_.erase(b.lru_it);
    --n_cached_;
  }
  ++b.ref;
}

Status BlockAllocator::allocate(int32_t n, std::vector<BlockId>& out) {
  TANDEM_CHECK(n >= 0, "allocate: negative count");
  if (n > available()) {
    return Status(StatusCode::kResourceExhausted,
                  "KV cache full: need " + std::to_string(n) + " blocks, " +
                      std::to_string(available()) + " available");
  }
  for (int32_t i = 0; i < n; ++i) {
    BlockId id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
    } else {
      id = lru_.front();
      lru_.pop_front();
      --n_cached_;
      unseal(id);
      ++evictions_;
    }
    Block& b = blocks_[static_cast<size_t>(id)];
    TANDEM_CHECK(b.ref == 0 && !b.sealed, "allocate: handing out a block in use");
    b.ref = 1;
    out.push_back(id);
  }
  return ok_status();
}

void BlockAllocator::release(BlockId id) {
  Block& b = block(id);
  TANDEM_CHECK(b.ref > 0, "release: block " + std::to_string(id) + " is not in use (double free)");
  if (--b.ref > 0) return;
  if (b.sealed) {
    b.lru_it = lru_.insert(lru_.end(), id);
    ++n_cached_;
  } else {
    free_.push_back(id);
  }
}

void BlockAllocator::release_all(std::span<const BlockId> table) {
  for (auto it = table.rbegin(); it != table.rend(); ++it) release(*it);
}

bool BlockAllocator::seal(BlockId id, BlockHash parent, BlockHash hash,
                          std::span<const int32_t> tokens) {
  Block& b = block(id);
  TANDEM_CHECK(b.ref > 0 && !b.sealed, "seal: block " + std::to_string(id) + " must be used and unsealed");
  TANDEM_CHECK(tokens.size() == static_cast<size_t>(block_size_), "seal: block is not full");
  if (index_.count(hash)) return false;
  b.sealed = true;
  b.hash = hash;
  b.parent = parent;
  std::copy(tokens.begin(), tokens.end(),
            tokens_.begin() + static_cast<ptrdiff_t>(id) * block_size_);
  index_.emplace(hash, id);
  return true;
}

void BlockAllocator::unseal(BlockId id) {
  Block& b = blocks_[static_cast<size_t>(id)];
  auto it = index_.find(b.hash);
  TANDEM_CHECK(it != index_.end() && it->second == id, "unseal: index does not hold the block");
  index_.erase(it);
  b.sealed = false;
}

void BlockAllocator::clear_cache() {
  while (!lru_.empty()) {
    const BlockId id = lru_.front();
    lru_.pop_front();
    --n_cached_;
    unseal(id);
    free_.push_back(id);
  }
}

void BlockAllocator::record_prefix_query(int64_t queried_tokens, int64_t hit_tokens) {
  TANDEM_CHECK(hit_tokens >= 0 && hit_tokens <= queried_tokens, "prefix query counts out of order");
  prefix_queried_tokens_ += queried_tokens;
  prefix_hit_tokens_ += hit_tokens;
}

Status BlockAllocator::check_invariants() const {
  const auto fail = [](const std::string& m) { return internal_error("BlockAllocator: " + m); };
  std::vector<int> where(blocks_.size(), 0);  // 1 free, 2 lru
  for (BlockId id : free_) {
    if (id < 0 || id >= n_blocks()) return fail("free list holds a bad id");
    if (where[static_cast<size_t>(id)]) return fail("block " + std::to_string(id) + " twice on the lists");
    where[static_cast<size_t>(id)] = 1;
  }
  int32_t n_lru = 0;
  for (BlockId id : lru_) {
    if (id < 0 || id >= n_blocks()) return fail("LRU list holds a bad id");
    if (where[static_cast<size_t>(id)]) return fail("block " + std::to_string(id) + " twice on the lists");
    where[static_cast<size_t>(id)] = 2;
    if (blocks_[static_cast<size_t>(id)].lru_it == lru_.end() || *blocks_[static_cast<size_t>(id)].lru_it != id)
      return fail("block " + std::to_string(id) + " has a stale LRU position");
    ++n_lru;
  }
  if (n_lru != n_cached_) return fail("cached count does not match the LRU list");
  size_t n_sealed = 0;
  for (BlockId id = 0; id < n_blocks(); ++id) {
    const Block& b = blocks_[static_cast<size_t>(id)];
    const std::string name = "block " + std::to_string(id);
    if (b.ref < 0) return fail(name + " has a negative ref count");
    const int w = where[static_cast<size_t>(id)];
    if (b.ref > 0 && w != 0) return fail(name + " is used but on a free/LRU list");
    if (b.ref == 0 && w == 0) return fail(name + " is unreferenced but on no list (leaked)");
    if (b.ref == 0 && b.sealed && w != 2) return fail(name + " is cached but not on the LRU list");
    if (b.ref == 0 && !b.sealed && w != 1) return fail(name + " is free but not on the free list");
    if (b.sealed) {
      ++n_sealed;
      auto it = index_.find(b.hash);
      if (it == index_.end() || it->second != id) return fail(name + " is sealed but not indexed");
      const int32_t* t = tokens_.data() + static_cast<size_t>(id) * static_cast<size_t>(block_size_);
      if (hash_block(b.parent, std::span<const int32_t>(t, static_cast<size_t>(block_size_))) != b.hash)
        return fail(name + "'s hash does not match its tokens");
    }
  }
  if (n_sealed != index_.size()) return fail("index holds blocks that are not sealed");
  return ok_status();
}

}  // namespace tandem
