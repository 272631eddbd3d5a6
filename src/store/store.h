// Store: a content-addressed checkpoint store in one directory.
//
//   STORE/
//     STORE                 format marker: "tandem-store 3 blake3" (chunks named
//                           by BLAKE3) or "tandem-store 2" (by SHA-256)
//     LOCK                  flock: savers share it briefly, gc takes it exclusively
//     LATEST                "<step>\n": the highest committed step (never moves back)
//     packs/<id>-<n>.pack   the new chunks of one save, with an index (pack.h);
//                           immutable once named
//     manifests/<step>.mf   one per committed step (manifest.h)
//     inflight/<id>.lock    held (flock) by a live Store instance
//     inflight/<id>.refs    chunks that instance's current save may reference
//     tmp/<id>.*            files being written by instance <id>
//
// A save is committed when its manifest is named; it is made durable in this
// order: new chunks appended to one tmp pack file, its index appended, fsync,
// renamed into packs/, packs/ fsynced -> manifest written as tmp, fsynced,
// renamed, manifests/ fsynced -> LATEST likewise (if higher).
// Garbage collection never deletes a chunk that a committed manifest or a
// live instance's in-flight save needs (docs/store.md has the argument); it
// deletes packs with no live chunk and rewrites mostly dead ones.
//
// Thread safety: save() from one thread at a time per Store; the read
// methods, gc() and verify() may run concurrently with it and with other
// Store instances (threads or processes) on the same directory.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/env.h"
#include "base/hash.h"
#include "base/status.h"
#include "base/thread_pool.h"
#include "store/manifest.h"
#include "store/pack.h"

namespace tandem::store {

struct StoreOptions {
  uint64_t chunk_bytes = 1 << 20;  // fixed-size chunks, aligned to each entry's start
  int zstd_level = 1;              // 0: no compression
  bool shuffle = true;             // byte-shuffle tensor chunks by element size before zstd
  bool delta = false;              // XOR-delta tensors against their last keyframe version
  int keyframe_interval = 8;       // with delta: every this many saves of a tensor are full
  int threads = 2;                 // hash/compress/write/read workers (counts the caller)
  int worker_nice = 0;             // > 0: the workers besides the caller run that much nicer
  // A save hashes, registers and writes its chunks in batches of this many
  // bytes, so writing starts before the whole state is hashed.
  uint64_t batch_bytes = uint64_t{64} << 20;
  // Pack files are written with O_DIRECT where the file system allows
  // (Env::new_direct_writable_file): no copy into the page cache, which
  // with SHA-256 bounded the new-data rate on two cores. false: buffered
  // writes with early writeback (sync_file_range) as before.
  bool direct_io = true;
  // The chunk hash of a store this open creates: kBlake3 makes a format-3
  // store, kSha256 a format-2 one (what builds before format 3 read). An
  // existing store keeps the hash its STORE marker names, whatever this says.
  HashKind new_store_hash = HashKind::kBlake3;
};

struct SaveItem {
  std::string name;  // unique within a save; '/' allowed
  EntryKind kind = EntryKind::kBlob;
  std::string dtype;
  std::vector<int64_t> shape;
  int elem_size = 1;  // tensors: bytes per element (shuffle and delta unit)
  const uint8_t* data = nullptr;
  uint64_t bytes = 0;
};

struct SaveRequest {
  int64_t step = 0;
  std::vector<SaveItem> items;  // data is read during save() only
  std::vector<std::string> tags;
  std::map<std::string, std::string> metadata;
};

struct SaveStats {
  int64_t step = 0;
  uint64_t logical_bytes = 0;
  uint64_t chunks = 0;
  uint64_t new_chunks = 0;         // chunks this save wrote (into its pack)
  uint64_t delta_chunks = 0;       // of which XOR-delta encoded
  uint64_t chunk_file_bytes = 0;   // bytes of the pack file it created (records + index)
  uint64_t manifest_bytes = 0;
  double seconds = 0;
};

struct StepInfo {
  int64_t step = 0;
  int64_t time_us = 0;
  uint64_t logical_bytes = 0;
  uint64_t written_bytes = 0;
  size_t entries = 0;
  std::vector<std::string> tags;
};

struct RetentionPolicy {
  int keep_last = 0;        // keep the newest N steps (0: keep all)
  int keep_every = 0;       // also keep steps divisible by k (0: none)
  bool keep_tagged = true;  // also keep steps with tags
};

struct VerifyReport {
  int manifests = 0;
  int chunks = 0;
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};

struct GcReport {
  int chunks_removed = 0;   // dead chunk records dropped
  int packs_removed = 0;    // packs with no live chunk, deleted
  int packs_compacted = 0;  // mostly dead packs rewritten with their live chunks only
  int packs_unreadable = 0; // packs whose index is damaged: kept (verify names them)
  uint64_t bytes_freed = 0;
  int tmp_removed = 0;
  int stale_writers = 0;
};

struct DuReport {
  int steps = 0;
  uint64_t logical_bytes = 0;     // sum over steps of entry bytes
  uint64_t unique_bytes = 0;      // raw bytes of distinct chunks referenced
  uint64_t chunk_file_bytes = 0;  // on disk, all pack files
  uint64_t manifest_bytes = 0;
  uint64_t chunk_files = 0;       // chunk records in all packs
  uint64_t pack_files = 0;
  double dedup_ratio() const { return unique_bytes ? double(logical_bytes) / double(unique_bytes) : 0.0; }
  double compression_ratio() const {
    return chunk_file_bytes ? double(unique_bytes) / double(chunk_file_bytes) : 0.0;
  }
};

// Lowers the calling thread's priority by nice_increment (capped at nice 19;
// unprivileged, a thread can only lower its own). No-op for <= 0.
void lower_this_thread_priority(int nice_increment);

class Store {
 public:
  // Opens (and with create, makes) a store directory. `env` must outlive it.
  static Result<std::unique_ptr<Store>> open(const std::string& dir, const StoreOptions& opts = {},
                                             Env* env = Env::posix(), bool create = true);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& dir() const { return dir_; }
  const StoreOptions& options() const { return opts_; }
  // What names this store's chunks (from its STORE marker).
  HashKind chunk_hash() const { return chunk_hash_; }

  // Writes one step and commits it; durable when OK. On error nothing
  // committed changes; partial files are cleaned by a later gc().
  Result<SaveStats> save(const SaveRequest& req);

  // Committed steps, ascending.
  Result<std::vector<int64_t>> steps();
  Result<std::vector<StepInfo>> list();
  // The step LATEST names; NOT_FOUND for an empty store.
  Result<int64_t> latest_step();
  Result<Manifest> read_manifest(int64_t step);
  // Reads one entry into out (e.bytes), verifying every chunk's hash.
  Status read_entry(const Entry& e, uint8_t* out);
  Result<std::string> read_entry(const Manifest& m, const std::string& name);

  // Checks every manifest and every chunk they reference.
  VerifyReport verify();
  // Deletes manifests the policy does not keep (never the latest); returns
  // the steps removed.
  Result<std::vector<int64_t>> apply_retention(const RetentionPolicy& policy);
  Result<GcReport> gc();
  Result<DuReport> du();

 private:
  Store(std::string dir, const StoreOptions& opts, Env* env, HashKind chunk_hash);
  struct History;  // per-tensor keyframe, for delta
  struct Task;
  struct PackWriter;
  struct PackInfo {
    std::string name;  // file name in packs/
    uint64_t file_bytes = 0;
    std::vector<PackEntry> entries;
  };
  struct ChunkLoc {
    std::shared_ptr<const PackInfo> pack;
    size_t entry = 0;
  };

  std::string pack_path(const std::string& name) const;
  std::string manifest_path(int64_t step) const;
  Status ensure_writer();
  // inflight/<id>.refs of the save in progress: created at its first batch,
  // then appended to (refs only grow during a save).
  struct RefsWriter {
    std::unique_ptr<WritableFile> file;
    size_t written = 0;
  };
  Status append_refs(const std::vector<Hash256>& refs, RefsWriter& w);
  // Re-lists packs/: loads the index of new packs, forgets deleted ones.
  Status refresh_index();
  // Every stored copy of a chunk (usually one; concurrent writers may both
  // store a new chunk).
  std::vector<ChunkLoc> locate(const Hash256& h);
  void add_pack(std::shared_ptr<const PackInfo> p);
  // Dependency chain of an existing chunk (delta bases, nearest first), from
  // the pack indexes.
  Result<std::vector<Hash256>> chunk_deps(const Hash256& h);
  // Reads, decodes and verifies one chunk (recursing into delta bases),
  // trying each stored copy; re-lists packs once if one was removed by gc.
  Status read_chunk(const Hash256& h, uint64_t bytes, uint8_t* out, int depth);
  Status read_record(const ChunkLoc& loc, const Hash256& h, uint64_t bytes, uint8_t* out, int depth);
  // Encodes chunk t and appends it to the save's pack.
  Status write_chunk(Task& t, const SaveItem& item, PackWriter& pw);
  Status write_small_file(const std::string& tmp_name, const std::string& final_path, const std::string& data,
                          bool no_replace, bool* existed);
  // Writes the records of `live` (entries of `p`) into a new pack, names it,
  // then removes p.
  Status compact_pack(const PackInfo& p, const std::vector<size_t>& live, GcReport& report);
  std::string next_pack_name();
  // A new pack file under tmp/ (direct or buffered, per opts_.direct_io).
  Result<std::unique_ptr<WritableFile>> new_pack_file(const std::string& path);
  Status move_latest(int64_t step);
  void cleanup_tmp();

  std::string dir_;
  StoreOptions opts_;
  Env* env_;
  HashKind chunk_hash_;
  std::unique_ptr<ThreadPool> pool_;
  std::string writer_id_;
  std::unique_ptr<FileLock> writer_lock_;
  std::mutex writer_mu_;  // ensure_writer (save and gc may both need an id)
  std::atomic<uint64_t> pack_seq_{0};
  std::unordered_map<std::string, std::unique_ptr<History>> history_;
  std::vector<std::string> my_tmp_;  // tmp files of the save in progress
  std::mutex tmp_mu_;
  // What packs/ held at the last refresh_index().
  std::mutex index_mu_;
  std::map<std::string, std::shared_ptr<const PackInfo>> packs_;
  std::map<std::string, std::string> bad_packs_;  // name -> why its index cannot be read
  std::unordered_map<Hash256, std::vector<ChunkLoc>, Hash256Hasher> index_;
};

}  // namespace tandem::store
