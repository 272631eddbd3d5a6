// Step-time profile of our engine's forward pass for the cluster planner's
// cost model (plan/cost_model.h): one Model::forward over a batch of chunks,
// timed for prefill chunks of several lengths and start positions, batched
// decodes at several contexts, and mixed steps (decodes plus one prompt
// chunk). Each point is the median of `reps` timed runs after one untimed run.
//
// Thread safety: run_step_profile uses `pool` for the whole call.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "model/model.h"

namespace tandem::bench {

struct StepChunk {
  int32_t start = 0;
  int32_t len = 0;
  bool sample = true;  // logits for the last token (the engine samples it)
};

struct StepPoint {
  std::string kind;  // "prefill", "decode", "mixed"
  std::vector<StepChunk> chunks;
  double seconds = 0;  // median
  std::vector<double> samples;
  // Decode-only step: steps since the last step of its run with a prompt
  // chunk (1: the next one); 0 otherwise (plan::StepWork::after_prompt).
  int64_t after_prompt = 0;
};

struct StepProfileOptions {
  int32_t reps = 5;
  int32_t max_batch = 32;     // decode batch sizes 1, 2, 4, ... up to this
  int32_t max_context = 0;    // 0: min(model context, 2048)
  uint64_t seed = 1;
  // Time with the calling thread's CPU clock instead of the wall clock: on a
  // shared machine it leaves out the time other processes hold the core.
  // Only meaningful with a one-thread pool (the forward runs inline).
  bool cpu_time = false;
};

// The model's shape as the planner reads it (plan/model_spec.h: Hugging Face
// config keys plus weight_bytes, kv_bytes, compute_dtype), a JSON object.
std::string profile_model_config_json(const Model& model, const std::string& name);

// The default grid of step shapes for a model with `max_context` positions.
std::vector<StepPoint> default_step_grid(int32_t max_context, int32_t max_batch);

// Times every point of `grid` (seconds and samples filled in).
Status run_step_profile(const Model& model, std::vector<StepPoint>& grid, const StepProfileOptions& options,
                        ThreadPool& pool, const std::function<void(const std::string&)>& progress);

}  // namespace tandem::bench
