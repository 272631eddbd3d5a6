// Manifest: what one committed step holds. Named entries (tensors and blobs),
// each a list of chunks by hash, plus step, tags and user metadata.
//
// File format (docs/store.md): one text line
//   "tandem-manifest 1 sha256=<64 hex of the body>\n"
// followed by the body, a JSON object. Any flipped bit in the file makes
// parse_manifest fail with DATA_LOSS.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/hash.h"
#include "base/status.h"

namespace tandem::store {

enum class EntryKind { kTensor, kBlob };

struct ChunkRef {
  Hash256 hash;                // chunk hash (Store::chunk_hash()) of the raw bytes
  uint64_t bytes = 0;          // raw length
  std::vector<Hash256> deps;   // chunks needed to decode it (delta bases), nearest first
};

struct Entry {
  std::string name;
  EntryKind kind = EntryKind::kBlob;
  std::string dtype;            // tensors: "f32", "bf16", "i64", ...; blobs: empty
  std::vector<int64_t> shape;   // tensors only
  uint64_t bytes = 0;           // sum of chunk lengths
  std::vector<ChunkRef> chunks;
};

struct Manifest {
  int64_t step = 0;
  int64_t time_us = 0;            // wall clock at commit
  std::string writer;             // id of the Store instance that wrote it
  uint64_t written_bytes = 0;     // chunk-file bytes this save added to the store
  std::vector<std::string> tags;
  std::map<std::string, std::string> metadata;
  std::vector<Entry> entries;

  const Entry* find(const std::string& name) const;
  uint64_t logical_bytes() const;
};

std::string serialize_manifest(const Manifest& m);
Result<Manifest> parse_manifest(std::string_view file);

}  // namespace tandem::store
