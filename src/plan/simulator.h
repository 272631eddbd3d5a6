// Discrete-event simulator of a serving cluster, disaggregated (a prefill
// pool and a decode pool) or colocated (one pool of mixed instances).
//
// Every instance runs the engine's own Scheduler (engine/scheduler.h) over
// ids and counts: admission by KV capacity, chunked prefill under a token
// budget, continuous batching, preemption by recompute, prefix sharing. The
// simulator replaces the model with the cost model: a step's duration is
// CostModel::step_time of the chunks the scheduler planned.
//
//   arrival -> router -> prefill instance (prompt + first token; the first
//   token streams to the user here: TTFT) -> KV transfer over the prefill
//   instance's NIC (FIFO; bytes / (tp * scaleout_bw) + latency) -> router ->
//   decode instance: the request is submitted with its prompt's KV already
//   present, so the scheduler admits it only when its blocks fit; a
//   recompute preemption drops that KV and the decode instance recomputes
//   the prompt at its own cost.
//
// Colocated: each instance takes whole requests and mixes prefill chunks
// with decodes in one step (Sarathi-style chunked prefill).
//
// Routers: prefill and mixed instances by fewest outstanding tokens (prompt
// not yet computed + KV resident), decode instances by least reserved KV
// (prompt + output tokens of resident requests) relative to capacity.
//
// Thread safety: simulate() is a pure function of its arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/scheduler.h"
#include "plan/cost_model.h"
#include "plan/trace.h"

namespace tandem::plan {

enum class Role : uint8_t { kPrefill, kDecode, kMixed };
const char* role_name(Role r);

struct PoolSpec {
  int instances = 0;
  HardwareSpec hardware;
  int tp = 1;
  Efficiency eff;
  // Scheduler policy; n_blocks 0 = the KV capacity the cost model gives.
  SchedulerConfig sched;
};

// Scheduler defaults per role: prefill batches up to 8192 prompt tokens a
// step; decode admits transferred prompts whole and batches up to 256
// sequences; mixed steps hold 2048 tokens (decodes first, then prompt chunks).
SchedulerConfig default_sched(Role role);

struct Slo {
  double ttft_s = 2.0;
  double tpot_s = 0.1;
  double percentile = 0.9;  // the SLO holds when this percentile of TTFT and TPOT is within bounds
};

struct SimConfig {
  ModelSpec model;
  bool colocated = false;
  PoolSpec prefill;  // disaggregated
  PoolSpec decode;   // disaggregated
  PoolSpec mixed;    // colocated
  Slo slo;
  int32_t block_size = 128;    // tokens per simulated KV block (used when a pool's n_blocks is 0)
  // Decode instances only: one scheduler step stands for `decode_stride`
  // decode iterations, and one scheduler token for that many real tokens (KV
  // capacity, block size and lengths in those units). The step costs the
  // iterations at the unit's middle context (exact for a stable batch, since
  // a decode step is linear in context). 1 = exact; larger trades tail
  // accuracy of ~stride tokens per request for proportionally fewer steps.
  int32_t decode_stride = 1;
  bool keep_records = true;
  // Stop as soon as the SLO can no longer be met (a request rejected, or
  // more requests already past a bound than the percentile allows): the
  // result then has slo_met false and stopped_early true, and its other
  // figures cover only what ran. For searches that only ask whether a
  // configuration meets the SLO; an overloaded one otherwise simulates its
  // whole growing queue.
  bool stop_when_slo_lost = false;
};

struct Distribution {
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
  int64_t n = 0;
};
// Percentile by nearest rank on a copy of v.
Distribution distribution_of(std::vector<double> v);
double percentile_of(std::vector<double> v, double q);

struct PoolStats {
  Role role = Role::kMixed;
  int instances = 0;
  std::string hardware;
  int tp = 1;
  double utilisation = 0;       // busy time / (instances * makespan), <= 1
  int64_t steps = 0;
  double mean_step_tokens = 0;
  double mean_step_seqs = 0;
  int64_t preemptions = 0;
  double kv_capacity_tokens = 0;  // per instance
  double peak_kv_frac = 0;        // highest fraction of an instance's KV blocks in use
};

struct RequestRecord {
  double arrival_s = 0;
  double ttft_s = -1;    // -1: never produced a token (rejected)
  double tpot_s = -1;    // -1: one output token (no TPOT)
  double e2e_s = -1;
  int32_t prompt_tokens = 0;
  int32_t output_tokens = 0;
  bool ok = false;       // met both SLO bounds
};

struct SimResult {
  int64_t n_requests = 0;
  int64_t n_completed = 0;
  int64_t n_rejected = 0;   // prompt longer than an instance's KV capacity
  Distribution ttft, tpot, e2e;
  double slo_attainment = 0;  // fraction of requests meeting both bounds
  bool slo_met = false;       // percentile TTFT and TPOT within bounds and nothing rejected
  double goodput_rps = 0;     // requests meeting both bounds / trace duration
  double throughput_rps = 0;  // completed / makespan
  double output_tokens_per_s = 0;
  double duration_s = 0;      // arrival span of the trace
  double makespan_s = 0;      // first arrival to last completion
  double cost_per_hour = 0;
  double cost_per_mtok = 0;   // USD per million (prompt + output) tokens over the makespan
  double mean_in_system = 0;  // time average of requests in the system (Little's L)
  double arrival_rate = 0;    // n_requests / duration
  double mean_kv_transfer_s = 0;
  std::vector<PoolStats> pools;
  std::vector<RequestRecord> records;  // when keep_records, in trace order
  int64_t events = 0;
  int64_t scheduler_steps = 0;
  bool stopped_early = false;  // SimConfig::stop_when_slo_lost ended the run
};

// Validates the config (instances >= 1 in the pools used, the model's weights
// fit every instance), then runs the trace to completion.
Result<SimResult> simulate(const SimConfig& config, const Trace& trace);

// The JSON object tandem simulate --json prints.
std::string sim_result_to_json(const SimConfig& config, const SimResult& r);

}  // namespace tandem::plan
