#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace tandem {
namespace {

TEST(SamplerTest, GreedyPicksArgmaxLowestIdOnTie) {
  SamplingParams p;
  p.temperature = 0;
  Sampler s(p);
  std::vector<float> logits{0.1f, 3.0f, -1.0f, 3.0f};
  EXPECT_EQ(s.sample(logits, {}, 0), 1);
}

TEST(SamplerTest, CounterUniformIsPureAndSpread) {
  EXPECT_EQ(counter_uniform(7, 1, 5), counter_uniform(7, 1, 5));
  EXPECT_NE(counter_uniform(7, 1, 5), counter_uniform(7, 1, 6));
  EXPECT_NE(counter_uniform(7, 1, 5), counter_uniform(7, 2, 5));
  EXPECT_NE(counter_uniform(7, 1, 5), counter_uniform(8, 1, 5));
  double sum = 0;
  for (int i = 0; i < 10000; ++i) {
    double u = counter_uniform(1, 0, static_cast<uint64_t>(i));
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / 10000, 0.5, 0.02);
}

TEST(SamplerTest, SameSeedPositionSameToken) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 42;
  std::vector<float> logits(50);
  for (int i = 0; i < 50; ++i) logits[static_cast<size_t>(i)] = std::sin(static_cast<float>(i));
  Sampler a(p), b(p);
  for (int pos = 0; pos < 100; ++pos) EXPECT_EQ(a.sample(logits, {}, pos), b.sample(logits, {}, pos));
}

TEST(SamplerTest, TemperatureOneMatchesSoftmaxFrequencies) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 3;
  std::vector<float> logits{std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  Sampler s(p);
  std::map<int, int> counts;
  const int n = 20000;
  for (int pos = 0; pos < n; ++pos) counts[s.sample(logits, {}, pos)]++;
  EXPECT_NEAR(counts[0] / double(n), 0.5, 0.015);
  EXPECT_NEAR(counts[1] / double(n), 0.3, 0.015);
  EXPECT_NEAR(counts[2] / double(n), 0.2, 0.015);
}

TEST(SamplerTest, TopKTopPMinPRestrictCandidates) {
  std::vector<float> logits{std::log(0.4f), std::log(0.3f), std::log(0.2f), std::log(0.1f)};
  auto support = [&](SamplingParams p) {
    Sampler s(p);
    std::map<int, int> seen;
    for (int pos = 0; pos < 3000; ++pos) seen[s.sample(logits, {}, pos)]++;
    return seen;
  };
  SamplingParams p;
  p.top_k = 2;
  auto k = support(p);
  EXPECT_EQ(k.size(), 2u);
  EXPECT_TRUE(k.count(0) && k.count(1));
  p = {};
  p.top_p = 0.65f;  // 0.4 + 0.3 >= 0.65
  auto tp = support(p);
  EXPECT_EQ(tp.size(), 2u);
  p = {};
  p.min_p = 0.6f;  // keep p >= 0.24: tokens 0, 1
  auto mp = support(p);
  EXPECT_EQ(mp.size(), 2u);
  EXPECT_FALSE(mp.count(2));
}

TEST(SamplerTest, PenaltiesChangeGreedyChoice) {
  std::vector<float> logits{2.0f, 1.9f, 0.0f};
  std::vector<int32_t> hist{0, 0, 0};
  SamplingParams p;
  p.temperature = 0;
  p.repetition_penalty = 1.1f;  // 2.0 / 1.1 = 1.818 < 1.9
  EXPECT_EQ(Sampler(p).sample(logits, hist, 3), 1);
  p = {};
  p.temperature = 0;
  p.presence_penalty = 0.2f;
  EXPECT_EQ(Sampler(p).sample(logits, hist, 3), 1);
  p = {};
  p.temperature = 0;
  p.frequency_penalty = 0.05f;  // 2.0 - 0.15 = 1.85 < 1.9
  EXPECT_EQ(Sampler(p).sample(logits, hist, 3), 1);
  p.frequency_penalty = 0.01f;  // 1.97 > 1.9
  EXPECT_EQ(Sampler(p).sample(logits, hist, 3), 0);
}

TEST(SamplerTest, ValidateRejectsOutOfRange) {
  SamplingParams p;
  p.temperature = -1;
  EXPECT_FALSE(p.validate().ok());
  p = {};
  p.top_p = 0;
  EXPECT_FALSE(p.validate().ok());
  p = {};
  p.top_p = 1.5f;
  EXPECT_NE(p.validate().message().find("top_p"), std::string::npos);
  p = {};
  p.presence_penalty = 3;
  EXPECT_FALSE(p.validate().ok());
  EXPECT_TRUE(SamplingParams{}.validate().ok());
}

}  // namespace
}  // namespace tandem
