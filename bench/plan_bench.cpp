// Speed of the cluster simulator and the planner (issue 6 acceptance):
//   1. the whole Azure conversation trace (19,366 requests) on a 64-machine
//      disaggregated cluster, one thread;
//   2. 1,000 configurations (an exhaustive grid over hardware, tp and pool
//      sizes) simulated on a 10-minute window of the same trace, on
//      --threads threads (default 1), decode_stride --stride (default 8).
// Usage: plan_bench [--trace FILE] [--threads N] [--model NAME] [--configs N] [--stride S]
#include <ctime>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "base/thread_pool.h"
#include "plan/planner.h"

using namespace tandem;
using namespace tandem::plan;

int main(int argc, char** argv) {
  std::string trace_path = std::string(TANDEM_SOURCE_DIR) + "/../shared/data/traces/azure2023_conv.csv";
  std::string model_name = "llama-3.1-70b";
  int threads = 1, configs = 1000, stride = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--trace") trace_path = argv[i + 1];
    else if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--model") model_name = argv[i + 1];
    else if (a == "--configs") configs = std::atoi(argv[i + 1]);
    else if (a == "--stride") stride = std::atoi(argv[i + 1]);
  }
  auto trace = load_trace(trace_path);
  auto mc = load_model_catalog(default_model_catalog_path());
  auto hc = load_hardware_catalog(default_hardware_catalog_path());
  if (!trace.ok() || !mc.ok() || !hc.ok()) {
    std::fprintf(stderr, "plan_bench: cannot load trace or catalogs\n");
    return 1;
  }
  auto model = find_model(*mc, model_name);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().to_string().c_str());
    return 1;
  }
  using clk = std::chrono::steady_clock;

  // 1. Whole trace, 64 machines: 24 prefill + 40 decode instances of 1 GPU
  //    (8B) or 16 + 16 instances of tp 2 (70B), i.e. 64 GPUs either way.
  SimConfig c;
  c.model = *model;
  c.prefill.hardware = c.decode.hardware = *find_hardware(*hc, "h100-sxm");
  const int tp = model->weight_bytes_total() > 70e9 ? 2 : 1;
  c.prefill.tp = c.decode.tp = tp;
  c.prefill.instances = 24 / tp;
  c.decode.instances = 40 / tp;
  c.prefill.sched = default_sched(Role::kPrefill);
  c.decode.sched = default_sched(Role::kDecode);
  double best = 1e30, best_cpu = 1e30;
  SimResult last;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = clk::now();
    const std::clock_t c0 = std::clock();
    auto r = simulate(c, *trace);
    best_cpu = std::min(best_cpu, double(std::clock() - c0) / CLOCKS_PER_SEC);
    double s = std::chrono::duration<double>(clk::now() - t0).count();
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().to_string().c_str());
      return 1;
    }
    best = std::min(best, s);
    last = *r;
  }
  std::printf("whole trace: %s, %lld requests, %s, %d prefill + %d decode instances x tp %d (%d GPUs)\n",
              trace->name.c_str(), (long long)last.n_requests, model->name.c_str(), c.prefill.instances,
              c.decode.instances, tp, (c.prefill.instances + c.decode.instances) * tp);
  std::printf("  best of 3: %.3f s wall, %.3f s CPU, one thread; %lld events, %lld scheduler steps; ttft p90 %.3f s, tpot p90 %.4f s\n",
              best, best_cpu, (long long)last.events, (long long)last.scheduler_steps, last.ttft.p90, last.tpot.p90);

  for (int stride : {4, 8}) {
    SimConfig cs = c;
    cs.decode_stride = stride;
    double b = 1e30, bc = 1e30;
    SimResult rs;
    for (int rep = 0; rep < 3; ++rep) {
      auto t0 = clk::now();
      const std::clock_t c0 = std::clock();
      auto r = simulate(cs, *trace);
      bc = std::min(bc, double(std::clock() - c0) / CLOCKS_PER_SEC);
      b = std::min(b, std::chrono::duration<double>(clk::now() - t0).count());
      rs = *r;
    }
    std::printf("  decode_stride %d: %.3f s wall, %.3f s CPU; %lld scheduler steps; tpot p50 %.5f (exact %.5f), p90 %.5f (exact %.5f), e2e p90 %.3f (exact %.3f)\n",
                stride, b, bc, (long long)rs.scheduler_steps, rs.tpot.p50, last.tpot.p50, rs.tpot.p90, last.tpot.p90,
                rs.e2e.p90, last.e2e.p90);
  }

  // 2. A grid of `configs` configurations on a 10-minute window.
  TraceTransform x;
  x.start_s = 1200;
  x.end_s = 1800;
  Trace window = transform_trace(*trace, x);
  PlanOptions o;
  o.model = *model;
  o.decode_stride = stride;
  for (const char* h : {"h100-sxm", "h200", "b200", "a100-80gb", "l40s"}) o.hardware.push_back(*find_hardware(*hc, h));
  std::vector<Candidate> grid;
  std::vector<std::pair<std::string, int>> opts;
  for (const HardwareSpec& h : o.hardware)
    for (int t : {1, 2, 4, 8})
      if (CostModel(*model, h, t, o.eff).fits()) opts.push_back({h.name, t});
  for (size_t k = 0; grid.size() < size_t(configs); ++k) {
    const auto& a = opts[k % opts.size()];
    const auto& b = opts[(k / opts.size()) % opts.size()];
    Candidate cd;
    cd.hw_prefill = a.first;
    cd.tp_prefill = a.second;
    cd.hw_decode = b.first;
    cd.tp_decode = b.second;
    const size_t cell = k / (opts.size() * opts.size());
    cd.prefill = 1 + int(cell % 6);
    cd.decode = 1 + int((cell / 6) % 8);
    grid.push_back(cd);
  }
  ThreadPool pool(threads);
  std::vector<int> met(grid.size(), 0);
  auto t0 = clk::now();
  const std::clock_t c0 = std::clock();
  pool.parallel_for(grid.size(), 1, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      auto r = evaluate_candidate(o, window, grid[i], /*stop_when_slo_lost=*/true);
      met[i] = r.ok() && r->slo_met;
    }
  });
  double s = std::chrono::duration<double>(clk::now() - t0).count();
  const double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;
  int n_met = 0;
  for (int m : met) n_met += m;
  std::printf("search (decode_stride %d): %zu configurations on a %zu-request 10-minute window, %d thread(s): %.2f s (%.1f ms each), %.2f s CPU, %d meet the SLO\n",
              stride, grid.size(), window.requests.size(), threads, s, 1e3 * s / double(grid.size()), cpu, n_met);
  return 0;
}
