// Chunk files: how one chunk's raw bytes are stored.
//
//   offset size
//   0      4   magic "TCK1"
//   4      1   flags: 1 zstd, 2 byte-shuffled by element size, 4 XOR delta
//   5      1   element size (shuffle unit; 1 = none)
//   6      2   zero
//   8      8   raw length (little-endian)
//   16     8   payload length
//   24     32  base chunk hash (XOR delta) or zeros
//   56     ... payload
//
// Decoding: payload -> zstd decompress (flag 1) -> unshuffle (flag 2) ->
// XOR with the base chunk's raw bytes (flag 4) -> raw. The chunk's name is the
// store's chunk hash (BLAKE3; SHA-256 in format-2 stores) of the raw bytes, so
// decode + hash verifies everything, header included.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/hash.h"
#include "base/status.h"

namespace tandem::store {

inline constexpr size_t kChunkHeaderBytes = 56;
enum ChunkFlag : uint8_t { kChunkZstd = 1, kChunkShuffle = 2, kChunkXorDelta = 4 };

struct ChunkHeader {
  uint8_t flags = 0;
  uint8_t elem_size = 1;
  uint64_t raw_bytes = 0;
  uint64_t payload_bytes = 0;
  Hash256 base;  // zero unless kChunkXorDelta
};

struct EncodeOptions {
  int zstd_level = 1;  // 0: store without compression
  int elem_size = 1;   // > 1: byte-shuffle before compression
};

// Encodes `raw` (n bytes) as a chunk file image. With base_raw (n bytes) and
// base, stores raw XOR base_raw. Falls back to no compression when zstd does
// not shrink the data. Thread-safe (per-thread zstd contexts).
std::string encode_chunk(const uint8_t* raw, size_t n, const EncodeOptions& opts,
                         const uint8_t* base_raw = nullptr, const Hash256* base = nullptr);

// The same without building the image: the header, and the payload either
// in `raw` itself (no transform applied) or in a per-thread scratch buffer
// that stays valid until this thread's next encode.
struct EncodedChunk {
  std::array<uint8_t, kChunkHeaderBytes> header{};
  const uint8_t* payload = nullptr;
  size_t payload_bytes = 0;
};
EncodedChunk encode_chunk_into(const uint8_t* raw, size_t n, const EncodeOptions& opts,
                               const uint8_t* base_raw = nullptr, const Hash256* base = nullptr);

// Parses and sanity-checks the fixed header (needs >= kChunkHeaderBytes).
Result<ChunkHeader> parse_chunk_header(std::string_view file);

// Decodes a whole chunk file into out (header.raw_bytes). base_raw must be the
// base chunk's raw bytes when the header has kChunkXorDelta. Does not verify
// the hash; callers do.
Status decode_chunk(std::string_view file, const ChunkHeader& h, const uint8_t* base_raw, uint8_t* out);

// Byte shuffle by element size (AVX2 for 4-byte elements when the CPU has
// it; same layout as the scalar reference). Exposed for tests.
void shuffle_bytes(const uint8_t* in, size_t n, size_t elem_size, uint8_t* out);
void unshuffle_bytes(const uint8_t* in, size_t n, size_t elem_size, uint8_t* out);
void shuffle_bytes_scalar(const uint8_t* in, size_t n, size_t elem_size, uint8_t* out);

}  // namespace tandem::store
