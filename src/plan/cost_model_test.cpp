#include "plan/cost_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <nlohmann/json.hpp>

namespace tandem::plan {
namespace {

ModelSpec llama8b() {
  auto c = load_model_catalog(default_model_catalog_path());
  return *find_model(*c, "llama-3.1-8b");
}
HardwareSpec hw(const std::string& name) {
  auto c = load_hardware_catalog(default_hardware_catalog_path());
  return *find_hardware(*c, name);
}

Efficiency ideal() {
  Efficiency e;
  e.compute = 1;
  e.memory = 1;
  e.overlap = 1;
  return e;
}

TEST(CostModel, SingleRequestStepsAreTheRooflineFormulas) {
  const ModelSpec m = llama8b();
  const HardwareSpec h = hw("h100-sxm");
  CostModel cm(m, h, 1, ideal());
  const double peak = h.flops_for("bf16"), bw = h.mem_bw;
  // Prefill of 2048 tokens: compute-bound, 2 FLOPs per parameter per token + attention.
  StepWork w;
  w.add_chunk(0, 2048, true);
  const double flops = m.prefill_flops(2048);
  const double bytes = (m.always_params() + m.head_params() + 2048.0 * m.hidden) * m.weight_bytes +
                       m.kv_bytes_per_token() * 2048;
  EXPECT_DOUBLE_EQ(cm.step_cost(w).flops, flops);
  EXPECT_NEAR(cm.step_time(w), std::max(flops / peak, bytes / bw), 1e-12);
  EXPECT_GT(flops / peak, bytes / bw);  // compute-bound
  // Decode at context 1000: memory-bound, every weight and the KV read once.
  StepWork d;
  d.add_chunk(1000, 1, true);
  EXPECT_NEAR(cm.step_time(d), std::max(m.decode_flops(1000) / peak, m.decode_bytes(1000) / bw), 1e-12);
  EXPECT_NEAR(cm.step_time(d), m.decode_bytes(1000) / bw, 1e-12);
  // Efficiencies scale the two roofs; overlap 0 adds them.
  Efficiency e = ideal();
  e.compute = 0.5;
  e.memory = 0.8;
  e.overlap = 0;
  e.step_overhead_s = 1e-3;
  e.seq_overhead_s = 1e-4;
  CostModel cm2(m, h, 1, e);
  EXPECT_NEAR(cm2.step_time(d), 1e-3 + 1e-4 + m.decode_flops(1000) / (peak * 0.5) + m.decode_bytes(1000) / (bw * 0.8), 1e-12);
  // The batch overhead applies to steps of more than small_batch_tokens tokens only.
  e.batch_overhead_s = 5e-4;
  e.small_batch_tokens = 2;
  CostModel cm3(m, h, 1, e);
  StepWork d2 = d, d3 = d;
  d2.add_chunk(1000, 1, true);
  d3.add_chunk(1000, 1, true);
  d3.add_chunk(1000, 1, true);
  EXPECT_NEAR(cm3.step_time(d), cm2.step_time(d), 1e-15);
  EXPECT_NEAR(cm3.step_time(d2), cm2.step_time(d2), 1e-15);
  EXPECT_NEAR(cm3.step_time(d3), cm2.step_time(d3) + 5e-4, 1e-15);
}

TEST(CostModel, TensorParallelismSplitsWorkAndAddsAllReduces) {
  const ModelSpec m = llama8b();
  const HardwareSpec h = hw("h100-sxm");
  CostModel one(m, h, 1, ideal()), two(m, h, 2, ideal());
  StepWork w;
  w.add_chunk(0, 4096, true);
  const double ar_bytes = 4096.0 * m.hidden * 2;
  const double comm = 2.0 * m.n_layers * (h.scaleup_latency_s + ar_bytes * (2.0 * 1 / 2) / h.scaleup_bw);
  EXPECT_NEAR(two.step_time(w), one.step_time(w) / 2 + comm, 1e-12);
  EXPECT_GT(two.kv_capacity_tokens(), 2 * one.kv_capacity_tokens());
  EXPECT_NEAR(one.kv_transfer_time(1000), m.kv_bytes_per_token() * 1000 / h.scaleout_bw + h.scaleout_latency_s, 1e-15);
  // 70B in bf16 does not fit one 80 GB GPU.
  auto cat = load_model_catalog(default_model_catalog_path());
  EXPECT_FALSE(CostModel(*find_model(*cat, "llama-3.1-70b"), h, 1, ideal()).fits());
  EXPECT_TRUE(CostModel(*find_model(*cat, "llama-3.1-70b"), h, 2, ideal()).fits());
}

TEST(CostModel, MoeReadsOnlyTheExpertsItsTokensTouch) {
  auto cat = load_model_catalog(default_model_catalog_path());
  const ModelSpec mx = *find_model(*cat, "mixtral-8x7b");
  CostModel cm(mx, hw("h100-sxm"), 2, ideal());
  StepWork one, many;
  one.add_chunk(10, 1, true);
  for (int i = 0; i < 64; ++i) many.add_chunk(10, 1, true);
  const double b1 = cm.step_cost(one).bytes, b64 = cm.step_cost(many).bytes;
  EXPECT_NEAR(b1, mx.decode_bytes(10), 1);
  // 64 tokens touch essentially all 8 experts: close to every weight.
  EXPECT_GT(b64, 0.95 * (mx.weight_bytes_total() - mx.embedding_params() * mx.weight_bytes));
}

TEST(CostModel, FitRecoversAKnownCostModel) {
  // A synthetic profile generated from known efficiencies, with 3% noise: the
  // fit must land within a few percent on every point.
  Profile p;
  p.hardware = hw("l40s");
  p.model = llama8b();
  Efficiency truth;
  truth.compute = 0.35;
  truth.memory = 0.7;
  truth.overlap = 1.0;
  truth.step_overhead_s = 2e-3;
  truth.seq_overhead_s = 5e-5;
  CostModel gen(p.model, p.hardware, 1, truth);
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> noise(0.97, 1.03);
  for (int len : {16, 64, 256, 1024, 2048}) {
    ProfilePoint q;
    q.work.add_chunk(0, len, true);
    q.seconds = gen.step_time(q.work) * noise(rng);
    p.points.push_back(q);
  }
  for (int b : {1, 4, 16, 64})
    for (int ctx : {128, 2048}) {
      ProfilePoint q;
      for (int i = 0; i < b; ++i) q.work.add_chunk(ctx, 1, true);
      q.seconds = gen.step_time(q.work) * noise(rng);
      p.points.push_back(q);
    }
  FitResult f = fit_profile(p);
  EXPECT_LT(f.mean_abs_rel_err, 0.03);
  EXPECT_LT(f.max_abs_rel_err, 0.06);
  EXPECT_NEAR(f.eff.memory, truth.memory, 0.1);
  // A profile with a fixed extra cost above 2 tokens (a CPU engine's switch
  // from its decode kernels to tiled GEMMs): the fit finds the threshold and
  // the cost, and predicts both sides of it.
  Profile g = p;
  Efficiency truth2 = truth;
  truth2.batch_overhead_s = 4e-3;
  truth2.small_batch_tokens = 2;
  CostModel gen2(g.model, g.hardware, 1, truth2);
  for (int b : {2, 3, 8})
    for (int ctx : {128, 2048}) {
      ProfilePoint q;
      for (int i = 0; i < b; ++i) q.work.add_chunk(ctx, 1, true);
      g.points.push_back(q);
    }
  for (ProfilePoint& q : g.points) q.seconds = gen2.step_time(q.work) * noise(rng);
  FitResult f2 = fit_profile(g);
  EXPECT_EQ(f2.eff.small_batch_tokens, 2);
  EXPECT_NEAR(f2.eff.batch_overhead_s, 4e-3, 1e-3);
  EXPECT_LT(f2.mean_abs_rel_err, 0.03);
  EXPECT_LT(f2.max_abs_rel_err, 0.06);
  // The plain profile has no such step: no threshold is taken.
  EXPECT_EQ(f.eff.small_batch_tokens, 0);
  // A constant-time profile cannot be fitted by a roofline: the error says so.
  Profile flat = p;
  for (ProfilePoint& q : flat.points) q.seconds = 0.01;
  EXPECT_GT(fit_profile(flat).max_abs_rel_err, 0.2);
}

TEST(CostModel, AfterPromptCostDecaysStepByStep) {
  Efficiency e;
  e.after_prompt_s = 1e-3;
  e.after_prompt_decay = 0.6;
  CostModel with(llama8b(), hw("l40s"), 1, e);
  CostModel without(llama8b(), hw("l40s"), 1, Efficiency{});
  StepWork w;
  w.add_chunk(100, 1, true);
  w.add_chunk(300, 1, true);
  EXPECT_DOUBLE_EQ(with.step_time(w), without.step_time(w));  // after_prompt 0: no prompt before
  for (int64_t k = 1; k <= 5; ++k) {
    w.after_prompt = k;
    EXPECT_NEAR(with.step_time(w) - without.step_time(w), 1e-3 * std::pow(0.6, double(k - 1)), 1e-15);
  }
  StepWork empty;
  empty.after_prompt = 1;
  EXPECT_DOUBLE_EQ(with.step_time(empty), 0.0);  // no sequences, no step
}

// Profiles as an engine makes them: runs of a prompt step followed by decode
// steps (after_prompt 1, 2, ...). With a warm-up cost in the truth the fit
// finds it and its decay; without one it adds none.
TEST(CostModel, FitRecoversTheAfterPromptCost) {
  auto make = [](const Efficiency& truth, uint32_t seed) {
    Profile p;
    p.hardware = hw("l40s");
    p.model = llama8b();
    CostModel gen(p.model, p.hardware, 1, truth);
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> noise(0.98, 1.02);
    for (int b : {1, 2, 4, 8, 16, 32})
      for (int prompt : {128, 1024}) {
        ProfilePoint q;
        for (int i = 0; i < b; ++i) q.work.add_chunk(0, prompt, true);
        q.seconds = gen.step_time(q.work) * noise(rng);
        p.points.push_back(q);
        for (int64_t k = 1; k <= 16; ++k) {
          ProfilePoint d;
          for (int i = 0; i < b; ++i) d.work.add_chunk(prompt + k - 1, 1, true);
          d.work.after_prompt = k;
          d.seconds = gen.step_time(d.work) * noise(rng);
          p.points.push_back(d);
        }
      }
    return p;
  };
  Efficiency truth;
  truth.compute = 0.4;
  truth.memory = 0.7;
  truth.step_overhead_s = 1e-3;
  truth.seq_overhead_s = 2e-5;
  Efficiency warm = truth;
  warm.after_prompt_s = 8e-3;
  warm.after_prompt_decay = 0.7;
  FitResult f = fit_profile(make(warm, 5));
  EXPECT_DOUBLE_EQ(f.eff.after_prompt_decay, 0.7);
  EXPECT_NEAR(f.eff.after_prompt_s, 8e-3, 1.5e-3);
  EXPECT_LT(f.mean_abs_rel_err, 0.03);
  FitResult g = fit_profile(make(truth, 6));
  EXPECT_EQ(g.eff.after_prompt_s, 0.0);
  EXPECT_LT(g.mean_abs_rel_err, 0.03);
}

TEST(CostModel, ParsesAProfile) {
  nlohmann::json j;
  j["roofline"] = {{"mem_bw_gbs", 20.0}, {"peak_gflops_f32", 100.0}, {"peak_gops_int8", 200.0}};
  j["model_config"] = {{"hidden_size", 256}, {"intermediate_size", 768}, {"num_hidden_layers", 4},
                       {"num_attention_heads", 8}, {"num_key_value_heads", 2}, {"vocab_size", 4096},
                       {"weight_bytes", 2}, {"kv_bytes", 4}, {"compute_dtype", "fp32"}};
  j["points"] = {{{"kind", "decode"}, {"seconds", 0.001}, {"chunks", {{10, 1, 1}, {20, 1, 1}}}}};
  auto p = parse_profile(j.dump(), "t");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->points[0].work.seqs, 2);
  EXPECT_DOUBLE_EQ(p->points[0].work.kv_read_tokens, 11 + 21);
  EXPECT_DOUBLE_EQ(p->hardware.mem_bw, 20e9);
  EXPECT_EQ(p->points[0].work.after_prompt, 0);
  EXPECT_FALSE(parse_profile("{}", "t").ok());
  j["points"][0]["after_prompt"] = 3;
  p = parse_profile(j.dump(), "t");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->points[0].work.after_prompt, 3);
  for (const nlohmann::json& bad : {nlohmann::json(-1), nlohmann::json("3"), nlohmann::json(1.5)}) {
    j["points"][0]["after_prompt"] = bad;
    auto r = parse_profile(j.dump(), "t");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("after_prompt"), std::string::npos);
  }
}

}  // namespace
}  // namespace tandem::plan
