// The serving engine on the shipped model (models/tiny-kjv): determinism
// across batch composition, prefix sharing, preemption, cancellation.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "engine/generator.h"
#include "engine/model_loader.h"

namespace tandem {
namespace {

std::string source_dir() {
  if (const char* d = std::getenv("TANDEM_SOURCE_DIR")) return d;
  return TANDEM_SOURCE_DIR;
}

class EngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto m = load_model(source_dir() + "/models/tiny-kjv");
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    loaded_ = new LoadedModel(std::move(m).value());
    std::ifstream f(source_dir() + "/models/tiny-kjv/heldout.txt");
    std::stringstream ss;
    ss << f.rdbuf();
    text_ = new std::string(ss.str());
  }
  static void TearDownTestSuite() {
    delete loaded_;
    delete text_;
  }
  static const Model& model() { return *loaded_->model; }
  static const Tokenizer& tok() { return *loaded_->tokenizer; }
  // Prompt `i`: a slice of held-out text, n tokens long.
  static std::vector<int32_t> prompt(int i, size_t n) {
    std::vector<int32_t> t = tok().encode(std::string_view(*text_).substr(static_cast<size_t>(i) * 97, 4000));
    t.resize(n);
    return t;
  }

  static EngineConfig config(int32_t n_blocks) {
    EngineConfig c;
    c.scheduler.n_blocks = n_blocks;
    c.scheduler.block_size = 16;
    c.scheduler.max_step_tokens = 256;
    c.scheduler.max_step_seqs = 64;
    c.scheduler.max_chunk_tokens = 64;
    return c;
  }

  struct Collected {
    std::vector<int32_t> tokens;
    std::string text;
    StreamEvent last;
    int finals = 0;
  };
  // Submits, wiring the events into `out`.
  static RequestId submit(Engine& e, GenerationRequest r, Collected& out) {
    r.on_event = [&out](const StreamEvent& ev) {
      if (ev.token >= 0) out.tokens.push_back(ev.token);
      out.text += ev.text;
      if (ev.finished) {
        out.last = ev;
        ++out.finals;
      }
    };
    Result<RequestId> id = e.submit(std::move(r));
    EXPECT_TRUE(id.ok()) << id.status().to_string();
    return id.ok() ? *id : 0;
  }

  static GenerationRequest seeded(std::vector<int32_t> p, uint64_t seed, int32_t max_tokens) {
    GenerationRequest r;
    r.prompt = std::move(p);
    r.max_tokens = max_tokens;
    r.sampling.temperature = 0.9f;
    r.sampling.top_p = 0.95f;
    r.sampling.seed = seed;
    return r;
  }

  static std::vector<int32_t> alone(const GenerationRequest& r, int32_t n_blocks = 256) {
    auto e = Engine::create(model(), tok(), config(n_blocks), nullptr);
    EXPECT_TRUE(e.ok());
    Collected c;
    submit(**e, r, c);
    (*e)->run_until_idle();
    EXPECT_EQ(c.finals, 1);
    return c.tokens;
  }

  static inline LoadedModel* loaded_ = nullptr;
  static inline std::string* text_ = nullptr;
};

TEST_F(EngineTest, RejectsBadRequests) {
  auto e = Engine::create(model(), tok(), config(64), nullptr);
  ASSERT_TRUE(e.ok());
  GenerationRequest r;
  EXPECT_EQ((*e)->submit(r).status().code(), StatusCode::kInvalidArgument);
  r.prompt = {1, 99999};
  EXPECT_EQ((*e)->submit(r).status().code(), StatusCode::kInvalidArgument);
  r.prompt = std::vector<int32_t>(256, 5);  // the model's whole context
  EXPECT_EQ((*e)->submit(r).status().code(), StatusCode::kOutOfRange);
  r.prompt = {1, 5};
  r.sampling.temperature = -1;
  EXPECT_EQ((*e)->submit(r).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*e)->cancel(12345).code(), StatusCode::kNotFound);
}

TEST_F(EngineTest, MatchesSingleSequenceGenerator) {
  const GenerationRequest r = seeded(prompt(0, 40), 42, 24);
  GenerateOptions g;
  g.max_tokens = r.max_tokens;
  g.sampling = r.sampling;
  auto ref = generate(model(), tok(), r.prompt, g, nullptr, nullptr);
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(alone(r), ref->tokens);
}

TEST_F(EngineTest, SeededRequestSameAloneAndAmong32) {
  const GenerationRequest r = seeded(prompt(3, 50), 7, 32);
  const std::vector<int32_t> solo = alone(r);
  ASSERT_FALSE(solo.empty());

  auto e = Engine::create(model(), tok(), config(256), nullptr);
  ASSERT_TRUE(e.ok());
  std::vector<Collected> others(31);
  Collected mine;
  for (int i = 0; i < 32; ++i) {
    if (i == 16) {
      submit(**e, r, mine);
      continue;
    }
    GenerationRequest o = seeded(prompt(10 + i, 20 + static_cast<size_t>(i) * 3), 1000 + static_cast<uint64_t>(i), 16 + i);
    if (i % 3 == 0) o.sampling.temperature = 0;
    o.priority = i % 2 ? Priority::kBatch : Priority::kInteractive;
    submit(**e, o, others[static_cast<size_t>(i < 16 ? i : i - 1)]);
  }
  (*e)->run_until_idle();
  EXPECT_EQ(mine.tokens, solo);
  EXPECT_EQ(mine.finals, 1);
  for (const Collected& c : others) EXPECT_EQ(c.finals, 1);
  const EngineStats st = (*e)->stats();
  EXPECT_EQ(st.requests_finished, 32);
  EXPECT_EQ(st.scheduler.device.used, 0);
  EXPECT_LT(st.steps, 32 * 16) << "requests were batched, not run one by one";
}

TEST_F(EngineTest, SharedPrefixHeldOnceAndGivesSameTokens) {
  const std::vector<int32_t> system = prompt(1, 160);  // 10 blocks
  auto e = Engine::create(model(), tok(), config(400), nullptr);
  ASSERT_TRUE(e.ok());
  std::vector<Collected> outs(32);
  std::vector<GenerationRequest> reqs;
  for (int i = 0; i < 32; ++i) {
    std::vector<int32_t> p = system;
    const std::vector<int32_t> tail = prompt(50 + i, 6);
    p.insert(p.end(), tail.begin(), tail.end());
    GenerationRequest r;
    r.prompt = p;
    r.max_tokens = 8;
    r.sampling.temperature = 0;
    r.stop_at_eos = false;
    reqs.push_back(r);
    submit(**e, r, outs[static_cast<size_t>(i)]);
  }
  (*e)->run_until_idle();
  const EngineStats st = (*e)->stats();
  // One copy of the 10 prefix blocks plus 1-2 private blocks each, not 32 x 11.
  EXPECT_LE(st.peak_blocks_used, 10 + 2 * 32);
  EXPECT_EQ(st.scheduler.device.prefix_hit_tokens, 31 * 160);
  int cached = 0;
  for (const Collected& c : outs) cached += c.last.cached_prompt_tokens == 160;
  EXPECT_EQ(cached, 31);
  EXPECT_LT(st.prompt_tokens_computed, 160 + 32 * 6 + 32);
  // KV served from the prefix cache gives the same tokens as computing it.
  EXPECT_EQ(outs[5].tokens, alone(reqs[5]));
  EXPECT_EQ(outs[31].tokens, alone(reqs[31]));
}

TEST_F(EngineTest, PreemptionKeepsTokensIdentical) {
  for (PreemptionMode mode : {PreemptionMode::kRecompute, PreemptionMode::kSwap}) {
    EngineConfig c = config(12);  // 192 positions for 6 requests of ~80
    c.scheduler.preemption = mode;
    c.scheduler.n_host_blocks = mode == PreemptionMode::kSwap ? 64 : 0;
    c.scheduler.max_seq_len = 192;
    auto e = Engine::create(model(), tok(), c, nullptr);
    ASSERT_TRUE(e.ok()) << e.status().to_string();
    std::vector<GenerationRequest> reqs;
    std::vector<Collected> outs(6);
    for (int i = 0; i < 6; ++i) {
      GenerationRequest r = seeded(prompt(20 + i, 40), 500 + static_cast<uint64_t>(i), 40);
      r.stop_at_eos = false;
      reqs.push_back(r);
      submit(**e, r, outs[static_cast<size_t>(i)]);
    }
    (*e)->run_until_idle();
    const EngineStats st = (*e)->stats();
    if (mode == PreemptionMode::kSwap) {
      EXPECT_GT(st.scheduler.preempted_swap, 0);
    } else {
      EXPECT_GT(st.scheduler.preempted_recompute, 0);
    }
    for (int i = 0; i < 6; ++i) {
      EXPECT_EQ(outs[static_cast<size_t>(i)].tokens.size(), 40u);
      EXPECT_EQ(outs[static_cast<size_t>(i)].tokens, alone(reqs[static_cast<size_t>(i)]))
          << "request " << i << " mode " << static_cast<int>(mode);
    }
  }
}

TEST_F(EngineTest, CancelOnBackgroundThreadFreesBlocks) {
  auto e = Engine::create(model(), tok(), config(64), nullptr);
  ASSERT_TRUE(e.ok());
  std::mutex mu;
  std::condition_variable cv;
  int tokens = 0;
  bool done = false;
  StreamEvent last;
  GenerationRequest r = seeded(prompt(2, 30), 3, 200);
  r.stop_at_eos = false;
  bool cancel_sent = false;
  r.on_event = [&](const StreamEvent& ev) {
    std::unique_lock<std::mutex> lock(mu);
    tokens += ev.token >= 0;
    if (ev.finished) {
      done = true;
      last = ev;
    }
    cv.notify_all();
    // Hold the step thread after the third token until cancel() is in, so
    // the request cannot finish first however the threads are scheduled.
    if (tokens == 3) cv.wait_for(lock, std::chrono::seconds(60), [&] { return cancel_sent; });
  };
  (*e)->start();
  Result<RequestId> id = (*e)->submit(r);
  ASSERT_TRUE(id.ok());
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return tokens >= 3 || done; }));
  }
  ASSERT_TRUE((*e)->cancel(*id).ok());
  {
    std::lock_guard<std::mutex> lock(mu);
    cancel_sent = true;
    cv.notify_all();
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done; }));
  }
  EXPECT_EQ(last.reason, SeqEnd::kCancelled);
  EXPECT_LE(last.completion_tokens, 4);  // cancelled right after the third token
  (*e)->stop();
  const EngineStats st = (*e)->stats();
  EXPECT_EQ(st.scheduler.device.used, 0);
  EXPECT_EQ(st.scheduler.running + st.scheduler.waiting, 0);
  EXPECT_EQ((*e)->cancel(*id).code(), StatusCode::kNotFound);
}

TEST_F(EngineTest, StopStringEndsAndIsNotShown) {
  GenerationRequest r;
  r.prompt = prompt(4, 30);
  r.max_tokens = 40;
  r.sampling.temperature = 0;
  r.stop_at_eos = false;
  auto e = Engine::create(model(), tok(), config(64), nullptr);
  ASSERT_TRUE(e.ok());
  Collected free_run;
  submit(**e, r, free_run);
  (*e)->run_until_idle();
  ASSERT_GT(free_run.text.size(), 12u);
  // Stop at a piece of what it generates anyway.
  const std::string stop = free_run.text.substr(6, 4);
  r.stop = {stop};
  Collected stopped;
  submit(**e, r, stopped);
  (*e)->run_until_idle();
  EXPECT_EQ(stopped.last.reason, SeqEnd::kStop);
  EXPECT_EQ(stopped.text, free_run.text.substr(0, free_run.text.find(stop)));
}

TEST_F(EngineTest, LogprobsMatchTheModelAndSampledToken) {
  GenerationRequest r;
  r.prompt = prompt(5, 20);
  r.max_tokens = 6;
  r.sampling.temperature = 0;  // greedy: the sampled token is the top-1
  r.logprobs = 3;
  r.stop_at_eos = false;
  std::vector<StreamEvent> events;
  r.on_event = [&](const StreamEvent& ev) {
    if (!ev.finished) events.push_back(ev);
  };
  auto e = Engine::create(model(), tok(), config(64), nullptr);
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE((*e)->submit(r).ok());
  (*e)->run_until_idle();
  ASSERT_EQ(events.size(), 6u);
  for (const StreamEvent& ev : events) {
    ASSERT_EQ(ev.top_logprobs.size(), 3u);
    EXPECT_EQ(ev.top_logprobs[0].token, ev.token);
    EXPECT_FLOAT_EQ(ev.top_logprobs[0].logprob, ev.logprob);
    EXPECT_LT(ev.logprob, 0.0f);
    EXPECT_GE(ev.top_logprobs[0].logprob, ev.top_logprobs[1].logprob);
    EXPECT_GE(ev.top_logprobs[1].logprob, ev.top_logprobs[2].logprob);
  }
  // Same values as a plain forward pass over prompt + generated tokens.
  std::vector<int32_t> seq = r.prompt;
  for (const StreamEvent& ev : events) seq.push_back(ev.token);
  KvCache cache(model().config(), 16, 16);
  ForwardScratch scratch;
  std::vector<float> logits;
  std::vector<BlockId> table;
  for (int32_t b = 0; b < 16; ++b) table.push_back(b);
  SeqChunk ch;
  ch.tokens = std::span<const int32_t>(seq.data(), seq.size() - 1);
  ch.start_pos = 0;
  ch.block_table = table;
  ch.all_logits = true;
  ASSERT_TRUE(model().forward(std::span<const SeqChunk>(&ch, 1), cache, logits, scratch, nullptr).ok());
  const size_t V = static_cast<size_t>(model().config().vocab_size);
  std::vector<double> lp;
  for (size_t i = 0; i < events.size(); ++i) {
    const size_t pos = r.prompt.size() - 1 + i;
    log_softmax(std::span<const float>(logits.data() + pos * V, V), lp);
    EXPECT_NEAR(lp[static_cast<size_t>(events[i].token)], events[i].logprob, 1e-4);
  }
  GenerationRequest bad = r;
  bad.logprobs = kMaxTopLogprobs + 1;
  EXPECT_EQ((*e)->submit(bad).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(EngineTest, OverloadLimitsRefuseAtOnceAndAdmittedFinish) {
  EngineConfig c = config(64);
  c.max_queued_requests = 3;
  auto e = Engine::create(model(), tok(), c, nullptr);
  ASSERT_TRUE(e.ok());
  std::vector<Collected> out(5);
  int accepted = 0;
  for (int i = 0; i < 5; ++i) {
    GenerationRequest r = seeded(prompt(i, 20), 1, 4);
    r.on_event = [&out, i](const StreamEvent& ev) {
      if (ev.finished) ++out[static_cast<size_t>(i)].finals;
    };
    Overload why = Overload::kNone;
    Result<RequestId> id = (*e)->submit(std::move(r), &why);
    if (i < 3) {
      EXPECT_TRUE(id.ok());
      ++accepted;
    } else {
      EXPECT_EQ(id.status().code(), StatusCode::kResourceExhausted);
      EXPECT_EQ(why, Overload::kQueueFull);
    }
  }
  EXPECT_EQ((*e)->stats().queued_requests, 3);
  (*e)->run_until_idle();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(out[static_cast<size_t>(i)].finals, i < 3 ? 1 : 0);
  EngineStats st = (*e)->stats();
  EXPECT_EQ(st.queued_requests, 0);
  EXPECT_EQ(st.queued_tokens, 0);
  EXPECT_EQ(st.requests_rejected, 2);
  EXPECT_TRUE((*e)->submit(seeded(prompt(9, 20), 1, 2)).ok());  // room again

  EngineConfig t = config(64);
  t.max_queued_tokens = 50;
  auto e2 = Engine::create(model(), tok(), t, nullptr);
  ASSERT_TRUE(e2.ok());
  EXPECT_TRUE((*e2)->submit(seeded(prompt(1, 60), 1, 2)).ok());  // empty queue: any size fits
  Overload why = Overload::kNone;
  EXPECT_EQ((*e2)->submit(seeded(prompt(2, 10), 1, 2), &why).status().code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(why, Overload::kMemoryFull);
  (*e2)->run_until_idle();
  EXPECT_TRUE((*e2)->submit(seeded(prompt(2, 10), 1, 2)).ok());
  (*e2)->run_until_idle();
  EXPECT_EQ((*e2)->stats().queued_tokens, 0);
}

// The after-events listener runs once per step that delivered events, after
// all of them: every event it sees counted has already arrived, and steps
// without events (a prompt chunk that samples nothing) do not call it.
TEST_F(EngineTest, AfterEventsRunsOncePerStepAfterItsEvents) {
  auto e = Engine::create(model(), tok(), config(256), nullptr);
  ASSERT_TRUE(e.ok());
  std::vector<Collected> out(3);
  int events = 0, calls = 0, events_at_last_call = 0;
  bool ordered = true;
  for (int i = 0; i < 3; ++i) {
    GenerationRequest r = seeded(prompt(i, 150), static_cast<uint64_t>(i), 5 + i);  // 150 tokens: 3 chunks of 64
    r.on_event = [&, i](const StreamEvent& ev) {
      ++events;
      if (ev.token >= 0) out[static_cast<size_t>(i)].tokens.push_back(ev.token);
    };
    ASSERT_TRUE((*e)->submit(std::move(r)).ok());
  }
  (*e)->set_after_events([&] {
    ++calls;
    ordered = ordered && events > events_at_last_call;
    events_at_last_call = events;
  });
  int steps_with_events = 0;
  while (true) {
    const int before = events;
    if (!(*e)->step()) break;
    steps_with_events += events > before;
  }
  EXPECT_TRUE(ordered);
  EXPECT_EQ(calls, steps_with_events);
  EXPECT_EQ(events_at_last_call, events);
  EXPECT_GT(events, 0);
  (*e)->set_after_events(nullptr);  // removed: stepping on is harmless
  EXPECT_FALSE((*e)->step());
}

}  // namespace
}  // namespace tandem
