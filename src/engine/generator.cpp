#include "engine/generator.h"

#include <chrono>
#include <algorithm>
#include <cmath>

#include "engine/stop_matcher.h"

namespace tandem {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kLength: return "length";
    case FinishReason::kStop: return "stop";
    case FinishReason::kEos: return "stop";
    case FinishReason::kContext: return "length";
  }
  return "?";
}

Result<GenerateResult> generate(const Model& model, const Tokenizer& tokenizer,
                                const std::vector<int32_t>& prompt, const GenerateOptions& options,
                                const std::function<void(std::string_view)>& on_text,
                                ThreadPool* pool) {
  TANDEM_RETURN_IF_ERROR(options.sampling.validate());
  const ModelConfig& c = model.config();
  if (prompt.empty()) return invalid_argument("prompt is empty");
  if (options.max_tokens < 0) return invalid_argument("max_tokens must be >= 0");
  if (static_cast<int64_t>(prompt.size()) >= c.max_position) {
    return out_of_range("prompt has " + std::to_string(prompt.size()) +
                        " tokens; the model's context length is " + std::to_string(c.max_position));
  }
  const int32_t total = std::min<int32_t>(c.max_position, static_cast<int32_t>(prompt.size()) +
                                                              options.max_tokens);
  constexpr int32_t kBlock = 16;
  const int32_t n_blocks = (total + kBlock - 1) / kBlock;
  KvCache cache(c, n_blocks, kBlock);
  std::vector<int32_t> table(static_cast<size_t>(n_blocks));
  for (int32_t i = 0; i < n_blocks; ++i) table[static_cast<size_t>(i)] = i;

  GenerateResult res;
  res.prompt_tokens = static_cast<int32_t>(prompt.size());
  std::vector<int32_t> history = prompt;
  std::vector<float> logits;
  ForwardScratch scratch;
  Sampler sampler(options.sampling);
  StreamDecoder detok(tokenizer, StreamDecoder::Options{.skip_special = true, .continuation = true});
  StopMatcher stops(options.stop);
  auto emit = [&](const std::string& s) {
    if (s.empty()) return;
    res.text += s;
    if (on_text) on_text(s);
  };

  const double t0 = now_seconds();
  const int32_t chunk = std::max<int32_t>(1, options.prefill_chunk);
  for (int32_t start = 0; start < static_cast<int32_t>(prompt.size()); start += chunk) {
    const int32_t len = std::min<int32_t>(chunk, static_cast<int32_t>(prompt.size()) - start);
    SeqChunk ch;
    ch.tokens = std::span<const int32_t>(prompt.data() + start, static_cast<size_t>(len));
    ch.start_pos = start;
    ch.block_table = table;
    TANDEM_RETURN_IF_ERROR(model.forward(std::span<const SeqChunk>(&ch, 1), cache, logits, scratch, pool));
  }
  const double t1 = now_seconds();
  res.prefill_seconds = t1 - t0;

  res.finish = FinishReason::kLength;
  for (int32_t i = 0; i < options.max_tokens; ++i) {
    const int64_t pos = static_cast<int64_t>(history.size());
    const int32_t tok = sampler.sample(logits, history, pos);
    if (options.stop_at_eos && tokenizer.is_end_of_generation(tok)) {
      res.finish = FinishReason::kEos;
      break;
    }
    history.push_back(tok);
    res.tokens.push_back(tok);
    emit(stops.push(detok.push(tok)));
    if (stops.stopped()) {
      res.finish = FinishReason::kStop;
      break;
    }
    if (i + 1 == options.max_tokens) break;
    if (static_cast<int32_t>(history.size()) >= c.max_position) {
      res.finish = FinishReason::kContext;
      break;
    }
    SeqChunk ch;
    ch.tokens = std::span<const int32_t>(&history.back(), 1);
    ch.start_pos = static_cast<int32_t>(history.size()) - 1;
    ch.block_table = table;
    TANDEM_RETURN_IF_ERROR(model.forward(std::span<const SeqChunk>(&ch, 1), cache, logits, scratch, pool));
  }
  if (!stops.stopped()) {
    emit(stops.push(detok.flush()));
    emit(stops.flush());
  }
  res.decode_seconds = now_seconds() - t1;
  return res;
}

double PerplexityResult::ppl() const {
  return n_tokens > 0 ? std::exp(nll_sum / static_cast<double>(n_tokens)) : 0.0;
}

Result<PerplexityResult> perplexity(const Model& model, const std::vector<int32_t>& tokens,
                                    int32_t window, int32_t bos, ThreadPool* pool) {
  const ModelConfig& c = model.config();
  const int32_t extra = bos >= 0 ? 1 : 0;
  if (window <= 1 || window + extra > c.max_position)
    return invalid_argument("perplexity window must be in [2, context length]");
  constexpr int32_t kBlock = 16;
  const int32_t n_blocks = (window + extra + kBlock - 1) / kBlock;
  KvCache cache(c, n_blocks, kBlock);
  std::vector<int32_t> table(static_cast<size_t>(n_blocks));
  for (int32_t i = 0; i < n_blocks; ++i) table[static_cast<size_t>(i)] = i;
  PerplexityResult res;
  std::vector<float> logits;
  std::vector<double> lp;
  ForwardScratch scratch;
  const int64_t V = c.vocab_size;
  for (size_t start = 0; start < tokens.size(); start += static_cast<size_t>(window)) {
    const size_t len = std::min(tokens.size() - start, static_cast<size_t>(window));
    std::vector<int32_t> seq;
    if (bos >= 0) seq.push_back(bos);
    seq.insert(seq.end(), tokens.begin() + static_cast<long>(start),
               tokens.begin() + static_cast<long>(start + len));
    if (seq.size() < 2) continue;
    SeqChunk ch;
    ch.tokens = seq;
    ch.start_pos = 0;
    ch.block_table = table;
    ch.all_logits = true;
    TANDEM_RETURN_IF_ERROR(model.forward(std::span<const SeqChunk>(&ch, 1), cache, logits, scratch, pool));
    for (size_t i = 0; i + 1 < seq.size(); ++i) {
      log_softmax(std::span<const float>(logits.data() + static_cast<int64_t>(i) * V, static_cast<size_t>(V)), lp);
      res.nll_sum -= lp[static_cast<size_t>(seq[i + 1])];
      res.n_tokens++;
    }
  }
  if (res.n_tokens == 0) return invalid_argument("perplexity: no tokens to score");
  return res;
}

}  // namespace tandem
