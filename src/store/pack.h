// Pack files: the chunks one save wrote, back to back, with an index.
//
//   offset  what
//   0       records: chunk images (chunk_codec.h: 56-byte header + payload)
//   X       index: n entries of 88 bytes, in record order
//             hash (32) | record offset u64 | record bytes u64 | raw bytes u64 | base hash (32, zero unless delta)
//   X+88n   footer, 56 bytes: "TPK1" | 0 0 0 0 | X u64 | n u64 | SHA-256 of the index (32)
//
// All integers little-endian. A pack is written under a temporary name,
// fsynced and then named; named packs are immutable (gc deletes whole packs,
// or writes the live records of a mostly dead one into a new pack first).
// The index is checksummed, so a reader trusts offsets, lengths and bases;
// each record is verified by decoding and re-hashing it (Store::read_chunk).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/hash.h"
#include "base/status.h"

namespace tandem::store {

inline constexpr size_t kPackIndexEntryBytes = 88;
inline constexpr size_t kPackFooterBytes = 56;

struct PackEntry {
  Hash256 hash;         // chunk hash (Store::chunk_hash()) of the raw bytes
  uint64_t offset = 0;  // of the record in the pack
  uint64_t bytes = 0;   // record length (header + payload)
  uint64_t raw_bytes = 0;
  Hash256 base;         // delta base; zero for a full chunk
};

// The index and footer that follow `entries`' records; index_offset is the
// total length of the records.
std::string serialize_pack_index(const std::vector<PackEntry>& entries, uint64_t index_offset);

// The footer's index location: reads the last kPackFooterBytes of a pack of
// `file_bytes`. Fills index_offset and count; DATA_LOSS when malformed.
Status parse_pack_footer(std::string_view footer, uint64_t file_bytes, uint64_t* index_offset, uint64_t* count,
                         Hash256* index_hash);
// Parses the index bytes (count entries) and checks them against the footer's
// hash and the record area [0, index_offset).
Result<std::vector<PackEntry>> parse_pack_index(std::string_view index, uint64_t count, uint64_t index_offset,
                                                const Hash256& index_hash);

}  // namespace tandem::store
