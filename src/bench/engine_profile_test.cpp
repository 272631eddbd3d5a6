// The whole-engine-step profile on the shipped model: the scenarios make the
// steps they are meant to, and repeated runs agree on every step's shape.
#include "bench/engine_profile.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>

#include "engine/model_loader.h"

namespace tandem::bench {
namespace {

std::string source_dir() {
  if (const char* d = std::getenv("TANDEM_SOURCE_DIR")) return d;
  return TANDEM_SOURCE_DIR;
}

TEST(EngineProfileTest, ScenariosMakeDecodePrefillAndMixedSteps) {
  auto m = load_model(source_dir() + "/models/tiny-kjv");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  ThreadPool pool(1);
  EngineProfileOptions o;
  o.reps = 2;
  o.max_batch = 4;
  o.max_context = 64;
  auto r = run_engine_profile(*m->model, *m->tokenizer, o, pool, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  std::map<std::string, int> kinds;
  int max_decode_batch = 0, mixed = 0;
  for (const StepPoint& p : *r) {
    ++kinds[p.kind];
    EXPECT_EQ(p.samples.size(), 2u);
    EXPECT_GT(p.seconds, 0);
    int decodes = 0, prompt_chunks = 0;
    for (const StepChunk& c : p.chunks) {
      EXPECT_GT(c.len, 0);
      EXPECT_LE(c.start + c.len, 64);
      (c.len == 1 ? decodes : prompt_chunks) += 1;
    }
    if (p.kind == "engine-decode" && prompt_chunks == 0) max_decode_batch = std::max(max_decode_batch, decodes);
    mixed += decodes > 0 && prompt_chunks > 0;
  }
  // Batches 1, 2, 4 decode C/2 = 32 tokens each after a prefill step.
  EXPECT_EQ(max_decode_batch, 4);
  EXPECT_GE(kinds["engine-decode"], 3 * 32);
  EXPECT_GT(kinds["engine-prefill"], 0);
  EXPECT_GT(kinds["engine-chunked"], 0);
  EXPECT_GT(mixed, 0);  // staggered arrivals mix decodes with prompt chunks
  // Light load: one or two decodes beside prompt chunks of several lengths.
  int light_small_mixed = 0;
  std::set<int> light_chunk_lens;
  for (const StepPoint& p : *r) {
    if (p.kind != "engine-light") continue;
    int decodes = 0;
    for (const StepChunk& c : p.chunks) {
      if (c.len == 1) ++decodes;
      else light_chunk_lens.insert(c.len);
    }
    light_small_mixed += decodes >= 1 && decodes <= 2 && decodes < int(p.chunks.size());
  }
  EXPECT_GT(light_small_mixed, 0);
  EXPECT_GE(light_chunk_lens.size(), 4u);
  // after_prompt counts the decode-only steps since the run's last step with
  // a prompt chunk: 0 on that step, then 1, 2, ... (a decode run after its
  // prefill step counts 1 to C/2 - 1).
  int64_t expect = 0, max_after = 0;
  std::string kind;
  for (const StepPoint& p : *r) {
    bool prompt = false;
    for (const StepChunk& c : p.chunks) prompt |= c.len > 1;
    if (p.kind != kind) expect = 0;  // a new scenario starts with its prompts
    kind = p.kind;
    expect = prompt ? 0 : expect + 1;
    EXPECT_EQ(p.after_prompt, expect) << p.kind;
    max_after = std::max(max_after, p.after_prompt);
  }
  EXPECT_EQ(max_after, 31);
}

TEST(EngineProfileTest, StepSecondsAreTheMeanWithOutliersClamped) {
  EXPECT_DOUBLE_EQ(mean_step_seconds({1.0}), 1.0);
  EXPECT_DOUBLE_EQ(mean_step_seconds({1.0, 2.0, 3.0}), 2.0);
  // 100 is clamped at 3x the median (3).
  EXPECT_DOUBLE_EQ(mean_step_seconds({1.0, 1.0, 100.0}), (1.0 + 1.0 + 3.0) / 3);
}

}  // namespace
}  // namespace tandem::bench
