// Speed of one model on this machine, as llama-bench measures it: prompt
// processing (pp: `pp_tokens` tokens of one sequence, in forward calls of at
// most `chunk_tokens`), token generation (tg: `tg_tokens` single-token
// forward calls with the KV cache, from position 0) and optionally batched
// generation (`batch` sequences, one token each per forward call). Token ids
// are random: speed does not depend on them.
//
// Each phase runs `reps` times after an untimed warm-up (which faults the
// memory-mapped weights in): a full prompt chunk before prompt processing, so
// the scratch buffers have their largest size before rep 1, one step before
// generation. The cost model below turns a speed
// into a fraction of the roofline (bench/roofline.h).
//
// Thread safety: run_model_bench uses `pool` for the whole call.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "model/model.h"

namespace tandem::bench {

// What one token costs the model, from its config and stored weights.
struct ModelCost {
  // Bytes read from memory per decoded token: every weight tensor's stored
  // bytes (layer matrices, norms, biases, output head; a tied head counts
  // once) plus one row of the token embedding. The KV cache is not counted.
  double tg_bytes_per_token = 0;
  // Parameters of the layer matmuls (Q, K, V, O, gate, up, down, all layers).
  double layer_matmul_params = 0;
  double head_params = 0;  // output head, vocab x hidden
  // Parameters of all weights (embedding and tied head counted once).
  double params = 0;
};
ModelCost model_cost(const Model& model);

// FLOPs of prefilling `n_tokens` from position 0 in chunks of `chunk`:
// 2 per multiply-add of the layer matmuls for every token, the output head
// for the one logits row each chunk produces, and attention (QK^T and PV:
// 4 * n_heads * head_dim per cached position per layer). Norms, RoPE and
// softmax are left out (under 1%).
double prefill_flops(const ModelConfig& config, const ModelCost& cost, int64_t n_tokens,
                     int64_t chunk);

struct ModelBenchOptions {
  int32_t pp_tokens = 512;
  int32_t tg_tokens = 128;
  int32_t reps = 3;
  int32_t batch = 0;           // 0 or 1: no batched phase
  int32_t chunk_tokens = 512;  // prompt tokens per forward call
  uint64_t seed = 1;           // of the random token ids
  bool op_times = false;       // fill ModelBenchResult's per-op times
};

struct PhaseResult {
  std::vector<double> tokens_per_s;  // one per rep
  double mean() const;
  double stddev() const;  // sample standard deviation; 0 for one rep
};

struct ModelBenchResult {
  PhaseResult pp, tg, tg_batch;  // tg_batch empty when options.batch <= 1
  size_t kv_cache_bytes = 0;     // largest KV cache any phase allocated
  // With options.op_times: forward()'s time per op over each phase's timed
  // reps (warm-up calls left out).
  ForwardTimes pp_ops, tg_ops, tg_batch_ops;
};

// Runs the phases in the order pp, tg, batched tg; `progress` (may be empty)
// gets a line of text after each rep. Fails if a phase does not fit the
// model's context length or the forward pass fails.
Result<ModelBenchResult> run_model_bench(const Model& model, const ModelBenchOptions& options,
                                         ThreadPool& pool,
                                         const std::function<void(const std::string&)>& progress);

}  // namespace tandem::bench
