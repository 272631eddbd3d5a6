#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <random>
#include <set>

namespace tandem {
namespace {

// Drives a Scheduler as the engine does and stands in for the model: the
// "KV" of a position is the token id written there. Every step checks the
// plan against the budget rules and checks that each chunk reads exactly its
// own tokens' KV at positions before it (through prefix sharing, swaps and
// recomputes) and writes only into blocks nobody else holds.
class Harness {
 public:
  explicit Harness(const SchedulerConfig& cfg)
      : sched(cfg),
        cfg_(sched.config()),
        dev_kv_(static_cast<size_t>(cfg.n_blocks * cfg.block_size), -1),
        host_kv_(static_cast<size_t>(cfg.n_host_blocks * cfg.block_size), -1) {}

  SeqId submit(std::vector<int32_t> prompt, int32_t max_new, Priority pri) {
    Result<SeqId> id = sched.submit({std::move(prompt), max_new, pri});
    EXPECT_TRUE(id.ok()) << id.status().to_string();
    live[*id] = pri;
    return *id;
  }

  void cancel(SeqId id) {
    ASSERT_TRUE(sched.cancel(id).ok());
    live.erase(id);
    ended[id] = SeqEnd::kCancelled;
  }

  // One step; `out` gives the sampled token (and stop) for a sequence.
  void step(const std::function<ChunkOutput(SeqId)>& out) {
    StepPlan plan = sched.schedule();
    check_plan(plan);
    if (::testing::Test::HasFatalFailure()) return;
    sched.apply(plan);
    const int32_t bs = cfg_.block_size;
    for (const BlockCopy& c : plan.swap_out)
      for (int32_t j = 0; j < bs; ++j) host_kv_[at(c.dst, j)] = dev_kv_[at(c.src, j)];
    for (const BlockCopy& c : plan.swap_in)
      for (int32_t j = 0; j < bs; ++j) dev_kv_[at(c.dst, j)] = host_kv_[at(c.src, j)];
    std::vector<ChunkOutput> outputs(plan.chunks.size());
    for (size_t i = 0; i < plan.chunks.size(); ++i) {
      const ChunkPlan& c = plan.chunks[i];
      const auto toks = sched.tokens(c.id);
      const auto table = sched.block_table(c.id);
      ASSERT_EQ(sched.state(c.id), SeqState::kRunning);
      ASSERT_GE(static_cast<int64_t>(table.size()) * bs, c.start + c.len);
      for (int32_t p = 0; p < c.start; ++p)  // what attention reads
        ASSERT_EQ(dev_kv_[at(table[static_cast<size_t>(p / bs)], p % bs)], toks[static_cast<size_t>(p)])
            << "seq " << c.id << " reads wrong KV at position " << p;
      for (int32_t p = c.start; p < c.start + c.len; ++p) {
        const BlockId b = table[static_cast<size_t>(p / bs)];
        ASSERT_EQ(sched.device_blocks().ref_count(b), 1) << "writing a shared block";
        ASSERT_FALSE(sched.device_blocks().is_sealed(b)) << "writing a sealed block";
        dev_kv_[at(b, p % bs)] = toks[static_cast<size_t>(p)];
      }
      if (c.sample) outputs[i] = out(c.id);
      last_progress[c.id] = steps;
      if (live.count(c.id) && live[c.id] == Priority::kBatch) batch_tokens += c.len;
    }
    for (const FinishedSeq& f : sched.commit(plan, outputs)) {
      ASSERT_TRUE(live.count(f.id)) << "finished twice or unknown: " << f.id;
      live.erase(f.id);
      ended[f.id] = f.reason;
    }
    ++steps;
    const Status st = sched.check_invariants();
    ASSERT_TRUE(st.ok()) << st.to_string();
  }

  Scheduler sched;
  std::map<SeqId, Priority> live;
  std::map<SeqId, SeqEnd> ended;
  std::map<SeqId, int64_t> last_progress;
  int64_t steps = 0;
  int64_t batch_tokens = 0;
  int32_t max_step_tokens_seen = 0;

 private:
  size_t at(BlockId b, int32_t j) const {
    return static_cast<size_t>(b) * static_cast<size_t>(cfg_.block_size) + static_cast<size_t>(j);
  }

  void check_plan(const StepPlan& plan) {
    // schedule() is a pure query: asking twice gives the same plan.
    const StepPlan again = sched.schedule();
    ASSERT_EQ(again.chunks.size(), plan.chunks.size());
    ASSERT_EQ(again.preempted.size(), plan.preempted.size());
    std::set<SeqId> seen, preempted;
    for (const Preemption& p : plan.preempted) {
      ASSERT_TRUE(preempted.insert(p.id).second);
      ASSERT_EQ(sched.state(p.id), SeqState::kRunning);
    }
    int32_t total = 0;
    for (size_t i = 0; i < plan.chunks.size(); ++i) {
      const ChunkPlan& c = plan.chunks[i];
      ASSERT_EQ(c.id, again.chunks[i].id);
      ASSERT_EQ(c.len, again.chunks[i].len);
      ASSERT_TRUE(seen.insert(c.id).second) << "sequence twice in a step";
      ASSERT_FALSE(preempted.count(c.id)) << "preempted and scheduled";
      ASSERT_GE(c.len, 1);
      const int32_t n = static_cast<int32_t>(sched.tokens(c.id).size());
      ASSERT_LE(c.start + c.len, n);
      ASSERT_EQ(c.sample, c.start + c.len == n);
      if (c.len > 1) {
        ASSERT_LE(c.len, cfg_.max_chunk_tokens);
      }
      const SeqState st = sched.state(c.id);
      ASSERT_EQ(c.admit, st == SeqState::kWaiting);
      ASSERT_EQ(c.swap_in, st == SeqState::kSwapped);
      if (c.admit) {
        ASSERT_EQ(c.start, static_cast<int32_t>(c.prefix_blocks.size()) * cfg_.block_size);
        ASSERT_LT(c.start, n) << "the last token must be computed";
        if (!cfg_.prefix_caching) {
          ASSERT_EQ(c.start, 0);
        }
      } else {
        ASSERT_EQ(c.start, sched.num_computed(c.id));
      }
      total += c.len;
    }
    ASSERT_EQ(total, plan.n_tokens);
    ASSERT_LE(total, cfg_.max_step_tokens) << "token budget exceeded";
    ASSERT_LE(static_cast<int32_t>(plan.chunks.size()), cfg_.max_step_seqs);
    max_step_tokens_seen = std::max(max_step_tokens_seen, total);
  }

  const SchedulerConfig& cfg_;
  std::vector<int32_t> dev_kv_;
  std::vector<int32_t> host_kv_;
};

SchedulerConfig small_config() {
  SchedulerConfig c;
  c.n_blocks = 16;
  c.block_size = 4;
  c.max_step_tokens = 32;
  c.max_step_seqs = 8;
  c.max_chunk_tokens = 16;
  c.batch_reserved_tokens = 4;
  c.batch_aging_steps = 50;
  return c;
}

std::vector<int32_t> seq_tokens(int32_t n, int32_t first) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) t[static_cast<size_t>(i)] = first + i;
  return t;
}

ChunkOutput token7(SeqId) { return {7, false}; }

void run_to_end(Harness& h, int64_t max_steps = 10000) {
  for (int64_t i = 0; i < max_steps && h.sched.has_work(); ++i) {
    h.step(token7);
    if (::testing::Test::HasFatalFailure()) return;
  }
  ASSERT_FALSE(h.sched.has_work()) << "work left after " << max_steps << " steps";
}

TEST(SchedulerTest, RejectsBadRequestsAndConfigs) {
  Scheduler s(small_config());
  EXPECT_EQ(s.submit({{}, 4, Priority::kInteractive}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.submit({{1, 2}, 0, Priority::kInteractive}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.submit({{1, -2}, 4, Priority::kInteractive}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.submit({seq_tokens(64, 0), 4, Priority::kInteractive}).status().code(), StatusCode::kOutOfRange);
  EXPECT_TRUE(s.submit({seq_tokens(63, 0), 4, Priority::kInteractive}).ok());
  EXPECT_EQ(s.cancel(999).code(), StatusCode::kNotFound);
  SchedulerConfig c = small_config();
  c.max_seq_len = 65;
  EXPECT_FALSE(c.validate().ok());
  c = small_config();
  c.batch_reserved_tokens = c.max_step_tokens;
  EXPECT_FALSE(c.validate().ok());
}

TEST(SchedulerTest, ChunkedPrefillThenDecodeToLength) {
  Harness h(small_config());
  const SeqId id = h.submit(seq_tokens(20, 100), 3, Priority::kInteractive);
  StepPlan p = h.sched.schedule();
  ASSERT_EQ(p.chunks.size(), 1u);
  EXPECT_EQ(p.chunks[0].start, 0);
  EXPECT_EQ(p.chunks[0].len, 16);  // max_chunk_tokens
  EXPECT_FALSE(p.chunks[0].sample);
  h.step(token7);
  p = h.sched.schedule();
  EXPECT_EQ(p.chunks[0].start, 16);
  EXPECT_EQ(p.chunks[0].len, 4);
  EXPECT_TRUE(p.chunks[0].sample);
  run_to_end(h);
  ASSERT_EQ(h.ended.at(id), SeqEnd::kLength);
  EXPECT_EQ(h.steps, 4);  // 2 prefill chunks, then 2 decodes for tokens 2 and 3
  EXPECT_EQ(h.sched.device_blocks().stats().used, 0);
}

TEST(SchedulerTest, StopAndContextEndSequences) {
  SchedulerConfig c = small_config();
  c.max_seq_len = 10;
  Harness h(c);
  const SeqId a = h.submit(seq_tokens(8, 0), 100, Priority::kInteractive);
  const SeqId b = h.submit(seq_tokens(4, 50), 100, Priority::kInteractive);
  for (int i = 0; i < 20 && h.sched.has_work(); ++i)
    h.step([&](SeqId id) { return ChunkOutput{1, id == b && h.steps >= 2}; });
  EXPECT_EQ(h.ended.at(a), SeqEnd::kContext);
  EXPECT_EQ(h.ended.at(b), SeqEnd::kStop);
}

TEST(SchedulerTest, ReusesCachedPrefixBlocks) {
  Harness h(small_config());
  std::vector<int32_t> prompt = seq_tokens(17, 100);  // 4 full blocks + 1 token
  h.submit(prompt, 1, Priority::kInteractive);
  run_to_end(h);
  EXPECT_EQ(h.sched.device_blocks().stats().cached, 4);
  prompt.back() = 999;  // same 16-token prefix, different last token
  h.submit(prompt, 2, Priority::kInteractive);
  const StepPlan p = h.sched.schedule();
  ASSERT_EQ(p.chunks.size(), 1u);
  EXPECT_TRUE(p.chunks[0].admit);
  EXPECT_EQ(p.chunks[0].start, 16);
  EXPECT_EQ(p.chunks[0].len, 1);
  EXPECT_EQ(p.chunks[0].prefix_blocks.size(), 4u);
  run_to_end(h);
  const KvBlockStats s = h.sched.device_blocks().stats();
  EXPECT_EQ(s.prefix_hit_tokens, 16);
  EXPECT_EQ(s.prefix_queried_tokens, 34);
}

TEST(SchedulerTest, FullyCachedPromptStillComputesItsLastToken) {
  Harness h(small_config());
  h.submit(seq_tokens(16, 100), 1, Priority::kInteractive);
  run_to_end(h);
  h.submit(seq_tokens(16, 100), 1, Priority::kInteractive);
  const StepPlan p = h.sched.schedule();
  ASSERT_EQ(p.chunks.size(), 1u);
  EXPECT_EQ(p.chunks[0].start, 12);  // 3 cached blocks; the 4th holds the last token
  EXPECT_EQ(p.chunks[0].len, 4);
  run_to_end(h);
}

TEST(SchedulerTest, ManyRequestsShareOneCopyOfACommonPrefix) {
  SchedulerConfig c;
  c.n_blocks = 200;
  c.block_size = 4;
  c.max_step_tokens = 256;
  c.max_step_seqs = 64;
  c.max_chunk_tokens = 64;
  Harness h(c);
  const std::vector<int32_t> system = seq_tokens(100, 1000);  // 25 blocks
  for (int i = 0; i < 32; ++i) {
    std::vector<int32_t> p = system;
    p.push_back(i);
    h.submit(p, 4, Priority::kInteractive);
  }
  int32_t peak_used = 0;
  while (h.sched.has_work()) {
    h.step(token7);
    ASSERT_FALSE(HasFatalFailure());
    peak_used = std::max(peak_used, h.sched.device_blocks().stats().used);
  }
  // One copy of the 25 prefix blocks, plus 1-2 private blocks per request.
  EXPECT_LE(peak_used, 25 + 2 * 32);
  const KvBlockStats s = h.sched.device_blocks().stats();
  EXPECT_EQ(s.prefix_hit_tokens, 31 * 100);
}

TEST(SchedulerTest, RecomputePreemptionWhenKvRunsOut) {
  SchedulerConfig c = small_config();
  c.n_blocks = 8;  // 32 positions
  c.prefix_caching = false;
  Harness h(c);
  const SeqId a = h.submit(seq_tokens(8, 0), 12, Priority::kInteractive);
  const SeqId b = h.submit(seq_tokens(8, 50), 12, Priority::kInteractive);
  run_to_end(h);
  EXPECT_GE(h.sched.stats().preempted_recompute, 1);
  EXPECT_EQ(h.ended.at(a), SeqEnd::kLength);
  EXPECT_EQ(h.ended.at(b), SeqEnd::kLength);
}

TEST(SchedulerTest, SwapPreemptionRoundTripsKv) {
  SchedulerConfig c = small_config();
  c.n_blocks = 8;
  c.n_host_blocks = 8;
  c.preemption = PreemptionMode::kSwap;
  Harness h(c);
  h.submit(seq_tokens(8, 0), 12, Priority::kInteractive);
  h.submit(seq_tokens(8, 50), 12, Priority::kInteractive);
  run_to_end(h);  // the harness checks every KV position read after swap-in
  EXPECT_GE(h.sched.stats().preempted_swap, 1);
  EXPECT_EQ(h.sched.stats().preempted_recompute, 0);
  EXPECT_EQ(h.sched.host_blocks().stats().used, 0);
}

TEST(SchedulerTest, InteractivePreemptsBatch) {
  SchedulerConfig c = small_config();
  c.n_blocks = 8;
  Harness h(c);
  const SeqId batch = h.submit(seq_tokens(24, 0), 6, Priority::kBatch);
  h.step(token7);
  h.step(token7);
  ASSERT_EQ(h.sched.state(batch), SeqState::kRunning);
  const SeqId inter = h.submit(seq_tokens(12, 500), 2, Priority::kInteractive);
  const StepPlan p = h.sched.schedule();
  ASSERT_EQ(p.preempted.size(), 1u);
  EXPECT_EQ(p.preempted[0].id, batch);
  ASSERT_FALSE(p.chunks.empty());
  EXPECT_EQ(p.chunks[0].id, inter);
  run_to_end(h);
  EXPECT_EQ(h.ended.at(batch), SeqEnd::kLength);
}

TEST(SchedulerTest, CancelInEveryStateFreesBlocks) {
  SchedulerConfig c = small_config();
  c.n_blocks = 8;
  c.n_host_blocks = 8;
  c.preemption = PreemptionMode::kSwap;
  Harness h(c);
  const SeqId a = h.submit(seq_tokens(8, 0), 30, Priority::kBatch);
  const SeqId b = h.submit(seq_tokens(8, 50), 30, Priority::kBatch);
  const SeqId w = h.submit(seq_tokens(8, 90), 30, Priority::kBatch);
  ASSERT_EQ(h.sched.state(w), SeqState::kWaiting);
  h.cancel(w);  // waiting
  bool saw_swapped = false;
  for (int i = 0; i < 40 && !saw_swapped; ++i) {
    h.step(token7);
    saw_swapped = h.sched.state(b) == SeqState::kSwapped;
  }
  ASSERT_TRUE(saw_swapped);
  h.cancel(b);  // swapped
  EXPECT_EQ(h.sched.host_blocks().stats().used, 0);
  // Running, cancelled between apply and commit.
  StepPlan p = h.sched.schedule();
  h.sched.apply(p);
  ASSERT_TRUE(h.sched.cancel(a).ok());
  std::vector<ChunkOutput> outs(p.chunks.size(), ChunkOutput{7, false});
  EXPECT_TRUE(h.sched.commit(p, outs).empty());
  EXPECT_EQ(h.sched.device_blocks().stats().used, 0);
  EXPECT_FALSE(h.sched.has_work());
  EXPECT_TRUE(h.sched.check_invariants().ok());
}

// A flood of interactive requests that alone fills the token budget and the
// KV cache. Batch requests still finish: the reserved share keeps them
// decoding, aging admits them. Without both, they starve (the control run).
int64_t batch_finish_step(bool anti_starvation) {
  SchedulerConfig c;
  c.n_blocks = 24;
  c.block_size = 4;
  c.max_step_tokens = 16;
  c.max_step_seqs = 16;
  c.max_chunk_tokens = 16;
  c.batch_reserved_tokens = anti_starvation ? 2 : 0;
  c.batch_aging_steps = anti_starvation ? 40 : 1000000;
  Harness h(c);
  std::vector<SeqId> batch;
  for (int i = 0; i < 3; ++i) batch.push_back(h.submit(seq_tokens(10, 100 * i), 8, Priority::kBatch));
  for (int64_t step = 0; step < 3000; ++step) {
    while (h.live.size() < 12) h.submit(seq_tokens(14, 7000 + static_cast<int32_t>(step)), 6, Priority::kInteractive);
    h.step(token7);
    if (::testing::Test::HasFatalFailure()) return -1;
    bool all_done = true;
    for (SeqId b : batch) all_done &= h.ended.count(b) > 0;
    if (all_done) return step;
  }
  return -1;
}

TEST(SchedulerTest, BatchProgressesUnderInteractiveFlood) {
  const int64_t with = batch_finish_step(true);
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_GE(with, 0) << "batch requests starved";
  EXPECT_LT(with, 400);
  EXPECT_EQ(batch_finish_step(false), -1) << "control: without anti-starvation batch should starve";
}

// Thousands of random scenarios: random configs (swap or recompute, prefix
// caching on or off, tight KV, tiny budgets), arrivals with shared prefixes,
// both classes, random stops and cancellations. Beyond the per-step checks of
// the harness: every request ends exactly once (finished or cancelled),
// nothing is left running, and no block stays referenced at the end.
TEST(SchedulerTest, RandomizedScenarios) {
  std::mt19937_64 rng(2024);
  int64_t total_steps = 0, preempt_swap = 0, preempt_recompute = 0, hits = 0, requests = 0;
  for (int scenario = 0; scenario < 1500; ++scenario) {
    SchedulerConfig c;
    c.block_size = 1 + static_cast<int32_t>(rng() % 4);
    c.n_blocks = 6 + static_cast<int32_t>(rng() % 30);
    c.max_step_tokens = 2 + static_cast<int32_t>(rng() % 40);
    c.max_step_seqs = 1 + static_cast<int32_t>(rng() % 10);
    c.max_chunk_tokens = 1 + static_cast<int32_t>(rng() % 20);
    c.batch_reserved_tokens = static_cast<int32_t>(rng() % static_cast<uint64_t>(c.max_step_tokens));
    c.batch_aging_steps = static_cast<int32_t>(rng() % 30);
    c.prefix_caching = rng() % 4 != 0;
    if (rng() % 2) {
      c.preemption = PreemptionMode::kSwap;
      c.n_host_blocks = static_cast<int32_t>(rng() % 40);
    }
    if (rng() % 3 == 0) c.max_seq_len = 2 + static_cast<int32_t>(rng() % static_cast<uint64_t>(c.n_blocks * c.block_size - 1));
    ASSERT_TRUE(c.validate().ok()) << c.validate().to_string();
    Harness h(c);
    const int32_t max_len = h.sched.config().max_seq_len;
    std::vector<std::vector<int32_t>> bases;
    for (int i = 0; i < 3; ++i) {
      std::vector<int32_t> b(rng() % 10);
      for (auto& x : b) x = static_cast<int32_t>(rng() % 3);
      bases.push_back(b);
    }
    std::set<SeqId> submitted;
    const int arrival_steps = 5 + static_cast<int>(rng() % 40);
    auto out = [&](SeqId) { return ChunkOutput{static_cast<int32_t>(rng() % 3), rng() % 25 == 0}; };
    for (int step = 0; step < arrival_steps; ++step) {
      const int n_new = static_cast<int>(rng() % 3);
      for (int i = 0; i < n_new; ++i) {
        std::vector<int32_t> p = bases[rng() % bases.size()];
        const size_t extra = 1 + rng() % 8;
        for (size_t j = 0; j < extra; ++j) p.push_back(static_cast<int32_t>(rng() % 3));
        if (static_cast<int32_t>(p.size()) >= max_len) p.resize(static_cast<size_t>(max_len - 1));
        submitted.insert(h.submit(p, 1 + static_cast<int32_t>(rng() % 12),
                                  rng() % 2 ? Priority::kBatch : Priority::kInteractive));
      }
      if (!h.live.empty() && rng() % 10 == 0) {
        auto it = h.live.begin();
        std::advance(it, static_cast<long>(rng() % h.live.size()));
        h.cancel(it->first);
      }
      h.step(out);
      ASSERT_FALSE(HasFatalFailure()) << "scenario " << scenario;
    }
    for (int step = 0; step < 5000 && h.sched.has_work(); ++step) {
      h.step(out);
      ASSERT_FALSE(HasFatalFailure()) << "scenario " << scenario;
    }
    ASSERT_FALSE(h.sched.has_work()) << "scenario " << scenario << ": requests never finished";
    ASSERT_TRUE(h.live.empty());
    ASSERT_EQ(h.ended.size(), submitted.size()) << "every request ends exactly once";
    const SchedulerStats st = h.sched.stats();
    ASSERT_EQ(st.device.used, 0) << "scenario " << scenario << ": device blocks leaked";
    ASSERT_EQ(st.host.used, 0) << "scenario " << scenario << ": host blocks leaked";
    total_steps += h.steps;
    preempt_swap += st.preempted_swap;
    preempt_recompute += st.preempted_recompute;
    hits += st.device.prefix_hit_tokens;
    requests += static_cast<int64_t>(submitted.size());
  }
  // The scenarios really exercised what they claim to.
  EXPECT_GT(preempt_swap, 100);
  EXPECT_GT(preempt_recompute, 100);
  EXPECT_GT(hits, 1000);
  EXPECT_GT(requests, 10000);
  std::printf("scenarios: %lld requests, %lld steps, %lld swap + %lld recompute preemptions, %lld prefix-hit tokens\n",
              static_cast<long long>(requests), static_cast<long long>(total_steps),
              static_cast<long long>(preempt_swap), static_cast<long long>(preempt_recompute),
              static_cast<long long>(hits));
}

}  // namespace
}  // namespace tandem
