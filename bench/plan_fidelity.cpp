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
// Calibration: with --profile FILE the cost model is fitted to that profile.
// Without it, the whole-engine-step profile (bench/engine_profile.h) runs in
// this process, interleaved with the replay: --rounds R times {one timed run
// of every profile scenario; one replay}, so that calibration and replay see
// the same machine conditions (other tenants come and go within minutes).
// Within a round the replay is paused and resumed between the profile's
// scenario runs (--interleave N replay steps at a time, default 100; 0: the
// whole replay after the profile), so conditions that change within seconds
// also reach both alike; on the CPU clock a pause costs the replay nothing.
// The fit uses the profile only (each step's mean over the rounds,
// bench::mean_step_seconds); the replay is then predicted. Printed: measured
// percentiles as the median over rounds (and their range), the prediction,
// and the per-round errors (round k's profile alone predicting round k's
// replay) as the spread.
//
// Usage: plan_fidelity --model DIR|GGUF --trace F [--profile P.json] [--rounds R]
//        [--limit N] [--token-scale S] [--output-scale S] [--rate-scale S]
//        [--max-prompt N] [--max-output N] [--start S] [--clock cpu|wall] [--json]
//        [--interleave N] [--oracle] [--dump RAW.json]  (every profile and replay step, for offline diagnosis)
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "bench/engine_profile.h"
#include "bench/roofline.h"
#include "engine/after_prompt.h"
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

struct Percentiles {
  double ttft_p50 = 0, ttft_p90 = 0, tpot_p50 = 0, tpot_p90 = 0;
  std::vector<ProfilePoint> steps;  // the replay's steps, for the diagnosis only (never fitted)
  std::vector<std::vector<StepChunkShape>> shapes;  // the same steps' chunks (--dump)
  std::vector<std::pair<double, double>> requests;   // per request: TTFT, TPOT (-1: one token) (--dump)
  std::vector<std::pair<size_t, size_t>> request_steps;  // per request: steps (1-based) of its first and last token
};

// Replays `t` through a fresh engine, resumably: advance() runs up to a
// number of steps, so that the profile's scenario runs can be interleaved
// with the replay (with the CPU clock the pauses cost the replay nothing).
class Replayer {
 public:
  Replayer(const LoadedModel& loaded, const Trace& t, bool cpu_clock)
      : loaded_(loaded), t_(t), cpu_clock_(cpu_clock), n_(t.requests.size()), first_(n_, -1), last_(n_, -1),
        tok_(3, loaded.model->config().vocab_size - 1) {}

  Status start(const SchedulerConfig& sc) {
    EngineConfig ec;
    ec.scheduler = sc;
    TANDEM_ASSIGN_OR_RETURN(engine_, Engine::create(*loaded_.model, *loaded_.tokenizer, ec, &pool_));
    w0_ = wall_s();
    return ok_status();
  }
  bool done() const { return finished_ >= n_ || stalled_; }

  // Runs up to `max_steps` engine steps that compute something.
  Status advance(size_t max_steps) {
    size_t ran = 0;
    while (!done() && ran < max_steps) {
      while (next_ < n_ && t_.requests[next_].arrival_s <= now()) {
        GenerationRequest g;
        const TraceRequest& r = t_.requests[next_];
        for (int32_t i = 0; i < r.prompt_tokens; ++i) g.prompt.push_back(tok_(rng_));
        g.max_tokens = r.output_tokens;
        g.stop_at_eos = false;
        g.sampling.temperature = 0;
        const size_t k = next_;
        g.on_event = [this, k](const StreamEvent& e) { pending_.push_back({k, e.finished}); };
        TANDEM_RETURN_IF_ERROR(engine_->submit(std::move(g)).status());
        ++next_;
      }
      const double c0 = thread_cpu_s();
      const bool worked = engine_->step();
      const double c1 = thread_cpu_s();
      if (!worked) {
        if (next_ >= n_) {
          stalled_ = true;
          break;
        }
        if (cpu_clock_) vclock_ = std::max(vclock_, t_.requests[next_].arrival_s);
        else std::this_thread::sleep_for(std::chrono::duration<double>(std::max(0.0, t_.requests[next_].arrival_s - now())));
        continue;
      }
      vclock_ += c1 - c0;
      if (!engine_->last_step_shape().empty()) {
        ProfilePoint q;
        bool prompt = false;
        for (const StepChunkShape& c : engine_->last_step_shape()) {
          q.work.add_chunk(c.start, c.len, c.sample);
          prompt |= c.len > 1;
        }
        q.work.after_prompt = after_prompt_.step(prompt);
        q.seconds = c1 - c0;
        q.kind = prompt ? "with a prompt chunk" : "decodes only";
        out_.steps.push_back(std::move(q));
        out_.shapes.push_back(engine_->last_step_shape());
        ++ran;
      }
      const double at = now();
      for (auto [k, fin] : pending_) {
        if (fin) {
          ++finished_;
          continue;
        }
        if (first_[k] < 0) {
          first_[k] = at;
          first_step_[k] = out_.steps.size();
        }
        last_[k] = at;
        last_step_[k] = out_.steps.size();
      }
      pending_.clear();
    }
    return ok_status();
  }

  // TTFT and TPOT percentiles, and the steps; after done().
  Percentiles result() {
    std::vector<double> ttft, tpot;
    for (size_t i = 0; i < n_; ++i) {
      ttft.push_back(first_[i] - t_.requests[i].arrival_s);
      out_.requests.push_back({ttft.back(), -1});
      out_.request_steps.push_back({first_step_[i], last_step_[i]});
      if (t_.requests[i].output_tokens > 1) {
        tpot.push_back((last_[i] - first_[i]) / (t_.requests[i].output_tokens - 1));
        out_.requests.back().second = tpot.back();
      }
    }
    const Distribution a = distribution_of(ttft), b = distribution_of(tpot);
    out_.ttft_p50 = a.p50;
    out_.ttft_p90 = a.p90;
    out_.tpot_p50 = b.p50;
    out_.tpot_p90 = b.p90;
    return std::move(out_);
  }

 private:
  double now() const { return cpu_clock_ ? vclock_ : wall_s() - w0_; }

  const LoadedModel& loaded_;
  const Trace& t_;
  const bool cpu_clock_;
  const size_t n_;
  ThreadPool pool_{1};
  std::unique_ptr<Engine> engine_;
  std::vector<double> first_, last_;
  std::vector<size_t> first_step_ = std::vector<size_t>(n_), last_step_ = std::vector<size_t>(n_);
  std::vector<std::pair<size_t, bool>> pending_;  // events of the running step
  Percentiles out_;
  std::mt19937 rng_{7};
  std::uniform_int_distribution<int32_t> tok_;
  double vclock_ = 0, w0_ = 0;
  size_t next_ = 0, finished_ = 0;
  AfterPromptCounter after_prompt_;
  bool stalled_ = false;
};

struct Prediction {
  Percentiles p;
  FitResult fit;
  double utilisation = 0;
};

Result<Prediction> predict(const Profile& prof, const SchedulerConfig& sc, const Trace& t) {
  Prediction out;
  out.fit = fit_profile(prof);
  SimConfig c;
  c.model = prof.model;
  c.colocated = true;
  c.mixed.hardware = prof.hardware;
  c.mixed.instances = 1;
  c.mixed.eff = out.fit.eff;
  c.mixed.sched = sc;
  TANDEM_ASSIGN_OR_RETURN(SimResult sim, simulate(c, t));
  out.p = {sim.ttft.p50, sim.ttft.p90, sim.tpot.p50, sim.tpot.p90, {}, {}, {}, {}};
  for (const RequestRecord& r : sim.records) out.p.requests.push_back({r.ttft_s, r.tpot_s});
  out.utilisation = sim.pools[0].utilisation;
  return out;
}

// A profile (as tandem bench profile --json writes it) from in-process points.
Result<Profile> make_profile(const Model& model, const bench::Roofline& roof, const std::vector<bench::StepPoint>& pts) {
  nlohmann::json j;
  j["model_config"] = nlohmann::json::parse(bench::profile_model_config_json(model, "local"));
  j["roofline"] = nlohmann::json::parse(bench::roofline_to_json(roof));
  nlohmann::json arr = nlohmann::json::array();
  for (const bench::StepPoint& p : pts) {
    nlohmann::json ch = nlohmann::json::array();
    for (const bench::StepChunk& c : p.chunks) ch.push_back({c.start, c.len, c.sample ? 1 : 0});
    arr.push_back({{"kind", p.kind}, {"chunks", ch}, {"seconds", p.seconds}, {"after_prompt", p.after_prompt}});
  }
  j["points"] = arr;
  return parse_profile(j.dump(), "in-process engine profile");
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> opt = {{"limit", "60"}, {"token-scale", "0.0625"}, {"output-scale", "0.125"},
                                            {"rate-scale", "4"}, {"max-prompt", "160"}, {"max-output", "80"},
                                            {"start", "600"}, {"clock", "cpu"}, {"rounds", "5"}, {"max-batch", "32"},
                                            {"interleave", "100"}};
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json") {
      json = true;
    } else if (a == "--oracle") {
      opt["oracle"] = "1";
    } else if (a.rfind("--", 0) == 0 && i + 1 < argc) {
      opt[a.substr(2)] = argv[++i];
    }
  }
  for (const char* k : {"model", "trace"})
    if (!opt.count(k)) {
      std::fprintf(stderr, "plan_fidelity: --%s is required\n", k);
      return 2;
    }
  auto loaded = load_model(opt["model"]);
  auto trace = load_trace(opt["trace"]);
  if (!loaded.ok() || !trace.ok()) {
    std::fprintf(stderr, "plan_fidelity: %s %s\n", loaded.status().to_string().c_str(),
                 trace.status().to_string().c_str());
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
  const int rounds = std::max(1, std::atoi(opt["rounds"].c_str()));

  // One scheduler config for both.
  SchedulerConfig sc;
  sc.n_blocks = std::atoi(opt.count("blocks") ? opt["blocks"].c_str() : "64");
  sc.block_size = 16;
  sc.max_step_tokens = 256;
  sc.max_chunk_tokens = 128;
  sc.max_step_seqs = 32;
  sc.batch_reserved_tokens = 0;
  sc.preemption = PreemptionMode::kRecompute;

  auto fail = [](const Status& st) {
    std::fprintf(stderr, "plan_fidelity: %s\n", st.to_string().c_str());
    return 1;
  };
  std::optional<Profile> file_profile;
  if (opt.count("profile")) {
    auto prof = load_profile(opt["profile"]);
    if (!prof.ok()) return fail(prof.status());
    file_profile = *prof;
  }
  bench::Roofline roof;
  ThreadPool pool(1);
  if (!file_profile) {
    bench::RooflineOptions ro;
    ro.seconds = 1.5;
    ro.mem_bytes = size_t(256) << 20;
    auto r = bench::measure_roofline(ro, pool);
    if (!r.ok()) return fail(r.status());
    roof = *r;
  }
  bench::EngineProfileOptions eo;
  eo.reps = 1;
  eo.max_batch = std::atoi(opt["max-batch"].c_str());
  eo.cpu_time = cpu_clock;
  std::vector<Percentiles> measured;
  std::vector<Prediction> per_round;
  std::vector<bench::StepPoint> pooled;  // samples of every round
  // Replay steps run between two scenario runs of the profile (0: the whole
  // replay after the round's profile). The profile makes 2 runs of each of
  // its scenarios per round.
  const size_t slice_steps = size_t(std::max(0, std::atoi(opt["interleave"].c_str())));
  for (int k = 0; k < rounds; ++k) {
    Replayer rep(*loaded, t, cpu_clock);
    if (Status st = rep.start(sc); !st.ok()) return fail(st);
    if (!file_profile) {
      if (slice_steps > 0) eo.between = [&rep, slice_steps] { return rep.advance(slice_steps); };
      auto pts = bench::run_engine_profile(*loaded->model, *loaded->tokenizer, eo, pool, nullptr);
      if (!pts.ok()) return fail(pts.status());
      if (k == 0) pooled = *pts;
      else {
        if (pts->size() != pooled.size()) return fail(internal_error("profile rounds differ in steps"));
        for (size_t i = 0; i < pts->size(); ++i)
          pooled[i].samples.insert(pooled[i].samples.end(), (*pts)[i].samples.begin(), (*pts)[i].samples.end());
      }
      auto prof = make_profile(*loaded->model, roof, *pts);
      if (!prof.ok()) return fail(prof.status());
      auto pr = predict(*prof, sc, t);
      if (!pr.ok()) return fail(pr.status());
      per_round.push_back(*pr);
    }
    while (!rep.done())
      if (Status st = rep.advance(size_t(1) << 20); !st.ok()) return fail(st);
    measured.push_back(rep.result());
  }
  for (bench::StepPoint& p : pooled) p.seconds = bench::mean_step_seconds(p.samples);
  Profile prof;
  if (file_profile) {
    prof = *file_profile;
  } else {
    auto pp = make_profile(*loaded->model, roof, pooled);
    if (!pp.ok()) return fail(pp.status());
    prof = *pp;
  }
  auto pred = predict(prof, sc, t);
  if (!pred.ok()) return fail(pred.status());

  using Field = double Percentiles::*;
  const std::vector<std::pair<const char*, Field>> fields = {{"ttft_p50", &Percentiles::ttft_p50},
                                                             {"ttft_p90", &Percentiles::ttft_p90},
                                                             {"tpot_p50", &Percentiles::tpot_p50},
                                                             {"tpot_p90", &Percentiles::tpot_p90}};
  auto err = [](double p, double m) { return m > 0 ? 100 * (p - m) / m : 0.0; };
  TraceStats st = trace_stats(t);
  nlohmann::json j;
  j["requests"] = t.requests.size();
  j["mean_prompt"] = st.mean_prompt;
  j["mean_output"] = st.mean_output;
  j["rate"] = st.rate;
  j["clock"] = cpu_clock ? "thread_cpu" : "wall";
  j["rounds"] = rounds;
  j["profile"] = file_profile ? opt["profile"] : "in-process engine steps, interleaved";
  j["fit_mean_abs_rel_err"] = pred->fit.mean_abs_rel_err;
  j["fit"] = {{"compute_eff", pred->fit.eff.compute}, {"attention_eff", pred->fit.eff.attention},
              {"memory_eff", pred->fit.eff.memory}, {"overlap", pred->fit.eff.overlap},
              {"step_overhead_s", pred->fit.eff.step_overhead_s}, {"seq_overhead_s", pred->fit.eff.seq_overhead_s},
              {"batch_overhead_s", pred->fit.eff.batch_overhead_s},
              {"small_batch_tokens", pred->fit.eff.small_batch_tokens},
              {"after_prompt_s", pred->fit.eff.after_prompt_s}, {"after_prompt_decay", pred->fit.eff.after_prompt_decay}};
  j["sim_utilisation"] = pred->utilisation;
  for (const auto& [name, f] : fields) {
    std::vector<double> ms;
    for (const Percentiles& m : measured) ms.push_back(m.*f);
    const double med = median(ms);
    j["measured"][name] = med;
    j["measured_min"][name] = *std::min_element(ms.begin(), ms.end());
    j["measured_max"][name] = *std::max_element(ms.begin(), ms.end());
    j["predicted"][name] = pred->p.*f;
    j["error_pct"][name] = err(pred->p.*f, med);
    nlohmann::json rounds_err = nlohmann::json::array();
    for (size_t k = 0; k < per_round.size(); ++k) rounds_err.push_back(err(per_round[k].p.*f, measured[k].*f));
    j["round_error_pct"][name] = rounds_err;
  }
  // Diagnosis (not calibration): the fitted cost model against the replay's
  // own steps, summed per kind, over all rounds.
  {
    CostModel cm(prof.model, prof.hardware, 1, pred->fit.eff);
    std::map<std::string, std::pair<double, double>> sums;  // kind -> (measured, predicted)
    for (const Percentiles& m : measured)
      for (const ProfilePoint& q : m.steps) {
        sums[q.kind].first += q.seconds;
        sums[q.kind].second += cm.step_time(q.work);
      }
    for (const auto& [kind, v] : sums) j["replay_steps_error_pct"][kind] = err(v.second, v.first);
  }
  // Diagnosis (--oracle, never the reported prediction): the cost model fitted
  // to the replay's own steps, simulated. What remains of the error then is
  // the simulator's schedule or the model's form, not the calibration.
  if (opt.count("oracle")) {
    Profile own = prof;
    own.points.clear();
    own.points = measured[measured.size() / 2].steps;  // one round's: the fit's cost grows with the points
    auto o = predict(own, sc, t);
    if (!o.ok()) return fail(o.status());
    for (const auto& [name, f] : fields) j["oracle_error_pct"][name] = err(o->p.*f, j["measured"][name].get<double>());
    j["oracle_fit_mean_abs_rel_err"] = o->fit.mean_abs_rel_err;
  }
  if (opt.count("dump")) {
    // Raw steps for offline diagnosis: the pooled profile and every round's
    // replay, each step's chunks [start, len, sample] and seconds.
    nlohmann::json d;
    d["profile"] = nlohmann::json::array();
    for (const bench::StepPoint& p : pooled) {
      nlohmann::json ch = nlohmann::json::array();
      for (const bench::StepChunk& c : p.chunks) ch.push_back({c.start, c.len, c.sample ? 1 : 0});
      d["profile"].push_back({{"kind", p.kind},
                              {"chunks", ch},
                              {"seconds", p.seconds},
                              {"samples", p.samples},
                              {"after_prompt", p.after_prompt}});
    }
    d["replay"] = nlohmann::json::array();
    for (const Percentiles& m : measured) {
      nlohmann::json round = nlohmann::json::array();
      for (size_t i = 0; i < m.steps.size(); ++i) {
        nlohmann::json ch = nlohmann::json::array();
        for (const StepChunkShape& c : m.shapes[i]) ch.push_back({c.start, c.len, c.sample ? 1 : 0});
        round.push_back(
            {{"chunks", ch}, {"seconds", m.steps[i].seconds}, {"after_prompt", m.steps[i].work.after_prompt}});
      }
      d["replay"].push_back(round);
    }
    d["summary"] = j;
    d["measured_requests"] = nlohmann::json::array();
    for (const Percentiles& m : measured) d["measured_requests"].push_back(m.requests);
    d["request_steps"] = nlohmann::json::array();
    for (const Percentiles& m : measured) d["request_steps"].push_back(m.request_steps);
    d["predicted_requests"] = pred->p.requests;
    d["trace"] = nlohmann::json::array();
    for (const TraceRequest& r : t.requests) d["trace"].push_back({r.arrival_s, r.prompt_tokens, r.output_tokens});
    const ModelSpec& ms = prof.model;
    d["constants"] = {{"matmul_flops_per_token", ms.matmul_flops_per_token()}, {"head_flops", ms.head_flops()},
                      {"attn_flops_per_position", ms.attn_flops_per_position()},
                      {"kv_bytes_per_token", ms.kv_bytes_per_token()},
                      {"dense_weight_bytes", ms.always_params() * ms.weight_bytes},
                      {"head_bytes", ms.head_params() * ms.weight_bytes},
                      {"embedding_row_bytes", double(ms.hidden) * ms.weight_bytes},
                      {"peak_flops", prof.hardware.flops_for(ms.compute_dtype)}, {"mem_bw", prof.hardware.mem_bw}};
    std::FILE* f = std::fopen(opt["dump"].c_str(), "w");
    if (f == nullptr) return fail(invalid_argument("cannot write " + opt["dump"]));
    const std::string text = d.dump();
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  if (json) {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("slice: %zu requests of %s from %.0f s, prompts x%.4g (mean %.1f, max %d), outputs x%.4g (mean %.1f, max %d), arrivals x%.3g faster (%.2f req/s)\n",
              t.requests.size(), trace->name.c_str(), x.start_s, x.token_scale, st.mean_prompt, x.max_prompt,
              x.output_scale, st.mean_output, x.max_output, x.rate_scale, st.rate);
  std::printf("clock: %s; profile: %s; %d rounds; fit error mean %.1f%% (max %.1f%%) over %d points; simulated utilisation %.0f%%\n",
              cpu_clock ? "engine thread CPU time (virtual)" : "wall", j["profile"].get<std::string>().c_str(), rounds,
              100 * pred->fit.mean_abs_rel_err, 100 * pred->fit.max_abs_rel_err, pred->fit.n_points,
              100 * pred->utilisation);
  {
    const Efficiency& e = pred->fit.eff;
    std::printf("fit: compute %.3f, attention %.3f, memory %.3f of the measured roofline, overlap %.1f; overheads "
                "%.3f ms per step + %.4f ms per sequence + %.3f ms above %lld tokens + %.3f ms x %.2f^(k-1) on the "
                "k-th decode step after a prompt\n",
                e.compute, e.attention, e.memory, e.overlap, 1e3 * e.step_overhead_s, 1e3 * e.seq_overhead_s,
                1e3 * e.batch_overhead_s, (long long)e.small_batch_tokens, 1e3 * e.after_prompt_s,
                e.after_prompt_decay);
  }
  std::printf("%-10s %12s %17s %12s %8s  %s\n", "metric", "measured ms", "(range)", "predicted ms", "error",
              "per-round errors");
  for (const auto& [name, f] : fields) {
    std::string rs;
    for (double e : j["round_error_pct"][name]) {
      char b[16];
      std::snprintf(b, sizeof b, " %+.0f%%", e);
      rs += b;
    }
    std::printf("%-10s %12.3f  (%6.3f-%6.3f) %12.3f %+7.1f%% %s\n", name, 1e3 * j["measured"][name].get<double>(),
                1e3 * j["measured_min"][name].get<double>(), 1e3 * j["measured_max"][name].get<double>(),
                1e3 * pred->p.*f, j["error_pct"][name].get<double>(), rs.c_str());
  }
  if (j.contains("oracle_error_pct"))
    std::printf("diagnosis only, cost model fitted to the replay's own steps (fit error %.1f%%): TTFT p50 %+.1f%%, "
                "p90 %+.1f%%, TPOT p50 %+.1f%%, p90 %+.1f%%\n",
                100 * j["oracle_fit_mean_abs_rel_err"].get<double>(), j["oracle_error_pct"]["ttft_p50"].get<double>(),
                j["oracle_error_pct"]["ttft_p90"].get<double>(), j["oracle_error_pct"]["tpot_p50"].get<double>(),
                j["oracle_error_pct"]["tpot_p90"].get<double>());
  for (const auto& [kind, e] : j["replay_steps_error_pct"].items())
    std::printf("cost model on the replay's own steps (%s): total time %+.1f%%\n", kind.c_str(), e.get<double>());
  return 0;
}
