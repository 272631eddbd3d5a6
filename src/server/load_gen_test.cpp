#include "server/load_gen.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace tandem::server {
namespace {

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

TEST(LoadGen, ReadsAzureAndMooncakeTraces) {
  auto az = read_trace(write_temp("az.csv",
                                  "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                  "2023-11-16 18:15:46.5000000,374,44\n"
                                  "2023-11-16 18:15:50.0000000,396,109\n"
                                  "2023-11-16 18:16:00.2500000,10,1\n"),
                       0);
  ASSERT_TRUE(az.ok()) << az.status().to_string();
  ASSERT_EQ(az->size(), 3u);
  EXPECT_DOUBLE_EQ((*az)[0].arrival_s, 0);
  EXPECT_NEAR((*az)[1].arrival_s, 3.5, 1e-6);
  EXPECT_NEAR((*az)[2].arrival_s, 13.75, 1e-6);
  EXPECT_EQ((*az)[1].prompt_tokens, 396);
  EXPECT_EQ((*az)[1].output_tokens, 109);
  auto mc = read_trace(write_temp("mc.jsonl",
                                  "{\"timestamp\": 0, \"input_length\": 1000, \"output_length\": 5, \"hash_ids\": [0, 1]}\n"
                                  "{\"timestamp\": 1500, \"input_length\": 1100, \"output_length\": 6, \"hash_ids\": [0, 2, 3]}\n"),
                       1);
  ASSERT_TRUE(mc.ok());
  ASSERT_EQ(mc->size(), 1u);  // max_rows
  EXPECT_EQ((*mc)[0].hash_ids, (std::vector<int64_t>{0, 1}));
  EXPECT_FALSE(read_trace(write_temp("bad.csv", "TIMESTAMP,a,b\nnot a row\n"), 0).ok());
  EXPECT_FALSE(read_trace("/nonexistent/trace", 0).ok());
}

TEST(LoadGen, ScalingFitsTheContextAndKeepsSharedPrefixes) {
  std::vector<TraceRow> rows = {{0, 1000, 100, {7, 8}}, {10, 1100, 300, {7, 9, 10}}, {20, 5000, 2000, {}}};
  TraceScale s;
  s.rate = 1.0;  // 3 rows over 20 s -> 2 s
  ScaledTrace t = scale_trace(rows, s, 256);
  ASSERT_EQ(t.requests.size(), 3u);
  for (const LoadRequest& q : t.requests) {
    EXPECT_GE(q.prompt.size(), 1u);
    EXPECT_GE(q.max_tokens, 1);
    EXPECT_LE(static_cast<int64_t>(q.prompt.size()) + q.max_tokens, 256);
    for (int32_t id : q.prompt) EXPECT_TRUE(id >= 16 && id < 384);
  }
  EXPECT_NEAR(t.requests[2].send_at_s, 2.0, 1e-9);
  // len=auto: half the context for the p99 (= 7000 tokens) -> x0.0183; block of 512 -> 9 tokens.
  const size_t block = 9;
  ASSERT_GE(t.requests[1].prompt.size(), block);
  EXPECT_TRUE(std::equal(t.requests[0].prompt.begin(), t.requests[0].prompt.begin() + block,
                         t.requests[1].prompt.begin()));
  EXPECT_NE(std::vector<int32_t>(t.requests[0].prompt.begin() + block, t.requests[0].prompt.end()),
            std::vector<int32_t>(t.requests[1].prompt.begin() + block,
                                 t.requests[1].prompt.begin() + static_cast<long>(t.requests[0].prompt.size())));
  EXPECT_NE(t.description.find("x0.01829"), std::string::npos) << t.description;
  auto sc = parse_scale("len=0.1,time=0.5");
  ASSERT_TRUE(sc.ok());
  EXPECT_DOUBLE_EQ(sc->len, 0.1);
  EXPECT_DOUBLE_EQ(sc->time, 0.5);
  EXPECT_FALSE(parse_scale("speed=2").ok());
  EXPECT_FALSE(parse_scale("time=-1").ok());
}

TEST(LoadGen, SummaryPercentilesSloAndGoodput) {
  std::vector<RequestResult> rs;
  for (int i = 1; i <= 10; ++i) {
    RequestResult r;
    r.status = 200;
    r.ok = true;
    r.ttft_s = 0.1 * i;       // 0.1 .. 1.0
    r.output_tokens = 11;
    r.e2e_s = r.ttft_s + 1.0;  // tpot 0.1
    rs.push_back(r);
  }
  RequestResult rejected;
  rejected.status = 429;
  rs.push_back(rejected);
  auto slo = parse_slo("ttft_p90=500ms,tpot_p90=0.2");
  ASSERT_TRUE(slo.ok());
  LoadSummary s = summarize(rs, 2.0, *slo);
  EXPECT_EQ(s.sent, 11);
  EXPECT_EQ(s.ok, 10);
  EXPECT_EQ(s.rejected, 1);
  EXPECT_NEAR(s.ttft.p50, 0.5, 1e-9);
  EXPECT_NEAR(s.ttft.p90, 0.9, 1e-9);
  EXPECT_NEAR(s.tpot.p90, 0.1, 1e-9);
  EXPECT_NEAR(s.slo_attainment, 5.0 / 11, 1e-9);  // ttft <= 0.5: 5 requests
  EXPECT_NEAR(s.goodput, 2.5, 1e-9);
  EXPECT_FALSE(s.ttft_p90_met);
  EXPECT_TRUE(s.tpot_p90_met);
  EXPECT_NEAR(s.output_tokens_per_s, 55, 1e-9);
  EXPECT_FALSE(parse_slo("ttft_p90=fast").ok());
  std::string host;
  int port = 0;
  EXPECT_TRUE(parse_url("http://127.0.0.1:9000", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 9000);
  EXPECT_FALSE(parse_url("https://x", &host, &port).ok());
}

}  // namespace
}  // namespace tandem::server
