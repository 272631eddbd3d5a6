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
//              prompt chunks.
// One engine runs every run of a scenario (warm scratch buffers; prefix
// caching on, as served, with fresh random prompts every run so it never
// hits). The scheduler is deterministic and no request stops early, so
// every run of a scenario makes the same steps; a step's time is the median over the
// timed runs (InternalError if two runs' steps differ).
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
};

// One point per engine step of the scenarios, kind "engine-decode",
// "engine-prefill", "engine-chunked" or "engine-staggered".
Result<std::vector<StepPoint>> run_engine_profile(const Model& model, const Tokenizer& tokenizer,
                                                  const EngineProfileOptions& options, ThreadPool& pool,
                                                  const std::function<void(const std::string&)>& progress);

}  // namespace tandem::bench
