#include "bench/model_bench.h"

#include <gtest/gtest.h>

namespace tandem::bench {
namespace {

TEST(ModelBenchTest, PrefillFlopsCountMatmulsHeadAndAttention) {
  ModelConfig c;
  c.n_layers = 2;
  c.n_heads = 4;
  c.head_dim = 8;
  ModelCost cost;
  cost.layer_matmul_params = 1000;
  cost.head_params = 300;
  // 10 tokens in chunks of 4: 3 forward calls, 3 logits rows; token p
  // attends to p + 1 positions, 55 in all.
  const double attention = 4.0 * 4 * 8 * 2 * 55;
  EXPECT_DOUBLE_EQ(prefill_flops(c, cost, 10, 4), 2.0 * 1000 * 10 + 2.0 * 300 * 3 + attention);
  // A sliding window of 3 caps each token's span: 1 + 2 + 3 * 8 = 27.
  c.sliding_window = 3;
  EXPECT_DOUBLE_EQ(prefill_flops(c, cost, 10, 10), 2.0 * 1000 * 10 + 2.0 * 300 + 4.0 * 4 * 8 * 2 * 27);
}

TEST(ModelBenchTest, MeanAndSampleStddev) {
  PhaseResult p;
  EXPECT_EQ(p.mean(), 0);
  EXPECT_EQ(p.stddev(), 0);
  p.tokens_per_s = {10};
  EXPECT_EQ(p.mean(), 10);
  EXPECT_EQ(p.stddev(), 0);
  p.tokens_per_s = {9, 10, 11};
  EXPECT_DOUBLE_EQ(p.mean(), 10);
  EXPECT_DOUBLE_EQ(p.stddev(), 1);
}

}  // namespace
}  // namespace tandem::bench
