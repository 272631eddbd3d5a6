// KV storage in fixed-size blocks. A block holds `block_size` consecutive
// positions of one sequence, for every layer, K and V, in f32:
//   block: [n_layers][2 (K, V)][block_size][kv_dim]
// Which blocks belong to which sequence is the caller's business (a block
// table per sequence); the forward pass only reads and writes through it.
// Thread safety: none; the forward pass writes disjoint positions.
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"

namespace tandem {

class KvCache {
 public:
  KvCache(const ModelConfig& config, int32_t n_blocks, int32_t block_size);
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  int32_t n_blocks() const { return n_blocks_; }
  int32_t block_size() const { return block_size_; }
  int32_t kv_dim() const { return kv_dim_; }
  size_t bytes() const { return data_.size() * sizeof(float); }

  // Start of layer `layer`'s K (kind 0) or V (kind 1) rows in block `block`:
  // [block_size][kv_dim].
  float* rows(int32_t block, int32_t layer, int kind) {
    return data_.data() + ((static_cast<size_t>(block) * n_layers_ + layer) * 2 + kind) *
                              static_cast<size_t>(block_size_) * kv_dim_;
  }

 private:
  int32_t n_layers_;
  int32_t kv_dim_;
  int32_t n_blocks_;
  int32_t block_size_;
  std::vector<float> data_;
};

// Blocks not in use, handed out in a fixed order. The serving scheduler will
// replace this with the kv module's ref-counted allocator.
class SimpleBlockPool {
 public:
  explicit SimpleBlockPool(int32_t n_blocks);
  // Appends blocks to `table` until it covers `n_positions`; false if the pool
  // ran out (table unchanged beyond what fit).
  bool grow(std::vector<int32_t>& table, int32_t n_positions, int32_t block_size);
  void release(std::vector<int32_t>& table);
  int32_t free_blocks() const { return static_cast<int32_t>(free_.size()); }

 private:
  std::vector<int32_t> free_;
};

}  // namespace tandem
