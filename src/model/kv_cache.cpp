#include "model/kv_cache.h"

#include "base/check.h"

namespace tandem {

KvCache::KvCache(const ModelConfig& config, int32_t n_blocks, int32_t block_size)
    : n_layers_(config.n_layers),
      kv_dim_(config.kv_dim()),
      n_blocks_(n_blocks),
      block_size_(block_size),
      data_(static_cast<size_t>(n_blocks) * config.n_layers * 2 * block_size * config.kv_dim()) {
  TANDEM_CHECK(n_blocks > 0 && block_size > 0, "KvCache needs at least one block");
}

SimpleBlockPool::SimpleBlockPool(int32_t n_blocks) {
  for (int32_t i = n_blocks - 1; i >= 0; --i) free_.push_back(i);
}

bool SimpleBlockPool::grow(std::vector<int32_t>& table, int32_t n_positions, int32_t block_size) {
  while (static_cast<int64_t>(table.size()) * block_size < n_positions) {
    if (free_.empty()) return false;
    table.push_back(free_.back());
    free_.pop_back();
  }
  return true;
}

void SimpleBlockPool::release(std::vector<int32_t>& table) {
  for (auto it = table.rbegin(); it != table.rend(); ++it) free_.push_back(*it);
  table.clear();
}

}  // namespace tandem
