#include "kv/block_hash.h"

#include "base/check.h"

namespace tandem {
namespace {

inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

BlockHash hash_block(BlockHash parent, std::span<const int32_t> tokens) {
  uint64_t h = mix64(parent ^ (0x9e3779b97f4a7c15ULL * (tokens.size() + 1)));
  for (int32_t t : tokens) h = mix64(h + 0x9e3779b97f4a7c15ULL + static_cast<uint32_t>(t));
  return h;
}

void extend_block_hashes(std::span<const int32_t> tokens, int32_t block_size,
                         std::vector<BlockHash>& hashes) {
  TANDEM_CHECK(block_size > 0, "block_size must be positive");
  const size_t n_full = tokens.size() / static_cast<size_t>(block_size);
  for (size_t b = hashes.size(); b < n_full; ++b) {
    const BlockHash parent = b == 0 ? kRootBlockHash : hashes[b - 1];
    hashes.push_back(
        hash_block(parent, tokens.subspan(b * static_cast<size_t>(block_size),
                                          static_cast<size_t>(block_size))));
  }
}

}  // namespace tandem
