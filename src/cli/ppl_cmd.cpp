// tandem ppl: perplexity of a text file under a model, scored in
// non-overlapping windows, each starting fresh with BOS.
#include <chrono>
#include <cstdio>

#include "base/mapped_file.h"
#include "base/thread_pool.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "engine/generator.h"
#include "engine/model_loader.h"

namespace tandem::cli {
namespace {

const std::vector<FlagSpec> kPplFlags = {
    {"model", "m", true, "model directory or .gguf file"},
    {"file", "f", true, "text file to score"},
    {"window", "w", true, "tokens per window (default 128)"},
    {"max-tokens", "", true, "score at most this many tokens (default: all)"},
    {"json", "", false, "print JSON {ppl, nll_sum, n_tokens}"},
    {"help", "h", false, "show this help"},
};

}  // namespace

int run_ppl(const std::vector<std::string>& argv) {
  auto parsed = Args::parse(argv, kPplFlags);
  if (!parsed.ok() || parsed->has("help") || !parsed->get("model") || !parsed->get("file")) {
    if (!parsed.ok()) std::fprintf(stderr, "tandem ppl: %s\n", parsed.status().message().c_str());
    std::fprintf(parsed.ok() && parsed->has("help") ? stdout : stderr,
                 "usage: tandem ppl -m PATH -f FILE [--window W] [--json]\n\noptions:\n%s",
                 Args::help_text(kPplFlags).c_str());
    return parsed.ok() && parsed->has("help") ? 0 : 2;
  }
  const Args& a = *parsed;
  auto window = a.get_int("window", 128);
  auto max_tokens = a.get_int("max-tokens", -1);
  if (!window.ok() || !max_tokens.ok()) {
    std::fprintf(stderr, "tandem ppl: %s\n",
                 (!window.ok() ? window.status() : max_tokens.status()).message().c_str());
    return 2;
  }
  auto loaded = load_model(*a.get("model"));
  if (!loaded.ok()) {
    std::fprintf(stderr, "tandem ppl: %s\n", loaded.status().to_string().c_str());
    return 1;
  }
  auto text = read_file(*a.get("file"));
  if (!text.ok()) {
    std::fprintf(stderr, "tandem ppl: %s\n", text.status().to_string().c_str());
    return 1;
  }
  EncodeOptions eo;
  eo.add_bos = false;
  std::vector<int32_t> tokens = loaded->tokenizer->encode(*text, eo);
  if (*max_tokens >= 0 && static_cast<int64_t>(tokens.size()) > *max_tokens)
    tokens.resize(static_cast<size_t>(*max_tokens));
  const auto t0 = std::chrono::steady_clock::now();
  auto res = perplexity(*loaded->model, tokens, static_cast<int32_t>(*window),
                        loaded->tokenizer->bos_id(), &ThreadPool::global());
  if (!res.ok()) {
    std::fprintf(stderr, "tandem ppl: %s\n", res.status().to_string().c_str());
    return 1;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (a.has("json")) {
    std::printf("{\"ppl\": %.6f, \"nll_sum\": %.6f, \"n_tokens\": %lld}\n", res->ppl(), res->nll_sum,
                static_cast<long long>(res->n_tokens));
  } else {
    std::printf("perplexity %.4f over %lld tokens (window %lld)\n", res->ppl(),
                static_cast<long long>(res->n_tokens), static_cast<long long>(*window));
  }
  std::fprintf(stderr, "scored in %.2f s (%.0f tokens/s)\n", secs, res->n_tokens / std::max(1e-9, secs));
  return 0;
}

}  // namespace tandem::cli
