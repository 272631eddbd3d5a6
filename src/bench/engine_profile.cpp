#include "bench/engine_profile.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>

#include "base/check.h"
#include "engine/after_prompt.h"
#include "engine/engine.h"

namespace tandem::bench {
namespace {

struct Arrival {
  int32_t at_step = 0;  // submitted before this step of the run
  int32_t prompt = 0;
  int32_t output = 0;
};

struct Scenario {
  std::string kind;
  int32_t chunk = 0;  // max_chunk_tokens of the scheduler
  std::vector<Arrival> arrivals;
};

std::vector<Scenario> scenarios(int32_t C, int32_t max_batch) {
  std::vector<Scenario> s;
  for (int32_t b = 1; b <= max_batch; b *= 2) {
    Scenario d{"engine-decode", C, {}};
    for (int32_t i = 0; i < b; ++i) d.arrivals.push_back({0, std::max(1, C / 8), C / 2});
    s.push_back(d);
  }
  for (int32_t len = 8; len <= std::min(C / 2, 512); len *= 2) s.push_back({"engine-prefill", C, {{0, len, 2}}});
  s.push_back({"engine-prefill", C, {{0, C - 8, 2}}});
  for (int32_t chunk : {C / 8, C / 4}) s.push_back({"engine-chunked", chunk, {{0, C - 8, 2}}});
  Scenario st{"engine-staggered", C / 4, {}};
  for (int32_t i = 0; i < std::max(2, max_batch / 2); ++i) st.arrivals.push_back({4 * i, C / 4, C / 4});
  s.push_back(st);
  // Light load, as a served trace mostly runs: prompts of C/32 .. C/2 and
  // outputs of C/32 .. C/4 tokens in a fixed pseudo-random order, one arrival
  // every `gap` steps, so one to a few decodes run beside a prompt chunk of
  // any length and between arrivals (the decode scenario's batches are large
  // and its prompt steps all alike).
  for (int32_t gap : {12, 5}) {
    Scenario li{"engine-light", C / 2, {}};
    uint32_t x = 12345u + static_cast<uint32_t>(gap);
    auto next = [&x](int32_t lo, int32_t hi) {  // LCG: the same on every platform
      x = x * 1664525u + 1013904223u;
      return lo + static_cast<int32_t>((x >> 8) % static_cast<uint32_t>(hi - lo + 1));
    };
    for (int32_t i = 0; i < 24; ++i) {
      const int32_t prompt = next(std::max(1, C / 32), C / 2);
      li.arrivals.push_back({gap * i, prompt, next(std::max(2, C / 32), C / 4)});
    }
    s.push_back(li);
  }
  return s;
}

double clock_s(bool cpu_time) {
  if (!cpu_time) return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct TimedStep {
  std::vector<StepChunk> chunks;
  int64_t after_prompt = 0;
};

bool same_shape(const std::vector<StepChunk>& a, const std::vector<StepChunk>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].start != b[i].start || a[i].len != b[i].len || a[i].sample != b[i].sample) return false;
  return true;
}

}  // namespace

double mean_step_seconds(const std::vector<double>& samples) {
  TANDEM_CHECK(!samples.empty(), "mean_step_seconds: no samples");
  std::vector<double> v = samples;
  std::sort(v.begin(), v.end());
  const double cap = 3.0 * v[v.size() / 2];
  double sum = 0;
  for (double x : v) sum += std::min(x, cap);
  return sum / double(v.size());
}

Result<std::vector<StepPoint>> run_engine_profile(const Model& model, const Tokenizer& tokenizer,
                                                  const EngineProfileOptions& o, ThreadPool& pool,
                                                  const std::function<void(const std::string&)>& progress) {
  const ModelConfig& mc = model.config();
  const int32_t C = o.max_context > 0 ? o.max_context : std::min(mc.max_position > 0 ? mc.max_position : 2048, 2048);
  if (C < 32) return invalid_argument("engine profile: context of at least 32 tokens needed");
  if (o.reps < 1 || o.max_batch < 1) return invalid_argument("engine profile: reps and max_batch must be >= 1");
  EngineConfig ec;
  SchedulerConfig& sc = ec.scheduler;
  sc.block_size = 16;
  sc.n_blocks = (o.max_batch + 1) * ((C + sc.block_size - 1) / sc.block_size);  // nothing is ever preempted
  sc.max_seq_len = C;
  sc.max_step_tokens = 2 * C;
  sc.max_step_seqs = std::max(64, o.max_batch + 1);
  sc.batch_reserved_tokens = 0;
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<int32_t> tok(3, mc.vocab_size - 1);

  std::vector<StepPoint> out;
  for (const Scenario& sc_run : scenarios(C, o.max_batch)) {
    sc.max_chunk_tokens = sc_run.chunk;
    std::vector<TimedStep> steps;
    std::vector<std::vector<double>> samples;
    // One engine for every run: the first (untimed) run sizes its scratch
    // buffers, as in a long-running server.
    TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::create(model, tokenizer, ec, &pool));
    for (int32_t run = 0; run <= o.reps; ++run) {
      // Fresh random prompts every run: the prefix cache (on, as in a served
      // engine) never hits, and the steps' shapes do not depend on tokens.
      std::vector<std::vector<int32_t>> prompts;
      for (const Arrival& a : sc_run.arrivals) {
        std::vector<int32_t> p(size_t(a.prompt));
        for (int32_t& t : p) t = tok(rng);
        prompts.push_back(std::move(p));
      }
      size_t next = 0;
      int32_t step = 0;
      size_t k = 0;  // index of the model step within the run
      AfterPromptCounter after_prompt;
      while (true) {
        while (next < sc_run.arrivals.size() && sc_run.arrivals[next].at_step <= step) {
          GenerationRequest g;
          g.prompt = prompts[next];
          g.max_tokens = sc_run.arrivals[next].output;
          g.stop_at_eos = false;
          g.sampling.temperature = 0;
          g.on_event = [](const StreamEvent&) {};
          TANDEM_RETURN_IF_ERROR(engine->submit(std::move(g)).status());
          ++next;
        }
        const double t0 = clock_s(o.cpu_time);
        const bool worked = engine->step();
        const double t1 = clock_s(o.cpu_time);
        ++step;
        const auto& shape = engine->last_step_shape();
        if (!shape.empty()) {
          std::vector<StepChunk> chunks;
          bool prompt = false;
          for (const StepChunkShape& c : shape) {
            chunks.push_back({c.start, c.len, c.sample});
            prompt |= c.len > 1;
          }
          const int64_t steps_after_prompt = after_prompt.step(prompt);
          if (run == 0) {
            steps.push_back({std::move(chunks), steps_after_prompt});
            samples.emplace_back();
          } else {
            if (k >= steps.size() || !same_shape(steps[k].chunks, chunks))
              return internal_error("engine profile: run " + std::to_string(run) + " of " + sc_run.kind +
                                    " made a different step " + std::to_string(k) + " than the first");
            samples[k].push_back(t1 - t0);
          }
          ++k;
        }
        if (!worked && next >= sc_run.arrivals.size()) break;
      }
      if (k != steps.size()) return internal_error("engine profile: runs of " + sc_run.kind + " differ in steps");
      if (o.between) TANDEM_RETURN_IF_ERROR(o.between());
    }
    for (size_t i = 0; i < steps.size(); ++i) {
      StepPoint p{sc_run.kind, steps[i].chunks, 0, samples[i], steps[i].after_prompt};
      p.seconds = mean_step_seconds(samples[i]);
      out.push_back(std::move(p));
    }
    if (progress) {
      double total = 0;
      for (size_t i = out.size() - steps.size(); i < out.size(); ++i) total += out[i].seconds;
      progress(sc_run.kind + ": " + std::to_string(sc_run.arrivals.size()) + " requests, " +
               std::to_string(steps.size()) + " steps, " + std::to_string(total * 1e3) + " ms per run");
    }
  }
  return out;
}

}  // namespace tandem::bench
