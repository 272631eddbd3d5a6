// tandem simulate, tandem plan and tandem bench profile: the cluster planner
// (src/plan) from the command line. Results go to stdout (text, or JSON with
// --json); progress and errors to stderr.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/mapped_file.h"
#include "base/thread_pool.h"
#include "bench/engine_profile.h"
#include "bench/roofline.h"
#include "bench/step_profile.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "engine/model_loader.h"
#include "model/model.h"
#include "plan/model_import.h"
#include "plan/planner.h"

namespace tandem::cli {
namespace {

using namespace tandem::plan;

const std::vector<FlagSpec> kTraceFlags = {
    {"trace", "", true, "Azure CSV or Mooncake JSONL trace, or poisson / bursty (with --rate, --duration)"},
    {"rate", "", true, "generator: requests per second (default 1)"},
    {"duration", "", true, "generator: seconds (default 600)"},
    {"prompt", "", true, "generator: prompt tokens (default: resampled from --lengths, else 1024)"},
    {"output", "", true, "generator: output tokens (default: resampled from --lengths, else 128)"},
    {"lengths", "", true, "generator: trace file whose lengths are resampled"},
    {"cv", "", true, "bursty generator: coefficient of variation of gaps (default 3)"},
    {"seed", "", true, "generator seed (default 1)"},
    {"start", "", true, "keep arrivals from this second of the trace"},
    {"end", "", true, "keep arrivals before this second"},
    {"limit", "", true, "keep the first N requests"},
    {"rate-scale", "", true, "replay arrivals this many times faster (default 1)"},
    {"token-scale", "", true, "multiply prompt lengths (default 1)"},
    {"output-scale", "", true, "multiply output lengths (default 1)"},
    {"max-prompt", "", true, "clamp prompt lengths"},
    {"max-output", "", true, "clamp output lengths"},
};

const std::vector<FlagSpec> kCommonFlags = {
    {"model", "m", true, "catalog name (data/models/catalog.json), config.json, model directory or .gguf"},
    {"slo", "", true, "ttft_p90=2s,tpot_p90=100ms (the percentile is the same for both)"},
    {"hardware-file", "", true, "hardware catalog (default data/hardware/catalog.json)"},
    {"model-file", "", true, "model catalog (default data/models/catalog.json)"},
    {"profile", "", true, "profile from 'tandem bench profile --json': adds hardware 'local' with its fitted efficiencies"},
    {"compute-eff", "", true, "fraction of peak FLOP/s reached (default 0.6)"},
    {"memory-eff", "", true, "fraction of memory bandwidth reached (default 0.8)"},
    {"step-overhead-ms", "", true, "fixed cost per step (default 0)"},
    {"block-size", "", true, "tokens per simulated KV block (default 128)"},
    {"decode-stride", "", true, "decode iterations per simulated scheduler step (default 1 simulate, 4 plan)"},
    {"json", "", false, "print JSON"},
    {"help", "h", false, "show this help"},
};

std::vector<FlagSpec> concat(std::vector<FlagSpec> a, const std::vector<FlagSpec>& b,
                             const std::vector<FlagSpec>& c = {}) {
  a.insert(a.end(), b.begin(), b.end());
  a.insert(a.end(), c.begin(), c.end());
  return a;
}

int usage_error(const char* cmd, const std::string& msg) {
  std::fprintf(stderr, "tandem %s: %s\n", cmd, msg.c_str());
  return 2;
}

// "2s", "100ms", "0.5" (seconds).
bool parse_seconds(const std::string& v, double& out) {
  char* end = nullptr;
  out = std::strtod(v.c_str(), &end);
  std::string unit = end ? std::string(end) : "";
  if (end == v.c_str()) return false;
  if (unit == "ms") out /= 1e3;
  else if (unit == "us") out /= 1e6;
  else if (!(unit.empty() || unit == "s")) return false;
  return out > 0;
}

Result<Slo> parse_slo(const std::string& text) {
  Slo slo;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto eq = item.find('=');
    if (eq == std::string::npos) return invalid_argument("--slo: expected key=value, got '" + item + "'");
    std::string key = item.substr(0, eq), val = item.substr(eq + 1);
    double s = 0;
    if (!parse_seconds(val, s)) return invalid_argument("--slo: bad time '" + val + "' (use 2s, 100ms)");
    auto under = key.find("_p");
    std::string metric = under == std::string::npos ? key : key.substr(0, under);
    if (under != std::string::npos) slo.percentile = std::atof(key.c_str() + under + 2) / 100.0;
    if (metric == "ttft") slo.ttft_s = s;
    else if (metric == "tpot") slo.tpot_s = s;
    else return invalid_argument("--slo: unknown metric '" + metric + "' (ttft, tpot)");
  }
  if (!(slo.percentile > 0 && slo.percentile <= 1)) return invalid_argument("--slo: percentile must be in (0, 100]");
  return slo;
}

Result<Trace> build_trace(const Args& a) {
  const std::string what = a.get("trace").value_or("");
  if (what.empty()) return invalid_argument("--trace is required");
  Trace t;
  if (what == "poisson" || what == "bursty") {
    GeneratorOptions g;
    TANDEM_ASSIGN_OR_RETURN(g.rate, a.get_double("rate", 1.0));
    TANDEM_ASSIGN_OR_RETURN(g.duration_s, a.get_double("duration", 600));
    TANDEM_ASSIGN_OR_RETURN(double cv, a.get_double("cv", 3.0));
    TANDEM_ASSIGN_OR_RETURN(int64_t p, a.get_int("prompt", 1024));
    TANDEM_ASSIGN_OR_RETURN(int64_t o, a.get_int("output", 128));
    TANDEM_ASSIGN_OR_RETURN(int64_t seed, a.get_int("seed", 1));
    g.burstiness_cv = cv;
    g.prompt_tokens = int32_t(p);
    g.output_tokens = int32_t(o);
    g.seed = uint64_t(seed);
    if (!(g.rate > 0) || !(g.duration_s > 0)) return invalid_argument("--rate and --duration must be > 0");
    Trace lengths;
    if (auto l = a.get("lengths")) {
      TANDEM_ASSIGN_OR_RETURN(lengths, load_trace(*l));
    }
    t = what == "poisson" ? poisson_trace(g, lengths) : bursty_trace(g, lengths);
  } else {
    TANDEM_ASSIGN_OR_RETURN(t, load_trace(what));
  }
  TraceTransform x;
  TANDEM_ASSIGN_OR_RETURN(x.start_s, a.get_double("start", 0));
  TANDEM_ASSIGN_OR_RETURN(x.end_s, a.get_double("end", 0));
  TANDEM_ASSIGN_OR_RETURN(x.limit, a.get_int("limit", 0));
  TANDEM_ASSIGN_OR_RETURN(x.rate_scale, a.get_double("rate-scale", 1));
  TANDEM_ASSIGN_OR_RETURN(x.token_scale, a.get_double("token-scale", 1));
  TANDEM_ASSIGN_OR_RETURN(x.output_scale, a.get_double("output-scale", 1));
  TANDEM_ASSIGN_OR_RETURN(int64_t mp, a.get_int("max-prompt", 0));
  TANDEM_ASSIGN_OR_RETURN(int64_t mo, a.get_int("max-output", 0));
  x.max_prompt = int32_t(mp);
  x.max_output = int32_t(mo);
  if (!(x.rate_scale > 0) || !(x.token_scale > 0) || !(x.output_scale > 0))
    return invalid_argument("--rate-scale, --token-scale and --output-scale must be > 0");
  std::string name = t.name;
  t = transform_trace(t, x);
  t.name = name;
  if (t.requests.empty()) return invalid_argument("the trace selection is empty");
  return t;
}

struct Catalogs {
  std::vector<HardwareSpec> hardware;
  ModelSpec model;
  Efficiency eff;
  std::optional<Profile> profile;
  FitResult fit;
};

Result<Catalogs> load_catalogs(const Args& a) {
  Catalogs c;
  TANDEM_ASSIGN_OR_RETURN(c.hardware, load_hardware_catalog(a.get("hardware-file").value_or(default_hardware_catalog_path())));
  TANDEM_ASSIGN_OR_RETURN(auto models, load_model_catalog(a.get("model-file").value_or(default_model_catalog_path())));
  if (auto p = a.get("profile")) {
    TANDEM_ASSIGN_OR_RETURN(Profile prof, load_profile(*p));
    c.fit = fit_profile(prof);
    c.hardware.push_back(prof.hardware);
    c.profile = prof;
  }
  auto m = a.get("model");
  if (!m) {
    if (!c.profile) return invalid_argument("--model is required");
    c.model = c.profile->model;
  } else {
    TANDEM_ASSIGN_OR_RETURN(c.model, resolve_model(*m, models));
  }
  TANDEM_ASSIGN_OR_RETURN(c.eff.compute, a.get_double("compute-eff", c.eff.compute));
  TANDEM_ASSIGN_OR_RETURN(c.eff.memory, a.get_double("memory-eff", c.eff.memory));
  TANDEM_ASSIGN_OR_RETURN(double ov, a.get_double("step-overhead-ms", 0));
  c.eff.step_overhead_s = ov / 1e3;
  if (!(c.eff.compute > 0 && c.eff.compute <= 1) || !(c.eff.memory > 0 && c.eff.memory <= 1))
    return invalid_argument("--compute-eff and --memory-eff must be in (0, 1]");
  return c;
}

// Efficiency for a pool on `hw`: the profile's fit for hardware 'local'.
Efficiency eff_for(const Catalogs& c, const std::string& hw) {
  if (c.profile && hw == "local") return c.fit.eff;
  return c.eff;
}

void print_dist(const char* name, const Distribution& d, double scale, const char* unit) {
  std::printf("  %-5s mean %8.3f  p50 %8.3f  p90 %8.3f  p99 %8.3f  max %8.3f %s\n", name, d.mean * scale,
              d.p50 * scale, d.p90 * scale, d.p99 * scale, d.max * scale, unit);
}

}  // namespace

int run_simulate(const std::vector<std::string>& argv) {
  const std::vector<FlagSpec> flags = concat(
      {{"hardware", "", true, "accelerator for both pools (catalog name, or 'local' with --profile)"},
       {"hardware-prefill", "", true, "accelerator of the prefill pool (default --hardware)"},
       {"hardware-decode", "", true, "accelerator of the decode pool (default --hardware)"},
       {"prefill", "", true, "prefill instances"},
       {"decode", "", true, "decode instances"},
       {"colocated", "", true, "instead: N colocated (prefill + decode) instances"},
       {"tp", "", true, "tensor parallelism of every instance (default 1)"},
       {"tp-prefill", "", true, "tensor parallelism of prefill instances"},
       {"tp-decode", "", true, "tensor parallelism of decode instances"}},
      kCommonFlags, kTraceFlags);
  const char* synopsis =
      "tandem simulate --trace FILE --model NAME --hardware NAME --prefill N --decode M [--colocated N] [--json]";
  auto parsed = Args::parse(argv, flags);
  if (!parsed.ok()) {
    std::fprintf(stderr, "tandem simulate: %s\n\nusage: %s\n\noptions:\n%s", parsed.status().message().c_str(),
                 synopsis, Args::help_text(flags).c_str());
    return 2;
  }
  const Args& a = *parsed;
  if (a.has("help")) {
    std::printf("usage: %s\n\noptions:\n%s", synopsis, Args::help_text(flags).c_str());
    return 0;
  }
  auto cats = load_catalogs(a);
  if (!cats.ok()) return usage_error("simulate", cats.status().message());
  auto trace = build_trace(a);
  if (!trace.ok()) return usage_error("simulate", trace.status().message());
  SimConfig cfg;
  cfg.model = cats->model;
  auto slo = parse_slo(a.get("slo").value_or("ttft_p90=2s,tpot_p90=100ms"));
  if (!slo.ok()) return usage_error("simulate", slo.status().message());
  cfg.slo = *slo;
  auto bs = a.get_int("block-size", 128);
  auto stride = a.get_int("decode-stride", 1);
  auto tp = a.get_int("tp", 1);
  if (!bs.ok() || !stride.ok() || !tp.ok()) return usage_error("simulate", "bad --block-size, --decode-stride or --tp");
  cfg.block_size = int32_t(*bs);
  cfg.decode_stride = int32_t(*stride);
  const std::string hw = a.get("hardware").value_or("");
  auto pool_spec = [&](const std::string& name, int64_t n, int64_t t, Role role) -> Result<PoolSpec> {
    PoolSpec p;
    TANDEM_ASSIGN_OR_RETURN(p.hardware, find_hardware(cats->hardware, name));
    p.instances = int(n);
    p.tp = int(t);
    p.eff = eff_for(*cats, name);
    p.sched = default_sched(role);
    return p;
  };
  if (a.has("colocated")) {
    auto n = a.get_int("colocated", 0);
    if (!n.ok() || hw.empty()) return usage_error("simulate", "--colocated N needs --hardware");
    auto p = pool_spec(hw, *n, *tp, Role::kMixed);
    if (!p.ok()) return usage_error("simulate", p.status().message());
    cfg.colocated = true;
    cfg.mixed = *p;
  } else {
    auto np = a.get_int("prefill", 0), nd = a.get_int("decode", 0);
    auto tpp = a.get_int("tp-prefill", *tp), tpd = a.get_int("tp-decode", *tp);
    const std::string hp = a.get("hardware-prefill").value_or(hw), hd = a.get("hardware-decode").value_or(hw);
    if (!np.ok() || !nd.ok() || *np < 1 || *nd < 1 || hp.empty() || hd.empty())
      return usage_error("simulate", "give --hardware, --prefill N and --decode M (or --colocated N)");
    auto p = pool_spec(hp, *np, *tpp, Role::kPrefill);
    auto d = pool_spec(hd, *nd, *tpd, Role::kDecode);
    if (!p.ok()) return usage_error("simulate", p.status().message());
    if (!d.ok()) return usage_error("simulate", d.status().message());
    cfg.prefill = *p;
    cfg.decode = *d;
  }
  auto r = simulate(cfg, *trace);
  if (!r.ok()) {
    std::fprintf(stderr, "tandem simulate: %s\n", r.status().message().c_str());
    return 1;
  }
  if (a.has("json")) {
    auto j = nlohmann::json::parse(sim_result_to_json(cfg, *r));
    j["trace"] = trace->name;
    if (cats->profile)
      j["fit"] = {{"mean_abs_rel_err", cats->fit.mean_abs_rel_err}, {"max_abs_rel_err", cats->fit.max_abs_rel_err},
                  {"points", cats->fit.n_points}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%s on %s: %lld requests over %.0f s (%.2f req/s)\n", cfg.model.name.c_str(), trace->name.c_str(),
              (long long)r->n_requests, r->duration_s, r->arrival_rate);
  for (const PoolStats& p : r->pools)
    std::printf("  %-8s %3d x %s (tp %d): utilisation %5.1f%%, %lld steps, %.1f tokens and %.1f seqs per step, %lld preemptions, peak KV %.0f%%\n",
                role_name(p.role), p.instances, p.hardware.c_str(), p.tp, 100 * p.utilisation, (long long)p.steps,
                p.mean_step_tokens, p.mean_step_seqs, (long long)p.preemptions, 100 * p.peak_kv_frac);
  print_dist("TTFT", r->ttft, 1e3, "ms");
  print_dist("TPOT", r->tpot, 1e3, "ms");
  print_dist("e2e", r->e2e, 1, "s");
  std::printf("  SLO ttft p%.0f <= %.3f s, tpot p%.0f <= %.3f s: %s; attainment %.1f%%, goodput %.3f req/s\n",
              100 * cfg.slo.percentile, cfg.slo.ttft_s, 100 * cfg.slo.percentile, cfg.slo.tpot_s,
              r->slo_met ? "met" : "missed", 100 * r->slo_attainment, r->goodput_rps);
  std::printf("  cost %.2f USD/h, %.4f USD per million tokens; %lld completed, %lld rejected\n", r->cost_per_hour,
              r->cost_per_mtok, (long long)r->n_completed, (long long)r->n_rejected);
  return 0;
}

int run_plan(const std::vector<std::string>& argv) {
  const std::vector<FlagSpec> flags = concat(
      {{"hardware", "", true, "comma-separated candidates for both pools (e.g. h100-sxm,h200,l40s)"},
       {"tp", "", true, "comma-separated tensor-parallel sizes to try (default 1,2,4,8)"},
       {"budget", "", true, "USD per hour the cluster may cost at most"},
       {"max-instances", "", true, "largest pool to consider (default 32)"},
       {"windows", "", true, "time windows for the drift analysis (default 6, 0 = none)"},
       {"same-hardware", "", false, "both pools on the same accelerator"},
       {"no-colocated", "", false, "skip the colocated baseline"},
       {"svg", "", true, "write the goodput/cost vs prefill:decode plot here"},
       {"threads", "t", true, "simulations in parallel (default 1)"}},
      kCommonFlags, kTraceFlags);
  const char* synopsis =
      "tandem plan --trace FILE --model NAME --hardware LIST --slo ttft_p90=2s,tpot_p90=100ms [--budget USD/h] [--json]";
  auto parsed = Args::parse(argv, flags);
  if (!parsed.ok()) {
    std::fprintf(stderr, "tandem plan: %s\n\nusage: %s\n\noptions:\n%s", parsed.status().message().c_str(), synopsis,
                 Args::help_text(flags).c_str());
    return 2;
  }
  const Args& a = *parsed;
  if (a.has("help")) {
    std::printf("usage: %s\n\noptions:\n%s", synopsis, Args::help_text(flags).c_str());
    return 0;
  }
  auto cats = load_catalogs(a);
  if (!cats.ok()) return usage_error("plan", cats.status().message());
  auto trace = build_trace(a);
  if (!trace.ok()) return usage_error("plan", trace.status().message());
  PlanOptions o;
  o.model = cats->model;
  o.eff = cats->eff;
  auto slo = parse_slo(a.get("slo").value_or("ttft_p90=2s,tpot_p90=100ms"));
  if (!slo.ok()) return usage_error("plan", slo.status().message());
  o.slo = *slo;
  std::stringstream hw(a.get("hardware").value_or("h100-sxm"));
  std::string item;
  while (std::getline(hw, item, ',')) {
    auto h = find_hardware(cats->hardware, item);
    if (!h.ok()) return usage_error("plan", h.status().message());
    o.hardware.push_back(*h);
  }
  if (auto t = a.get("tp")) {
    o.tps.clear();
    std::stringstream ts(*t);
    while (std::getline(ts, item, ',')) o.tps.push_back(std::atoi(item.c_str()));
  }
  auto budget = a.get_double("budget", 0);
  auto maxi = a.get_int("max-instances", 32);
  auto wins = a.get_int("windows", 6);
  auto bs = a.get_int("block-size", 128);
  auto stride = a.get_int("decode-stride", 4);
  auto threads = a.get_int("threads", 1);
  if (!budget.ok() || !maxi.ok() || !wins.ok() || !bs.ok() || !stride.ok() || !threads.ok() || *maxi < 1 || *threads < 1)
    return usage_error("plan", "bad numeric option");
  o.budget_per_hour = *budget;
  o.max_instances = int(*maxi);
  o.windows = int(*wins);
  o.block_size = int32_t(*bs);
  o.decode_stride = int32_t(*stride);
  o.mixed_hardware = !a.has("same-hardware");
  o.search_colocated = !a.has("no-colocated");
  ThreadPool pool(static_cast<int>(*threads));
  auto r = plan_cluster(o, *trace, &pool);
  if (!r.ok()) {
    std::fprintf(stderr, "tandem plan: %s\n", r.status().message().c_str());
    return 1;
  }
  if (auto svg = a.get("svg")) {
    std::ofstream f(*svg);
    f << ratio_plot_svg(*r, o.model.name + " on " + trace->name + ": goodput and cost vs prefill:decode");
    if (!f) {
      std::fprintf(stderr, "tandem plan: cannot write %s\n", svg->c_str());
      return 1;
    }
  }
  if (a.has("json")) {
    auto j = nlohmann::json::parse(plan_result_to_json(o, *r));
    j["trace"] = trace->name;
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%s on %s (%zu requests, %.2f req/s), SLO ttft p%.0f <= %.3f s, tpot p%.0f <= %.3f s\n",
              o.model.name.c_str(), trace->name.c_str(), trace->requests.size(), trace->rate(),
              100 * o.slo.percentile, o.slo.ttft_s, 100 * o.slo.percentile, o.slo.tpot_s);
  std::printf("searched %lld of %lld configurations in %.1f s\n", (long long)r->simulations, (long long)r->space, r->wall_s);
  auto show = [](const char* what, const Candidate& c) {
    if (c.colocated)
      std::printf("  %-16s %d x %s (tp %d)", what, c.prefill, c.hw_prefill.c_str(), c.tp_prefill);
    else
      std::printf("  %-16s %d prefill x %s (tp %d) + %d decode x %s (tp %d)", what, c.prefill, c.hw_prefill.c_str(),
                  c.tp_prefill, c.decode, c.hw_decode.c_str(), c.tp_decode);
    std::printf(": goodput %.3f req/s, %.2f USD/h, %.4f req/s per USD/h, ttft p90 %.3f s, tpot p90 %.4f s\n",
                c.goodput_rps, c.cost_per_hour, c.goodput_per_dollar(), c.ttft_p90, c.tpot_p90);
  };
  if (r->found) show("best", r->best);
  else std::printf("  no disaggregated configuration meets the SLO within the bounds\n");
  if (r->found_colocated) show("best colocated", r->best_colocated);
  if (!r->windows.empty()) {
    std::printf("  time windows (best proportion per window; the whole-trace best kept fixed):\n");
    for (const WindowResult& w : r->windows)
      std::printf("    %5.0f-%5.0f s  %4lld req (%.2f/s, prompt %.0f, output %.0f): best %d:%d (%.2f USD/h)  fixed %s (attainment %.1f%%)  fixed ratio %d:%d (%.2f USD/h)\n",
                  w.start_s, w.end_s, (long long)w.requests, w.rate, w.mean_prompt, w.mean_output, w.best.prefill,
                  w.best.decode, w.best.cost_per_hour, w.fixed.slo_met ? "meets SLO" : "MISSES SLO",
                  100 * w.fixed.slo_attainment, w.fixed_ratio.prefill, w.fixed_ratio.decode, w.fixed_ratio.cost_per_hour);
  }
  return 0;
}

int run_bench_profile(const std::vector<std::string>& argv) {
  const std::vector<FlagSpec> flags = {
      {"model", "m", true, "model directory or .gguf file"},
      {"json", "", false, "print JSON (the input of --profile in tandem simulate / plan)"},
      {"reps", "r", true, "timed runs per point, median kept (default 5)"},
      {"max-batch", "", true, "largest decode batch (default 32)"},
      {"max-context", "", true, "largest context (default min(model context, 2048))"},
      {"threads", "t", true, "threads (default: all cores)"},
      {"roofline", "", true, "read the roofline from this JSON file (tandem bench roofline --json)"},
      {"roofline-seconds", "", true, "in-process roofline measurement time (default 1.5)"},
      {"conditions", "", true, "free text recorded with the profile (what else ran)"},
      {"cpu-time", "", false, "time steps with the thread CPU clock (needs --threads 1): leaves out time other processes take"},
      {"engine", "", false, "time whole engine steps (scheduling, forward, sampling, detokenizing) of synthetic "
                            "requests instead of bare forward passes"},
      {"help", "h", false, "show this help"},
  };
  const char* synopsis = "tandem bench profile -m MODEL [--engine] [--json] [--reps N] [--max-batch B] [--roofline FILE]";
  auto parsed = Args::parse(argv, flags);
  if (!parsed.ok()) {
    std::fprintf(stderr, "tandem bench profile: %s\n\nusage: %s\n\noptions:\n%s", parsed.status().message().c_str(),
                 synopsis, Args::help_text(flags).c_str());
    return 2;
  }
  const Args& a = *parsed;
  if (a.has("help")) {
    std::printf("usage: %s\n\noptions:\n%s", synopsis, Args::help_text(flags).c_str());
    return 0;
  }
  auto path = a.get("model");
  if (!path) return usage_error("bench profile", "-m MODEL is required");
  auto reps = a.get_int("reps", 5);
  auto maxb = a.get_int("max-batch", 32);
  auto maxc = a.get_int("max-context", 0);
  auto threads = a.get_int("threads", 0);
  auto rsec = a.get_double("roofline-seconds", 1.5);
  if (!reps.ok() || !maxb.ok() || !maxc.ok() || !threads.ok() || !rsec.ok() || *reps < 1 || *maxb < 1)
    return usage_error("bench profile", "bad numeric option");
  std::unique_ptr<ThreadPool> own;
  ThreadPool& pool = *threads > 0 ? *(own = std::make_unique<ThreadPool>(int(*threads))) : ThreadPool::global();
  auto loaded = load_model(*path);
  if (!loaded.ok()) {
    std::fprintf(stderr, "tandem bench profile: %s\n", loaded.status().message().c_str());
    return 1;
  }
  const std::unique_ptr<Model>* model = &loaded->model;
  const ModelConfig& mc = (*model)->config();
  int32_t ctx = int32_t(*maxc > 0 ? *maxc : std::min<int64_t>(mc.max_position > 0 ? mc.max_position : 2048, 2048));
  const bool cpu_time = a.has("cpu-time");
  if (cpu_time && pool.size() != 1) return usage_error("bench profile", "--cpu-time needs --threads 1");
  auto progress = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  std::vector<bench::StepPoint> grid;
  if (a.has("engine")) {
    bench::EngineProfileOptions eo;
    eo.reps = int32_t(*reps);
    eo.max_batch = int32_t(*maxb);
    eo.max_context = ctx;
    eo.cpu_time = cpu_time;
    auto r = bench::run_engine_profile(**model, *loaded->tokenizer, eo, pool, progress);
    if (!r.ok()) {
      std::fprintf(stderr, "tandem bench profile: %s\n", r.status().message().c_str());
      return 1;
    }
    grid = std::move(*r);
  } else {
    grid = bench::default_step_grid(ctx, int32_t(*maxb));
    bench::StepProfileOptions so;
    so.reps = int32_t(*reps);
    so.cpu_time = cpu_time;
    Status st = bench::run_step_profile(**model, grid, so, pool, progress);
    if (!st.ok()) {
      std::fprintf(stderr, "tandem bench profile: %s\n", st.message().c_str());
      return 1;
    }
  }
  bench::Roofline roof;
  std::string roof_source = "measured";
  if (auto rf = a.get("roofline")) {
    auto text = read_file(*rf);
    auto r = text.ok() ? bench::roofline_from_json(*text, *rf) : Result<bench::Roofline>(text.status());
    if (!r.ok()) {
      std::fprintf(stderr, "tandem bench profile: %s\n", r.status().message().c_str());
      return 1;
    }
    roof = *r;
    roof_source = *rf;
  } else {
    bench::RooflineOptions ro;
    ro.seconds = *rsec;
    ro.mem_bytes = size_t(256) << 20;
    auto r = bench::measure_roofline(ro, pool);
    if (!r.ok()) {
      std::fprintf(stderr, "tandem bench profile: %s\n", r.status().message().c_str());
      return 1;
    }
    roof = *r;
  }
  nlohmann::json j;
  j["model"] = *path;
  j["model_config"] = nlohmann::json::parse(bench::profile_model_config_json(**model, std::string("local:") + *path));
  j["roofline"] = nlohmann::json::parse(bench::roofline_to_json(roof));
  j["roofline_source"] = roof_source;
  j["threads"] = pool.size();
  j["clock"] = cpu_time ? "thread_cpu" : "wall";
  j["steps"] = a.has("engine") ? "engine" : "forward";
  j["conditions"] = a.get("conditions").value_or("");
  {
    double l1 = 0, l5 = 0, l15 = 0;
    if (FILE* f = std::fopen("/proc/loadavg", "r")) {
      if (std::fscanf(f, "%lf %lf %lf", &l1, &l5, &l15) != 3) l1 = -1;
      std::fclose(f);
    }
    j["load_average_1m"] = l1;
  }
  nlohmann::json pts = nlohmann::json::array();
  for (const bench::StepPoint& p : grid) {
    nlohmann::json ch = nlohmann::json::array();
    for (const bench::StepChunk& c : p.chunks) ch.push_back({c.start, c.len, c.sample ? 1 : 0});
    pts.push_back({{"kind", p.kind}, {"chunks", ch}, {"seconds", p.seconds}, {"samples", p.samples},
                   {"after_prompt", p.after_prompt}});
  }
  j["points"] = pts;
  auto prof = parse_profile(j.dump(), *path);
  if (!prof.ok()) {
    std::fprintf(stderr, "tandem bench profile: %s\n", prof.status().message().c_str());
    return 1;
  }
  FitResult fit = fit_profile(*prof);
  j["fit"] = {{"compute_eff", fit.eff.compute}, {"attention_eff", fit.eff.attention},
              {"memory_eff", fit.eff.memory}, {"overlap", fit.eff.overlap},
              {"step_overhead_s", fit.eff.step_overhead_s}, {"seq_overhead_s", fit.eff.seq_overhead_s},
              {"batch_overhead_s", fit.eff.batch_overhead_s}, {"small_batch_tokens", fit.eff.small_batch_tokens},
              {"after_prompt_s", fit.eff.after_prompt_s}, {"after_prompt_decay", fit.eff.after_prompt_decay},
              {"mean_abs_rel_err", fit.mean_abs_rel_err}, {"median_abs_rel_err", fit.median_abs_rel_err},
              {"max_abs_rel_err", fit.max_abs_rel_err}, {"points", fit.n_points}};
  if (a.has("json")) {
    std::printf("%s\n", j.dump(1).c_str());
    return 0;
  }
  CostModel cm(prof->model, prof->hardware, 1, fit.eff);
  std::printf("%-16s %6s %7s %10s %10s %7s\n", "kind", "chunks", "tokens", "measured", "predicted", "error");
  for (const ProfilePoint& p : prof->points) {
    const double pr = cm.step_time(p.work);
    std::printf("%-16s %6lld %7lld %8.3f ms %8.3f ms %+6.1f%%\n", p.kind.c_str(), (long long)p.work.seqs,
                (long long)p.work.tokens, p.seconds * 1e3, pr * 1e3, 100 * (pr - p.seconds) / p.seconds);
  }
  std::printf("fit: compute %.3f (attention %.3f) of %.1f GFLOP/s, memory %.3f of %.1f GB/s, overlap %.1f, step %.3f ms + %.4f ms/seq "
              "+ %.3f ms above %lld tokens + %.3f ms x %.2f^(k-1) on the k-th decode step after a prompt; error mean %.1f%%, median %.1f%%, max %.1f%% over %d points\n",
              fit.eff.compute, fit.eff.attention, prof->hardware.flops_for(prof->model.compute_dtype) / 1e9, fit.eff.memory,
              prof->hardware.mem_bw / 1e9, fit.eff.overlap, fit.eff.step_overhead_s * 1e3, fit.eff.seq_overhead_s * 1e3,
              fit.eff.batch_overhead_s * 1e3, (long long)fit.eff.small_batch_tokens, fit.eff.after_prompt_s * 1e3,
              fit.eff.after_prompt_decay, 100 * fit.mean_abs_rel_err, 100 * fit.median_abs_rel_err, 100 * fit.max_abs_rel_err, fit.n_points);
  return 0;
}

}  // namespace tandem::cli
