#include "plan/model_spec.h"

#include <gtest/gtest.h>

#include "plan/hardware.h"
#include "plan/model_import.h"

namespace tandem::plan {
namespace {

std::vector<ModelSpec> catalog() {
  auto c = load_model_catalog(default_model_catalog_path());
  TANDEM_CHECK(c.ok(), c.status().to_string());
  return *c;
}

// Published parameter counts (model cards): Llama 3.1 8B 8.03B, 70B 70.6B,
// Qwen2.5-72B 72.7B, Mixtral 8x7B 46.7B total / 12.9B active, DeepSeek-V3
// 671B total / 37B active (without its 14B multi-token-prediction module).
TEST(ModelSpec, ParameterCountsMatchPublishedFigures) {
  auto cat = catalog();
  auto near = [](double got, double want, double rel) { return std::abs(got - want) <= rel * want; };
  auto m = *find_model(cat, "llama-3.1-8b");
  EXPECT_TRUE(near(m.params(), 8.03e9, 0.005)) << m.params();
  EXPECT_DOUBLE_EQ(m.kv_bytes_per_token(), 32.0 * 2 * 8 * 128 * 2);
  EXPECT_TRUE(near((*find_model(cat, "llama-3.1-70b")).params(), 70.6e9, 0.005));
  EXPECT_TRUE(near((*find_model(cat, "qwen2.5-72b")).params(), 72.7e9, 0.005));
  auto mx = *find_model(cat, "mixtral-8x7b");
  EXPECT_TRUE(near(mx.params(), 46.7e9, 0.01)) << mx.params();
  // Published active counts include the embedding table; ours counts matmuls only.
  EXPECT_TRUE(near(mx.active_params() + mx.embedding_params(), 12.9e9, 0.01)) << mx.active_params();
  auto ds = *find_model(cat, "deepseek-v3");
  EXPECT_TRUE(near(ds.params(), 671e9, 0.01)) << ds.params();
  EXPECT_TRUE(near(ds.active_params() + ds.embedding_params(), 37e9, 0.03)) << ds.active_params();
  EXPECT_DOUBLE_EQ(ds.kv_bytes_per_token(), 61.0 * (512 + 64) * 1);
  // Dense decode moves every weight; MoE decode only the active ones.
  EXPECT_NEAR(m.decode_bytes(0), (m.params() - m.embedding_params() + m.hidden) * 2 + m.kv_bytes_per_token(), 1);
  EXPECT_LT(mx.decode_bytes(0), 0.3 * mx.weight_bytes_total());
  // Prefill FLOPs: 2 per active parameter per token plus quadratic attention.
  EXPECT_NEAR(m.prefill_flops(1000),
              1000 * 2 * (m.active_params() - m.head_params()) + 2 * m.head_params() +
                  m.attn_flops_per_position() * 1000.0 * 1001 / 2,
              1e3);
}

TEST(ModelSpec, ReadsConfigJsonAndGgufThroughTheModelModule) {
  const std::string dir = std::string(TANDEM_SOURCE_DIR) + "/models/tiny-kjv";
  auto hf = resolve_model(dir, {});
  ASSERT_TRUE(hf.ok()) << hf.status().to_string();
  EXPECT_EQ(hf->hidden, 256);
  EXPECT_EQ(hf->n_layers, 4);
  EXPECT_EQ(hf->n_kv_heads, 2);
  EXPECT_EQ(hf->weight_bytes, 2);  // torch_dtype float16
  auto gg = resolve_model(dir + "/tiny-kjv-q8_0.gguf", {});
  ASSERT_TRUE(gg.ok()) << gg.status().to_string();
  EXPECT_EQ(gg->hidden, 256);
  EXPECT_EQ(gg->vocab, 4096);
  EXPECT_DOUBLE_EQ(gg->weight_bytes, 34.0 / 32.0);
  EXPECT_EQ(gg->compute_dtype, "int8");
  // A MoE config.json the model module does not run: the plan's parser reads it.
  auto mx = model_spec_from_json(R"({"model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336,
      "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 32000,
      "num_local_experts": 8, "num_experts_per_tok": 2})", "mixtral.json");
  ASSERT_TRUE(mx.ok());
  EXPECT_EQ(mx->n_experts, 8);
  EXPECT_EQ(mx->head_dim, 128);
  EXPECT_FALSE(resolve_model("no-such-model", catalog()).ok());
  EXPECT_FALSE(model_spec_from_json(R"({"hidden_size": 10})", "bad").ok());
}

}  // namespace
}  // namespace tandem::plan
