// Token sampling. Randomness is counter-based: the uniform draw for a token
// is a pure function of (seed, stream, position), so a sequence's whole
// sampler state is those integers plus its token history, and the same
// request gives the same tokens whatever else runs beside it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace tandem {

struct SamplingParams {
  float temperature = 1.0f;  // 0 = greedy
  int32_t top_k = 0;         // 0 = off
  float top_p = 1.0f;        // 1 = off
  float min_p = 0.0f;        // 0 = off
  float repetition_penalty = 1.0f;  // HF / llama.cpp style: divides positive logits, multiplies negative
  float presence_penalty = 0.0f;    // OpenAI style: subtracts once per seen token
  float frequency_penalty = 0.0f;   // OpenAI style: subtracts per occurrence
  int32_t penalty_last_n = 64;      // window of history the penalties look at (-1 = all)
  uint64_t seed = 0;

  // Range checks with messages naming the field (OpenAI-compatible ranges).
  Status validate() const;
};

// Uniform in [0, 1) from (seed, stream, position); Philox-like mixing of a
// 64-bit counter with splitmix64 finalizers.
double counter_uniform(uint64_t seed, uint64_t stream, uint64_t position);

class Sampler {
 public:
  explicit Sampler(SamplingParams params, uint64_t stream = 0) : params_(params), stream_(stream) {}

  // Picks the next token from `logits` [vocab] for the token at `position`
  // (its index in the sequence). `history`: prompt + generated tokens, used by
  // the penalties. Does not modify `logits`.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history, int64_t position);

  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  uint64_t stream_;
  std::vector<float> work_;
  std::vector<int32_t> idx_;
};

// Log-softmax of logits (for logprobs and perplexity), in double.
void log_softmax(std::span<const float> logits, std::vector<double>& out);

}  // namespace tandem
