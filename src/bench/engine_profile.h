// Step-time profile of whole engine steps for the planner's cost model
// (plan/cost_model.h). Where step_profile.h times a bare Model::forward,
// this drives a real Engine (engine/engine.h) with synthetic requests and
// times every Engine::step(): scheduling, the forward pass, sampling,
// detokenizing, stop matching and commit, which is what a served step costs.
//
// Scenarios (C = max_context), each run reps + 1 times (the first untimed):
//   decode     B requests of C/8-token prompts submitted together, each
//              generating C/2 tokens, for B = 1, 2, 4, ... max_batch: a
//              prefill step, then decode steps at growing context;
//   prefill    one request of 8, 16, ... C/2 and C - 8 prompt tokens, 2
//              output tokens, the prompt in one chunk;
//   chunked    one request of C - 8 prompt tokens in chunks of C/8, C/4
//              (chunks late in a prompt attend a long prefix);
//   staggered  max_batch/2 requests of C/4 prompt and C/4 output tokens, one
//              submitted every 4 steps, chunks of C/4: decodes mixed with
//              prompt chunks;
//   light      two scenarios of 24 requests of C/32 .. C/2 prompt and
//              C/32 .. C/4 output tokens (fixed pseudo-random), one arrival
//              every 12 steps in the first, every 5 in the second, chunks of
//              C/2: one to a few decodes beside prompt chunks of every
//              length, as a lightly loaded server runs.
// One engine runs every run of a scenario (warm scratch buffers; prefix
// caching on, as served, with fresh random prompts every run so it never
// hits). The scheduler is deterministic and no request stops early, so
// every run of a scenario makes the same steps; a step's time is
// mean_step_seconds() of its timed runs (InternalError if two runs' steps differ).
//
// Thread safety: uses `pool` for the whole call.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "bench/step_profile.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace tandem::bench {

struct EngineProfileOptions {
  int32_t reps = 3;         // timed runs of every scenario
  int32_t max_batch = 32;   // largest decode batch
  int32_t max_context = 0;  // 0: min(model context, 2048)
  uint64_t seed = 1;
  // Time with the calling thread's CPU clock (one-thread pool only), as in
  // StepProfileOptions.
  bool cpu_time = false;
  // Called after every run of every scenario (outside the timed steps), to
  // interleave another measurement with the profile at a fine grain so that
  // both see the same machine conditions (bench/plan_fidelity.cpp); an error
  // ends the profile with that error.
  std::function<Status()> between;
};

// The time a step point stands for: the mean of its samples, each clamped at
// 3x their median. The planner's simulator adds step times up, so the cost
// model must predict a step's mean, not its median (step times on a shared
// machine skew right: the median of five runs is 3-7% below their mean for
// small steps); the clamp keeps one run that lost its caches to another
// process from dominating the point.
double mean_step_seconds(const std::vector<double>& samples);

// One point per engine step of the scenarios, kind "engine-decode",
// "engine-prefill", "engine-chunked", "engine-staggered" or "engine-light".
Result<std::vector<StepPoint>> run_engine_profile(const Model& model, const Tokenizer& tokenizer,
                                                  const EngineProfileOptions& options, ThreadPool& pool,
                                                  const std::function<void(const std::string&)>& progress);

}  // namespace tandem::bench
