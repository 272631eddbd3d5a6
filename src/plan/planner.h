// Capacity planner: searches pool sizes, hardware per pool and tensor
// parallelism for the best goodput per dollar that meets the SLO, by running
// the simulator (plan/simulator.h) on the trace.
//
// Search, per (prefill hardware, prefill tp, decode hardware, decode tp):
// the SLO is monotone in each pool's size (more machines never hurt at fixed
// load; simulator_test checks it), so the planner binary-searches the least
// prefill count that meets the SLO with a generous decode pool and the least
// decode count with a generous prefill pool, then walks the staircase of
// minimal (prefill, decode) pairs around that corner. Colocated clusters are
// searched the same way in one dimension. Results are memoised per config.
//
// Thread safety: plan_cluster uses `pool` (may be null) to run simulations
// in parallel; results do not depend on the thread count.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "plan/simulator.h"

namespace tandem::plan {

struct PlanOptions {
  ModelSpec model;
  std::vector<HardwareSpec> hardware;  // candidates for every pool
  std::vector<int> tps = {1, 2, 4, 8};
  Efficiency eff;
  Slo slo;
  int max_instances = 32;       // per pool
  double budget_per_hour = 0;   // USD; 0 = no limit
  int32_t block_size = 128;
  int32_t decode_stride = 4;    // SimConfig::decode_stride for every simulation of the search
  int windows = 6;              // time windows for the drift analysis (0: none)
  bool search_colocated = true;
  bool mixed_hardware = true;   // allow different hardware in the two pools
};

struct Candidate {
  bool colocated = false;
  std::string hw_prefill, hw_decode;  // colocated: hw_prefill only
  int tp_prefill = 1, tp_decode = 1;
  int prefill = 0, decode = 0;        // colocated: instances in `prefill`
  bool slo_met = false;
  double slo_attainment = 0;
  double goodput_rps = 0;
  double cost_per_hour = 0;
  double cost_per_mtok = 0;
  double ttft_p90 = 0, tpot_p90 = 0;
  double util_prefill = 0, util_decode = 0;
  // The simulation stopped once the SLO was lost (a search's evaluation):
  // slo_met is false and the other figures cover only what ran.
  bool stopped_early = false;
  double goodput_per_dollar() const { return cost_per_hour > 0 ? goodput_rps / cost_per_hour : 0; }
  std::string hardware() const;  // "h100-sxm" or "h100-sxm+h200" (prefill+decode)
};

struct RatioPoint {
  int prefill = 0, decode = 0;
  double goodput_rps = 0, slo_attainment = 0, cost_per_hour = 0, cost_per_mtok = 0;
  bool slo_met = false;
};

struct WindowResult {
  double start_s = 0, end_s = 0;
  int64_t requests = 0;
  double rate = 0, mean_prompt = 0, mean_output = 0;
  Candidate best;           // cheapest meeting the SLO in this window (best's hardware and tp)
  Candidate fixed;          // the whole-trace best run on this window
  Candidate fixed_ratio;    // least machines at the whole-trace best's prefill:decode ratio meeting the SLO
};

struct PlanResult {
  bool found = false;
  Candidate best;
  bool found_colocated = false;
  Candidate best_colocated;
  std::vector<Candidate> evaluated;  // every simulated configuration
  std::vector<RatioPoint> ratio_curve;  // best's hardware, total machines fixed, prefill from 1 to n-1
  std::vector<WindowResult> windows;
  int64_t space = 0;        // configurations within the bounds
  int64_t simulations = 0;
  double wall_s = 0;
};

Result<PlanResult> plan_cluster(const PlanOptions& options, const Trace& trace, ThreadPool* pool);

// Simulates one configuration (used by the search; exposed for benches).
// stop_when_slo_lost: only whether it meets the SLO matters, so the
// simulation may stop as soon as it cannot (SimConfig::stop_when_slo_lost).
Result<Candidate> evaluate_candidate(const PlanOptions& options, const Trace& trace, Candidate c,
                                     bool stop_when_slo_lost = false);

std::string plan_result_to_json(const PlanOptions& options, const PlanResult& r);
// SVG: goodput and cost per million tokens against the prefill:decode ratio.
std::string ratio_plot_svg(const PlanResult& r, const std::string& title);

}  // namespace tandem::plan
