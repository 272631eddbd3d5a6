// tandem bench serve: load against an OpenAI-compatible server (a trace
// replay, or N concurrent streams), and the same closed-loop workload on an
// in-process Engine, to price the HTTP path. Report on stdout (table or
// --json), progress on stderr.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/thread_pool.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "engine/engine.h"
#include "engine/model_loader.h"
#include "server/load_gen.h"

namespace tandem::cli {
namespace {

using server::LoadRequest;
using server::LoadSummary;
using server::RequestResult;

const std::vector<FlagSpec> kBenchServeFlags = {
    {"url", "", true, "server to load, e.g. http://127.0.0.1:8080"},
    {"trace", "", true, "trace to replay: Azure CSV or Mooncake JSONL (../shared/data/traces/)"},
    {"max-requests", "", true, "trace rows to replay, from the first (default 200)"},
    {"scale", "", true, "fit the trace: time=F|rate=R, len=auto|F, prompt=F, output=F (default len=auto,time=1)"},
    {"slo", "", true, "latency bounds, e.g. ttft_p90=2,tpot_p90=200ms"},
    {"concurrency", "c", true, "closed loop: streams in flight; a list (1,32) runs each (default 32)"},
    {"requests-per-stream", "", true, "closed loop: requests each stream sends in turn (default 2)"},
    {"prompt-tokens", "", true, "closed loop: prompt length (default 32)"},
    {"max-tokens", "", true, "closed loop: tokens generated per request (default 128)"},
    {"model", "m", true, "also (or only) run the closed loop on an in-process engine over this model"},
    {"reps", "", true, "with --url and -m: alternate HTTP and in-process this many times (default 2)"},
    {"threads", "", true, "in-process engine threads (default: all cores)"},
    {"timeout", "", true, "per-request timeout in seconds (default 600)"},
    {"json", "", false, "print JSON"},
    {"help", "h", false, "show this help"},
};

using Clock = std::chrono::steady_clock;

// Distinct synthetic prompts (no shared prefix), ids in [16, 384).
std::vector<LoadRequest> closed_loop_requests(int n, int32_t prompt_tokens, int32_t max_tokens, uint64_t salt) {
  std::vector<LoadRequest> out(static_cast<size_t>(n));
  uint64_t x = 0x2545F4914F6CDD1DULL ^ salt;
  for (LoadRequest& r : out) {
    r.max_tokens = max_tokens;
    for (int32_t t = 0; t < prompt_tokens; ++t) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      r.prompt.push_back(16 + static_cast<int32_t>(x % 368));
    }
  }
  return out;
}

// The closed loop on an in-process engine: `concurrency` requests in flight,
// the next submitted from the finishing one's callback.
std::vector<RequestResult> run_in_process(Engine& engine, const std::vector<LoadRequest>& reqs, int concurrency,
                                          double* wall_s) {
  std::vector<RequestResult> results(reqs.size());
  std::mutex mu;
  std::condition_variable cv;
  size_t next = 0, done = 0;
  const auto t0 = Clock::now();
  auto now_s = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  std::function<void(size_t)> submit = [&](size_t i) {
    GenerationRequest g;
    g.prompt = reqs[i].prompt;
    g.max_tokens = reqs[i].max_tokens;
    g.sampling.temperature = 0;
    g.stop_at_eos = false;
    results[i].start_s = now_s();
    g.on_event = [&, i](const StreamEvent& ev) {
      RequestResult& r = results[i];
      if (ev.token >= 0 && r.ttft_s == 0) r.ttft_s = now_s() - r.start_s;
      if (!ev.finished) return;
      r.e2e_s = now_s() - r.start_s;
      r.output_tokens = ev.completion_tokens;
      r.prompt_tokens = ev.prompt_tokens;
      r.ok = ev.error.empty() && ev.reason != SeqEnd::kCancelled;
      r.status = r.ok ? 200 : 500;
      std::lock_guard<std::mutex> lock(mu);
      ++done;
      if (next < reqs.size()) submit(next++);
      cv.notify_all();
    };
    auto id = engine.submit(std::move(g));
    if (!id.ok()) {
      results[i].error = id.status().to_string();
      ++done;
    }
  };
  {
    std::lock_guard<std::mutex> lock(mu);
    while (next < reqs.size() && static_cast<int>(next) < concurrency) submit(next++);
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done == reqs.size(); });
  *wall_s = now_s();
  return results;
}

nlohmann::ordered_json summary_json(const LoadSummary& s) {
  auto pct = [](const server::Percentiles& p) {
    return nlohmann::ordered_json{{"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}};
  };
  return {{"sent", s.sent},
          {"ok", s.ok},
          {"rejected", s.rejected},
          {"failed", s.failed},
          {"wall_s", s.wall_s},
          {"requests_per_s", s.request_rate},
          {"output_tokens_per_s", s.output_tokens_per_s},
          {"total_tokens_per_s", s.total_tokens_per_s},
          {"ttft_s", pct(s.ttft)},
          {"tpot_s", pct(s.tpot)},
          {"e2e_s", pct(s.e2e)},
          {"slo_attainment", s.slo_attainment},
          {"goodput_requests_per_s", s.goodput},
          {"ttft_p90_met", s.ttft_p90_met},
          {"tpot_p90_met", s.tpot_p90_met}};
}

void print_summary(const std::string& title, const LoadSummary& s, bool with_slo) {
  std::printf("%s\n", title.c_str());
  std::printf("  requests     %lld sent, %lld ok, %lld rejected (429/503), %lld failed, in %.2f s\n",
              static_cast<long long>(s.sent), static_cast<long long>(s.ok), static_cast<long long>(s.rejected),
              static_cast<long long>(s.failed), s.wall_s);
  std::printf("  throughput   %.2f req/s, %.1f output tokens/s, %.1f total tokens/s\n", s.request_rate,
              s.output_tokens_per_s, s.total_tokens_per_s);
  std::printf("  TTFT (s)     p50 %.4f  p90 %.4f  p99 %.4f\n", s.ttft.p50, s.ttft.p90, s.ttft.p99);
  std::printf("  TPOT (s)     p50 %.4f  p90 %.4f  p99 %.4f\n", s.tpot.p50, s.tpot.p90, s.tpot.p99);
  std::printf("  E2E (s)      p50 %.3f  p90 %.3f  p99 %.3f\n", s.e2e.p50, s.e2e.p90, s.e2e.p99);
  if (with_slo)
    std::printf("  SLO          attainment %.1f %% of sent, goodput %.3f req/s; TTFT p90 %s, TPOT p90 %s\n",
                100 * s.slo_attainment, s.goodput, s.ttft_p90_met ? "met" : "MISSED",
                s.tpot_p90_met ? "met" : "MISSED");
}

std::vector<int> parse_int_list(const std::string& s, bool* ok) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  *ok = true;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 100000) *ok = false;
    out.push_back(static_cast<int>(v));
  }
  if (out.empty()) *ok = false;
  return out;
}

}  // namespace

int run_bench_serve(const std::vector<std::string>& argv) {
  const char* synopsis =
      "tandem bench serve --url URL --trace FILE [--scale ...] [--slo ttft_p90=...,tpot_p90=...] [--json]\n"
      "       tandem bench serve --url URL [-m PATH] --concurrency 1,32 [--max-tokens 128] [--json]";
  auto parsed = Args::parse(argv, kBenchServeFlags);
  if (!parsed.ok() || (parsed.ok() && !parsed->positional().empty())) {
    std::fprintf(stderr, "tandem bench serve: %s\n\nusage: %s\n\noptions:\n%s",
                 parsed.ok() ? "unexpected argument" : parsed.status().message().c_str(), synopsis,
                 Args::help_text(kBenchServeFlags).c_str());
    return 2;
  }
  const Args& a = *parsed;
  if (a.has("help")) {
    std::printf("usage: %s\n\noptions:\n%s", synopsis, Args::help_text(kBenchServeFlags).c_str());
    return 0;
  }
  auto usage_error = [](const std::string& m) {
    std::fprintf(stderr, "tandem bench serve: %s\n", m.c_str());
    return 2;
  };
  if (!a.get("url") && !a.get("model")) return usage_error("--url URL (or -m PATH for in-process) is required");
  if (a.get("trace") && !a.get("url")) return usage_error("--trace needs --url");
  auto max_requests = a.get_int("max-requests", 200);
  auto per_stream = a.get_int("requests-per-stream", 2);
  auto prompt_tokens = a.get_int("prompt-tokens", 32);
  auto max_tokens = a.get_int("max-tokens", 128);
  auto reps = a.get_int("reps", 2);
  auto threads = a.get_int("threads", 0);
  auto timeout = a.get_double("timeout", 600);
  for (const Status* s : {&max_requests.status(), &per_stream.status(), &prompt_tokens.status(),
                          &max_tokens.status(), &reps.status(), &threads.status(), &timeout.status()})
    if (!s->ok()) return usage_error(s->message());
  if (*max_requests < 1 || *per_stream < 1 || *prompt_tokens < 1 || *max_tokens < 1 || *reps < 1 || *threads < 0 ||
      !(*timeout > 0))
    return usage_error("counts must be >= 1 and --timeout > 0");
  bool list_ok = true;
  const std::vector<int> concurrencies = parse_int_list(a.get("concurrency").value_or("32"), &list_ok);
  if (!list_ok) return usage_error("--concurrency expects positive integers, e.g. 1,32");
  server::Slo slo;
  if (auto spec = a.get("slo")) {
    auto s = server::parse_slo(*spec);
    if (!s.ok()) return usage_error(s.status().message());
    slo = *s;
  }
  const bool json_out = a.has("json");
  nlohmann::ordered_json report;

  server::LoadOptions lo;
  lo.timeout_s = *timeout;
  int32_t context = 0;
  if (auto url = a.get("url")) {
    if (Status st = server::parse_url(*url, &lo.host, &lo.port); !st.ok()) return usage_error(st.message());
    if (Status st = server::query_model(lo.host, lo.port, &lo.model, &context); !st.ok()) {
      std::fprintf(stderr, "tandem bench serve: %s\n", st.to_string().c_str());
      return 1;
    }
    std::fprintf(stderr, "server %s:%d serves '%s', context %d tokens\n", lo.host.c_str(), lo.port,
                 lo.model.c_str(), context);
    report["url"] = *url;
    report["model"] = lo.model;
    report["context"] = context;
  }

  if (auto trace_path = a.get("trace")) {
    auto scale = server::parse_scale(a.get("scale").value_or(""));
    if (!scale.ok()) return usage_error(scale.status().message());
    auto rows = server::read_trace(*trace_path, static_cast<size_t>(*max_requests));
    if (!rows.ok()) {
      std::fprintf(stderr, "tandem bench serve: %s\n", rows.status().to_string().c_str());
      return 1;
    }
    const server::ScaledTrace st = server::scale_trace(*rows, *scale, context);
    std::fprintf(stderr, "replaying %s: %s\n", trace_path->c_str(), st.description.c_str());
    double wall = 0;
    auto res = server::run_load(lo, st.requests, &wall);
    if (!res.ok()) {
      std::fprintf(stderr, "tandem bench serve: %s\n", res.status().to_string().c_str());
      return 1;
    }
    for (const RequestResult& r : *res)
      if (!r.ok && r.status != 429 && r.status != 503 && !r.error.empty()) {
        std::fprintf(stderr, "first failure: status %d: %s\n", r.status, r.error.c_str());
        break;
      }
    const LoadSummary s = server::summarize(*res, wall, slo);
    if (json_out) {
      report["trace"] = *trace_path;
      report["scaling"] = st.description;
      report["slo"] = {{"ttft_p90_s", slo.ttft_s}, {"tpot_p90_s", slo.tpot_s}};
      report["summary"] = summary_json(s);
      std::printf("%s\n", report.dump(2).c_str());
    } else {
      std::printf("trace    %s\nscaling  %s\n", trace_path->c_str(), st.description.c_str());
      if (slo.ttft_s > 0 || slo.tpot_s > 0)
        std::printf("SLO      TTFT <= %.3f s, TPOT <= %.4f s per request (p90 bounds)\n", slo.ttft_s, slo.tpot_s);
      print_summary("result", s, slo.ttft_s > 0 || slo.tpot_s > 0);
    }
    return 0;
  }

  // Closed loop: N streams, over HTTP and/or in process.
  std::unique_ptr<LoadedModel> loaded;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<ThreadPool> own_pool;
  if (auto path = a.get("model")) {
    auto m = load_model(*path);
    if (!m.ok()) {
      std::fprintf(stderr, "tandem bench serve: %s\n", m.status().to_string().c_str());
      return 1;
    }
    loaded = std::make_unique<LoadedModel>(std::move(m).value());
    ThreadPool* pool = &ThreadPool::global();
    if (*threads > 0) {
      own_pool = std::make_unique<ThreadPool>(static_cast<int>(*threads));
      pool = own_pool.get();
    }
    // The same scheduler settings as `tandem serve`'s defaults.
    const ModelConfig& mc = loaded->model->config();
    EngineConfig ec;
    ec.scheduler.block_size = 16;
    const int64_t bytes_per_token = int64_t{mc.n_layers} * 2 * mc.kv_dim() * int64_t{sizeof(float)};
    const int64_t kv_tokens = std::max<int64_t>(mc.max_position, std::min<int64_t>(131072, (int64_t{1} << 30) / bytes_per_token));
    ec.scheduler.n_blocks = static_cast<int32_t>((kv_tokens + 15) / 16);
    ec.scheduler.max_seq_len = mc.max_position;
    auto e = Engine::create(*loaded->model, *loaded->tokenizer, ec, pool);
    if (!e.ok()) {
      std::fprintf(stderr, "tandem bench serve: %s\n", e.status().to_string().c_str());
      return 1;
    }
    engine = std::move(e).value();
    engine->start();
    if (context == 0) context = mc.max_position;
  }
  if (*prompt_tokens + *max_tokens > context)
    return usage_error("--prompt-tokens + --max-tokens exceed the context of " + std::to_string(context));
  const bool http = a.get("url").has_value();
  const int n_reps = http && engine ? static_cast<int>(*reps) : 1;
  nlohmann::ordered_json runs = nlohmann::ordered_json::array();
  std::printf("%s", json_out ? "" : "| path       | streams | requests | output tok/s | TTFT p50 s | TPOT p50 s | TPOT p90 s |\n"
                                   "|------------|---------|----------|--------------|------------|------------|------------|\n");
  std::map<std::pair<std::string, int>, std::vector<double>> tps;
  uint64_t salt = 1;
  for (int rep = 0; rep < n_reps; ++rep) {
    for (int c : concurrencies) {
      const int n = c * static_cast<int>(*per_stream);
      for (const char* path : {"http", "in-process"}) {
        const bool is_http = std::string(path) == "http";
        if (is_http ? !http : !engine) continue;
        // Fresh prompts each run, so no run is helped by another's prefix cache.
        const auto reqs = closed_loop_requests(n, static_cast<int32_t>(*prompt_tokens),
                                               static_cast<int32_t>(*max_tokens), salt++);
        double wall = 0;
        std::vector<RequestResult> res;
        server::LoadOptions o = lo;
        o.concurrency = c;
        std::fprintf(stderr, "%s: %d streams, %d requests...\n", path, c, n);
        if (is_http) {
          auto r = server::run_load(o, reqs, &wall);
          if (!r.ok()) {
            std::fprintf(stderr, "tandem bench serve: %s\n", r.status().to_string().c_str());
            return 1;
          }
          res = std::move(r).value();
        } else {
          res = run_in_process(*engine, reqs, c, &wall);
        }
        const LoadSummary s = server::summarize(res, wall, slo);
        if (s.ok != s.sent)
          for (const RequestResult& r : res)
            if (!r.ok) {
              std::fprintf(stderr, "failure: status %d: %s\n", r.status, r.error.c_str());
              break;
            }
        tps[{path, c}].push_back(s.output_tokens_per_s);
        nlohmann::ordered_json j = summary_json(s);
        j["path"] = path;
        j["streams"] = c;
        j["rep"] = rep;
        runs.push_back(j);
        if (!json_out)
          std::printf("| %-10s | %7d | %8lld | %12.1f | %10.4f | %10.4f | %10.4f |\n", path, c,
                      static_cast<long long>(s.ok), s.output_tokens_per_s, s.ttft.p50, s.tpot.p50, s.tpot.p90);
        std::fflush(stdout);
      }
    }
  }
  if (engine) engine->stop();
  // Ratios within this run: streams vs the first concurrency, HTTP vs in-process.
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0.0 : s / static_cast<double>(v.size());
  };
  nlohmann::ordered_json ratios;
  for (const char* path : {"http", "in-process"}) {
    if (!tps.count({path, concurrencies[0]})) continue;
    const double base = mean(tps[{path, concurrencies[0]}]);
    for (size_t i = 1; i < concurrencies.size(); ++i) {
      const double r = mean(tps[{path, concurrencies[i]}]) / base;
      ratios[std::string(path) + "_" + std::to_string(concurrencies[i]) + "_vs_" + std::to_string(concurrencies[0])] = r;
      if (!json_out)
        std::printf("%s: %d streams give %.2fx the output tokens/s of %d\n", path, concurrencies[i], r,
                    concurrencies[0]);
    }
  }
  if (http && engine)
    for (int c : concurrencies) {
      const std::vector<double>& h = tps[{"http", c}];
      const std::vector<double>& p = tps[{"in-process", c}];
      const double r = mean(h) / mean(p);
      ratios["http_vs_in_process_" + std::to_string(c)] = r;
      // Each rep's HTTP run and in-process run are back to back, so their
      // ratio cancels slow drifts of the machine; the spread of these
      // ratios says how far the mean can be trusted.
      std::vector<double> per_rep;
      for (size_t i = 0; i < std::min(h.size(), p.size()); ++i) per_rep.push_back(h[i] / p[i]);
      ratios["http_vs_in_process_" + std::to_string(c) + "_per_rep"] = per_rep;
      std::vector<double> sorted = per_rep;
      std::sort(sorted.begin(), sorted.end());
      const size_t k = sorted.size();
      const double median = k == 0 ? 0.0 : k % 2 ? sorted[k / 2] : 0.5 * (sorted[k / 2 - 1] + sorted[k / 2]);
      if (!json_out) {
        std::printf("%d streams: HTTP gives %.3f of the in-process engine's tokens/s (%.1f %% overhead), mean of %d reps\n",
                    c, r, 100 * (1 - r), n_reps);
        if (k > 1)
          std::printf("  per rep (HTTP run / the in-process run after it): median %.3f, range %.3f to %.3f\n", median,
                      sorted.front(), sorted.back());
      }
    }
  if (json_out) {
    report["prompt_tokens"] = *prompt_tokens;
    report["max_tokens"] = *max_tokens;
    report["runs"] = runs;
    report["ratios"] = ratios;
    std::printf("%s\n", report.dump(2).c_str());
  }
  return 0;
}

}  // namespace tandem::cli
