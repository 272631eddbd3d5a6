#include "plan/trace.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tandem::plan {
namespace {

std::string traces() {
  const char* d = std::getenv("TANDEM_TRACE_DIR");
  return d ? d : std::string(TANDEM_SOURCE_DIR) + "/../shared/data/traces";
}

TEST(Trace, ReadsTheAzureTraces) {
  auto conv = read_azure_csv(traces() + "/azure2023_conv.csv");
  if (!conv.ok()) GTEST_SKIP() << "traces not found: " << conv.status().to_string();
  TraceStats s = trace_stats(*conv);
  EXPECT_EQ(s.n, 19366);
  EXPECT_NEAR(s.duration_s / 60, 58, 1.5);
  EXPECT_NEAR(s.mean_prompt, 1155, 12);
  EXPECT_NEAR(s.mean_output, 211, 3);
  auto code = load_trace(traces() + "/azure2023_code.csv");
  ASSERT_TRUE(code.ok());
  TraceStats c = trace_stats(*code);
  EXPECT_EQ(c.n, 8819);
  EXPECT_NEAR(c.mean_prompt, 2048, 20);
  EXPECT_NEAR(c.mean_output, 28, 1);
  for (size_t i = 1; i < conv->requests.size(); ++i) ASSERT_LE(conv->requests[i - 1].arrival_s, conv->requests[i].arrival_s);
}

TEST(Trace, ReadsMooncakeWithPrefixIds) {
  auto mc = load_trace(traces() + "/mooncake_conversation.jsonl");
  if (!mc.ok()) GTEST_SKIP() << "traces not found";
  EXPECT_EQ(mc->requests.size(), 12031u);
  EXPECT_EQ(mc->requests[0].prompt_tokens, 6758);
  EXPECT_EQ(mc->requests[0].prefix_ids.size(), 14u);  // ceil(6758 / 512)
  EXPECT_NEAR(trace_stats(*mc).duration_s / 60, 59, 1.5);
}

TEST(Trace, RejectsMalformedFiles) {
  EXPECT_FALSE(load_trace("/nonexistent.csv").ok());
  EXPECT_FALSE(load_trace("x.txt").ok());
}

TEST(Trace, GeneratorsHaveTheRequestedRateAndBurstiness) {
  GeneratorOptions o;
  o.rate = 20;
  o.duration_s = 2000;
  Trace empty;
  Trace p = poisson_trace(o, empty);
  EXPECT_NEAR(p.rate(), 20, 0.5);
  auto cv = [](const Trace& t) {
    double s = 0, s2 = 0;
    size_t n = t.requests.size() - 1;
    for (size_t i = 1; i < t.requests.size(); ++i) {
      double g = t.requests[i].arrival_s - t.requests[i - 1].arrival_s;
      s += g;
      s2 += g * g;
    }
    double m = s / double(n);
    return std::sqrt(s2 / double(n) - m * m) / m;
  };
  EXPECT_NEAR(cv(p), 1.0, 0.05);
  o.burstiness_cv = 3;
  Trace b = bursty_trace(o, empty);
  EXPECT_NEAR(b.rate(), 20, 2);
  EXPECT_NEAR(cv(b), 3.0, 0.4);
  // Lengths resampled from another trace.
  Trace src;
  src.requests.push_back({0, 7, 3, {}});
  Trace r = poisson_trace(o, src);
  EXPECT_EQ(r.requests[5].prompt_tokens, 7);
}

TEST(Trace, TransformSlicesAndScales) {
  Trace t;
  for (int i = 0; i < 10; ++i) t.requests.push_back({double(i) * 10, 100, 50, {}});
  TraceTransform x;
  x.start_s = 20;
  x.end_s = 60;
  x.rate_scale = 2;
  x.token_scale = 0.5;
  x.output_scale = 0.1;
  x.max_prompt = 40;
  Trace s = transform_trace(t, x);
  ASSERT_EQ(s.requests.size(), 4u);
  EXPECT_DOUBLE_EQ(s.requests[0].arrival_s, 0);
  EXPECT_DOUBLE_EQ(s.requests[3].arrival_s, 15);
  EXPECT_EQ(s.requests[0].prompt_tokens, 40);
  EXPECT_EQ(s.requests[0].output_tokens, 5);
}

}  // namespace
}  // namespace tandem::plan
