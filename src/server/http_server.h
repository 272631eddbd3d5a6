// An HTTP/1.1 server on one epoll loop: non-blocking sockets, keep-alive,
// any number of concurrent (streaming) responses without a thread each.
//
// Threading: run() is the I/O thread; every handler runs on it and every
// method except wake() and shutdown() must be called from it. Other threads
// (the engine) hand work over by queueing it themselves and calling wake(),
// which runs Handlers::on_wake on the I/O thread.
//
// A connection carries one request at a time: once on_request() has been
// called for it, the application answers with respond() or with
// start_stream() + send()* + end_stream(); then the next request on the
// connection (keep-alive) is parsed. Bytes a client sends meanwhile are kept.
//
// Back-pressure: a connection's unsent output is bounded (max_output_bytes).
// send() never blocks: when the peer reads too slowly and the bound would be
// exceeded, or the peer has gone, the connection is closed and send() returns
// false. Closing is deferred: on_close(conn) runs later from the loop, never
// from inside a call the application made, and only for connections with a
// request in progress.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "server/http.h"

namespace tandem::server {

using ConnId = uint64_t;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see HttpServer::port())
  HttpLimits limits;
  size_t max_output_bytes = 1 << 20;  // unsent bytes per connection before it is dropped
  int max_connections = 8192;         // beyond: 503 and close at once
  int header_timeout_ms = 30000;      // a request's head and body must arrive within this
  int idle_timeout_ms = 120000;       // keep-alive connection with nothing to do
  int write_timeout_ms = 60000;       // unsent output with no progress for this long: dropped
  int backlog = 4096;
  int socket_send_buffer = 0;  // SO_SNDBUF of accepted sockets; 0 = the kernel's (autotuned)
};

struct HttpServerStats {
  int64_t connections_accepted = 0;
  int64_t connections_refused = 0;     // over max_connections
  int64_t connections_dropped = 0;     // slow readers and timeouts
  int64_t requests = 0;                // complete requests handed to on_request
  int64_t bad_requests = 0;            // answered by the parser's errors
  int32_t connections_open = 0;
};

class HttpServer {
 public:
  struct Handlers {
    std::function<void(ConnId, HttpRequest&&)> on_request;
    std::function<void(ConnId)> on_close;  // the peer went away mid-request (see above)
    std::function<void()> on_wake;
    std::function<void()> on_tick;  // about once a second
  };

  // Binds and listens. IoError when the address is taken or invalid.
  static Result<std::unique_ptr<HttpServer>> create(HttpServerOptions options, Handlers handlers);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // Runs the loop until shutdown(). Connections are closed on return.
  void run();
  void shutdown();  // any thread
  void wake();      // any thread

  // I/O thread only. A ConnId that is gone (closed) is ignored: false.
  bool respond(ConnId id, int status, std::string_view content_type, std::string_view body,
               std::string_view extra_headers = {});
  bool start_stream(ConnId id, int status, std::string_view content_type,
                    std::string_view extra_headers = {});
  bool send(ConnId id, std::string_view data);  // one chunk of the stream
  bool end_stream(ConnId id);
  bool alive(ConnId id) const;
  HttpServerStats stats() const { return stats_; }

 private:
  struct Conn;
  using Clock = std::chrono::steady_clock;
  HttpServer(HttpServerOptions options, Handlers handlers);
  void accept_all();
  void on_readable(Conn& c);
  void process_input(Conn& c);
  void flush(Conn& c);
  void update_events(Conn& c);
  void finish_response(Conn& c);
  void schedule_close(Conn& c, bool dropped);
  void close_pending();
  void sweep();
  Conn* find(ConnId id);
  const Conn* find(ConnId id) const;

  HttpServerOptions opt_;
  Handlers handlers_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> wake_pending_{false};
  ConnId next_id_ = 1;
  std::unordered_map<ConnId, std::unique_ptr<Conn>> conns_;
  std::unordered_map<int, ConnId> by_fd_;
  std::vector<ConnId> to_close_;
  Clock::time_point last_sweep_;
  HttpServerStats stats_;
};

}  // namespace tandem::server
