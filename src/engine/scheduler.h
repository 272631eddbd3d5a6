// Continuous-batching scheduler: decides, step by step, which sequences run
// which tokens, over ids and counts only (no tensors, no model, no clock), so
// the engine and the cluster simulator drive the same code.
//
// One step, driven by the caller:
//   StepPlan plan = sched.schedule();  // query: never mutates
//   sched.apply(plan);                 // preempts, swaps, allocates KV blocks;
//                                      // fills plan.swap_out / plan.swap_in
//   ... copy plan.swap_out (device -> host), then plan.swap_in (host ->
//   device), then run the model over plan.chunks using tokens(id) and
//   block_table(id), and sample one token for each chunk with sample == true ...
//   sched.commit(plan, outputs);       // appends tokens, seals full blocks,
//                                      // finishes sequences, frees their KV
//
// Policy (docs/serving.md has the reasoning):
// - Rank. Every live sequence has a rank: (class, submit order), class 0 for
//   interactive and for batch sequences older than batch_aging_steps steps,
//   class 1 for the other batch ones. Work is considered in rank order;
//   a sequence may only preempt sequences ranked below it, so the top-ranked
//   sequence always progresses and, with aging, every sequence becomes top.
// - Token budget. At most max_step_tokens tokens and max_step_seqs sequences
//   per step. Running decodes (1 token each) are budgeted before any prompt
//   chunk; a prompt advances at most max_chunk_tokens per step (chunked
//   prefill). While class-1 (batch) work exists, batch_reserved_tokens of the
//   budget are kept from class-0 work, so batch always progresses.
// - Admission by KV capacity. A waiting sequence is admitted when the blocks
//   for its whole prompt, less its cached prefix, are available (after
//   preempting lower-ranked running sequences if need be); waiting sequences
//   are admitted in rank order, and one that does not fit blocks the ones
//   after it (no overtaking by small requests, hence no starvation).
// - Prefix sharing. A newly admitted sequence takes every cached block of its
//   prefix (never the block holding its last token, whose logits it needs).
//   A waiting sequence whose next uncached block is being computed by a
//   running sequence waits for it rather than computing it a second time.
// - Preemption when KV runs out: the lowest-ranked running sequence is
//   swapped to host blocks (PreemptionMode::kSwap, while host blocks last) or
//   dropped and later recomputed (kRecompute; its prompt and generated tokens
//   are kept, and its sealed blocks usually come back from the prefix cache).
//
// Thread safety: none; one thread drives a Scheduler.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "base/status.h"
#include "kv/block_allocator.h"

namespace tandem {

using SeqId = uint64_t;

enum class Priority : uint8_t { kInteractive = 0, kBatch = 1 };
enum class PreemptionMode : uint8_t { kRecompute, kSwap };
enum class SeqState : uint8_t { kWaiting, kRunning, kSwapped };
// Why a sequence ended: max_new_tokens reached, the caller said stop (EOS,
// stop string), the context (max_seq_len) is full, or cancel().
enum class SeqEnd : uint8_t { kLength, kStop, kContext, kCancelled };
const char* seq_end_name(SeqEnd e);

struct SchedulerConfig {
  int32_t n_blocks = 0;        // device KV blocks
  int32_t block_size = 16;     // tokens per block
  int32_t n_host_blocks = 0;   // host swap space in blocks (kSwap only)
  PreemptionMode preemption = PreemptionMode::kRecompute;
  int32_t max_step_tokens = 512;   // token budget of one step (prefill + decode)
  int32_t max_step_seqs = 64;      // sequences in one step
  int32_t max_chunk_tokens = 256;  // prompt tokens of one sequence per step
  int32_t max_seq_len = 0;         // tokens of a sequence, prompt included; 0 = n_blocks * block_size
  int32_t batch_reserved_tokens = 16;  // per step, kept for batch work while there is any
  int32_t batch_aging_steps = 256;     // steps after submit when a batch sequence ranks as interactive
  bool prefix_caching = true;

  // Range checks; max_seq_len may not exceed what the device blocks hold.
  Status validate() const;
};

struct SeqRequest {
  std::vector<int32_t> prompt;  // token ids, non-empty
  int32_t max_new_tokens = 16;  // >= 1
  Priority priority = Priority::kInteractive;
};

// One sequence's work in a step: compute KV for positions [start, start + len)
// of tokens(id). When sample, the chunk ends at the sequence's last token and
// the caller samples the next token from the last position's logits.
struct ChunkPlan {
  SeqId id = 0;
  int32_t start = 0;
  int32_t len = 0;
  bool sample = false;
  bool admit = false;    // a waiting sequence starts (or restarts) here
  bool swap_in = false;  // a swapped sequence comes back here
  std::vector<BlockId> prefix_blocks;  // admit: cached blocks covering [0, start)
};

struct Preemption {
  SeqId id = 0;
  PreemptionMode mode = PreemptionMode::kRecompute;
};

struct BlockCopy {
  BlockId src = 0;
  BlockId dst = 0;
};

struct StepPlan {
  std::vector<Preemption> preempted;  // running sequences stopped this step
  std::vector<ChunkPlan> chunks;      // the work, in rank order
  int32_t n_tokens = 0;               // sum of chunks' len
  // Filled by apply(): KV block copies the caller performs before the model
  // runs, swap_out first (its device blocks may be reused by swap_in).
  std::vector<BlockCopy> swap_out;  // device block -> host block
  std::vector<BlockCopy> swap_in;   // host block -> device block
  uint64_t version = 0;             // scheduler state the plan was made for
  bool empty() const { return chunks.empty() && preempted.empty(); }
};

// The caller's result for one chunk of the plan (same index). token: the
// sampled token (chunks with sample only). stop: end the sequence now (EOS,
// stop string); the token is still appended.
struct ChunkOutput {
  int32_t token = -1;
  bool stop = false;
};

struct FinishedSeq {
  SeqId id = 0;
  SeqEnd reason = SeqEnd::kLength;
};

struct SchedulerStats {
  int32_t waiting = 0;
  int32_t running = 0;
  int32_t swapped = 0;
  int64_t steps = 0;  // applied plans
  int64_t preempted_recompute = 0;
  int64_t preempted_swap = 0;
  int64_t finished = 0;
  int64_t cancelled = 0;
  KvBlockStats device;
  KvBlockStats host;
};

class Scheduler {
 public:
  // CHECK-fails on an invalid config: validate() it first.
  explicit Scheduler(const SchedulerConfig& config);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  const SchedulerConfig& config() const { return config_; }

  // Queues a request. InvalidArgument for an empty prompt, negative token ids
  // or max_new_tokens < 1; OutOfRange when the prompt does not leave room for
  // one new token within max_seq_len. Ids are increasing, never reused.
  Result<SeqId> submit(SeqRequest request);

  // Ends a sequence now, in any state, and frees its blocks. Allowed between
  // apply() and commit(): commit() then ignores its chunk. Invalidates a plan
  // not yet applied. NotFound for an unknown or already finished id.
  Status cancel(SeqId id);

  // The next step's plan for the current state. Does not mutate (beyond
  // reusing private scratch memory).
  StepPlan schedule() const;
  // The same plan written into `plan`, reusing its storage (a caller that
  // schedules millions of steps, like the simulator, then allocates next to
  // nothing per step).
  void schedule(StepPlan& plan) const;
  // Carries out `plan` (made by schedule() on the current state; CHECKed).
  void apply(StepPlan& plan);
  // After the model ran the applied plan: outputs[i] belongs to
  // plan.chunks[i]. Returns the sequences that ended, whose ids are then gone.
  std::vector<FinishedSeq> commit(const StepPlan& plan, std::span<const ChunkOutput> outputs);

  // Per-sequence state, for the model runner and tests. CHECK-fail on an
  // unknown id.
  bool contains(SeqId id) const { return seqs_.count(id) != 0; }
  SeqState state(SeqId id) const;
  Priority priority(SeqId id) const;
  std::span<const int32_t> tokens(SeqId id) const;  // prompt + generated
  int32_t prompt_len(SeqId id) const;
  int32_t num_computed(SeqId id) const;             // positions with KV
  std::span<const BlockId> block_table(SeqId id) const;  // device (running) or host (swapped)

  bool has_work() const { return !seqs_.empty(); }
  size_t size() const { return seqs_.size(); }
  int64_t step() const { return step_; }
  SchedulerStats stats() const;
  const BlockAllocator& device_blocks() const { return device_; }
  const BlockAllocator& host_blocks() const { return host_; }

  // Full consistency check (tests): allocators' invariants, every block's
  // ref count equals the tables holding it, every sealed block in a table
  // holds that sequence's tokens, tables cover exactly the computed positions.
  Status check_invariants() const;

 private:
  struct Seq {
    SeqId id = 0;
    Priority priority = Priority::kInteractive;
    int64_t submit_step = 0;
    std::vector<int32_t> tokens;
    std::vector<BlockHash> hashes;  // chained hashes of tokens' full blocks (prefix_caching only)
    int32_t prompt_len = 0;
    int32_t max_new_tokens = 0;
    SeqState state = SeqState::kWaiting;
    int32_t num_computed = 0;
    std::vector<BlockId> table;  // device blocks (running) or host blocks (swapped)
    size_t n_sealed = 0;         // leading table blocks sealed or already checked
  };
  class Planner;

  const Seq& seq(SeqId id) const;
  int rank_class(const Seq& s) const;
  int32_t blocks_for(int32_t n_tokens) const {
    return (n_tokens + config_.block_size - 1) / config_.block_size;
  }
  void seal_computed(Seq& s);
  void release_seq(Seq& s);

  SchedulerConfig config_;
  BlockAllocator device_;
  BlockAllocator host_;
  std::map<SeqId, Seq> seqs_;  // ordered by id = submit order
  SeqId next_id_ = 1;
  int64_t step_ = 0;
  uint64_t version_ = 0;
  bool in_flight_ = false;  // applied, not yet committed
  SchedulerStats counters_;
  // Planner scratch, reused across schedule() calls (no allocation per step).
  mutable std::vector<const Seq*> order_scratch_;
  mutable std::vector<char> done_scratch_;
};

}  // namespace tandem
