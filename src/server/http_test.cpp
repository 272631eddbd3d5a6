#include "server/http.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace tandem::server {
namespace {

HttpParser::State parse_all(HttpParser& p, std::string_view data) { return p.parse(data); }

TEST(HttpParser, ParsesARequestWithBodyAndHeaders) {
  HttpParser p;
  const std::string req =
      "POST /v1/completions?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
      "Content-Length: 7\r\nX-Thing:   spaced  \r\n\r\n{\"a\":1}";
  ASSERT_EQ(parse_all(p, req), HttpParser::State::kDone);
  EXPECT_EQ(p.consumed(), req.size());
  const HttpRequest& r = p.request();
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/v1/completions?x=1");
  EXPECT_EQ(r.path, "/v1/completions");
  EXPECT_EQ(r.body, "{\"a\":1}");
  ASSERT_NE(r.header("x-thing"), nullptr);
  EXPECT_EQ(*r.header("x-thing"), "spaced");
  EXPECT_TRUE(r.keep_alive);
}

TEST(HttpParser, IncrementalByteByByteAndPipelined) {
  const std::string one = "GET /health HTTP/1.1\r\nHost: a\r\n\r\n";
  const std::string two = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
  const std::string all = one + two;
  HttpParser p;
  size_t i = 1;
  for (; i <= one.size(); ++i) {
    auto st = p.parse(std::string_view(all).substr(0, i));
    if (i < one.size()) {
      ASSERT_EQ(st, HttpParser::State::kNeedMore) << i;
    } else {
      ASSERT_EQ(st, HttpParser::State::kDone);
    }
  }
  EXPECT_EQ(p.consumed(), one.size());
  p.reset();
  std::string_view rest = std::string_view(all).substr(one.size());
  bool headers_done_seen = false;
  for (size_t k = 1; k <= rest.size(); ++k) {
    auto st = p.parse(rest.substr(0, k));
    if (st == HttpParser::State::kHeadersDone) headers_done_seen = true;
    if (k < rest.size()) {
      ASSERT_NE(st, HttpParser::State::kDone);
    } else {
      ASSERT_EQ(st, HttpParser::State::kDone);
    }
  }
  EXPECT_TRUE(headers_done_seen);
  EXPECT_EQ(p.request().body, "abc");
}

// Chunked request bodies (curl -T, streaming uploads): decoded into body,
// extensions and trailers ignored, parsed the same whatever the split.
TEST(HttpParser, ChunkedBodiesByteByByteAndPipelined) {
  const std::string req1 =
      "POST /v1/completions HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n1A\r\n, chunked world and more..\r\n0\r\nX-Trailer: t\r\n\r\n";
  const std::string req2 = "GET /health HTTP/1.1\r\nHost: a\r\n\r\n";
  const std::string all = req1 + req2;
  for (size_t step : {size_t{1}, size_t{3}, size_t{7}, all.size()}) {
    HttpParser p;
    std::string buf;
    std::vector<HttpRequest> got;
    bool saw_headers_done = false;
    for (size_t i = 0; i < all.size(); i += step) {
      buf.append(all, i, step);
      for (;;) {
        const HttpParser::State st = p.parse(buf);
        ASSERT_NE(st, HttpParser::State::kError) << p.error_message();
        if (st == HttpParser::State::kHeadersDone) saw_headers_done = true;
        if (st != HttpParser::State::kDone) break;
        got.push_back(p.take_request());
        buf.erase(0, p.consumed());
        p.reset();
      }
    }
    ASSERT_EQ(got.size(), 2u) << "step " << step;
    EXPECT_EQ(got[0].body, "hello, chunked world and more..");
    EXPECT_EQ(got[1].path, "/health");
    EXPECT_TRUE(buf.empty());
    if (step < req1.size()) {
      EXPECT_TRUE(saw_headers_done);
    }
  }
}

TEST(HttpParser, KeepAliveRules) {
  HttpParser p;
  ASSERT_EQ(p.parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), HttpParser::State::kDone);
  EXPECT_FALSE(p.request().keep_alive);
  p.reset();
  ASSERT_EQ(p.parse("GET / HTTP/1.0\r\n\r\n"), HttpParser::State::kDone);
  EXPECT_FALSE(p.request().keep_alive);
  p.reset();
  ASSERT_EQ(p.parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), HttpParser::State::kDone);
  EXPECT_TRUE(p.request().keep_alive);
  p.reset();
  ASSERT_EQ(p.parse("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"),
            HttpParser::State::kHeadersDone);
  EXPECT_TRUE(p.request().expect_continue);
}

struct BadCase {
  const char* name;
  std::string data;
  int status;
};

TEST(HttpParser, RejectsMalformedAndOversized) {
  HttpLimits lim;
  lim.max_header_bytes = 256;
  lim.max_body_bytes = 100;
  const std::vector<BadCase> cases = {
      {"no version", "GET /\r\n\r\n", 400},
      {"garbage", "\x01\x02\x03 / HTTP/1.1\r\n\r\n", 400},
      {"bad version", "GET / HTTP/9.9\r\nHost: a\r\n\r\n", 505},
      {"not http", "GET / FTP/1.1\r\n\r\n", 400},
      {"relative target", "GET health HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"no host", "GET / HTTP/1.1\r\n\r\n", 400},
      {"no colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", 400},
      {"space in name", "GET / HTTP/1.1\r\nHo st: a\r\n\r\n", 400},
      {"folding", "GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", 400},
      {"bad length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400},
      {"negative length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
      {"conflicting lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {"huge length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
      {"body too large", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", 413},
      {"gzip coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"chunked and length", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
      {"chunked in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
      {"huge chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 400},
      {"chunk over limit", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n", 413},
      {"chunks over limit", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n" +
                                std::string(50, 'x') + "\r\n33\r\n", 413},
      {"chunk without CRLF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 400},
      {"size line never ends", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1" +
                                   std::string(5000, '0'), 400},
      {"header too large", "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(300, 'a') + "\r\n\r\n", 431},
      {"header never ends", "GET / HTTP/1.1\r\nX: " + std::string(300, 'a'), 431},
      {"control char", std::string("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n"), 400},
  };
  for (const BadCase& c : cases) {
    HttpParser p(lim);
    EXPECT_EQ(p.parse(c.data), HttpParser::State::kError) << c.name;
    EXPECT_EQ(p.error_status(), c.status) << c.name << ": " << p.error_message();
  }
}

TEST(HttpParser, RandomBytesNeverCrash) {
  uint64_t x = 88172645463325252ULL;
  for (int i = 0; i < 3000; ++i) {
    std::string s = i % 2 ? "POST /v1/x HTTP/1.1\r\n" : "";
    const int n = static_cast<int>(x % 200);
    for (int k = 0; k < n; ++k) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      const char alphabet[] = "\r\n: aZ0-/\x00\xff\t";
      s += alphabet[x % (sizeof alphabet - 1)];
    }
    HttpParser p;
    auto st = p.parse(s);
    if (st == HttpParser::State::kDone) {
      EXPECT_LE(p.consumed(), s.size());
    }
  }
}

TEST(HttpResponse, FramingAndErrorBody) {
  const std::string r = http_response(429, "application/json", "{}", true, "Retry-After: 1\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 429 Too Many Requests\r\n", 0), 0u);
  EXPECT_NE(r.find("Content-Length: 2\r\n"), std::string::npos);
  EXPECT_NE(r.find("Retry-After: 1\r\n"), std::string::npos);
  EXPECT_EQ(r.substr(r.size() - 6), "\r\n\r\n{}");
  std::string c;
  http_append_chunk(c, "hello, world!!!!!");
  EXPECT_EQ(c, "11\r\nhello, world!!!!!\r\n");
  auto j = nlohmann::json::parse(error_body("bad", "invalid_request_error", "model"));
  EXPECT_EQ(j["error"]["message"], "bad");
  EXPECT_EQ(j["error"]["param"], "model");
  EXPECT_TRUE(j["error"]["code"].is_null());
}

}  // namespace
}  // namespace tandem::server
