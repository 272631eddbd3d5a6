#include "server/load_gen.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace tandem::server {

using nlohmann::json;

namespace {

// Seconds since the epoch from "2023-11-16 18:15:46.6805900" (UTC, no zone).
bool parse_azure_time(const std::string& s, double* out) {
  int Y, M, D, h, m;
  double sec;
  if (std::sscanf(s.c_str(), "%d-%d-%d %d:%d:%lf", &Y, &M, &D, &h, &m, &sec) != 6) return false;
  // Days from civil (Howard Hinnant's algorithm).
  Y -= M <= 2;
  const int era = (Y >= 0 ? Y : Y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(Y - era * 400);
  const unsigned doy = static_cast<unsigned>((153 * (M + (M > 2 ? -3 : 9)) + 2) / 5 + D - 1);
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const double days = era * 146097.0 + static_cast<double>(doe) - 719468.0;
  *out = days * 86400.0 + h * 3600.0 + m * 60.0 + sec;
  return true;
}

uint64_t mix(uint64_t x) {  // splitmix64 finalizer
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

double parse_seconds(std::string v, bool* ok) {
  double scale = 1;
  if (v.size() > 2 && v.substr(v.size() - 2) == "ms") {
    scale = 1e-3;
    v.resize(v.size() - 2);
  } else if (!v.empty() && v.back() == 's') {
    v.pop_back();
  }
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  *ok = !v.empty() && end && *end == '\0' && x >= 0 && std::isfinite(x);
  return x * scale;
}

std::vector<std::pair<std::string, std::string>> split_kv(const std::string& spec) {
  std::vector<std::pair<std::string, std::string>> out;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    out.emplace_back(item.substr(0, eq), eq == std::string::npos ? "" : item.substr(eq + 1));
  }
  return out;
}

}  // namespace

Result<std::vector<TraceRow>> read_trace(const std::string& path, size_t max_rows) {
  std::ifstream f(path);
  if (!f) return io_error("cannot open trace '" + path + "'");
  std::vector<TraceRow> rows;
  std::string line;
  bool first = true, jsonl = false;
  double t0 = 0;
  size_t lineno = 0;
  while (std::getline(f, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (first) {
      jsonl = line[0] == '{';
      first = false;
      if (!jsonl) continue;  // the CSV header
    }
    TraceRow r;
    if (jsonl) {
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("input_length") || !j.contains("output_length"))
        return data_loss(path + ":" + std::to_string(lineno) + ": not a Mooncake trace row");
      r.arrival_s = j.value("timestamp", 0.0) / 1000.0;
      r.prompt_tokens = j["input_length"].get<int64_t>();
      r.output_tokens = j["output_length"].get<int64_t>();
      if (j.contains("hash_ids") && j["hash_ids"].is_array())
        for (const json& h : j["hash_ids"]) r.hash_ids.push_back(h.get<int64_t>());
    } else {
      const size_t c1 = line.find(','), c2 = line.find(',', c1 + 1);
      if (c1 == std::string::npos || c2 == std::string::npos)
        return data_loss(path + ":" + std::to_string(lineno) + ": expected TIMESTAMP,ContextTokens,GeneratedTokens");
      double t = 0;
      if (!parse_azure_time(line.substr(0, c1), &t))
        return data_loss(path + ":" + std::to_string(lineno) + ": bad timestamp");
      if (rows.empty()) t0 = t;
      r.arrival_s = t - t0;
      r.prompt_tokens = std::atoll(line.substr(c1 + 1, c2 - c1 - 1).c_str());
      r.output_tokens = std::atoll(line.substr(c2 + 1).c_str());
    }
    rows.push_back(std::move(r));
    if (max_rows > 0 && rows.size() >= max_rows) break;
  }
  if (rows.empty()) return data_loss("trace '" + path + "' has no rows");
  std::stable_sort(rows.begin(), rows.end(), [](const TraceRow& a, const TraceRow& b) { return a.arrival_s < b.arrival_s; });
  const double base = rows.front().arrival_s;
  for (TraceRow& r : rows) r.arrival_s -= base;
  return rows;
}

Result<TraceScale> parse_scale(const std::string& spec) {
  TraceScale s;
  for (const auto& [k, v] : split_kv(spec)) {
    if (k == "len" && v == "auto") {
      s.len = -1;
      continue;
    }
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !(x > 0) || !std::isfinite(x))
      return invalid_argument("--scale " + k + " needs a positive number, got '" + v + "'");
    if (k == "time") s.time = x;
    else if (k == "rate") s.rate = x;
    else if (k == "prompt") s.prompt = x;
    else if (k == "output") s.output = x;
    else if (k == "len") s.len = x;
    else return invalid_argument("unknown --scale key '" + k + "' (time, rate, prompt, output, len)");
  }
  return s;
}

ScaledTrace scale_trace(const std::vector<TraceRow>& rows, const TraceScale& scale, int32_t context,
                        int32_t first_token, int32_t n_token_ids) {
  ScaledTrace out;
  if (rows.empty()) return out;
  double len = scale.len;
  std::string len_how;
  if (len <= 0) {
    std::vector<double> sums;
    for (const TraceRow& r : rows) sums.push_back(static_cast<double>(r.prompt_tokens + r.output_tokens));
    const double p99 = percentiles(sums).p99;
    len = std::min(1.0, 0.5 * context / std::max(1.0, p99));
    len_how = " (auto: p99 of prompt+output " + std::to_string(static_cast<int64_t>(p99)) + " -> half the context)";
  }
  const double ps = scale.prompt > 0 ? scale.prompt : len;
  const double os = scale.output > 0 ? scale.output : len;
  double ts = scale.time;
  const double span = rows.back().arrival_s;
  if (scale.rate > 0 && span > 0) ts = (static_cast<double>(rows.size() - 1) / scale.rate) / span;
  const int64_t block = std::max<int64_t>(1, std::llround(512 * ps));  // Mooncake prefix block, scaled
  int64_t clipped = 0;
  double sum_p = 0, sum_o = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const TraceRow& r = rows[i];
    int64_t p = std::max<int64_t>(1, std::llround(static_cast<double>(r.prompt_tokens) * ps));
    int64_t o = std::max<int64_t>(1, std::llround(static_cast<double>(r.output_tokens) * os));
    if (p > context - 1) {
      p = context - 1;
      ++clipped;
    }
    if (p + o > context) {
      o = context - p;
      ++clipped;
    }
    LoadRequest q;
    q.send_at_s = r.arrival_s * ts;
    q.max_tokens = static_cast<int32_t>(o);
    q.prompt.reserve(static_cast<size_t>(p));
    for (int64_t t = 0; t < p; ++t) {
      const int64_t b = t / block;
      // Shared block content where the trace says so; otherwise unique to the request.
      const uint64_t h = b < static_cast<int64_t>(r.hash_ids.size())
                             ? mix(static_cast<uint64_t>(r.hash_ids[static_cast<size_t>(b)]) * 1000003ULL + static_cast<uint64_t>(t % block))
                             : mix((static_cast<uint64_t>(i) << 32) ^ static_cast<uint64_t>(t) ^ 0x5bd1e995ULL);
      q.prompt.push_back(first_token + static_cast<int32_t>(h % static_cast<uint64_t>(n_token_ids)));
    }
    sum_p += static_cast<double>(p);
    sum_o += static_cast<double>(o);
    out.requests.push_back(std::move(q));
  }
  char buf[512];
  const double dur = out.requests.back().send_at_s;
  std::snprintf(buf, sizeof buf,
                "%zu requests; lengths x%.4g prompt, x%.4g output%s, clipped to a %d-token context (%lld "
                "clipped); mean prompt %.1f, mean output %.1f tokens; arrivals x%.4g in time: %.1f s of trace "
                "in %.1f s (%.2f req/s)",
                out.requests.size(), ps, os, len_how.c_str(), context, static_cast<long long>(clipped),
                sum_p / static_cast<double>(rows.size()), sum_o / static_cast<double>(rows.size()), ts, span, dur,
                dur > 0 ? static_cast<double>(rows.size() - 1) / dur : 0.0);
  out.description = buf;
  return out;
}

Result<Slo> parse_slo(const std::string& spec) {
  Slo s;
  for (const auto& [k, v] : split_kv(spec)) {
    bool ok = false;
    const double x = parse_seconds(v, &ok);
    if (!ok) return invalid_argument("--slo " + k + " needs a duration (seconds, or with ms), got '" + v + "'");
    if (k == "ttft_p90" || k == "ttft") s.ttft_s = x;
    else if (k == "tpot_p90" || k == "tpot") s.tpot_s = x;
    else return invalid_argument("unknown --slo key '" + k + "' (ttft_p90, tpot_p90)");
  }
  return s;
}

Percentiles percentiles(std::vector<double> v) {
  Percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {  // nearest rank
    size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];
  };
  p.p50 = at(0.5);
  p.p90 = at(0.9);
  p.p99 = at(0.99);
  return p;
}

LoadSummary summarize(const std::vector<RequestResult>& results, double wall_s, const Slo& slo) {
  LoadSummary s;
  s.wall_s = wall_s;
  std::vector<double> ttft, tpot, e2e;
  int64_t good = 0, out_tokens = 0, all_tokens = 0;
  for (const RequestResult& r : results) {
    ++s.sent;
    if (r.status == 429 || r.status == 503) {
      ++s.rejected;
      continue;
    }
    if (!r.ok) {
      ++s.failed;
      continue;
    }
    ++s.ok;
    ttft.push_back(r.ttft_s);
    if (r.output_tokens > 1) tpot.push_back(r.tpot_s());
    e2e.push_back(r.e2e_s);
    out_tokens += r.output_tokens;
    all_tokens += r.output_tokens + r.prompt_tokens;
    const bool met = (slo.ttft_s <= 0 || r.ttft_s <= slo.ttft_s) && (slo.tpot_s <= 0 || r.tpot_s() <= slo.tpot_s);
    good += met;
  }
  s.ttft = percentiles(ttft);
  s.tpot = percentiles(tpot);
  s.e2e = percentiles(e2e);
  if (wall_s > 0) {
    s.request_rate = static_cast<double>(s.ok) / wall_s;
    s.output_tokens_per_s = static_cast<double>(out_tokens) / wall_s;
    s.total_tokens_per_s = static_cast<double>(all_tokens) / wall_s;
    s.goodput = static_cast<double>(good) / wall_s;
  }
  s.slo_attainment = s.sent > 0 ? static_cast<double>(good) / static_cast<double>(s.sent) : 0;
  s.ttft_p90_met = slo.ttft_s <= 0 || (s.ok > 0 && s.ttft.p90 <= slo.ttft_s);
  s.tpot_p90_met = slo.tpot_s <= 0 || (s.ok > 0 && s.tpot.p90 <= slo.tpot_s);
  return s;
}

Status parse_url(const std::string& url, std::string* host, int* port) {
  std::string rest = url;
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  else if (rest.find("://") != std::string::npos) return invalid_argument("only http:// URLs are supported: " + url);
  if (auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  const size_t colon = rest.rfind(':');
  *host = colon == std::string::npos ? rest : rest.substr(0, colon);
  *port = 80;
  if (colon != std::string::npos) {
    char* end = nullptr;
    const long p = std::strtol(rest.c_str() + colon + 1, &end, 10);
    if (*end != '\0' || p <= 0 || p > 65535) return invalid_argument("bad port in URL " + url);
    *port = static_cast<int>(p);
  }
  if (host->empty()) return invalid_argument("no host in URL " + url);
  return ok_status();
}

namespace {

Result<int> connect_to(const std::string& host, int port, bool nonblocking) {
  struct addrinfo hints {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0)
    return io_error("cannot resolve " + host + ": " + gai_strerror(rc));
  int fd = -1;
  std::string err = "no address";
  for (auto* ai = res; ai; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), ai->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || (nonblocking && errno == EINPROGRESS)) break;
    err = std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) return io_error("cannot connect to " + host + ":" + std::to_string(port) + ": " + err);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Incremental HTTP/1.1 response reader: status, headers, then the body
// (Content-Length, chunked, or until EOF), handing decoded body bytes on.
class ResponseReader {
 public:
  // Feeds bytes; decoded body bytes are appended to *body. false on a malformed response.
  bool feed(std::string_view data, std::string* body) {
    buf_.append(data);
    if (!head_done_) {
      const size_t end = buf_.find("\r\n\r\n");
      if (end == std::string::npos) return buf_.size() < 65536;
      const std::string head = buf_.substr(0, end);
      buf_.erase(0, end + 4);
      head_done_ = true;
      if (head.size() < 12 || head.compare(0, 7, "HTTP/1.") != 0) return false;
      status_ = std::atoi(head.c_str() + 9);
      std::string lower;
      for (char c : head) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      chunked_ = lower.find("transfer-encoding: chunked") != std::string::npos;
      if (size_t p = lower.find("content-length:"); p != std::string::npos)
        remaining_ = std::atoll(lower.c_str() + p + 15);
    }
    if (!chunked_) {
      const size_t n = remaining_ >= 0 ? std::min<size_t>(buf_.size(), static_cast<size_t>(remaining_)) : buf_.size();
      body->append(buf_, 0, n);
      buf_.erase(0, n);
      if (remaining_ >= 0) {
        remaining_ -= static_cast<int64_t>(n);
        if (remaining_ == 0) complete_ = true;
      }
      return true;
    }
    while (!complete_) {
      if (chunk_left_ > 0) {
        const size_t n = std::min<size_t>(buf_.size(), static_cast<size_t>(chunk_left_));
        if (n == 0) return true;
        body->append(buf_, 0, n);
        buf_.erase(0, n);
        chunk_left_ -= static_cast<int64_t>(n);
        continue;
      }
      const size_t eol = buf_.find("\r\n", skip_crlf_ ? 2 : 0);
      if (eol == std::string::npos) return buf_.size() < 1024;
      const size_t start = skip_crlf_ ? 2 : 0;
      if (skip_crlf_ && buf_.compare(0, 2, "\r\n") != 0) return false;
      const int64_t size = std::strtoll(buf_.c_str() + start, nullptr, 16);
      buf_.erase(0, eol + 2);
      skip_crlf_ = true;
      if (size < 0) return false;
      if (size == 0) complete_ = true;
      chunk_left_ = size;
    }
    return true;
  }
  int status() const { return status_; }
  bool complete() const { return complete_; }
  bool head_done() const { return head_done_; }

 private:
  std::string buf_;
  bool head_done_ = false, chunked_ = false, complete_ = false, skip_crlf_ = false;
  int status_ = 0;
  int64_t remaining_ = -1;
  int64_t chunk_left_ = 0;
};

struct Flight {
  size_t index = 0;
  int fd = -1;
  std::string out;
  size_t out_off = 0;
  ResponseReader reader;
  std::string body;   // decoded, not yet consumed (SSE lines)
  std::string whole;  // non-streamed (error) bodies
  bool done_seen = false;
  double started = 0;
};

}  // namespace

Status query_model(const std::string& host, int port, std::string* id, int32_t* context) {
  TANDEM_ASSIGN_OR_RETURN(int fd, connect_to(host, port, false));
  const std::string req = "GET /v1/models HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return io_error("cannot send to the server");
  }
  ResponseReader r;
  std::string body;
  char buf[8192];
  while (!r.complete()) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    if (!r.feed(std::string_view(buf, static_cast<size_t>(n)), &body)) break;
  }
  ::close(fd);
  if (r.status() != 200) return io_error("GET /v1/models answered " + std::to_string(r.status()) + ": " + body);
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.contains("data") || !j["data"].is_array() || j["data"].empty())
    return data_loss("GET /v1/models returned no model: " + body);
  *id = j["data"][0].value("id", "");
  *context = j["data"][0].value("max_model_len", 0);
  if (*context <= 0) return data_loss("GET /v1/models gave no max_model_len; pass the context explicitly");
  return ok_status();
}

Result<std::vector<RequestResult>> run_load(const LoadOptions& opt, const std::vector<LoadRequest>& requests,
                                            double* wall_s) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto now_s = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  std::vector<RequestResult> results(requests.size());
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return io_error("epoll_create1 failed");
  std::unordered_map<int, std::unique_ptr<Flight>> flights;
  size_t next = 0, finished = 0;

  auto finish = [&](Flight& f, const std::string& error) {
    RequestResult& r = results[f.index];
    r.status = f.reader.status();
    r.e2e_s = now_s() - f.started;
    r.ok = error.empty() && r.status == 200 && f.done_seen;
    if (!error.empty()) r.error = error;
    else if (r.status != 200) r.error = f.whole.substr(0, 300);
    else if (!f.done_seen) r.error = "stream ended without [DONE]";
    epoll_ctl(ep, EPOLL_CTL_DEL, f.fd, nullptr);
    ::close(f.fd);
    ++finished;
    flights.erase(f.fd);  // `f` is gone
  };

  auto start = [&](size_t i) {
    const LoadRequest& q = requests[i];
    RequestResult& r = results[i];
    r.start_s = now_s();
    json body = {{"model", opt.model},       {"prompt", q.prompt},
                 {"max_tokens", q.max_tokens}, {"temperature", opt.temperature},
                 {"stream", true},           {"stream_options", {{"include_usage", true}}},
                 {"ignore_eos", opt.ignore_eos}};
    const std::string b = body.dump();
    auto fd = connect_to(opt.host, opt.port, true);
    if (!fd.ok()) {
      r.error = fd.status().message();
      ++finished;
      return;
    }
    auto f = std::make_unique<Flight>();
    f->index = i;
    f->fd = *fd;
    f->started = r.start_s;
    f->out = "POST /v1/completions HTTP/1.1\r\nHost: " + opt.host + "\r\nContent-Type: application/json\r\n"
             "Connection: close\r\nContent-Length: " + std::to_string(b.size()) + "\r\n\r\n" + b;
    struct epoll_event ev {};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.fd = *fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, *fd, &ev);
    flights.emplace(*fd, std::move(f));
  };

  // SSE: "data: {...}\n\n" events out of the decoded body. The generator
  // shares the machine with the server it measures, so it parses as little
  // as it can: once the first token is seen, only events that carry usage or
  // an error are parsed as JSON.
  auto consume_events = [&](Flight& f) {
    RequestResult& r = results[f.index];
    size_t begin = 0, pos;
    while ((pos = f.body.find("\n\n", begin)) != std::string::npos) {
      const std::string_view event(f.body.data() + begin, pos - begin);
      begin = pos + 2;
      if (event.substr(0, 6) != "data: ") continue;
      const std::string_view data = event.substr(6);
      if (data == "[DONE]") {
        f.done_seen = true;
        continue;
      }
      if (r.ttft_s != 0 && data.find("\"usage\"") == std::string_view::npos &&
          data.find("\"error\"") == std::string_view::npos)
        continue;
      json j = json::parse(data, nullptr, false);
      if (j.is_discarded()) continue;
      if (j.contains("error")) {
        r.error = std::string(data.substr(0, 300));
        continue;
      }
      if (j.contains("choices") && j["choices"].is_array() && !j["choices"].empty()) {
        const json& c = j["choices"][0];
        if (r.ttft_s == 0 && c.contains("text") && c["text"].is_string() && !c["text"].get<std::string>().empty())
          r.ttft_s = now_s() - f.started;
      }
      if (j.contains("usage") && j["usage"].is_object()) {
        r.output_tokens = j["usage"].value("completion_tokens", 0);
        r.prompt_tokens = j["usage"].value("prompt_tokens", 0);
        if (j["usage"].contains("prompt_tokens_details") && j["usage"]["prompt_tokens_details"].is_object())
          r.cached_tokens = j["usage"]["prompt_tokens_details"].value("cached_tokens", 0);
      }
    }
    f.body.erase(0, begin);
  };

  std::vector<epoll_event> events(1024);
  char buf[65536];
  while (finished < requests.size()) {
    // Start what is due.
    const double t = now_s();
    while (next < requests.size()) {
      if (opt.concurrency > 0) {
        if (static_cast<int>(flights.size()) >= opt.concurrency) break;
      } else if (requests[next].send_at_s > t) {
        break;
      }
      start(next++);
    }
    int timeout_ms = 100;
    if (opt.concurrency == 0 && next < requests.size())
      timeout_ms = std::clamp(static_cast<int>((requests[next].send_at_s - now_s()) * 1000), 0, 100);
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), timeout_ms);
    for (int i = 0; i < n; ++i) {
      auto it = flights.find(events[static_cast<size_t>(i)].data.fd);
      if (it == flights.end()) continue;
      Flight& f = *it->second;
      const uint32_t e = events[static_cast<size_t>(i)].events;
      if ((e & EPOLLOUT) && f.out_off < f.out.size()) {
        const ssize_t w = ::send(f.fd, f.out.data() + f.out_off, f.out.size() - f.out_off, MSG_NOSIGNAL);
        if (w > 0) f.out_off += static_cast<size_t>(w);
        else if (w < 0 && errno != EAGAIN) {
          finish(f, std::string("send: ") + std::strerror(errno));
          continue;
        }
        if (f.out_off == f.out.size()) {
          struct epoll_event ev {};
          ev.events = EPOLLIN | EPOLLRDHUP;
          ev.data.fd = f.fd;
          epoll_ctl(ep, EPOLL_CTL_MOD, f.fd, &ev);
        }
      }
      if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        bool closed = false;
        std::string error;
        while (true) {
          const ssize_t r = ::recv(f.fd, buf, sizeof buf, 0);
          if (r > 0) {
            std::string decoded;
            if (!f.reader.feed(std::string_view(buf, static_cast<size_t>(r)), &decoded)) {
              error = "malformed HTTP response";
              closed = true;
              break;
            }
            if (f.reader.status() == 200) {
              f.body += decoded;
              consume_events(f);
            } else {
              f.whole += decoded;
            }
            if (f.reader.complete()) {
              closed = true;
              break;
            }
            continue;
          }
          if (r == 0) {
            closed = true;
            if (!f.reader.head_done()) error = "connection closed without a response";
            break;
          }
          if (errno == EAGAIN || errno == EINTR) break;
          error = std::string("recv: ") + std::strerror(errno);
          closed = true;
          break;
        }
        if (closed) finish(f, error);
      }
    }
    // Per-request timeout.
    const double tn = now_s();
    std::vector<int> late;
    for (auto& [fd, f] : flights)
      if (tn - f->started > opt.timeout_s) late.push_back(fd);
    for (int fd : late) finish(*flights.at(fd), "timed out");
  }
  ::close(ep);
  *wall_s = now_s();
  return results;
}

}  // namespace tandem::server
