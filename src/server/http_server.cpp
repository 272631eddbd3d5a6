#include "server/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tandem::server {
namespace {

constexpr uint64_t kListenKey = 0;
constexpr uint64_t kWakeKey = ~uint64_t{0};

Status errno_status(const std::string& what) {
  return io_error(what + ": " + std::strerror(errno));
}

// More descriptors for thousands of connections: soft limit up to the hard one.
void raise_fd_limit() {
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

}  // namespace

struct HttpServer::Conn {
  ConnId id = 0;
  int fd = -1;
  std::string in;   // received, not yet consumed by the parser
  std::string out;  // to send, from out_off
  size_t out_off = 0;
  HttpParser parser;
  bool busy = false;       // a request is with the application
  bool streaming = false;  // its response is a chunked stream in progress
  bool keep_alive = true;  // of the request in progress
  bool sent_continue = false;
  bool close_after_flush = false;
  bool closing = false;
  bool peer_eof = false;
  bool dispatching = false;  // inside process_input
  uint32_t events = 0;       // registered epoll events
  Clock::time_point request_start, last_activity, last_write;
  size_t pending() const { return out.size() - out_off; }
};

HttpServer::HttpServer(HttpServerOptions options, Handlers handlers)
    : opt_(std::move(options)), handlers_(std::move(handlers)) {}

HttpServer::~HttpServer() {
  for (auto& [id, c] : conns_) ::close(c->fd);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Result<std::unique_ptr<HttpServer>> HttpServer::create(HttpServerOptions options, Handlers handlers) {
  if (options.port < 0 || options.port > 65535) return invalid_argument("port must be in [0, 65535]");
  raise_fd_limit();
  std::unique_ptr<HttpServer> s(new HttpServer(std::move(options), std::move(handlers)));
  struct addrinfo hints {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  struct addrinfo* res = nullptr;
  const std::string port = std::to_string(s->opt_.port);
  if (int rc = getaddrinfo(s->opt_.host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return io_error("cannot resolve host '" + s->opt_.host + "': " + gai_strerror(rc));
  Status last = io_error("no address for host '" + s->opt_.host + "'");
  for (struct addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = errno_status("socket");
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, s->opt_.backlog) != 0) {
      last = errno_status("cannot listen on " + s->opt_.host + ":" + port);
      ::close(fd);
      continue;
    }
    s->listen_fd_ = fd;
    break;
  }
  freeaddrinfo(res);
  if (s->listen_fd_ < 0) return last;
  struct sockaddr_storage addr {};
  socklen_t len = sizeof addr;
  if (getsockname(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return errno_status("getsockname");
  s->port_ = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                        : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  s->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (s->epoll_fd_ < 0) return errno_status("epoll_create1");
  s->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->wake_fd_ < 0) return errno_status("eventfd");
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenKey;
  if (epoll_ctl(s->epoll_fd_, EPOLL_CTL_ADD, s->listen_fd_, &ev) != 0) return errno_status("epoll_ctl");
  ev.data.u64 = kWakeKey;
  if (epoll_ctl(s->epoll_fd_, EPOLL_CTL_ADD, s->wake_fd_, &ev) != 0) return errno_status("epoll_ctl");
  return s;
}

void HttpServer::shutdown() {
  stop_.store(true);
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void HttpServer::wake() {
  if (wake_pending_.exchange(true)) return;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

HttpServer::Conn* HttpServer::find(ConnId id) {
  auto it = conns_.find(id);
  return it == conns_.end() || it->second->closing ? nullptr : it->second.get();
}
const HttpServer::Conn* HttpServer::find(ConnId id) const {
  auto it = conns_.find(id);
  return it == conns_.end() || it->second->closing ? nullptr : it->second.get();
}
bool HttpServer::alive(ConnId id) const { return find(id) != nullptr; }

void HttpServer::run() {
  std::vector<epoll_event> events(512);
  last_sweep_ = Clock::now();
  // A spare descriptor: when accept() fails for lack of descriptors, it is
  // closed to accept and drop the waiting connection, so the listening socket
  // does not keep the loop spinning.
  int spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  while (!stop_.load()) {
    const int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 250);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      const uint64_t key = events[static_cast<size_t>(i)].data.u64;
      const uint32_t ev = events[static_cast<size_t>(i)].events;
      if (key == kListenKey) {
        accept_all();
        if (errno == EMFILE || errno == ENFILE) {
          if (spare_fd >= 0) ::close(spare_fd);
          int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
          if (fd >= 0) ::close(fd);
          ++stats_.connections_refused;
          spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
        continue;
      }
      if (key == kWakeKey) {
        uint64_t v;
        [[maybe_unused]] ssize_t r = ::read(wake_fd_, &v, sizeof v);
        wake_pending_.store(false);
        if (handlers_.on_wake) handlers_.on_wake();
        continue;
      }
      Conn* c = find(key);
      if (c == nullptr) continue;
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(*c);
      if ((ev & EPOLLOUT) && !c->closing) flush(*c);
    }
    close_pending();
    const auto now = Clock::now();
    if (now - last_sweep_ >= std::chrono::seconds(1)) {
      last_sweep_ = now;
      sweep();
      if (handlers_.on_tick) handlers_.on_tick();
      close_pending();
    }
  }
  if (spare_fd >= 0) ::close(spare_fd);
  for (auto& [id, c] : conns_) schedule_close(*c, false);
  close_pending();
}

void HttpServer::accept_all() {
  while (true) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or out of descriptors (errno tells run())
    if (static_cast<int>(conns_.size()) >= opt_.max_connections) {
      static const std::string kBusy =
          http_response(503, "application/json",
                        error_body("too many connections; retry later", "server_error", {}, "overloaded"),
                        false, "Retry-After: 1\r\n");
      [[maybe_unused]] ssize_t w = ::send(fd, kBusy.data(), kBusy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
      ++stats_.connections_refused;
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (opt_.socket_send_buffer > 0)
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &opt_.socket_send_buffer, sizeof opt_.socket_send_buffer);
    auto c = std::make_unique<Conn>();
    c->id = next_id_++;
    c->fd = fd;
    c->parser = HttpParser(opt_.limits);
    c->request_start = c->last_activity = c->last_write = Clock::now();
    struct epoll_event ev {};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = c->id;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      ::close(fd);
      continue;
    }
    c->events = ev.events;
    ++stats_.connections_accepted;
    ++stats_.connections_open;
    conns_.emplace(c->id, std::move(c));
  }
}

void HttpServer::on_readable(Conn& c) {
  if (c.peer_eof) return;
  const size_t cap = opt_.limits.max_header_bytes + opt_.limits.max_body_bytes + 65536;
  char buf[16384];
  bool eof = false;
  while (true) {
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n > 0) {
      if (!c.busy && c.in.empty()) c.request_start = Clock::now();
      c.in.append(buf, static_cast<size_t>(n));
      c.last_activity = Clock::now();
      if (c.in.size() > cap) {  // far more than any request may be: not a client we serve
        schedule_close(c, true);
        return;
      }
      continue;
    }
    if (n == 0) {
      eof = true;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    schedule_close(c, false);  // ECONNRESET and friends
    return;
  }
  if (!eof) {
    process_input(c);
    return;
  }
  // The peer finished sending. Mid-request, that is a disconnect (a client
  // aborting a stream); otherwise answer what it sent, then close.
  if (c.busy) {
    schedule_close(c, false);
    return;
  }
  c.peer_eof = true;
  c.close_after_flush = true;
  process_input(c);
  if (c.closing) return;
  if (!c.busy && c.pending() == 0) {
    schedule_close(c, false);
    return;
  }
  update_events(c);
}

void HttpServer::process_input(Conn& c) {
  if (c.dispatching) return;
  c.dispatching = true;
  while (!c.busy && !c.closing && !c.in.empty()) {
    const HttpParser::State st = c.parser.parse(c.in);
    if (st == HttpParser::State::kNeedMore) break;
    if (st == HttpParser::State::kHeadersDone) {
      if (c.parser.request().expect_continue && !c.sent_continue) {
        c.sent_continue = true;
        c.out += "HTTP/1.1 100 Continue\r\n\r\n";
        flush(c);
      }
      break;
    }
    if (st == HttpParser::State::kError) {
      ++stats_.bad_requests;
      const int status = c.parser.error_status();
      c.out += http_response(status, "application/json",
                             error_body(c.parser.error_message(), "invalid_request_error"), false);
      c.in.clear();
      c.close_after_flush = true;
      flush(c);
      break;
    }
    HttpRequest req = c.parser.take_request();
    c.in.erase(0, c.parser.consumed());
    c.parser.reset();
    c.sent_continue = false;
    c.busy = true;
    c.streaming = false;
    c.keep_alive = req.keep_alive && !c.peer_eof;
    ++stats_.requests;
    if (handlers_.on_request) handlers_.on_request(c.id, std::move(req));
  }
  c.dispatching = false;
  if (!c.closing && !c.busy && c.peer_eof && c.pending() == 0) schedule_close(c, false);
}

void HttpServer::flush(Conn& c) {
  while (c.pending() > 0) {
    const ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.pending(), MSG_NOSIGNAL);
    if (n > 0) {
      c.out_off += static_cast<size_t>(n);
      c.last_write = Clock::now();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    schedule_close(c, false);  // EPIPE, ECONNRESET: the peer is gone
    return;
  }
  if (c.pending() == 0) {
    c.out.clear();
    c.out_off = 0;
    if (c.close_after_flush && !c.busy) {
      schedule_close(c, false);
      return;
    }
  } else if (c.out_off > (1u << 16) && c.out_off * 2 > c.out.size()) {
    c.out.erase(0, c.out_off);  // keep the buffer from growing with what was sent
    c.out_off = 0;
  }
  update_events(c);
}

void HttpServer::update_events(Conn& c) {
  if (c.closing) return;
  uint32_t want = EPOLLRDHUP;
  if (!c.peer_eof) want |= EPOLLIN;
  if (c.pending() > 0) want |= EPOLLOUT;
  if (want == c.events) return;
  struct epoll_event ev {};
  ev.events = want;
  ev.data.u64 = c.id;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev) == 0) c.events = want;
}

void HttpServer::schedule_close(Conn& c, bool dropped) {
  if (c.closing) return;
  c.closing = true;
  if (dropped) ++stats_.connections_dropped;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
  to_close_.push_back(c.id);
}

void HttpServer::close_pending() {
  while (!to_close_.empty()) {
    std::vector<ConnId> ids;
    ids.swap(to_close_);
    for (ConnId id : ids) {
      auto it = conns_.find(id);
      if (it == conns_.end()) continue;
      const bool notify = it->second->busy;
      ::close(it->second->fd);
      conns_.erase(it);
      --stats_.connections_open;
      if (notify && handlers_.on_close) handlers_.on_close(id);
    }
  }
}

void HttpServer::finish_response(Conn& c) {
  c.busy = false;
  c.streaming = false;
  c.request_start = Clock::now();
  if (!c.keep_alive || stop_.load()) c.close_after_flush = true;
  flush(c);
  if (!c.closing && !c.close_after_flush) process_input(c);  // pipelined requests
}

bool HttpServer::respond(ConnId id, int status, std::string_view content_type, std::string_view body,
                         std::string_view extra_headers) {
  Conn* c = find(id);
  if (c == nullptr || !c->busy || c->streaming) return false;
  c->out += http_response(status, content_type, body, c->keep_alive && !stop_.load(), extra_headers);
  finish_response(*c);
  return true;
}

bool HttpServer::start_stream(ConnId id, int status, std::string_view content_type,
                              std::string_view extra_headers) {
  Conn* c = find(id);
  if (c == nullptr || !c->busy || c->streaming) return false;
  c->streaming = true;
  c->out += http_stream_head(status, content_type, c->keep_alive, extra_headers);
  flush(*c);
  return !c->closing;
}

bool HttpServer::send(ConnId id, std::string_view data) {
  Conn* c = find(id);
  if (c == nullptr || !c->streaming) return false;
  if (c->pending() + data.size() > opt_.max_output_bytes) {
    schedule_close(*c, true);  // a slow reader: never let it hold memory or the loop
    return false;
  }
  http_append_chunk(c->out, data);
  flush(*c);
  return !c->closing;
}

bool HttpServer::end_stream(ConnId id) {
  Conn* c = find(id);
  if (c == nullptr || !c->streaming) return false;
  c->out += kHttpLastChunk;
  finish_response(*c);
  return true;
}

void HttpServer::sweep() {
  const auto now = Clock::now();
  auto older = [&](Clock::time_point t, int ms) { return now - t > std::chrono::milliseconds(ms); };
  for (auto& [id, cp] : conns_) {
    Conn& c = *cp;
    if (c.closing) continue;
    if (c.pending() > 0 && older(c.last_write, opt_.write_timeout_ms)) {
      schedule_close(c, true);
      continue;
    }
    if (c.busy) continue;
    if (!c.in.empty() && older(c.request_start, opt_.header_timeout_ms)) {
      c.out += http_response(408, "application/json",
                             error_body("the request did not arrive in time", "invalid_request_error"),
                             false);
      c.in.clear();
      c.close_after_flush = true;
      ++stats_.connections_dropped;
      flush(c);
    } else if (c.in.empty() && c.pending() == 0 && older(c.last_activity, opt_.idle_timeout_ms) &&
               older(c.request_start, opt_.idle_timeout_ms)) {
      schedule_close(c, false);
    }
  }
}

}  // namespace tandem::server
