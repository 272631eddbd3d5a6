// tandem serve: the OpenAI-compatible HTTP server over one model.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <thread>

#include "base/thread_pool.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "engine/engine.h"
#include "engine/model_loader.h"
#include "server/server.h"

namespace tandem::cli {
namespace {

const std::vector<FlagSpec> kServeFlags = {
    {"model", "m", true, "model directory (config.json + safetensors) or .gguf file"},
    {"host", "", true, "address to listen on (default 127.0.0.1, loopback only)"},
    {"port", "", true, "TCP port (default 8080; 0 = any free port, printed on stderr)"},
    {"model-name", "", true, "model id clients must send (default: the file or directory name)"},
    {"kv-tokens", "", true, "device KV cache size in tokens (default: what 1 GiB holds, at most 131072, at least the context)"},
    {"block-size", "", true, "tokens per KV block (default 16)"},
    {"swap-tokens", "", true, "host swap space in tokens for preemption by swapping (default 0: recompute)"},
    {"max-step-tokens", "", true, "token budget of one engine step (default 512)"},
    {"max-batch", "", true, "sequences in one step (default 64)"},
    {"max-chunk", "", true, "prompt tokens of one sequence per step (default 256)"},
    {"ctx", "", true, "context length served (default: the model's, capped by the KV cache)"},
    {"max-queue", "", true, "requests waiting for admission before 429 (default 256)"},
    {"max-queue-tokens", "", true, "prompt tokens waiting for admission before 503 (default: 4x the KV cache)"},
    {"max-connections", "", true, "open connections before 503 at accept (default 8192)"},
    {"max-body", "", true, "largest request body in bytes (default 4194304)"},
    {"threads", "", true, "compute threads (default: all cores)"},
    {"help", "h", false, "show this help"},
};

std::atomic<server::Server*> g_server{nullptr};

void on_signal(int) {
  if (server::Server* s = g_server.load()) s->shutdown();
}

}  // namespace

int run_serve(const std::vector<std::string>& argv) {
  auto parsed = Args::parse(argv, kServeFlags);
  if (!parsed.ok()) {
    std::fprintf(stderr, "tandem serve: %s\n\noptions:\n%s", parsed.status().message().c_str(),
                 Args::help_text(kServeFlags).c_str());
    return 2;
  }
  const Args& a = *parsed;
  if (a.has("help")) {
    std::printf("usage: tandem serve -m PATH [--host 127.0.0.1] [--port 8080] [options]\n\noptions:\n%s",
                Args::help_text(kServeFlags).c_str());
    return 0;
  }
  if (!a.get("model")) {
    std::fprintf(stderr, "tandem serve: -m PATH is required\n");
    return 2;
  }
  const char* int_flags[] = {"port", "kv-tokens", "block-size", "swap-tokens", "max-step-tokens", "max-batch",
                             "max-chunk", "ctx", "max-queue", "max-queue-tokens", "max-connections",
                             "max-body", "threads"};
  std::map<std::string, int64_t> v;
  const std::map<std::string, int64_t> defaults = {
      {"port", 8080},       {"kv-tokens", 0},    {"block-size", 16}, {"swap-tokens", 0},
      {"max-step-tokens", 512}, {"max-batch", 64},   {"max-chunk", 256}, {"ctx", 0},
      {"max-queue", 256},   {"max-queue-tokens", -1}, {"max-connections", 8192},
      {"max-body", 4 << 20}, {"threads", 0}};
  for (const char* f : int_flags) {
    auto x = a.get_int(f, defaults.at(f));
    if (!x.ok()) {
      std::fprintf(stderr, "tandem serve: %s\n", x.status().message().c_str());
      return 2;
    }
    if (*x < (std::string(f) == "max-queue-tokens" ? -1 : 0) || *x > (int64_t{1} << 40)) {
      std::fprintf(stderr, "tandem serve: --%s is out of range\n", f);
      return 2;
    }
    v[f] = *x;
  }
  if (v["port"] > 65535 || v["block-size"] < 1) {
    std::fprintf(stderr, "tandem serve: --port must be in [0, 65535] and --block-size >= 1\n");
    return 2;
  }
  const std::string path = *a.get("model");
  auto loaded = load_model(path);
  if (!loaded.ok()) {
    std::fprintf(stderr, "tandem serve: %s\n", loaded.status().to_string().c_str());
    return 1;
  }
  const ModelConfig& mc = loaded->model->config();
  EngineConfig ec;
  SchedulerConfig& sc = ec.scheduler;
  sc.block_size = static_cast<int32_t>(v["block-size"]);
  const int64_t ctx = v["ctx"] > 0 ? std::min<int64_t>(v["ctx"], mc.max_position) : mc.max_position;
  const int64_t bytes_per_token = int64_t{mc.n_layers} * 2 * mc.kv_dim() * int64_t{sizeof(float)};
  const int64_t kv_default = std::min<int64_t>(131072, (int64_t{1} << 30) / bytes_per_token);
  const int64_t kv_tokens = std::max(v["kv-tokens"] > 0 ? v["kv-tokens"] : kv_default, ctx);
  sc.n_blocks = static_cast<int32_t>((kv_tokens + sc.block_size - 1) / sc.block_size);
  sc.n_host_blocks = static_cast<int32_t>((v["swap-tokens"] + sc.block_size - 1) / sc.block_size);
  sc.preemption = sc.n_host_blocks > 0 ? PreemptionMode::kSwap : PreemptionMode::kRecompute;
  sc.max_step_tokens = static_cast<int32_t>(v["max-step-tokens"]);
  sc.max_step_seqs = static_cast<int32_t>(v["max-batch"]);
  sc.max_chunk_tokens = static_cast<int32_t>(v["max-chunk"]);
  sc.max_seq_len = static_cast<int32_t>(ctx);
  ec.max_queued_requests = static_cast<int32_t>(v["max-queue"]);
  ec.max_queued_tokens = v["max-queue-tokens"] >= 0 ? v["max-queue-tokens"] : 4 * kv_tokens;

  std::unique_ptr<ThreadPool> own_pool;
  ThreadPool* pool = &ThreadPool::global();
  if (v["threads"] > 0) {
    own_pool = std::make_unique<ThreadPool>(static_cast<int>(v["threads"]));
    pool = own_pool.get();
  }
  auto engine = Engine::create(*loaded->model, *loaded->tokenizer, ec, pool);
  if (!engine.ok()) {
    std::fprintf(stderr, "tandem serve: %s\n", engine.status().to_string().c_str());
    return 2;
  }
  server::ServerOptions so;
  so.http.host = a.get("host").value_or("127.0.0.1");
  so.http.port = static_cast<int>(v["port"]);
  so.http.max_connections = static_cast<int>(v["max-connections"]);
  so.http.limits.max_body_bytes = static_cast<size_t>(v["max-body"]);
  std::string name = std::filesystem::path(path).filename().string();
  if (name.empty()) name = std::filesystem::path(path).parent_path().filename().string();
  so.model_name = a.get("model-name").value_or(name);
  auto srv = server::Server::create(**engine, *loaded->tokenizer, so);
  if (!srv.ok()) {
    std::fprintf(stderr, "tandem serve: %s\n", srv.status().to_string().c_str());
    return 1;
  }
  (*engine)->start();
  g_server.store(srv->get());
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::fprintf(stderr,
               "tandem serve: model '%s' (%s), context %d tokens, KV cache %d blocks of %d tokens, %d threads\n"
               "listening on http://%s:%d\n",
               so.model_name.c_str(), path.c_str(), sc.max_seq_len, sc.n_blocks, sc.block_size, pool->size(),
               so.http.host.c_str(), (*srv)->port());
  std::fflush(stderr);
  (*srv)->run();
  g_server.store(nullptr);
  (*engine)->stop();
  std::fprintf(stderr, "tandem serve: stopped\n");
  return 0;
}

}  // namespace tandem::cli
