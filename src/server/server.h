// The OpenAI-compatible HTTP front of an Engine:
//   POST /v1/completions, POST /v1/chat/completions (SSE streaming or not),
//   GET /v1/models, GET /health, GET /metrics (Prometheus text).
//
// Threads: run() is the I/O thread (HttpServer's epoll loop): parsing,
// tokenizing, Engine::submit/cancel and all socket writes happen there. The
// engine's step thread only appends its events to a queue and wakes the loop
// once per step (Engine::set_after_events), so it never waits on a socket; a client reading too slowly is dropped by
// HttpServer's output bound, which cancels its requests, and no other stream
// notices. A client that disconnects mid-request has its requests cancelled
// (the engine frees their KV blocks at its next step).
//
// Overload: the engine's queue limits (EngineConfig::max_queued_requests /
// max_queued_tokens) refuse a request at once; the server answers 429 (queue
// full) or 503 (queued prompts over the memory limit) with Retry-After, and
// requests already admitted carry on. Connections beyond
// HttpServerOptions::max_connections get 503 at accept.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "engine/engine.h"
#include "server/http_server.h"
#include "tokenizer/tokenizer.h"

namespace tandem::server {

struct ServerOptions {
  HttpServerOptions http;
  std::string model_name = "tandem";  // the id in /v1/models; requests must name it
  int retry_after_s = 1;              // Retry-After of 429 / 503 answers
};

class Server {
 public:
  // `engine` and `tokenizer` must outlive the server; the engine's step
  // thread is the caller's to start (Engine::start) and stop. Binds the port.
  static Result<std::unique_ptr<Server>> create(Engine& engine, const Tokenizer& tokenizer,
                                                ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const;
  // Serves until shutdown() (any thread). In-flight requests are cancelled on return.
  void run();
  void shutdown();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::server
