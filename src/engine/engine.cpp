#include "engine/engine.h"

#include <algorithm>
#include <cstring>
#include <span>

namespace tandem {

// A request the scheduler knows: its sampling and detokenizing state.
struct Engine::Live {
  Live(const Tokenizer& tok, GenerationRequest r)
      : req(std::move(r)),
        sampler(req.sampling, req.sampling_stream),
        detok(tok, StreamDecoder::Options{.skip_special = true, .continuation = true}),
        stops(req.stop),
        callback(std::make_shared<const std::function<void(const StreamEvent&)>>(req.on_event)) {}
  RequestId id = 0;
  SeqId seq = 0;
  GenerationRequest req;
  Sampler sampler;
  StreamDecoder detok;
  StopMatcher stops;
  std::shared_ptr<const std::function<void(const StreamEvent&)>> callback;
  int32_t generated = 0;
  int32_t cached_prompt_tokens = 0;
  bool admitted = false;
};

namespace {
SchedulerConfig engine_scheduler_config(SchedulerConfig c, const ModelConfig& m) {
  if (c.max_seq_len == 0)
    c.max_seq_len = std::min<int32_t>(m.max_position, c.n_blocks * c.block_size);
  return c;
}
}  // namespace

Result<std::unique_ptr<Engine>> Engine::create(const Model& model, const Tokenizer& tokenizer,
                                               EngineConfig config, ThreadPool* pool) {
  SchedulerConfig sc = engine_scheduler_config(config.scheduler, model.config());
  TANDEM_RETURN_IF_ERROR(sc.validate());
  if (sc.max_seq_len > model.config().max_position)
    return invalid_argument("max_seq_len " + std::to_string(sc.max_seq_len) +
                            " exceeds the model's context length " +
                            std::to_string(model.config().max_position));
  if (config.max_queued_requests < 0 || config.max_queued_tokens < 0)
    return invalid_argument("max_queued_requests and max_queued_tokens must be >= 0");
  config.scheduler = sc;
  return std::unique_ptr<Engine>(new Engine(model, tokenizer, config, pool));
}

Engine::Engine(const Model& model, const Tokenizer& tokenizer, const EngineConfig& ec,
               ThreadPool* pool)
    : model_(model),
      tokenizer_(tokenizer),
      pool_(pool),
      max_queued_requests_(ec.max_queued_requests),
      max_queued_tokens_(ec.max_queued_tokens),
      sched_(ec.scheduler),
      cache_(model.config(), ec.scheduler.n_blocks, ec.scheduler.block_size) {
  const SchedulerConfig& config = ec.scheduler;
  const ModelConfig& c = model.config();
  block_floats_ = static_cast<size_t>(c.n_layers) * 2 * static_cast<size_t>(config.block_size) *
                  static_cast<size_t>(c.kv_dim());
  host_kv_.resize(static_cast<size_t>(config.n_host_blocks) * block_floats_);
}

Engine::~Engine() { stop(); }

Result<RequestId> Engine::submit(GenerationRequest request, Overload* overload) {
  if (overload) *overload = Overload::kNone;
  if (request.prompt.empty()) return invalid_argument("prompt is empty");
  if (request.max_tokens < 1) return invalid_argument("max_tokens must be >= 1");
  if (request.logprobs < -1 || request.logprobs > kMaxTopLogprobs)
    return invalid_argument("logprobs must be in [0, " + std::to_string(kMaxTopLogprobs) + "]");
  TANDEM_RETURN_IF_ERROR(request.sampling.validate());
  const int32_t vocab = model_.config().vocab_size;
  for (int32_t t : request.prompt)
    if (t < 0 || t >= vocab)
      return invalid_argument("prompt token id " + std::to_string(t) + " is outside the vocabulary of " +
                              std::to_string(vocab));
  const int32_t max_len = sched_.config().max_seq_len;  // immutable after construction
  if (static_cast<int64_t>(request.prompt.size()) >= max_len)
    return out_of_range("prompt has " + std::to_string(request.prompt.size()) +
                        " tokens; the context holds " + std::to_string(max_len) +
                        " with at least one generated");
  const auto n_prompt = static_cast<int64_t>(request.prompt.size());
  std::lock_guard<std::mutex> lock(mu_);
  Overload why = Overload::kNone;
  if (max_queued_requests_ > 0 && stats_.queued_requests >= max_queued_requests_)
    why = Overload::kQueueFull;
  else if (max_queued_tokens_ > 0 && stats_.queued_requests > 0 &&
           stats_.queued_tokens + n_prompt > max_queued_tokens_)
    why = Overload::kMemoryFull;  // an empty queue takes any prompt that fits the context
  if (why != Overload::kNone) {
    ++stats_.requests_rejected;
    if (overload) *overload = why;
    return Status(StatusCode::kResourceExhausted,
                  why == Overload::kQueueFull
                      ? "the queue is full (" + std::to_string(stats_.queued_requests) +
                            " requests waiting); retry later"
                      : "the queued prompts would need more KV memory than allowed (" +
                            std::to_string(stats_.queued_tokens) + " tokens waiting); retry later");
  }
  ++stats_.queued_requests;
  stats_.queued_tokens += n_prompt;
  const RequestId id = next_id_++;
  incoming_.emplace_back(id, std::move(request));
  known_[id] = true;
  ++stats_.requests_submitted;
  cv_.notify_all();
  return id;
}

Status Engine::cancel(RequestId id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!known_.count(id)) return not_found("no running request " + std::to_string(id));
  cancels_.push_back(id);
  cv_.notify_all();
  return ok_status();
}

void Engine::fill_logprobs(std::span<const float> row, int32_t token, int32_t top,
                           StreamEvent& ev) {
  log_softmax(row, logprob_work_);
  ev.logprob = static_cast<float>(logprob_work_[static_cast<size_t>(token)]);
  if (top <= 0) return;
  // Top `top` by a bounded min-heap scan: O(V log top), no V-sized sort.
  auto better = [](const TokenLogprob& a, const TokenLogprob& b) {
    return a.logprob > b.logprob || (a.logprob == b.logprob && a.token < b.token);
  };
  std::vector<TokenLogprob>& best = ev.top_logprobs;
  best.clear();
  for (size_t t = 0; t < logprob_work_.size(); ++t) {
    TokenLogprob cand{static_cast<int32_t>(t), static_cast<float>(logprob_work_[t])};
    if (best.size() < static_cast<size_t>(top)) {
      best.push_back(cand);
      std::push_heap(best.begin(), best.end(), better);
    } else if (better(cand, best.front())) {
      std::pop_heap(best.begin(), best.end(), better);
      best.back() = cand;
      std::push_heap(best.begin(), best.end(), better);
    }
  }
  std::sort_heap(best.begin(), best.end(), better);
}

void Engine::finish(Live& r, SeqEnd reason, std::vector<Emit>& out, std::string error) {
  StreamEvent ev;
  ev.id = r.id;
  ev.finished = true;
  ev.reason = reason;
  ev.error = std::move(error);
  if (reason == SeqEnd::kLength || reason == SeqEnd::kContext) {
    ev.text = r.stops.push(r.detok.flush());
    if (!r.stops.stopped()) ev.text += r.stops.flush();
  }
  ev.prompt_tokens = static_cast<int32_t>(r.req.prompt.size());
  ev.completion_tokens = r.generated;
  ev.cached_prompt_tokens = r.cached_prompt_tokens;
  out.push_back({r.callback, std::move(ev)});
}

// Ends a live request: final event, forget it (the scheduler side is done by
// the caller: commit() finished it, or it was cancelled).
void Engine::end_request(RequestId id, SeqEnd reason, std::vector<Emit>& out, std::string error) {
  auto it = live_.find(id);
  TANDEM_CHECK(it != live_.end(), "ending an unknown request");
  if (!it->second->admitted) {
    ++dequeued_requests_;
    dequeued_tokens_ += static_cast<int64_t>(it->second->req.prompt.size());
  }
  finish(*it->second, reason, out, std::move(error));
  by_seq_.erase(it->second->seq);
  live_.erase(it);
  ended_.push_back(id);
}

bool Engine::step() {
  std::vector<std::pair<RequestId, GenerationRequest>> incoming;
  std::vector<RequestId> cancels;
  {
    std::lock_guard<std::mutex> lock(mu_);
    incoming.swap(incoming_);
    cancels.swap(cancels_);
  }
  std::vector<Emit> out;
  ended_.clear();
  dequeued_requests_ = 0;
  dequeued_tokens_ = 0;
  for (auto& [id, req] : incoming) {
    auto live = std::make_unique<Live>(tokenizer_, std::move(req));
    live->id = id;
    Result<SeqId> seq = sched_.submit({live->req.prompt, live->req.max_tokens, live->req.priority});
    if (!seq.ok()) {  // submit() checked the same limits; kept as a value, not a crash
      finish(*live, SeqEnd::kCancelled, out, seq.status().to_string());
      ended_.push_back(id);
      ++dequeued_requests_;
      dequeued_tokens_ += static_cast<int64_t>(live->req.prompt.size());
      continue;
    }
    live->seq = *seq;
    by_seq_[*seq] = id;
    live_[id] = std::move(live);
  }
  for (RequestId id : cancels) {
    auto it = live_.find(id);
    if (it == live_.end()) continue;  // ended meanwhile, or cancelled twice
    TANDEM_CHECK(sched_.cancel(it->second->seq).ok(), "engine and scheduler disagree on a request");
    end_request(id, SeqEnd::kCancelled, out);
  }

  StepPlan plan = sched_.schedule();
  int64_t prompt_tokens = 0, generated = 0;
  const bool worked = !plan.chunks.empty();
  last_shape_.clear();
  for (const ChunkPlan& c : plan.chunks) last_shape_.push_back({c.start, c.len, c.sample});
  if (worked) {
    sched_.apply(plan);
    // Swap-outs first: a swap-in may land in a block a swap-out just vacated.
    for (const BlockCopy& c : plan.swap_out)
      std::memcpy(host_kv_.data() + static_cast<size_t>(c.dst) * block_floats_,
                  cache_.rows(c.src, 0, 0), block_floats_ * sizeof(float));
    for (const BlockCopy& c : plan.swap_in)
      std::memcpy(cache_.rows(c.dst, 0, 0), host_kv_.data() + static_cast<size_t>(c.src) * block_floats_,
                  block_floats_ * sizeof(float));
    std::vector<SeqChunk> batch;
    batch.reserve(plan.chunks.size());
    for (const ChunkPlan& c : plan.chunks) {
      SeqChunk ch;
      ch.tokens = sched_.tokens(c.id).subspan(static_cast<size_t>(c.start), static_cast<size_t>(c.len));
      ch.start_pos = c.start;
      ch.block_table = sched_.block_table(c.id);
      batch.push_back(ch);
      if (c.start < sched_.prompt_len(c.id)) prompt_tokens += c.len;
    }
    const Status st = model_.forward(batch, cache_, logits_, scratch_, pool_);
    std::vector<ChunkOutput> outputs(plan.chunks.size());
    const int64_t V = model_.config().vocab_size;
    for (size_t i = 0; i < plan.chunks.size(); ++i) {
      const ChunkPlan& c = plan.chunks[i];
      Live& r = *live_.at(by_seq_.at(c.id));
      if (c.admit && !r.admitted) {
        r.admitted = true;
        r.cached_prompt_tokens = c.start;
        ++dequeued_requests_;
        dequeued_tokens_ += static_cast<int64_t>(r.req.prompt.size());
      }
      if (!c.sample) continue;
      if (!st.ok()) {
        outputs[i] = {0, true};
        continue;
      }
      const auto toks = sched_.tokens(c.id);
      const std::span<const float> row(logits_.data() + static_cast<int64_t>(i) * V, static_cast<size_t>(V));
      const int32_t tok = r.sampler.sample(row, toks, static_cast<int64_t>(toks.size()));
      outputs[i].token = tok;
      if (r.req.stop_at_eos && tokenizer_.is_end_of_generation(tok)) {
        outputs[i].stop = true;  // EOS ends the sequence and is not shown
        continue;
      }
      ++r.generated;
      ++generated;
      StreamEvent ev;
      ev.id = r.id;
      ev.token = tok;
      ev.text = r.stops.push(r.detok.push(tok));
      if (r.req.logprobs >= 0) fill_logprobs(row, tok, r.req.logprobs, ev);
      outputs[i].stop = r.stops.stopped();
      out.push_back({r.callback, std::move(ev)});
    }
    const std::string error = st.ok() ? std::string() : st.to_string();
    for (const FinishedSeq& f : sched_.commit(plan, outputs))
      end_request(by_seq_.at(f.id), f.reason, out, error);
    if (!st.ok()) {
      // The model failed this step: the KV of every sequence in it is suspect.
      for (const ChunkPlan& c : plan.chunks) {
        if (!sched_.contains(c.id)) continue;
        TANDEM_CHECK(sched_.cancel(c.id).ok(), "cancel after a failed step");
        end_request(by_seq_.at(c.id), SeqEnd::kCancelled, out, error);
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (RequestId id : ended_) known_.erase(id);
    stats_.requests_finished += static_cast<int64_t>(ended_.size());
    stats_.steps += worked;
    stats_.prompt_tokens_computed += prompt_tokens;
    stats_.tokens_generated += generated;
    stats_.scheduler = sched_.stats();
    stats_.peak_blocks_used = std::max(stats_.peak_blocks_used, stats_.scheduler.device.used);
    stats_.queued_requests -= dequeued_requests_;
    stats_.queued_tokens -= dequeued_tokens_;
    TANDEM_CHECK(stats_.queued_requests >= 0 && stats_.queued_tokens >= 0, "queue counts went negative");
  }
  for (const Emit& e : out)
    if (*e.callback) (*e.callback)(e.event);
  if (!out.empty()) {
    std::shared_ptr<const std::function<void()>> after;
    {
      std::lock_guard<std::mutex> lock(mu_);
      after = after_events_;
    }
    if (after && *after) (*after)();
  }
  return worked || !out.empty();
}

void Engine::set_after_events(std::function<void()> fn) {
  auto f = std::make_shared<const std::function<void()>>(std::move(fn));
  std::lock_guard<std::mutex> lock(mu_);
  after_events_ = std::move(f);
}

void Engine::run_until_idle() {
  while (true) {
    bool pending;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending = !incoming_.empty() || !cancels_.empty();
    }
    if (!step() && !pending && !sched_.has_work()) return;
  }
}

void Engine::loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !incoming_.empty() || !cancels_.empty() || !live_.empty(); });
      if (stop_) return;
    }
    step();
  }
}

void Engine::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { loop(); });
}

void Engine::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace tandem
