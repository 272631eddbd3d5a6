// Checkpointer: asynchronous saving over a Store. save() copies the state
// into a staging buffer and returns; one background thread persists staged
// saves in order (Store::save: hash, compress, dedup, write, commit).
//
// Memory is bounded: `slots` staging buffers, each grown to the largest state
// seen (and at most max_slot_bytes). When every buffer is taken because
// persistence is behind, `policy` decides:
//   kBlock     save() waits until the oldest staged save is persisted;
//   kCoalesce  save() overwrites the newest staged save that has not started
//              persisting (that step is skipped, never half-written); it
//              waits only when no staged save is waiting.
// Every committed step is complete whatever the policy.
//
// Errors of background saves are reported by the next save() or flush() (the
// first error since the last report); later saves go on.
//
// Thread safety: save() and flush() from one thread at a time; durable_step()
// and stats() from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "store/store.h"

namespace tandem::store {

enum class BackpressurePolicy { kBlock, kCoalesce };

struct CheckpointerOptions {
  int slots = 2;                  // staging buffers (>= 1)
  uint64_t max_slot_bytes = 0;    // 0: unlimited; a larger state is RESOURCE_EXHAUSTED
  BackpressurePolicy policy = BackpressurePolicy::kBlock;
  // After every gc_every committed saves, the background thread applies
  // `retention` and collects garbage (0: never).
  int gc_every = 0;
  RetentionPolicy retention;
  // The background thread runs this much nicer than the thread that made the
  // Checkpointer (capped at nice 19), so persistence yields the CPU to the
  // training loop; give the store's workers StoreOptions::worker_nice too.
  int background_nice = 10;
};

struct CheckpointerStats {
  int64_t saves = 0;        // save() calls accepted
  int64_t persisted = 0;    // committed
  int64_t coalesced = 0;    // skipped by kCoalesce
  int64_t failed = 0;
  int64_t gc_runs = 0;
  uint64_t gc_bytes_freed = 0;
  uint64_t logical_bytes = 0;     // of persisted saves
  uint64_t chunk_file_bytes = 0;  // written by persisted saves
  uint64_t manifest_bytes = 0;
  double persist_seconds = 0;
  double blocked_seconds = 0;     // save() time spent waiting for a buffer
  SaveStats last;
};

class Checkpointer {
 public:
  // Takes the store; the background thread starts at once.
  Checkpointer(std::unique_ptr<Store> store, const CheckpointerOptions& opts);
  ~Checkpointer();  // flushes, then stops
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Copies the items' bytes into a staging buffer and queues the save. The
  // caller may change its memory as soon as this returns.
  Status save(const SaveRequest& req);
  // Waits until every queued save is persisted or failed.
  Status flush();
  // Highest step committed by this Checkpointer, -1 if none.
  int64_t durable_step() const;
  CheckpointerStats stats() const;
  Store& store() { return *store_; }

 private:
  enum class SlotState { kFree, kFilling, kQueued, kPersisting };
  struct Slot {
    SlotState state = SlotState::kFree;
    std::unique_ptr<uint8_t[]> buf;
    uint64_t capacity = 0;
    uint64_t seq = 0;
    SaveRequest req;  // items point into buf
  };

  void run();
  Status take_error_locked();

  std::unique_ptr<Store> store_;
  CheckpointerOptions opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Slot> slots_;
  uint64_t next_seq_ = 0;
  bool stop_ = false;
  bool gc_running_ = false;
  int64_t durable_step_ = -1;
  Status error_;
  CheckpointerStats stats_;
  std::thread worker_;
};

}  // namespace tandem::store
