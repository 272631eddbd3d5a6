// Roofline cost of one engine step on one instance (tp accelerators running
// one model replica with tensor parallelism).
//
// A step computes a batch of chunks: chunk i adds len_i tokens at positions
// [start_i, start_i + len_i) of its sequence (a decode is a chunk of 1).
//   FLOPs  = matmul_flops_per_token * tokens + head_flops * logits
//            + attn_flops_per_position * attended positions
//   bytes  = weights read once per step (for MoE: the experts the step's
//            tokens touch, expected E (1 - (1 - k/E)^tokens) per layer)
//            + KV read (every chunk reads its whole prefix once) + KV written
//   t_comp = FLOPs / (tp * peak[dtype] * eff.compute), attention FLOPs at
//            eff.attention instead when that is set
//   t_mem  = bytes / (tp * mem_bw * eff.memory)
//   t_comm = tp > 1: 2 all-reduces per layer of tokens * hidden * 2 bytes,
//            each latency + 2 (tp - 1) / tp * bytes / scaleup_bw
//   step   = eff.step_overhead_s + eff.seq_overhead_s * seqs
//            + (tokens > eff.small_batch_tokens ? eff.batch_overhead_s : 0)
//            + (a decode-only step k >= 1 steps after the instance's last
//               step with a prompt chunk: eff.after_prompt_s * decay^(k - 1))
//            + max(t_comp, t_mem) + (1 - eff.overlap) * min(t_comp, t_mem) + t_comm
// With the default efficiencies (overheads 0, overlap 1) a single request's
// prefill and decode times are exactly the textbook roofline formulas.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "plan/hardware.h"
#include "plan/model_spec.h"

namespace tandem::plan {

struct Efficiency {
  double compute = 0.6;  // fraction of peak FLOP/s the GEMMs reach
  // Fraction of peak FLOP/s attention (QK and PV over cached positions)
  // reaches; 0 = the same as `compute`. A CPU engine's attention runs far
  // below its GEMMs, which makes long prompt chunks superlinear.
  double attention = 0;
  double memory = 0.8;   // fraction of memory bandwidth reached
  double overlap = 1.0;  // 1: compute and memory overlap fully (max); 0: they add
  double step_overhead_s = 0;  // fixed cost of a step (launch, scheduling, sync)
  double seq_overhead_s = 0;   // per sequence in the step (sampling, bookkeeping)
  // Extra fixed cost of a step computing more than `small_batch_tokens`
  // tokens: a CPU engine runs matmuls of a few rows on a separate one-pass
  // (GEMV-like) kernel and larger ones on tiled GEMM kernels whose fixed cost
  // per weight pass is higher (ours: 2 rows, ops::matmul). 0 and 0: none.
  double batch_overhead_s = 0;
  int64_t small_batch_tokens = 0;
  // Warm-up cost of decode steps after a prompt chunk: a CPU engine's prefill
  // GEMMs evict the decode path's working set (weights, KV, scratch) from the
  // caches, so the decode steps that follow pay to refetch it; measured on
  // tiny-kjv: +25% on the first decode step, +15% on the second, back to
  // normal after about ten. The k-th decode-only step after the last step
  // with a prompt chunk (k = 1, 2, ...) costs after_prompt_s *
  // after_prompt_decay^(k - 1) more. 0: none (accelerators, whose weights do
  // not live in a cache).
  double after_prompt_s = 0;
  double after_prompt_decay = 0.5;
  double mem_usable = 0.9;     // fraction of device memory for weights + KV
};

// The work of one step, accumulated chunk by chunk.
struct StepWork {
  int64_t tokens = 0;          // new tokens computed
  int64_t seqs = 0;            // chunks (sequences) in the step
  int64_t logits = 0;          // rows through the output head
  double attn_positions = 0;   // sum over new tokens of the positions each attends
  double kv_read_tokens = 0;   // sum over chunks of the positions whose KV is read
  // Decode-only step: steps since the instance's last step with a prompt
  // chunk (1: the step right after it); 0 for a step with a prompt chunk or
  // when no prompt chunk came before. Set by the caller, not add_chunk.
  int64_t after_prompt = 0;

  // A chunk computing positions [start, start + len) of one sequence; sample:
  // one logits row. len may be 0 (a chunk whose KV was transferred in).
  void add_chunk(int64_t start, int64_t len, bool sample);
  void clear() { *this = StepWork{}; }
};

struct StepCost {
  double flops = 0;
  double bytes = 0;
  double compute_s = 0;
  double memory_s = 0;
  double comm_s = 0;
  double overhead_s = 0;
  double total_s = 0;
};

class CostModel {
 public:
  CostModel(ModelSpec model, HardwareSpec hw, int tp, Efficiency eff);

  const ModelSpec& model() const { return model_; }
  const HardwareSpec& hardware() const { return hw_; }
  int tp() const { return tp_; }
  const Efficiency& efficiency() const { return eff_; }

  StepCost step_cost(const StepWork& w) const;
  double step_time(const StepWork& w) const;

  // Tokens of KV the instance holds after the weights: (tp * mem * mem_usable
  // - weights) / kv_bytes_per_token; <= 0 when the weights do not fit.
  double kv_capacity_tokens() const;
  bool fits() const { return kv_capacity_tokens() >= 1; }
  // Seconds to move `tokens` tokens of KV from this instance to another one:
  // bytes / (tp * scaleout_bw) + scaleout_latency (one NIC per accelerator).
  double kv_transfer_time(int64_t tokens) const;
  // USD per hour of the instance.
  double price_per_hour() const { return hw_.price_per_hour * tp_; }

 private:
  ModelSpec model_;
  HardwareSpec hw_;
  int tp_;
  Efficiency eff_;
  double peak_flops_;       // per accelerator, model's compute dtype
  double dense_weight_bytes_;   // read every step: always-on weights
  double expert_bytes_;         // one expert of one layer
  double head_bytes_;
  // Per-step terms of the model, computed once (step_cost runs per simulated step).
  double matmul_flops_per_token_;
  double head_flops_;
  double attn_flops_per_position_;
  double kv_bytes_per_token_;
  double embedding_row_bytes_;
  double n_moe_layers_;
  double comm_bytes_per_token_;
  double comm_coeff_;       // 2 (tp - 1) / tp / scaleup_bw
};

// One measured step: its chunks' shape and the seconds it took.
struct ProfilePoint {
  StepWork work;
  double seconds = 0;
  std::string kind;  // "prefill", "decode", "mixed"
};

// A profile of our engine on one machine (tandem bench profile --json): the
// machine's roofline as a hardware entry, the model's shape, measured steps.
struct Profile {
  HardwareSpec hardware;  // "local": measured roofline, price/power from the file or 0
  ModelSpec model;
  std::vector<ProfilePoint> points;
  int threads = 0;
  std::string conditions;  // what else ran, as recorded
};
Result<Profile> parse_profile(const std::string& json_text, const std::string& source);
Result<Profile> load_profile(const std::string& path);

struct FitResult {
  Efficiency eff;
  double mean_abs_rel_err = 0;  // mean |predicted - measured| / measured over points
  double max_abs_rel_err = 0;
  double median_abs_rel_err = 0;
  int n_points = 0;
};
// Fits compute, attention and memory efficiency, the step, per-sequence and
// batch overheads, the small-batch threshold and the overlap to the profile,
// minimising the mean squared log ratio of predicted to measured step time
// (Nelder-Mead, from several starts; the threshold and overlap from a few
// candidates each). Then, when the profile's points carry after_prompt
// (engine profiles do), the after-prompt warm-up cost with its decay from a
// few candidates, all parameters refitted; it is kept only if it lowers the
// loss by at least 10% (a profile without the effect keeps the plain model).
FitResult fit_profile(const Profile& profile);

}  // namespace tandem::plan
