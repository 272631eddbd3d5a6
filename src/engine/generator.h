// Single-request generation on the in-process engine: chunked prefill, then
// token-by-token decode with sampling, streaming detokenization and stop
// strings. (The serving scheduler batches many of these; this is the path the
// CLI and tests use.)
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "engine/sampler.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace tandem {

struct GenerateOptions {
  int32_t max_tokens = 128;
  SamplingParams sampling;
  std::vector<std::string> stop;
  bool stop_at_eos = true;
  int32_t prefill_chunk = 256;  // prompt tokens per forward call
};

enum class FinishReason { kLength, kStop, kEos, kContext };
const char* finish_reason_name(FinishReason r);

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids (excluding the prompt)
  std::string text;
  FinishReason finish = FinishReason::kLength;
  int32_t prompt_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

// Runs `prompt` (token ids) through `model` and samples up to max_tokens.
// `on_text` (may be empty) receives text as it is produced, never splitting a
// UTF-8 character and never including a stop string.
Result<GenerateResult> generate(const Model& model, const Tokenizer& tokenizer,
                                const std::vector<int32_t>& prompt, const GenerateOptions& options,
                                const std::function<void(std::string_view)>& on_text,
                                ThreadPool* pool);

struct PerplexityResult {
  double nll_sum = 0;     // natural log
  int64_t n_tokens = 0;   // predicted tokens
  double ppl() const;
};

// Perplexity of `tokens` in consecutive non-overlapping windows of `window`
// tokens (the last may be shorter); each window is scored fresh as
// [bos] + window, predicting every window token (bos < 0: no BOS, the first
// token of each window is context only). Same definition as
// tools/reference.py ppl.
Result<PerplexityResult> perplexity(const Model& model, const std::vector<int32_t>& tokens,
                                    int32_t window, int32_t bos, ThreadPool* pool);

}  // namespace tandem
