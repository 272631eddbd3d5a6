#include "plan/simulator.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tandem::plan {
namespace {

ModelSpec model(const std::string& name) {
  auto c = load_model_catalog(default_model_catalog_path());
  return *find_model(*c, name);
}
HardwareSpec hw(const std::string& name) {
  auto c = load_hardware_catalog(default_hardware_catalog_path());
  return *find_hardware(*c, name);
}

SimConfig disagg(const std::string& m, const std::string& h, int p, int d, int tp = 1) {
  SimConfig c;
  c.model = model(m);
  c.prefill.hardware = c.decode.hardware = hw(h);
  c.prefill.instances = p;
  c.decode.instances = d;
  c.prefill.tp = c.decode.tp = tp;
  c.prefill.sched = default_sched(Role::kPrefill);
  c.decode.sched = default_sched(Role::kDecode);
  return c;
}

SimConfig coloc(const std::string& m, const std::string& h, int n) {
  SimConfig c;
  c.model = model(m);
  c.colocated = true;
  c.mixed.hardware = hw(h);
  c.mixed.instances = n;
  c.mixed.sched = default_sched(Role::kMixed);
  return c;
}

Trace one_request(int32_t prompt, int32_t output) {
  Trace t;
  t.requests.push_back({0.0, prompt, output, {}});
  return t;
}

// Single request, disaggregated: TTFT is the prefill roofline, then the KV
// transfer, then output - 1 decode steps at growing context, each the
// decode roofline. Computed here from the model's formulas, not the simulator.
TEST(Simulator, SingleRequestMatchesTheRooflineFormulas) {
  SimConfig c = disagg("llama-3.1-8b", "h100-sxm", 1, 1);
  const ModelSpec& m = c.model;
  const HardwareSpec& h = c.prefill.hardware;
  const Efficiency e = c.prefill.eff;
  const double peak = h.flops_for("bf16") * e.compute, bw = h.mem_bw * e.memory;
  const int32_t P = 3000, O = 50;
  auto r = simulate(c, one_request(P, O));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const double prefill_bytes = (m.always_params() + m.head_params() + double(P) * m.hidden) * m.weight_bytes +
                               m.kv_bytes_per_token() * P;
  const double t_prefill = std::max(m.prefill_flops(P) / peak, prefill_bytes / bw);
  const double t_transfer = m.kv_bytes_per_token() * P / h.scaleout_bw + h.scaleout_latency_s;
  double t_decode = 0;
  for (int32_t i = 0; i < O - 1; ++i) t_decode += std::max(m.decode_flops(P + i) / peak, m.decode_bytes(P + i) / bw);
  EXPECT_NEAR(r->ttft.p50, t_prefill, 1e-9 * t_prefill);
  EXPECT_NEAR(r->e2e.p50, t_prefill + t_transfer + t_decode, 1e-9);
  EXPECT_NEAR(r->tpot.p50, (t_transfer + t_decode) / (O - 1), 1e-9);
  EXPECT_NEAR(r->mean_kv_transfer_s, t_transfer, 1e-12);

  // Colocated: same prefill (the prompt fits one 2048-token step? no: chunks).
  SimConfig cc = coloc("llama-3.1-8b", "h100-sxm", 1);
  auto rc = simulate(cc, one_request(1500, 2));
  ASSERT_TRUE(rc.ok());
  const double pb = (m.always_params() + m.head_params() + 1500.0 * m.hidden) * m.weight_bytes + m.kv_bytes_per_token() * 1500;
  const double tp = std::max(m.prefill_flops(1500) / peak, pb / bw);
  EXPECT_NEAR(rc->ttft.p50, tp, 1e-9 * tp);
  EXPECT_NEAR(rc->e2e.p50, tp + std::max(m.decode_flops(1500) / peak, m.decode_bytes(1500) / bw), 1e-9);
}

// The after-prompt warm-up cost (a CPU engine's decode steps refetching
// what a prompt chunk evicted): a single colocated request's k-th decode step
// costs after_prompt_s * decay^(k - 1) more; TTFT is unchanged.
TEST(Simulator, DecodeStepsAfterAPromptPayTheWarmUpCost) {
  SimConfig c = coloc("llama-3.1-8b", "h100-sxm", 1);
  const int32_t P = 500, O = 12;
  auto plain = simulate(c, one_request(P, O));
  ASSERT_TRUE(plain.ok()) << plain.status().to_string();
  c.mixed.eff.after_prompt_s = 2e-3;
  c.mixed.eff.after_prompt_decay = 0.5;
  auto warm = simulate(c, one_request(P, O));
  ASSERT_TRUE(warm.ok()) << warm.status().to_string();
  double extra = 0;
  for (int32_t k = 1; k <= O - 1; ++k) extra += 2e-3 * std::pow(0.5, k - 1);
  EXPECT_DOUBLE_EQ(warm->ttft.p50, plain->ttft.p50);
  EXPECT_NEAR(warm->e2e.p50 - plain->e2e.p50, extra, 1e-12);
  EXPECT_NEAR(warm->tpot.p50 - plain->tpot.p50, extra / (O - 1), 1e-12);
  // Disaggregated, the decode pool never runs a prompt chunk: no cost there.
  SimConfig d = disagg("llama-3.1-8b", "h100-sxm", 1, 1);
  auto d_plain = simulate(d, one_request(P, O));
  d.decode.eff.after_prompt_s = 2e-3;
  auto d_warm = simulate(d, one_request(P, O));
  ASSERT_TRUE(d_plain.ok() && d_warm.ok());
  EXPECT_DOUBLE_EQ(d_warm->e2e.p50, d_plain->e2e.p50);
}

TEST(Simulator, LittlesLawHoldsInSteadyState) {
  // Poisson arrivals at a load the cluster sustains: the time-average number
  // of requests in the system (integrated by the event loop) equals the
  // arrival rate times the mean time in system (from per-request records).
  GeneratorOptions g{.rate = 30, .duration_s = 200, .prompt_tokens = 1000, .output_tokens = 100};
  Trace t = poisson_trace(g, Trace{});
  for (bool colocated : {false, true}) {
    SimConfig c = colocated ? coloc("llama-3.1-8b", "h100-sxm", 2) : disagg("llama-3.1-8b", "h100-sxm", 1, 2);
    auto r = simulate(c, t);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->n_completed, r->n_requests);
    const double lambda = r->arrival_rate;
    const double L = r->mean_in_system * r->makespan_s / r->duration_s;  // over the arrival window
    EXPECT_NEAR(L, lambda * r->e2e.mean, 0.03 * L) << "colocated=" << colocated;
    EXPECT_GT(L, 1.0);
  }
}

TEST(Simulator, UtilisationNeverExceedsOne) {
  GeneratorOptions g{.rate = 200, .duration_s = 20, .prompt_tokens = 2000, .output_tokens = 200};  // far beyond what 2 machines serve
  Trace t = bursty_trace(g, Trace{});
  for (int n : {1, 2, 4}) {
    for (bool colocated : {false, true}) {
      SimConfig c = colocated ? coloc("llama-3.1-8b", "l40s", n) : disagg("llama-3.1-8b", "l40s", n, n);
      auto r = simulate(c, t);
      ASSERT_TRUE(r.ok());
      for (const PoolStats& p : r->pools) {
        EXPECT_LE(p.utilisation, 1.0 + 1e-12);
        EXPECT_GT(p.utilisation, 0.0);
        EXPECT_LE(p.peak_kv_frac, 1.0);
      }
    }
  }
}

TEST(Simulator, MoreMachinesNeverLowerGoodput) {
  Trace conv;
  GeneratorOptions g{.rate = 12, .duration_s = 120, .prompt_tokens = 1500, .output_tokens = 250};
  Trace t = bursty_trace(g, Trace{});
  auto run = [&](int p, int d) {
    SimConfig c = disagg("llama-3.1-70b", "h100-sxm", p, d, 4);
    c.slo = {2.0, 0.05, 0.9};
    auto r = simulate(c, t);
    TANDEM_CHECK(r.ok(), r.status().to_string());
    return r->goodput_rps;
  };
  double prev_row = -1;
  for (int p = 1; p <= 3; ++p) {
    double prev = -1;
    for (int d = 1; d <= 4; ++d) {
      const double gp = run(p, d);
      EXPECT_GE(gp, prev - 1e-12) << p << "," << d;
      if (d == 1) {
        EXPECT_GE(gp, prev_row - 1e-12) << p;
        prev_row = gp;
      }
      prev = gp;
    }
  }
  auto colo = [&](int n) {
    SimConfig c = coloc("llama-3.1-8b", "l40s", n);
    auto r = simulate(c, t);
    return r->goodput_rps;
  };
  double prev = -1;
  for (int n = 1; n <= 6; ++n) {
    const double gp = colo(n);
    EXPECT_GE(gp, prev - 1e-12) << n;
    prev = gp;
  }
}

// stop_when_slo_lost changes how long a run takes, never its verdict: over
// loads from far too little hardware to plenty, the early-stopped run meets
// the SLO exactly when the full one does, stops only when it does not, and
// stops well before the end when the pools are overloaded.
TEST(Simulator, StoppingWhenTheSloIsLostKeepsTheVerdict) {
  GeneratorOptions g{.rate = 12, .duration_s = 120, .prompt_tokens = 1500, .output_tokens = 250};
  Trace t = bursty_trace(g, Trace{});
  int met = 0, stopped = 0;
  for (int p = 1; p <= 3; ++p)
    for (int d = 1; d <= 4; ++d)
      for (double tpot : {0.03, 0.05}) {
        SimConfig c = disagg("llama-3.1-70b", "h100-sxm", p, d, 4);
        c.slo = {2.0, tpot, 0.9};
        auto full = simulate(c, t);
        c.stop_when_slo_lost = true;
        auto early = simulate(c, t);
        ASSERT_TRUE(full.ok() && early.ok());
        EXPECT_EQ(early->slo_met, full->slo_met) << p << "," << d << " tpot " << tpot;
        EXPECT_FALSE(full->stopped_early);
        if (early->stopped_early) {
          EXPECT_FALSE(full->slo_met);
          EXPECT_LT(early->events, full->events);
          ++stopped;
        } else {
          EXPECT_EQ(early->events, full->events);
          EXPECT_EQ(early->goodput_rps, full->goodput_rps);
        }
        met += full->slo_met;
      }
  EXPECT_GT(met, 0);
  EXPECT_GT(stopped, 0);
  // Overloaded: one small instance each, 3x the rate.
  g.rate = 36;
  Trace heavy = bursty_trace(g, Trace{});
  SimConfig c = disagg("llama-3.1-70b", "h100-sxm", 1, 1, 4);
  auto full = simulate(c, heavy);
  c.stop_when_slo_lost = true;
  auto early = simulate(c, heavy);
  ASSERT_TRUE(full.ok() && early.ok());
  EXPECT_FALSE(full->slo_met);
  EXPECT_TRUE(early->stopped_early);
  EXPECT_LT(early->events * 4, full->events);
}

TEST(Simulator, KvCapacityLimitsAdmissionAndPreempts) {
  // Decode pool with room for few sequences: requests wait (or are
  // preempted and recomputed) but all complete.
  SimConfig c = disagg("llama-3.1-8b", "l40s", 1, 1);
  c.decode.sched.n_blocks = 64;  // 64 * 128 tokens of KV
  c.decode.sched.block_size = 128;
  GeneratorOptions g{.rate = 50, .duration_s = 5, .prompt_tokens = 1000, .output_tokens = 400};
  Trace t = poisson_trace(g, Trace{});
  auto r = simulate(c, t);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->n_completed, r->n_requests);
  EXPECT_DOUBLE_EQ(r->pools[1].peak_kv_frac, 1.0);
  // A prompt longer than the capacity is rejected, not hung.
  auto big = simulate(c, one_request(64 * 128 + 10, 5));
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->n_rejected, 1);
  EXPECT_FALSE(big->slo_met);
}

TEST(Simulator, RejectsConfigsThatCannotRun) {
  EXPECT_FALSE(simulate(disagg("llama-3.1-70b", "h100-sxm", 1, 1, 1), one_request(10, 2)).ok());  // does not fit
  EXPECT_FALSE(simulate(disagg("llama-3.1-8b", "h100-sxm", 0, 1), one_request(10, 2)).ok());
  EXPECT_FALSE(simulate(disagg("llama-3.1-8b", "h100-sxm", 1, 1, 16), one_request(10, 2)).ok());  // tp > max_tp
}

TEST(Simulator, PrefixSharingFromMooncakeIdsSavesPrefill) {
  Trace t;
  for (int i = 0; i < 20; ++i) {
    TraceRequest r{double(i) * 2.0, 4096, 10, {}};
    for (uint32_t b = 0; b < 8; ++b) r.prefix_ids.push_back(b < 7 ? b : 100 + uint32_t(i));
    t.requests.push_back(r);
  }
  Trace unique = t;
  for (auto& r : unique.requests) r.prefix_ids.clear();
  SimConfig c = disagg("llama-3.1-8b", "a100-80gb", 1, 1);
  auto shared = simulate(c, t), plain = simulate(c, unique);
  ASSERT_TRUE(shared.ok() && plain.ok());
  EXPECT_LT(shared->ttft.p50, 0.5 * plain->ttft.p50);
}

}  // namespace
}  // namespace tandem::plan

namespace tandem::plan {
namespace {

TEST(Simulator, DecodeStrideApproximatesTheExactSimulation) {
  GeneratorOptions g{.rate = 20, .duration_s = 120, .prompt_tokens = 1200, .output_tokens = 200};
  Trace lengths;
  for (int i = 0; i < 50; ++i) lengths.requests.push_back({0, 200 + 37 * i, 20 + 9 * i, {}});
  Trace t = bursty_trace(g, lengths);
  SimConfig c = disagg("llama-3.1-8b", "l40s", 2, 3);
  auto exact = simulate(c, t);
  c.decode_stride = 4;
  auto fast = simulate(c, t);
  ASSERT_TRUE(exact.ok() && fast.ok());
  EXPECT_LT(fast->scheduler_steps, exact->scheduler_steps / 2);
  EXPECT_NEAR(fast->tpot.p50, exact->tpot.p50, 0.05 * exact->tpot.p50);
  EXPECT_NEAR(fast->tpot.p90, exact->tpot.p90, 0.05 * exact->tpot.p90);
  EXPECT_NEAR(fast->e2e.p90, exact->e2e.p90, 0.05 * exact->e2e.p90);
  EXPECT_DOUBLE_EQ(fast->ttft.p90, exact->ttft.p90);  // prefill is not strided
  c.decode_stride = 3;  // must divide the block size
  EXPECT_FALSE(simulate(c, t).ok());
}

}  // namespace
}  // namespace tandem::plan
