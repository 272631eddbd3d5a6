// tandem generate: text in, text out. Only generated text goes to stdout;
// load time and speeds go to stderr.
#include <chrono>
#include <cstdio>

#include "base/thread_pool.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "engine/generator.h"
#include "engine/model_loader.h"
#include "tokenizer/chat_template.h"

namespace tandem::cli {
namespace {

const std::vector<FlagSpec> kGenerateFlags = {
    {"model", "m", true, "model directory (config.json + safetensors) or .gguf file"},
    {"prompt", "p", true, "prompt text"},
    {"n-predict", "n", true, "tokens to generate (default 128)"},
    {"temperature", "t", true, "sampling temperature, 0 = greedy (default 0.8)"},
    {"top-k", "", true, "top-k (default 40, 0 = off)"},
    {"top-p", "", true, "top-p (default 0.95, 1 = off)"},
    {"min-p", "", true, "min-p (default 0.05, 0 = off)"},
    {"repeat-penalty", "", true, "repetition penalty (default 1.0 = off)"},
    {"presence-penalty", "", true, "presence penalty (default 0)"},
    {"frequency-penalty", "", true, "frequency penalty (default 0)"},
    {"seed", "s", true, "random seed (default 0)"},
    {"stop", "", true, "stop string (repeatable)"},
    {"chat", "", false, "wrap the prompt in the model's chat template"},
    {"system", "", true, "system message for --chat"},
    {"ignore-eos", "", false, "keep generating past the end-of-sequence token"},
    {"threads", "", true, "worker threads (default: all cores)"},
    {"help", "h", false, "show this help"},
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int run_generate(const std::vector<std::string>& argv) {
  auto parsed = Args::parse(argv, kGenerateFlags);
  if (!parsed.ok()) {
    std::fprintf(stderr, "tandem generate: %s\n\noptions:\n%s", parsed.status().message().c_str(),
                 Args::help_text(kGenerateFlags).c_str());
    return 2;
  }
  const Args& a = *parsed;
  if (a.has("help")) {
    std::printf("usage: tandem generate -m PATH -p TEXT [-n N] [options]\n\noptions:\n%s",
                Args::help_text(kGenerateFlags).c_str());
    return 0;
  }
  if (!a.get("model") || !a.get("prompt")) {
    std::fprintf(stderr, "tandem generate: -m PATH and -p TEXT are required\n");
    return 2;
  }
  GenerateOptions opt;
  SamplingParams& sp = opt.sampling;
  sp.temperature = 0.8f;
  sp.top_k = 40;
  sp.top_p = 0.95f;
  sp.min_p = 0.05f;
  auto fail_usage = [](const Status& s) {
    std::fprintf(stderr, "tandem generate: %s\n", s.message().c_str());
    return 2;
  };
  auto n = a.get_int("n-predict", 128);
  auto temp = a.get_double("temperature", sp.temperature);
  auto topk = a.get_int("top-k", sp.top_k);
  auto topp = a.get_double("top-p", sp.top_p);
  auto minp = a.get_double("min-p", sp.min_p);
  auto rep = a.get_double("repeat-penalty", 1.0);
  auto pres = a.get_double("presence-penalty", 0.0);
  auto freq = a.get_double("frequency-penalty", 0.0);
  auto seed = a.get_int("seed", 0);
  auto threads = a.get_int("threads", 0);
  for (const Status* s : {&n.status(), &topk.status(), &seed.status(), &threads.status()})
    if (!s->ok()) return fail_usage(*s);
  for (const Status* s : {&temp.status(), &topp.status(), &minp.status(), &rep.status(),
                          &pres.status(), &freq.status()})
    if (!s->ok()) return fail_usage(*s);
  if (*n < 0 || *n > (1 << 24)) return fail_usage(invalid_argument("-n must be in [0, 16777216]"));
  opt.max_tokens = static_cast<int32_t>(*n);
  sp.temperature = static_cast<float>(*temp);
  sp.top_k = static_cast<int32_t>(*topk);
  sp.top_p = static_cast<float>(*topp);
  sp.min_p = static_cast<float>(*minp);
  sp.repetition_penalty = static_cast<float>(*rep);
  sp.presence_penalty = static_cast<float>(*pres);
  sp.frequency_penalty = static_cast<float>(*freq);
  sp.seed = static_cast<uint64_t>(*seed);
  opt.stop = a.get_all("stop");
  opt.stop_at_eos = !a.has("ignore-eos");
  if (Status s = sp.validate(); !s.ok()) return fail_usage(s);

  const auto t_load = std::chrono::steady_clock::now();
  auto loaded = load_model(*a.get("model"));
  if (!loaded.ok()) {
    std::fprintf(stderr, "tandem generate: %s\n", loaded.status().to_string().c_str());
    return 1;
  }
  const double load_s = seconds_since(t_load);
  const Tokenizer& tok = *loaded->tokenizer;
  std::vector<int32_t> prompt;
  if (a.has("chat")) {
    std::vector<ChatMessage> msgs;
    if (auto sys = a.get("system")) msgs.push_back({"system", *sys});
    msgs.push_back({"user", *a.get("prompt")});
    const std::string text = apply_chat_template(detect_chat_template(tok.vocab()), msgs, true);
    EncodeOptions eo;
    eo.add_bos = tok.vocab().add_bos;
    eo.parse_special = true;
    prompt = tok.encode(text, eo);
  } else {
    EncodeOptions eo;
    eo.add_bos = tok.vocab().add_bos;
    prompt = tok.encode(*a.get("prompt"), eo);
  }
  if (prompt.empty()) {
    std::fprintf(stderr, "tandem generate: the prompt encodes to no tokens\n");
    return 2;
  }

  std::unique_ptr<ThreadPool> own_pool;
  ThreadPool* pool = &ThreadPool::global();
  if (*threads > 0) {
    own_pool = std::make_unique<ThreadPool>(static_cast<int>(*threads));
    pool = own_pool.get();
  }
  auto res = generate(*loaded->model, tok, prompt, opt,
                      [](std::string_view s) {
                        std::fwrite(s.data(), 1, s.size(), stdout);
                        std::fflush(stdout);
                      },
                      pool);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (!res.ok()) {
    std::fprintf(stderr, "tandem generate: %s\n", res.status().to_string().c_str());
    return 1;
  }
  const ModelConfig& c = loaded->model->config();
  std::fprintf(stderr,
               "model: %s (%s, %s, %s weights), %d layers, hidden %d, vocab %d\n"
               "load: %.3f s\n"
               "prompt: %d tokens in %.3f s (%.1f tokens/s)\n"
               "generation: %zu tokens in %.3f s (%.1f tokens/s), finish: %s\n",
               loaded->model->path().c_str(), arch_name(c.arch), loaded->model->format().c_str(),
               std::string(dtype_name(loaded->model->weight_dtype())).c_str(), c.n_layers,
               c.hidden_size, c.vocab_size, load_s, res->prompt_tokens, res->prefill_seconds,
               res->prompt_tokens / std::max(1e-9, res->prefill_seconds), res->tokens.size(),
               res->decode_seconds, res->tokens.size() / std::max(1e-9, res->decode_seconds),
               finish_reason_name(res->finish));
  return 0;
}

}  // namespace tandem::cli
