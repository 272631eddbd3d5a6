// Fidelity of the cluster simulator against our real engine (issue 6):
// replays a slice of a production trace, scaled to a small model, through
// the in-process Engine (same Scheduler, real forward pass, sampler and
// detokenizer) and through the simulator calibrated on a step profile of
// the same model (tandem bench profile --json), and prints predicted vs
// measured TTFT and TPOT.
//
// Clock: with --clock cpu (default) the engine runs on this thread with a
// one-thread pool and time advances by each step's thread CPU time; arrivals
// are injected when that virtual clock passes them and idle gaps are skipped.
// On a shared machine this measures what the engine costs on a core of its
// own. --clock wall runs in real time instead (sleeping between arrivals).
//
// Usage: plan_fidelity --model DIR|GGUF --profile P.json --trace F [--limit N]
//        [--token-scale S] [--output-scale S] [--rate-scale S] [--max-prompt N]
//        [--max-output N] [--start S] [--clock cpu|wall] [--json]
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "engine/model_loader.h"
#include "plan/simulator.h"

using namespace tandem;
using namespace tandem::plan;

namespace {

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}
double wall_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> opt = {{"limit", "60"}, {"token-scale", "0.0625"}, {"output-scale", "0.125"},
                                            {"rate-scale", "4"}, {"max-prompt", "160"}, {"max-output", "80"},
                                            {"start", "600"}, {"clock", "cpu"}};
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json") {
      json = true;
    } else if (a.rfind("--", 0) == 0 && i + 1 < argc) {
      opt[a.substr(2)] = argv[++i];
    }
  }
  for (const char* k : {"model", "profile", "trace"})
    if (!opt.count(k)) {
      std::fprintf(stderr, "plan_fidelity: --%s is required\n", k);
      return 2;
    }
  auto loaded = load_model(opt["model"]);
  auto prof = load_profile(opt["profile"]);
  auto trace = load_trace(opt["trace"]);
  if (!loaded.ok() || !prof.ok() || !trace.ok()) {
    std::fprintf(stderr, "plan_fidelity: %s %s %s\n", loaded.status().to_string().c_str(),
                 prof.status().to_string().c_str(), trace.status().to_string().c_str());
    return 1;
  }
  TraceTransform x;
  x.start_s = std::atof(opt["start"].c_str());
  x.limit = std::atoll(opt["limit"].c_str());
  x.token_scale = std::atof(opt["token-scale"].c_str());
  x.output_scale = std::atof(opt["output-scale"].c_str());
  x.rate_scale = std::atof(opt["rate-scale"].c_str());
  x.max_prompt = std::atoi(opt["max-prompt"].c_str());
  x.max_output = std::atoi(opt["max-output"].c_str());
  Trace t = transform_trace(*trace, x);
  const bool cpu_clock = opt["clock"] == "cpu";

  // One scheduler config for both.
  SchedulerConfig sc;
  sc.n_blocks = std::atoi(opt.count("blocks") ? opt["blocks"].c_str() : "64");
  sc.block_size = 16;
  sc.max_step_tokens = 256;
  sc.max_chunk_tokens = 128;
  sc.max_step_seqs = 32;
  sc.batch_reserved_tokens = 0;
  sc.preemption = PreemptionMode::kRecompute;

  // ---- the real engine
  ThreadPool pool(1);
  EngineConfig ec;
  ec.scheduler = sc;
  auto engine = Engine::create(*loaded->model, *loaded->tokenizer, ec, &pool);
  if (!engine.ok()) {
    std::fprintf(stderr, "plan_fidelity: %s\n", engine.status().to_string().c_str());
    return 1;
  }
  const size_t n = t.requests.size();
  std::vector<double> first(n, -1), last(n, -1), done(n, -1);
  std::vector<int> tokens(n, 0);
  std::map<RequestId, size_t> idx;
  std::vector<std::pair<size_t, bool>> pending;  // events of the running step
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> tok(3, loaded->model->config().vocab_size - 1);
  double vclock = 0;
  const double w0 = wall_s();
  size_t next = 0, finished = 0;
  auto now = [&] { return cpu_clock ? vclock : wall_s() - w0; };
  while (finished < n) {
    while (next < n && t.requests[next].arrival_s <= now()) {
      GenerationRequest g;
      const TraceRequest& r = t.requests[next];
      for (int32_t i = 0; i < r.prompt_tokens; ++i) g.prompt.push_back(tok(rng));
      g.max_tokens = r.output_tokens;
      g.stop_at_eos = false;
      g.sampling.temperature = 0;
      const size_t k = next;
      g.on_event = [&, k](const StreamEvent& e) { pending.push_back({k, e.finished}); };
      auto id = (*engine)->submit(std::move(g));
      if (!id.ok()) {
        std::fprintf(stderr, "plan_fidelity: submit: %s\n", id.status().to_string().c_str());
        return 1;
      }
      idx[*id] = k;
      ++next;
    }
    const double c0 = thread_cpu_s();
    const bool worked = (*engine)->step();
    const double c1 = thread_cpu_s();
    if (!worked) {
      if (next >= n) break;
      if (cpu_clock) vclock = std::max(vclock, t.requests[next].arrival_s);
      else std::this_thread::sleep_for(std::chrono::duration<double>(std::max(0.0, t.requests[next].arrival_s - now())));
      continue;
    }
    vclock += c1 - c0;
    const double at = now();
    for (auto [k, fin] : pending) {
      if (fin) {
        done[k] = at;
        ++finished;
        continue;
      }
      if (first[k] < 0) first[k] = at;
      last[k] = at;
      tokens[k] += 1;
    }
    pending.clear();
  }
  std::vector<double> m_ttft, m_tpot;
  for (size_t i = 0; i < n; ++i) {
    m_ttft.push_back(first[i] - t.requests[i].arrival_s);
    if (t.requests[i].output_tokens > 1) m_tpot.push_back((last[i] - first[i]) / (t.requests[i].output_tokens - 1));
  }

  // ---- the simulator, calibrated on the profile
  FitResult fit = fit_profile(*prof);
  SimConfig c;
  c.model = prof->model;
  c.colocated = true;
  c.mixed.hardware = prof->hardware;
  c.mixed.instances = 1;
  c.mixed.eff = fit.eff;
  c.mixed.sched = sc;
  auto sim = simulate(c, t);
  if (!sim.ok()) {
    std::fprintf(stderr, "plan_fidelity: %s\n", sim.status().to_string().c_str());
    return 1;
  }
  Distribution mt = distribution_of(m_ttft), mp = distribution_of(m_tpot);
  auto err = [](double pred, double meas) { return meas > 0 ? 100 * (pred - meas) / meas : 0.0; };
  TraceStats st = trace_stats(t);
  if (json) {
    nlohmann::json j;
    j["requests"] = n;
    j["mean_prompt"] = st.mean_prompt;
    j["mean_output"] = st.mean_output;
    j["rate"] = st.rate;
    j["clock"] = cpu_clock ? "thread_cpu" : "wall";
    j["fit_mean_abs_rel_err"] = fit.mean_abs_rel_err;
    j["measured"] = {{"ttft_p50", mt.p50}, {"ttft_p90", mt.p90}, {"tpot_p50", mp.p50}, {"tpot_p90", mp.p90}};
    j["predicted"] = {{"ttft_p50", sim->ttft.p50}, {"ttft_p90", sim->ttft.p90}, {"tpot_p50", sim->tpot.p50},
                      {"tpot_p90", sim->tpot.p90}};
    j["sim_utilisation"] = sim->pools[0].utilisation;
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("slice: %zu requests of %s from %.0f s, prompts x%.4g (mean %.1f, max %d), outputs x%.4g (mean %.1f, max %d), arrivals x%.3g faster (%.2f req/s)\n",
              n, trace->name.c_str(), x.start_s, x.token_scale, st.mean_prompt, x.max_prompt, x.output_scale,
              st.mean_output, x.max_output, x.rate_scale, st.rate);
  std::printf("clock: %s; profile fit error mean %.1f%% (max %.1f%%); simulated utilisation %.0f%%\n",
              cpu_clock ? "engine thread CPU time (virtual)" : "wall", 100 * fit.mean_abs_rel_err,
              100 * fit.max_abs_rel_err, 100 * sim->pools[0].utilisation);
  std::printf("%-10s %12s %12s %8s\n", "metric", "measured ms", "predicted ms", "error");
  std::printf("%-10s %12.3f %12.3f %+7.1f%%\n", "TTFT p50", 1e3 * mt.p50, 1e3 * sim->ttft.p50, err(sim->ttft.p50, mt.p50));
  std::printf("%-10s %12.3f %12.3f %+7.1f%%\n", "TTFT p90", 1e3 * mt.p90, 1e3 * sim->ttft.p90, err(sim->ttft.p90, mt.p90));
  std::printf("%-10s %12.3f %12.3f %+7.1f%%\n", "TPOT p50", 1e3 * mp.p50, 1e3 * sim->tpot.p50, err(sim->tpot.p50, mp.p50));
  std::printf("%-10s %12.3f %12.3f %+7.1f%%\n", "TPOT p90", 1e3 * mp.p90, 1e3 * sim->tpot.p90, err(sim->tpot.p90, mp.p90));
  return 0;
}
