#include "server/server.h"

#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>

#include "server/metrics.h"
#include "server/openai_api.h"
#include "tokenizer/chat_template.h"

namespace tandem::server {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

const char* finish_reason(SeqEnd e) {
  switch (e) {
    case SeqEnd::kStop: return "stop";
    case SeqEnd::kLength:
    case SeqEnd::kContext: return "length";
    case SeqEnd::kCancelled: return "abort";
  }
  return "stop";
}

std::string sse(const json& j) { return "data: " + dump(j) + "\n\n"; }

// Latency buckets in seconds: CPU decoding is slower than GPU, so they reach
// further than vLLM's.
std::vector<double> ttft_buckets() {
  return {0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160};
}
std::vector<double> itl_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5};
}

}  // namespace

// Events from the engine's thread to the I/O thread. Shared with the engine
// callbacks, so a callback that fires after the server is gone is harmless.
struct Inbox {
  struct Item {
    uint64_t exchange = 0;
    int32_t choice = 0;
    StreamEvent event;
    Clock::time_point at;
  };
  std::mutex mu;
  std::vector<Item> items;
  HttpServer* http = nullptr;  // null once the server is gone

  // Called from the engine's step thread for each event; the I/O thread is
  // woken once per step, by wake_if_pending (Engine::set_after_events).
  void push(uint64_t exchange, int32_t choice, const StreamEvent& ev) {
    std::lock_guard<std::mutex> lock(mu);
    items.push_back({exchange, choice, ev, Clock::now()});
  }
  void wake_if_pending() {
    std::lock_guard<std::mutex> lock(mu);
    if (http && !items.empty()) http->wake();
  }
};

struct Server::Impl {
  struct Choice {
    RequestId id = 0;
    bool live = false;  // submitted, final event not seen
    std::string text;
    int32_t tokens = 0;
    SeqEnd reason = SeqEnd::kLength;
    std::string error;
    std::vector<LogprobEntry> logprobs;
    size_t text_offset = 0;  // streamed completions: bytes of text sent so far
    bool seen_token = false;
    Clock::time_point last_token;
  };
  struct Exchange {
    uint64_t key = 0;
    ConnId conn = 0;
    CompletionParams params;
    std::string id;
    int64_t created = 0;
    Clock::time_point arrival;
    std::vector<Choice> choices;
    int open = 0;
    int32_t prompt_tokens = 0;
    int32_t cached_tokens = 0;
    ChunkHeader head;                          // streams: what every chunk repeats
    std::optional<TextChunkWriter> text_chunk;  // streams: the per-token events
  };

  Impl(Engine& e, const Tokenizer& t, ServerOptions o)
      : engine(e), tok(t), opt(std::move(o)), chat_template(detect_chat_template(t.vocab())),
        rng(std::random_device{}()), ttft(ttft_buckets()), itl(itl_buckets()),
        e2e(ttft_buckets()) {}

  Engine& engine;
  const Tokenizer& tok;
  ServerOptions opt;
  ChatTemplate chat_template;
  std::unique_ptr<HttpServer> http;
  std::shared_ptr<Inbox> inbox = std::make_shared<Inbox>();
  std::unordered_map<uint64_t, std::unique_ptr<Exchange>> exchanges;
  std::unordered_map<ConnId, uint64_t> by_conn;
  uint64_t next_key = 1;
  std::mt19937_64 rng;
  const int64_t started_unix = static_cast<int64_t>(std::time(nullptr));

  // Metrics (I/O thread).
  Histogram ttft, itl, e2e;
  std::map<int, int64_t> responses_by_status;
  int64_t cancelled_by_disconnect = 0;
  int64_t prompt_tokens_cached = 0;
  int64_t completions_finished = 0;
  bool trim_pending = false;
  std::deque<std::pair<Clock::time_point, int64_t>> token_samples;  // (time, tokens generated)

  int32_t context() const { return engine.scheduler_config().max_seq_len; }

  void respond_json(ConnId c, int status, const std::string& body, const std::string& headers = {}) {
    ++responses_by_status[status];
    http->respond(c, status, "application/json", body, headers);
  }
  void respond_error(ConnId c, const ApiError& e) {
    std::string headers;
    if (e.status == 429 || e.status == 503) headers = "Retry-After: " + std::to_string(opt.retry_after_s) + "\r\n";
    respond_json(c, e.status, to_json(e), headers);
  }

  void on_request(ConnId c, HttpRequest&& req) {
    try {
      route(c, std::move(req));
    } catch (const std::exception& ex) {  // never let one request take the process down
      ApiError e;
      e.status = 500;
      e.type = "server_error";
      e.message = std::string("internal error: ") + ex.what();
      if (http->alive(c) && !by_conn.count(c)) respond_error(c, e);
    }
  }

  void route(ConnId c, HttpRequest&& req) {
    const std::string& p = req.path;
    const bool get = req.method == "GET" || req.method == "HEAD";
    auto wrong_method = [&](const char* allowed) {
      ApiError e;
      e.status = 405;
      e.message = "method " + req.method + " is not allowed on " + p + "; use " + allowed;
      respond_error(c, e);
    };
    if (p == "/health") {
      if (!get) return wrong_method("GET");
      return respond_json(c, 200, "{\"status\":\"ok\"}");
    }
    if (p == "/v1/models") {
      if (!get) return wrong_method("GET");
      json m = {{"id", opt.model_name}, {"object", "model"}, {"created", started_unix},
                {"owned_by", "tandem"}, {"max_model_len", context()}};
      return respond_json(c, 200, dump(json{{"object", "list"}, {"data", json::array({m})}}));
    }
    if (p == "/metrics") {
      if (!get) return wrong_method("GET");
      ++responses_by_status[200];
      http->respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", metrics_text());
      return;
    }
    if (p == "/v1/completions" || p == "/v1/chat/completions") {
      if (req.method != "POST") return wrong_method("POST");
      return completion(c, req, p == "/v1/chat/completions" ? Endpoint::kChat : Endpoint::kCompletions);
    }
    ApiError e;
    e.status = 404;
    e.message = "no route for " + req.method + " " + p;
    e.code = "not_found";
    respond_error(c, e);
  }

  void completion(ConnId c, const HttpRequest& req, Endpoint endpoint) {
    auto parsed = parse_completion_request(req.body, endpoint);
    if (auto* err = std::get_if<ApiError>(&parsed)) return respond_error(c, *err);
    CompletionParams& p = std::get<CompletionParams>(parsed);
    if (p.model != opt.model_name) {
      ApiError e;
      e.status = 404;
      e.message = "the model '" + p.model + "' does not exist; this server serves '" + opt.model_name + "'";
      e.param = "model";
      e.code = "model_not_found";
      return respond_error(c, e);
    }
    std::vector<int32_t> prompt;
    if (endpoint == Endpoint::kChat) {
      EncodeOptions eo;
      eo.add_bos = tok.vocab().add_bos;
      eo.parse_special = true;
      prompt = tok.encode(apply_chat_template(chat_template, p.messages, true), eo);
    } else if (p.prompt_is_tokens) {
      prompt = p.prompt_tokens;
    } else {
      EncodeOptions eo;
      eo.add_bos = tok.vocab().add_bos;
      prompt = tok.encode(p.prompt_text, eo);
    }
    const char* prompt_param = endpoint == Endpoint::kChat ? "messages" : "prompt";
    if (prompt.empty()) {
      ApiError e;
      e.message = "the prompt is empty";
      e.param = prompt_param;
      return respond_error(c, e);
    }
    const int32_t ctx = context();
    if (static_cast<int64_t>(prompt.size()) >= ctx) {
      ApiError e;
      e.message = "this model's maximum context length is " + std::to_string(ctx) + " tokens, and the prompt has " +
                  std::to_string(prompt.size()) + " (at least one token must be left to generate)";
      e.param = prompt_param;
      e.code = "context_length_exceeded";
      return respond_error(c, e);
    }
    const int32_t room = ctx - static_cast<int32_t>(prompt.size());
    const int32_t max_tokens =
        std::min(room, p.max_tokens.value_or(endpoint == Endpoint::kChat ? room : 16));

    auto ex = std::make_unique<Exchange>();
    ex->key = next_key++;
    ex->conn = c;
    ex->created = static_cast<int64_t>(std::time(nullptr));
    ex->arrival = Clock::now();
    char idbuf[48];
    std::snprintf(idbuf, sizeof idbuf, "%s-%016llx", endpoint == Endpoint::kChat ? "chatcmpl" : "cmpl",
                  static_cast<unsigned long long>(rng()));
    ex->id = idbuf;
    ex->choices.resize(static_cast<size_t>(p.n));
    const uint64_t seed = p.seed ? static_cast<uint64_t>(*p.seed) : rng();
    for (int32_t i = 0; i < p.n; ++i) {
      GenerationRequest g;
      g.prompt = prompt;
      g.max_tokens = max_tokens;
      g.sampling.temperature = p.temperature;
      g.sampling.top_p = p.top_p;
      g.sampling.top_k = p.top_k;
      g.sampling.min_p = p.min_p;
      g.sampling.presence_penalty = p.presence_penalty;
      g.sampling.frequency_penalty = p.frequency_penalty;
      g.sampling.repetition_penalty = p.repetition_penalty;
      g.sampling.seed = seed;
      g.sampling_stream = static_cast<uint64_t>(i);
      g.stop = p.stop;
      g.stop_at_eos = !p.ignore_eos;
      g.logprobs = p.logprobs;
      g.on_event = [inbox = inbox, key = ex->key, i](const StreamEvent& ev) { inbox->push(key, i, ev); };
      Overload why = Overload::kNone;
      Result<RequestId> id = engine.submit(std::move(g), &why);
      if (!id.ok()) {
        for (int32_t k = 0; k < i; ++k) (void)engine.cancel(ex->choices[static_cast<size_t>(k)].id);
        ApiError e;
        e.message = id.status().message();
        if (why == Overload::kQueueFull) {
          e.status = 429;
          e.type = "rate_limit_error";
          e.code = "queue_full";
        } else if (why == Overload::kMemoryFull) {
          e.status = 503;
          e.type = "server_error";
          e.code = "overloaded";
        } else if (id.status().code() == StatusCode::kOutOfRange) {
          e.param = prompt_param;
          e.code = "context_length_exceeded";
        } else {
          e.param = prompt_param;
        }
        return respond_error(c, e);
      }
      ex->choices[static_cast<size_t>(i)].id = *id;
      ex->choices[static_cast<size_t>(i)].live = true;
    }
    ex->open = p.n;
    ex->params = std::move(p);
    if (ex->params.stream) {
      ex->head = ChunkHeader{ex->params.endpoint, ex->id, ex->created, opt.model_name, ex->params.include_usage};
      ex->text_chunk.emplace(ex->head);
      ++responses_by_status[200];
      http->start_stream(c, 200, "text/event-stream");
      if (endpoint == Endpoint::kChat)
        for (int32_t i = 0; i < ex->params.n; ++i) {
          json delta = {{"role", "assistant"}, {"content", ""}};
          http->send(c, sse(stream_chunk_json(ex->head, i, delta, nullptr, nullptr)));
        }
    }
    by_conn[c] = ex->key;
    exchanges.emplace(ex->key, std::move(ex));
  }

  json usage(const Exchange& ex) const {
    int32_t completion = 0;
    for (const Choice& ch : ex.choices) completion += ch.tokens;
    return {{"prompt_tokens", ex.prompt_tokens},
            {"completion_tokens", completion},
            {"total_tokens", ex.prompt_tokens + completion},
            {"prompt_tokens_details", {{"cached_tokens", ex.cached_tokens}}}};
  }

  LogprobEntry logprob_entry(const StreamEvent& ev) const {
    LogprobEntry e;
    e.token = tok.token_bytes(ev.token);
    e.logprob = ev.logprob;
    for (const TokenLogprob& t : ev.top_logprobs) e.top.emplace_back(tok.token_bytes(t.token), t.logprob);
    return e;
  }

  void drain() {
    std::vector<Inbox::Item> items;
    {
      std::lock_guard<std::mutex> lock(inbox->mu);
      items.swap(inbox->items);
    }
    for (Inbox::Item& it : items) {
      auto e = exchanges.find(it.exchange);
      if (e == exchanges.end()) continue;  // its client went away
      on_event(*e->second, it.choice, it.event, it.at);
    }
  }

  void on_event(Exchange& ex, int32_t i, const StreamEvent& ev, Clock::time_point at) {
    Choice& ch = ex.choices[static_cast<size_t>(i)];
    if (!ch.live) return;
    const bool stream = ex.params.stream;
    const bool chat = ex.params.endpoint == Endpoint::kChat;
    std::vector<LogprobEntry> new_lp;
    if (ev.token >= 0) {
      if (!ch.seen_token)
        ttft.observe(seconds(at - ex.arrival));
      else
        itl.observe(seconds(at - ch.last_token));
      ch.seen_token = true;
      ch.last_token = at;
      ++ch.tokens;
      if (ex.params.logprobs >= 0) new_lp.push_back(logprob_entry(ev));
    }
    if (stream && new_lp.empty() && !ev.text.empty()) {
      http->send(ex.conn, ex.text_chunk->event(i, ev.text));
      ch.text_offset += ev.text.size();
    } else if (stream && (!ev.text.empty() || !new_lp.empty())) {
      json lp;
      const json* lpp = nullptr;
      if (!new_lp.empty()) {
        lp = chat ? chat_logprobs_json(new_lp) : completion_logprobs_json(new_lp, ch.text_offset);
        lpp = &lp;
      }
      const json payload = chat ? json{{"content", ev.text}} : json{{"text", ev.text}};
      http->send(ex.conn, sse(stream_chunk_json(ex.head, i, payload, lpp, nullptr)));
      ch.text_offset += ev.text.size();
    }
    ch.text += ev.text;
    for (LogprobEntry& e : new_lp) ch.logprobs.push_back(std::move(e));
    if (!ev.finished) return;

    ch.live = false;
    ch.reason = ev.reason;
    ch.error = ev.error;
    if (ev.reason == SeqEnd::kCancelled && ch.error.empty()) ch.error = "the request was cancelled";
    ex.prompt_tokens = ev.prompt_tokens;
    ex.cached_tokens = std::max(ex.cached_tokens, ev.cached_prompt_tokens);
    prompt_tokens_cached += ev.cached_prompt_tokens;
    ++completions_finished;
    e2e.observe(seconds(at - ex.arrival));
    if (stream) {
      if (!ch.error.empty()) {
        ApiError err;
        err.status = 500;
        err.type = "server_error";
        err.message = ch.error;
        http->send(ex.conn, "data: " + to_json(err) + "\n\n");
      } else {
        http->send(ex.conn, sse(stream_chunk_json(ex.head, i, chat ? json::object() : json{{"text", ""}}, nullptr,
                                                  finish_reason(ch.reason))));
      }
    }
    if (--ex.open > 0) return;
    complete(ex);
  }

  // Every choice has ended: the last bytes of the response, and forget it.
  void complete(Exchange& ex) {
    const ConnId c = ex.conn;
    if (ex.params.stream) {
      if (ex.params.include_usage) {
        json j = {{"id", ex.id},
                  {"object", ex.params.endpoint == Endpoint::kChat ? "chat.completion.chunk" : "text_completion"},
                  {"created", ex.created},
                  {"model", opt.model_name},
                  {"choices", json::array()},
                  {"usage", usage(ex)}};
        http->send(c, sse(j));
      }
      http->send(c, "data: [DONE]\n\n");
      http->end_stream(c);
    } else {
      std::string error;
      for (const Choice& ch : ex.choices)
        if (!ch.error.empty()) error = ch.error;
      if (!error.empty()) {
        ApiError e;
        e.status = 500;
        e.type = "server_error";
        e.message = error;
        respond_error(c, e);
      } else {
        const bool chat = ex.params.endpoint == Endpoint::kChat;
        json choices = json::array();
        for (size_t i = 0; i < ex.choices.size(); ++i) {
          const Choice& ch = ex.choices[i];
          json o;
          o["index"] = i;
          if (chat)
            o["message"] = {{"role", "assistant"}, {"content", ch.text}};
          else
            o["text"] = ch.text;
          if (ex.params.logprobs >= 0)
            o["logprobs"] = chat ? chat_logprobs_json(ch.logprobs) : completion_logprobs_json(ch.logprobs, 0);
          else
            o["logprobs"] = nullptr;
          o["finish_reason"] = finish_reason(ch.reason);
          choices.push_back(std::move(o));
        }
        json j = {{"id", ex.id},
                  {"object", chat ? "chat.completion" : "text_completion"},
                  {"created", ex.created},
                  {"model", opt.model_name},
                  {"choices", std::move(choices)},
                  {"usage", usage(ex)}};
        respond_json(c, 200, dump(j));
      }
    }
    const uint64_t key = ex.key;
    trim_pending = true;
    by_conn.erase(c);
    exchanges.erase(key);  // `ex` is gone
  }

  void on_close(ConnId c) {
    auto it = by_conn.find(c);
    if (it == by_conn.end()) return;
    auto e = exchanges.find(it->second);
    if (e != exchanges.end()) {
      for (const Choice& ch : e->second->choices)
        if (ch.live) {
          (void)engine.cancel(ch.id);  // NotFound if it ended meanwhile: fine
          ++cancelled_by_disconnect;
        }
      exchanges.erase(e);
    }
    by_conn.erase(it);
    trim_pending = true;
  }

  void on_tick() {
    const auto now = Clock::now();
    // After a load peak, hand the freed heap back to the OS once idle: events
    // are allocated on the engine thread and freed here, and glibc keeps
    // such memory in its arenas otherwise (RSS would stay at the peak).
    if (exchanges.empty() && trim_pending) {
      malloc_trim(0);
      trim_pending = false;
    }
    token_samples.emplace_back(now, engine.stats().tokens_generated);
    while (token_samples.size() > 2 && now - token_samples.front().first > std::chrono::seconds(10))
      token_samples.pop_front();
  }

  std::string metrics_text() {
    const EngineStats s = engine.stats();
    const HttpServerStats h = http->stats();
    const KvBlockStats& kv = s.scheduler.device;
    PrometheusWriter w;
    w.histogram("tandem_time_to_first_token_seconds", "Time from request arrival to the first generated token.", ttft);
    w.histogram("tandem_inter_token_latency_seconds", "Time between consecutive tokens of one sequence.", itl);
    w.histogram("tandem_request_latency_seconds", "Time from request arrival to its last token.", e2e);
    w.gauge("tandem_queue_depth", "Requests submitted and not yet admitted (the overload limits apply to these).",
            s.queued_requests);
    w.gauge("tandem_queue_prompt_tokens", "Prompt tokens of the queued requests.", static_cast<double>(s.queued_tokens));
    w.gauge("tandem_sequences_running", "Sequences holding KV blocks and being computed.", s.scheduler.running);
    w.gauge("tandem_sequences_waiting", "Sequences waiting for admission (new or preempted by recompute).",
            s.scheduler.waiting);
    w.gauge("tandem_sequences_swapped", "Sequences preempted to host memory.", s.scheduler.swapped);
    w.gauge("tandem_kv_blocks_total", "Device KV blocks.", kv.total);
    w.gauge("tandem_kv_blocks_used", "KV blocks referenced by a sequence.", kv.used);
    w.gauge("tandem_kv_blocks_free", "KV blocks free or cached (reusable).", kv.free + kv.cached);
    w.gauge("tandem_kv_blocks_cached", "Unreferenced KV blocks kept for prefix reuse.", kv.cached);
    w.gauge("tandem_kv_blocks_used_peak", "Most KV blocks used at once since start.", s.peak_blocks_used);
    w.gauge("tandem_kv_block_size_tokens", "Tokens per KV block.", engine.scheduler_config().block_size);
    const double hit_rate = kv.prefix_queried_tokens > 0
                                ? static_cast<double>(kv.prefix_hit_tokens) / static_cast<double>(kv.prefix_queried_tokens)
                                : 0.0;
    w.gauge("tandem_prefix_cache_hit_rate", "Prompt tokens found in the prefix cache / prompt tokens looked up.", hit_rate);
    w.counter("tandem_prefix_cache_queried_tokens_total", "Prompt tokens looked up in the prefix cache.",
              static_cast<double>(kv.prefix_queried_tokens));
    w.counter("tandem_prefix_cache_hit_tokens_total", "Prompt tokens served from the prefix cache.",
              static_cast<double>(kv.prefix_hit_tokens));
    double tps = 0;
    if (token_samples.size() >= 2) {
      const double dt = seconds(token_samples.back().first - token_samples.front().first);
      if (dt > 0) tps = static_cast<double>(token_samples.back().second - token_samples.front().second) / dt;
    }
    w.gauge("tandem_generation_tokens_per_second", "Generated tokens per second over the last ~10 s.", tps);
    w.counter("tandem_generation_tokens_total", "Tokens generated.", static_cast<double>(s.tokens_generated));
    w.counter("tandem_prompt_tokens_computed_total", "Prompt tokens run through the model.",
              static_cast<double>(s.prompt_tokens_computed));
    w.counter("tandem_engine_steps_total", "Engine steps (one batched forward each).", static_cast<double>(s.steps));
    w.counter("tandem_requests_submitted_total", "Sequences submitted to the engine.",
              static_cast<double>(s.requests_submitted));
    w.counter("tandem_requests_finished_total", "Sequences ended (cancelled and failed included).",
              static_cast<double>(s.requests_finished));
    w.counter("tandem_requests_rejected_total", "Sequences refused by the overload limits.",
              static_cast<double>(s.requests_rejected));
    w.counter("tandem_requests_cancelled_by_disconnect_total", "Sequences cancelled because the client left.",
              static_cast<double>(cancelled_by_disconnect));
    w.labelled("tandem_preemptions_total", "counter", "Sequences preempted, by mode.", "mode",
               {{"recompute", static_cast<double>(s.scheduler.preempted_recompute)},
                {"swap", static_cast<double>(s.scheduler.preempted_swap)}});
    std::vector<std::pair<std::string, double>> by_status;
    for (const auto& [code, n] : responses_by_status) by_status.emplace_back(std::to_string(code), static_cast<double>(n));
    w.labelled("tandem_http_responses_total", "counter", "API responses by HTTP status (parser errors excluded).",
               "code", by_status);
    w.counter("tandem_http_bad_requests_total", "Requests refused by the HTTP parser.", static_cast<double>(h.bad_requests));
    w.gauge("tandem_http_connections_open", "Open client connections.", h.connections_open);
    w.counter("tandem_http_connections_refused_total", "Connections refused over the connection limit.",
              static_cast<double>(h.connections_refused));
    w.counter("tandem_http_connections_dropped_total", "Connections dropped (slow readers, timeouts).",
              static_cast<double>(h.connections_dropped));
    w.gauge("tandem_http_requests_in_progress", "Completion requests in progress.", static_cast<double>(exchanges.size()));
    return w.text();
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  impl_->engine.set_after_events(nullptr);
  {
    std::lock_guard<std::mutex> lock(impl_->inbox->mu);
    impl_->inbox->http = nullptr;
  }
  for (auto& [key, ex] : impl_->exchanges)
    for (const auto& ch : ex->choices)
      if (ch.live) (void)impl_->engine.cancel(ch.id);
}

Result<std::unique_ptr<Server>> Server::create(Engine& engine, const Tokenizer& tokenizer, ServerOptions options) {
  if (options.model_name.empty()) return invalid_argument("the served model name is empty");
  auto impl = std::make_unique<Impl>(engine, tokenizer, std::move(options));
  Impl* p = impl.get();
  HttpServer::Handlers h;
  h.on_request = [p](ConnId c, HttpRequest&& r) { p->on_request(c, std::move(r)); };
  h.on_close = [p](ConnId c) { p->on_close(c); };
  h.on_wake = [p] { p->drain(); };
  h.on_tick = [p] { p->on_tick(); };
  TANDEM_ASSIGN_OR_RETURN(p->http, HttpServer::create(p->opt.http, std::move(h)));
  p->inbox->http = p->http.get();
  engine.set_after_events([inbox = p->inbox] { inbox->wake_if_pending(); });
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::port() const { return impl_->http->port(); }
void Server::run() {
  impl_->on_tick();
  impl_->http->run();
}
void Server::shutdown() { impl_->http->shutdown(); }

}  // namespace tandem::server
