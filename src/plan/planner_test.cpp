#include "plan/planner.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace tandem::plan {
namespace {

PlanOptions options() {
  PlanOptions o;
  auto mc = load_model_catalog(default_model_catalog_path());
  o.model = *find_model(*mc, "llama-3.1-8b");
  auto hc = load_hardware_catalog(default_hardware_catalog_path());
  o.hardware = {*find_hardware(*hc, "h100-sxm"), *find_hardware(*hc, "l40s")};
  o.tps = {1, 2};
  o.max_instances = 8;
  o.windows = 2;
  o.slo = {1.0, 0.03, 0.9};
  return o;
}

Trace workload() {
  GeneratorOptions g;
  g.rate = 15;
  g.duration_s = 60;
  g.prompt_tokens = 2000;
  g.output_tokens = 150;
  return poisson_trace(g, Trace{});
}

TEST(Planner, FindsTheBestGoodputPerDollarMeetingTheSlo) {
  PlanOptions o = options();
  Trace t = workload();
  ThreadPool pool(2);
  auto r = plan_cluster(o, t, &pool);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_TRUE(r->found);
  ASSERT_TRUE(r->found_colocated);
  EXPECT_TRUE(r->best.slo_met);
  // The answer re-simulates to the same numbers.
  auto again = evaluate_candidate(o, t, r->best);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->slo_met);
  EXPECT_DOUBLE_EQ(again->goodput_rps, r->best.goodput_rps);
  // No evaluated configuration meeting the SLO beats it.
  for (const Candidate& c : r->evaluated) {
    if (c.slo_met && !c.colocated) {
      EXPECT_LE(c.goodput_per_dollar(), r->best.goodput_per_dollar() * (1 + 1e-12));
    }
  }
  // One machine fewer in either pool misses the SLO or costs more per goodput.
  for (auto [dp, dd] : {std::pair{1, 0}, std::pair{0, 1}}) {
    Candidate c = r->best;
    c.prefill -= dp;
    c.decode -= dd;
    if (c.prefill < 1 || c.decode < 1) continue;
    auto s = evaluate_candidate(o, t, c);
    ASSERT_TRUE(s.ok());
    EXPECT_TRUE(!s->slo_met || s->goodput_per_dollar() <= r->best.goodput_per_dollar() * (1 + 1e-9));
  }
  EXPECT_EQ(r->ratio_curve.size(), size_t(r->best.prefill + r->best.decode - 1));
  EXPECT_EQ(r->windows.size(), 2u);
  EXPECT_GT(r->simulations, 10);
  EXPECT_LT(r->simulations, r->space);

  auto j = nlohmann::json::parse(plan_result_to_json(o, *r));
  for (const char* k : {"prefill", "decode", "hardware", "goodput_rps", "cost_per_hour"}) EXPECT_TRUE(j["best"].contains(k)) << k;
  const std::string svg = ratio_plot_svg(*r, "test");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("<path d=\" M"), std::string::npos);
}

TEST(Planner, BudgetExcludesDearConfigurations) {
  PlanOptions o = options();
  o.budget_per_hour = 1.0;  // less than any one machine
  o.windows = 0;
  auto r = plan_cluster(o, workload(), nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->found);
}

}  // namespace
}  // namespace tandem::plan
