// The serving engine: many generation requests at once over one model, with
// continuous batching (engine/scheduler.h), a paged KV cache with prefix
// sharing (kv/block_allocator.h) and per-token streaming.
//
// Each step: Scheduler::schedule() -> apply() -> KV swap copies -> one
// Model::forward over every scheduled chunk (prefill chunks and decodes
// mixed) -> sample one token per finished chunk (counter-based, so a seeded
// request yields the same tokens alone or among many; kernels are batch-
// invariant and prefix-cached KV equals recomputed KV bitwise) -> stop
// conditions (max tokens, EOS, stop strings) -> Scheduler::commit() -> events.
//
// Thread safety: submit(), cancel() and stats() may be called from any thread
// at any time. Steps run either on the engine's own thread (start()/stop()) or
// on the caller's (step(), run_until_idle()), never both. Event callbacks run
// on the stepping thread, outside the engine's lock, and must not block for
// long (they delay every sequence); they may call submit() and cancel().
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "engine/sampler.h"
#include "engine/scheduler.h"
#include "engine/stop_matcher.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace tandem {

using RequestId = uint64_t;

// A token and its log-probability under the model (log-softmax of the raw
// logits, before temperature and other sampling transforms).
struct TokenLogprob {
  int32_t token = -1;
  float logprob = 0.0f;
};

// One streamed piece of a request's output. Every request gets exactly one
// event with finished == true, its last.
struct StreamEvent {
  RequestId id = 0;
  int32_t token = -1;      // the new token, -1 if none (final event of a stop/cancel)
  std::string text;        // text now safe to show (never splits UTF-8, never shows a stop string)
  bool finished = false;
  SeqEnd reason = SeqEnd::kLength;  // when finished: kStop covers EOS and stop strings
  std::string error;                // set when the engine failed the request (model error)
  int32_t prompt_tokens = 0;        // when finished
  int32_t completion_tokens = 0;    // when finished: tokens generated (EOS not counted)
  int32_t cached_prompt_tokens = 0; // when finished: prompt tokens served from the prefix cache
  // With GenerationRequest::logprobs >= 0, on token events: the token's
  // logprob and the `logprobs` most likely tokens, most likely first.
  float logprob = 0.0f;
  std::vector<TokenLogprob> top_logprobs;
};

struct GenerationRequest {
  std::vector<int32_t> prompt;  // token ids
  int32_t max_tokens = 128;     // >= 1
  SamplingParams sampling;
  uint64_t sampling_stream = 0;  // counter-RNG stream: distinct values give distinct samples for one seed (n > 1)
  std::vector<std::string> stop;
  bool stop_at_eos = true;
  Priority priority = Priority::kInteractive;
  int32_t logprobs = -1;  // -1: off; 0..kMaxTopLogprobs: token logprob plus that many alternatives
  std::function<void(const StreamEvent&)> on_event;  // may be empty
};

inline constexpr int32_t kMaxTopLogprobs = 20;

struct EngineConfig {
  // Scheduler policy and KV size. max_seq_len 0 = min(KV capacity, model context).
  SchedulerConfig scheduler;
  // Overload limits on requests submitted but not yet admitted (never run a
  // step): submit() refuses a request at once with ResourceExhausted when
  // it would make the queue longer than max_queued_requests (0 = no limit),
  // or the queue's prompt tokens more than max_queued_tokens (0 = no limit;
  // the KV memory the queue will need once admitted).
  int32_t max_queued_requests = 0;
  int64_t max_queued_tokens = 0;
};

// One chunk of a step that ran: positions [start, start + len) of one
// sequence; sample: a token was sampled from its last position.
struct StepChunkShape {
  int32_t start = 0;
  int32_t len = 0;
  bool sample = false;
};

// Why submit() refused a request for load (ResourceExhausted).
enum class Overload : uint8_t { kNone, kQueueFull, kMemoryFull };

struct EngineStats {
  SchedulerStats scheduler;
  int64_t steps = 0;
  int64_t prompt_tokens_computed = 0;  // prefill tokens run through the model
  int64_t tokens_generated = 0;
  int64_t requests_submitted = 0;
  int64_t requests_finished = 0;  // cancelled and failed included
  int32_t peak_blocks_used = 0;
  int32_t queued_requests = 0;  // submitted, not yet admitted
  int64_t queued_tokens = 0;    // their prompt tokens
  int64_t requests_rejected = 0;  // refused by the overload limits
};

class Engine {
 public:
  // `model`, `tokenizer` and `pool` (may be null) must outlive the engine.
  // InvalidArgument for a bad scheduler config.
  static Result<std::unique_ptr<Engine>> create(const Model& model, const Tokenizer& tokenizer,
                                                EngineConfig config, ThreadPool* pool);
  ~Engine();  // stops the step thread; unfinished requests get no final event
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request; it joins the next step. InvalidArgument (empty prompt,
  // token ids outside the vocabulary, bad sampling parameters, max_tokens < 1)
  // or OutOfRange (prompt leaves no room to generate) are returned at once;
  // so is ResourceExhausted when an overload limit of EngineConfig is
  // reached, with the limit in *overload (if given).
  Result<RequestId> submit(GenerationRequest request, Overload* overload = nullptr);
  // Ends a request before the next step; its final event has reason
  // kCancelled and its KV blocks are freed. NotFound if it already ended.
  Status cancel(RequestId id);

  // Runs one step on the calling thread. false when there was nothing to do.
  bool step();
  // Steps until no request is left.
  void run_until_idle();
  // Called on the stepping thread after a step has delivered all of its
  // events (not after a step that had none): a consumer that queues events
  // for another thread wakes that thread once per step with it, instead of
  // once per event. Replaces the previous listener; null removes it.
  void set_after_events(std::function<void()> fn);
  // Starts / stops the background step thread (idempotent).
  void start();
  void stop();

  EngineStats stats() const;
  const SchedulerConfig& scheduler_config() const { return sched_.config(); }
  // The chunks of the last step() that ran the model (empty if it ran none),
  // for step-time profiles (bench/engine_profile.h). Stepping thread only;
  // valid until the next step.
  const std::vector<StepChunkShape>& last_step_shape() const { return last_shape_; }

 private:
  struct Live;
  Engine(const Model& model, const Tokenizer& tokenizer, const EngineConfig& config,
         ThreadPool* pool);
  void loop();
  struct Emit {
    std::shared_ptr<const std::function<void(const StreamEvent&)>> callback;
    StreamEvent event;
  };
  void fill_logprobs(std::span<const float> row, int32_t token, int32_t top, StreamEvent& ev);
  void finish(Live& r, SeqEnd reason, std::vector<Emit>& out, std::string error = {});
  void end_request(RequestId id, SeqEnd reason, std::vector<Emit>& out, std::string error = {});

  const Model& model_;
  const Tokenizer& tokenizer_;
  ThreadPool* pool_;
  const int32_t max_queued_requests_;
  const int64_t max_queued_tokens_;
  Scheduler sched_;   // touched only by the stepping thread
  KvCache cache_;     // device KV: [n_blocks][n_layers][2][block_size][kv_dim]
  std::vector<float> host_kv_;  // swap space: n_host_blocks blocks of the same layout
  size_t block_floats_ = 0;
  ForwardScratch scratch_;
  std::vector<float> logits_;
  std::map<RequestId, std::unique_ptr<Live>> live_;  // stepping thread only
  std::map<SeqId, RequestId> by_seq_;
  std::vector<RequestId> ended_;  // this step's, for the locked bookkeeping
  int32_t dequeued_requests_ = 0;  // this step's admissions (and ends before admission)
  int64_t dequeued_tokens_ = 0;
  std::vector<double> logprob_work_;
  std::vector<StepChunkShape> last_shape_;  // stepping thread only

  mutable std::mutex mu_;  // guards the fields below
  std::condition_variable cv_;
  std::vector<std::pair<RequestId, GenerationRequest>> incoming_;
  std::vector<RequestId> cancels_;
  std::map<RequestId, bool> known_;  // submitted and not yet finished
  RequestId next_id_ = 1;
  EngineStats stats_;
  bool stop_ = false;
  std::shared_ptr<const std::function<void()>> after_events_;
  std::thread thread_;
};

}  // namespace tandem
