// The HTTP server over raw sockets, in process, on the shipped model
// (models/tiny-kjv): routes, malformed HTTP, limits, keep-alive, errors,
// mid-stream disconnects, slow readers, overload answers, and determinism of
// a seeded request alone and among 32 concurrent ones.
#include "server/server.h"

#include <arpa/inet.h>
#include <cstdio>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/model_loader.h"

namespace tandem::server {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string source_dir() {
  if (const char* d = std::getenv("TANDEM_SOURCE_DIR")) return d;
  return TANDEM_SOURCE_DIR;
}

int connect_local(int port, int rcvbuf = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

struct Response {
  int status = 0;
  std::string head;
  std::string body;  // de-chunked
  bool closed = false;  // the server closed the connection after it
};

// Reads one response (Content-Length or chunked) from fd; `buf` keeps bytes
// of the next one (pipelining).
Response read_response(int fd, std::string& buf, std::chrono::milliseconds timeout = 60s) {
  Response r;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto fill = [&]() {
    pollfd p{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char tmp[65536];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) {
      r.closed = true;
      return false;
    }
    buf.append(tmp, static_cast<size_t>(n));
    return true;
  };
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos)
    if (!fill()) return r;
  r.head = buf.substr(0, end + 2);
  buf.erase(0, end + 4);
  r.status = std::atoi(r.head.c_str() + 9);
  if (r.status == 100) return read_response(fd, buf, timeout);
  if (r.head.find("Transfer-Encoding: chunked") != std::string::npos) {
    while (true) {
      size_t eol;
      while ((eol = buf.find("\r\n")) == std::string::npos)
        if (!fill()) return r;
      const size_t n = std::strtoul(buf.c_str(), nullptr, 16);
      while (buf.size() < eol + 2 + n + 2)
        if (!fill()) return r;
      r.body.append(buf, eol + 2, n);
      buf.erase(0, eol + 2 + n + 2);
      if (n == 0) break;
    }
  } else {
    const size_t p = r.head.find("Content-Length: ");
    const size_t n = p == std::string::npos ? 0 : std::strtoul(r.head.c_str() + p + 16, nullptr, 10);
    while (buf.size() < n)
      if (!fill()) return r;
    r.body = buf.substr(0, n);
    buf.erase(0, n);
  }
  if (r.head.find("Connection: close") != std::string::npos) {
    char c;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) > 0 && ::recv(fd, &c, 1, 0) == 0) r.closed = true;
  }
  return r;
}

std::string post(const std::string& path, const std::string& body, const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" + extra +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// SSE "data: ..." payloads of a streamed body.
std::vector<std::string> sse_data(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t e = body.find("\n\n", pos);
    if (e == std::string::npos) break;
    std::string ev = body.substr(pos, e - pos);
    if (ev.rfind("data: ", 0) == 0) out.push_back(ev.substr(6));
    pos = e + 2;
  }
  return out;
}

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto m = load_model(source_dir() + "/models/tiny-kjv");
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    loaded_ = new LoadedModel(std::move(m).value());
  }
  static void TearDownTestSuite() { delete loaded_; }

  struct Instance {
    std::unique_ptr<Engine> engine;
    std::unique_ptr<Server> server;
    std::thread thread;
    int port = 0;
    ~Instance() {
      if (server) server->shutdown();
      if (thread.joinable()) thread.join();
      if (engine) engine->stop();
      server.reset();
    }
    EngineStats stats() const { return engine->stats(); }
  };

  static std::unique_ptr<Instance> start() {
    EngineConfig ec;
    ServerOptions so;
    return start(ec, so, true);
  }
  static std::unique_ptr<Instance> start(const EngineConfig& ec_in, const ServerOptions& so_in, bool start_engine) {
    EngineConfig ec = ec_in;
    ServerOptions so = so_in;
    auto inst = std::make_unique<Instance>();
    if (ec.scheduler.n_blocks == 0) {
      ec.scheduler.n_blocks = 1024;
      ec.scheduler.block_size = 16;
    }
    auto e = Engine::create(*loaded_->model, *loaded_->tokenizer, ec, nullptr);
    EXPECT_TRUE(e.ok()) << e.status().to_string();
    inst->engine = std::move(e).value();
    so.http.port = 0;
    so.model_name = "tiny-kjv";
    auto s = Server::create(*inst->engine, *loaded_->tokenizer, so);
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    inst->server = std::move(s).value();
    inst->port = inst->server->port();
    if (start_engine) inst->engine->start();
    inst->thread = std::thread([p = inst.get()] { p->server->run(); });
    return inst;
  }

  static Response request(int port, const std::string& raw) {
    int fd = connect_local(port);
    EXPECT_GE(fd, 0);
    send_all(fd, raw);
    std::string buf;
    Response r = read_response(fd, buf);
    ::close(fd);
    return r;
  }

  static json error_of(const Response& r) {
    json j = json::parse(r.body, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("error")) << r.status << " " << r.body;
    if (!j.is_object() || !j.contains("error")) return json::object();
    const json& e = j["error"];
    EXPECT_TRUE(e.contains("message") && e.contains("type") && e.contains("param") && e.contains("code")) << r.body;
    return e;
  }

  static bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds limit = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (cond()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return cond();
  }

  static inline LoadedModel* loaded_ = nullptr;
};

TEST_F(ServerTest, HealthModelsMetricsAndRoutes) {
  auto s = start();
  Response h = request(s->port, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(h.status, 200);
  Response m = request(s->port, "GET /v1/models HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_EQ(m.status, 200);
  json mj = json::parse(m.body);
  EXPECT_EQ(mj["data"][0]["id"], "tiny-kjv");
  EXPECT_EQ(mj["data"][0]["max_model_len"], 256);
  Response x = request(s->port, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_EQ(x.status, 200);
  for (const char* name : {"tandem_time_to_first_token_seconds_bucket", "tandem_inter_token_latency_seconds_count",
                           "tandem_queue_depth", "tandem_sequences_running", "tandem_sequences_waiting",
                           "tandem_kv_blocks_used", "tandem_kv_blocks_free", "tandem_prefix_cache_hit_rate",
                           "tandem_generation_tokens_per_second"})
    EXPECT_NE(x.body.find(name), std::string::npos) << name;
  Response nf = request(s->port, "GET /v2/nothing HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(nf.status, 404);
  error_of(nf);
  Response wm = request(s->port, "GET /v1/completions HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(wm.status, 405);
  error_of(wm);
}

TEST_F(ServerTest, MalformedHttpAndLimits) {
  ServerOptions so;
  so.http.limits.max_body_bytes = 4096;
  so.http.limits.max_header_bytes = 2048;
  auto s = start(EngineConfig(), so, true);
  struct Case {
    std::string raw;
    int status;
  };
  const std::vector<Case> cases = {
      {"HELLO\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505},
      {"POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n", 413},
      {"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(4000, 'x') + "\r\n\r\n", 431},
      {"POST /v1/completions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"POST /v1/completions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n", 413},
      {"POST /v1/completions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 400},
      {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + std::string(3000, '\x01'), 431},
  };
  for (const Case& c : cases) {
    Response r = request(s->port, c.raw);
    EXPECT_EQ(r.status, c.status) << c.raw.substr(0, 40);
    error_of(r);
    EXPECT_TRUE(r.closed) << "a malformed request ends the connection";
  }
  // The server still answers normally.
  EXPECT_EQ(request(s->port, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
  // A chunked request body (as curl -T or a streaming upload sends) is decoded.
  const std::string body = R"({"model":"tiny-kjv","prompt":"In the beginning","max_tokens":3})";
  char size1[16], size2[16];
  std::snprintf(size1, sizeof size1, "%zx", size_t{10});
  std::snprintf(size2, sizeof size2, "%zx", body.size() - 10);
  Response ok = request(s->port, "POST /v1/completions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                     std::string(size1) + "\r\n" + body.substr(0, 10) + "\r\n" + size2 + "\r\n" +
                                     body.substr(10) + "\r\n0\r\n\r\n");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_NE(ok.body.find("\"choices\""), std::string::npos) << ok.body;
}

TEST_F(ServerTest, ApiErrorsAreOpenAiObjectsWith4xx) {
  auto s = start();
  struct Case {
    std::string path, body;
    int status;
    std::string param, code;
  };
  const std::string long_prompt = [] {
    std::string p;
    for (int i = 0; i < 400; ++i) p += "and the lord said ";
    return p;
  }();
  const std::vector<Case> cases = {
      {"/v1/completions", "{not json", 400, "", "invalid_json"},
      {"/v1/completions", R"({"model":"tiny-kjv","prompt":"x","max_tokens":"many"})", 400, "max_tokens", ""},
      {"/v1/completions", R"({"model":"gpt-9","prompt":"x"})", 404, "model", "model_not_found"},
      {"/v1/completions", R"({"model":"tiny-kjv","prompt":"x","temperature":7})", 400, "temperature", ""},
      {"/v1/completions", R"({"model":"tiny-kjv","prompt":"x","n":99})", 400, "n", ""},
      {"/v1/completions", R"({"model":"tiny-kjv","prompt":[1,2,999999]})", 400, "prompt", ""},
      {"/v1/completions", R"({"model":"tiny-kjv","prompt":")" + long_prompt + R"("})", 400, "prompt",
       "context_length_exceeded"},
      {"/v1/chat/completions", R"({"model":"tiny-kjv","messages":"hi"})", 400, "messages", ""},
      {"/v1/chat/completions", R"({"model":"tiny-kjv","messages":[{"role":"user","content":")" + long_prompt + R"("}]})",
       400, "messages", "context_length_exceeded"},
  };
  for (const Case& c : cases) {
    Response r = request(s->port, post(c.path, c.body));
    EXPECT_EQ(r.status, c.status) << c.body.substr(0, 80) << " -> " << r.body;
    json e = error_of(r);
    if (!c.param.empty()) {
      EXPECT_EQ(e.value("param", json()).dump(), json(c.param).dump()) << r.body;
    }
    if (!c.code.empty()) {
      EXPECT_EQ(e.value("code", json()).dump(), json(c.code).dump()) << r.body;
    }
    EXPECT_FALSE(r.closed) << "an API error keeps the connection";
  }
  EXPECT_EQ(s->stats().scheduler.device.used, 0);
}

TEST_F(ServerTest, CompletionsChatKeepAlivePipeliningAndContinue) {
  auto s = start();
  int fd = connect_local(s->port);
  ASSERT_GE(fd, 0);
  const std::string body = R"({"model":"tiny-kjv","prompt":"In the beginning","max_tokens":8,"temperature":0,"logprobs":2})";
  const std::string chat = R"({"model":"tiny-kjv","messages":[{"role":"user","content":"Who made the heaven?"}],"max_tokens":6,"seed":3})";
  // Two requests in one write (pipelined), then one with Expect: 100-continue.
  send_all(fd, post("/v1/completions", body) + post("/v1/chat/completions", chat));
  std::string buf;
  Response a = read_response(fd, buf);
  Response b = read_response(fd, buf);
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(b.status, 200) << b.body;
  json aj = json::parse(a.body), bj = json::parse(b.body);
  EXPECT_EQ(aj["object"], "text_completion");
  EXPECT_EQ(aj["usage"]["completion_tokens"], 8);
  EXPECT_EQ(aj["choices"][0]["finish_reason"], "length");
  ASSERT_EQ(aj["choices"][0]["logprobs"]["tokens"].size(), 8u);
  EXPECT_EQ(aj["choices"][0]["logprobs"]["top_logprobs"][0].size(), 2u);
  EXPECT_EQ(bj["object"], "chat.completion");
  EXPECT_EQ(bj["choices"][0]["message"]["role"], "assistant");
  EXPECT_GT(bj["usage"]["prompt_tokens"].get<int>(), 5);
  const std::string head = "POST /v1/completions HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n";
  send_all(fd, head);
  pollfd p{fd, POLLIN, 0};
  ASSERT_GT(::poll(&p, 1, 5000), 0);
  char tmp[64];
  const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(tmp, static_cast<size_t>(n)).rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u);
  send_all(fd, body);
  Response c = read_response(fd, buf);
  EXPECT_EQ(c.status, 200);
  EXPECT_EQ(json::parse(c.body)["choices"][0]["text"], aj["choices"][0]["text"]) << "greedy is repeatable";
  ::close(fd);
}

TEST_F(ServerTest, StreamingFormatStopAndUsage) {
  auto s = start();
  const std::string body =
      R"({"model":"tiny-kjv","messages":[{"role":"user","content":"Tell me of Moses"}],"max_tokens":12,
          "temperature":0,"stream":true,"stream_options":{"include_usage":true},"n":2})";
  Response r = request(s->port, post("/v1/chat/completions", body));
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.head.find("text/event-stream"), std::string::npos);
  auto events = sse_data(r.body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  json usage = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 24);
  std::string text[2];
  int finishes = 0;
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    json j = json::parse(events[i]);
    EXPECT_EQ(j["object"], "chat.completion.chunk");
    const json& c = j["choices"][0];
    if (c["delta"].contains("content")) text[c["index"].get<int>()] += c["delta"]["content"].get<std::string>();
    if (!c["finish_reason"].is_null()) ++finishes;
  }
  EXPECT_EQ(finishes, 2);
  EXPECT_EQ(text[0], text[1]) << "greedy choices agree";
  ASSERT_GT(text[0].size(), 6u);
  // A stop string taken from that output ends the text before it.
  const std::string stop = text[0].substr(3, 3);
  json sreq = json::parse(body);
  sreq["stop"] = stop;
  sreq["stream"] = false;
  sreq["n"] = 1;
  Response st = request(s->port, post("/v1/chat/completions", sreq.dump()));
  ASSERT_EQ(st.status, 200);
  json sj = json::parse(st.body);
  EXPECT_EQ(sj["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(sj["choices"][0]["message"]["content"], text[0].substr(0, text[0].find(stop)));
}

TEST_F(ServerTest, DisconnectMidStreamCancelsAndFreesBlocks) {
  auto s = start();
  int fd = connect_local(s->port);
  const std::string body =
      R"({"model":"tiny-kjv","prompt":"And God said","max_tokens":240,"ignore_eos":true,"stream":true})";
  send_all(fd, post("/v1/completions", body));
  std::string got;
  char tmp[4096];
  while (got.find("data: ") == std::string::npos || std::count(got.begin(), got.end(), '\n') < 12) {
    pollfd p{fd, POLLIN, 0};
    ASSERT_GT(::poll(&p, 1, 10000), 0);
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    ASSERT_GT(n, 0);
    got.append(tmp, static_cast<size_t>(n));
  }
  EXPECT_GT(s->stats().scheduler.device.used, 0);
  ::close(fd);
  EXPECT_TRUE(wait_for([&] {
    EngineStats st = s->stats();
    return st.scheduler.device.used == 0 && st.scheduler.running == 0 && st.requests_finished == 1;
  }));
  EXPECT_LT(s->stats().tokens_generated, 240);
  Response m = request(s->port, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_NE(m.body.find("tandem_requests_cancelled_by_disconnect_total 1\n"), std::string::npos);
  // A healthy request right after.
  Response ok = request(s->port, post("/v1/completions", R"({"model":"tiny-kjv","prompt":"And","max_tokens":4})"));
  EXPECT_EQ(ok.status, 200);
}

TEST_F(ServerTest, SlowReaderIsDroppedOthersCarryOn) {
  ServerOptions so;
  so.http.max_output_bytes = 8192;
  so.http.socket_send_buffer = 4096;
  auto s = start(EngineConfig(), so, true);
  // Never reads: n=4 streams with 20 alternatives per token are ~2 MB of events.
  int slow = connect_local(s->port, 4096);
  send_all(slow, post("/v1/completions", R"({"model":"tiny-kjv","prompt":"And","max_tokens":200,"ignore_eos":true,
                                            "stream":true,"n":4,"logprobs":5})"));
  Response fast = request(s->port, post("/v1/completions", R"({"model":"tiny-kjv","prompt":"And the","max_tokens":100,
                                                               "ignore_eos":true,"stream":true})"));
  EXPECT_EQ(fast.status, 200);
  auto ev = sse_data(fast.body);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back(), "[DONE]");
  EXPECT_TRUE(wait_for([&] {
    EngineStats st = s->stats();
    return st.requests_finished == 5 && st.scheduler.device.used == 0;
  })) << "the slow reader's sequences are cancelled";
  EXPECT_LT(s->stats().tokens_generated, 100 + 4 * 200);
  Response m = request(s->port, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_NE(m.body.find("tandem_http_connections_dropped_total 1\n"), std::string::npos) << m.body;
  ::close(slow);
}

TEST_F(ServerTest, OverloadGets429And503AtOnceAdmittedFinish) {
  EngineConfig ec;
  ec.scheduler.n_blocks = 256;
  ec.max_queued_requests = 2;
  ec.max_queued_tokens = 30;
  ServerOptions so;
  so.retry_after_s = 2;
  auto s = start(ec, so, /*start_engine=*/false);  // nothing is admitted until the engine starts
  auto body = [](int words) {
    std::string p;
    for (int i = 0; i < words; ++i) p += " the";
    return R"({"model":"tiny-kjv","prompt":")" + p + R"(","max_tokens":3})";
  };
  int a = connect_local(s->port), b = connect_local(s->port);
  send_all(a, post("/v1/completions", body(5)));
  ASSERT_TRUE(wait_for([&] { return s->stats().queued_requests == 1; }));
  // Would bring the queued prompt tokens over 30: 503.
  const auto t0 = std::chrono::steady_clock::now();
  Response mem = request(s->port, post("/v1/completions", body(40)));
  EXPECT_EQ(mem.status, 503);
  EXPECT_NE(mem.head.find("Retry-After: 2"), std::string::npos);
  EXPECT_EQ(error_of(mem).value("code", ""), "overloaded");
  send_all(b, post("/v1/completions", body(5)));
  ASSERT_TRUE(wait_for([&] { return s->stats().queued_requests == 2; }));
  Response q = request(s->port, post("/v1/completions", body(2)));
  EXPECT_EQ(q.status, 429);
  EXPECT_NE(q.head.find("Retry-After: 2"), std::string::npos);
  EXPECT_EQ(error_of(q).value("code", ""), "queue_full");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s) << "refused at once";
  s->engine->start();
  std::string buf;
  EXPECT_EQ(read_response(a, buf).status, 200);
  buf.clear();
  EXPECT_EQ(read_response(b, buf).status, 200);
  ::close(a);
  ::close(b);
  EXPECT_EQ(s->stats().requests_rejected, 2);
}

TEST_F(ServerTest, SeededRequestSameAloneAndAmong32Concurrent) {
  auto s = start();
  auto req = [](int i, int seed) {
    json j = {{"model", "tiny-kjv"},
              {"prompt", "And it came to pass " + std::to_string(i)},
              {"max_tokens", 24},
              {"temperature", 0.9},
              {"top_p", 0.95},
              {"seed", seed},
              {"logprobs", 0},
              {"ignore_eos", true}};
    return j.dump();
  };
  auto tokens_of = [](const Response& r) {
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.contains("choices")) return json();
    return json::array({j["choices"][0]["text"], j["choices"][0]["logprobs"]["tokens"]});
  };
  const json alone = tokens_of(request(s->port, post("/v1/completions", req(0, 1234))));
  ASSERT_FALSE(alone.is_null());
  ASSERT_EQ(alone[1].size(), 24u);
  std::vector<json> got(32);
  std::vector<std::thread> threads;
  for (int i = 0; i < 32; ++i)
    threads.emplace_back([&, i] {
      // Request 7 is the seeded one again; the others differ in prompt and seed.
      got[static_cast<size_t>(i)] =
          tokens_of(request(s->port, post("/v1/completions", i == 7 ? req(0, 1234) : req(i, 100 + i))));
    });
  for (auto& t : threads) t.join();
  for (const json& g : got) EXPECT_FALSE(g.is_null());
  EXPECT_EQ(got[7], alone);
  EXPECT_GT(s->stats().steps, 0);
}

}  // namespace
}  // namespace tandem::server
