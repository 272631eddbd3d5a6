// Content hashes of full KV blocks, chained: a block's hash covers its own
// token ids and its parent's hash, so equal hashes mean equal prefixes (up to
// 64-bit collisions, which BlockAllocator::match_prefix guards against by
// comparing the block's tokens and parent hash as well).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace tandem {

using BlockHash = uint64_t;

// Parent hash of a sequence's first block.
inline constexpr BlockHash kRootBlockHash = 0x6a09e667f3bcc908ULL;

// Hash of one full block: (parent hash, the block's token ids).
BlockHash hash_block(BlockHash parent, std::span<const int32_t> tokens);

// Appends to `hashes` the chained hashes of every full block of `tokens` not
// yet in it (hashes.size() blocks are taken as already hashed).
void extend_block_hashes(std::span<const int32_t> tokens, int32_t block_size,
                         std::vector<BlockHash>& hashes);

}  // namespace tandem
