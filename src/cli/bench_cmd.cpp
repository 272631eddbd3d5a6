// tandem bench: how fast this machine is (roofline) and how close to it a
// model runs (model). Results go to stdout (a table, or JSON with --json);
// progress goes to stderr.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "base/mapped_file.h"
#include "base/thread_pool.h"
#include "bench/model_bench.h"
#include "bench/roofline.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "model/model.h"
#include "tensor/ops.h"

namespace tandem::cli {
namespace {

const std::vector<FlagSpec> kRooflineFlags = {
    {"json", "", false, "print JSON {mem_bw_gbs, peak_gflops_f32, peak_gops_int8, isa, threads, ...}"},
    {"seconds", "", true, "time budget for the three measurements (default 6)"},
    {"threads", "", true, "threads (default: all cores)"},
    {"mem-mib", "", true, "read buffer in MiB, far larger than the LLC (default 1024)"},
    {"isa", "", true, "widest ISA to use: auto, avx2, portable (default auto)"},
    {"help", "h", false, "show this help"},
};

const std::vector<FlagSpec> kModelFlags = {
    {"model", "m", true, "model directory or .gguf file"},
    {"json", "", false, "print JSON {pp512_tps, tg128_tps, pp512_roofline_pct, ...}"},
    {"reps", "r", true, "timed repetitions of each test (default 3)"},
    {"pp", "", true, "prompt tokens to process (default 512)"},
    {"tg", "", true, "tokens to generate one at a time (default 128)"},
    {"batch", "", true, "also decode this many sequences together, one forward per step (default off)"},
    {"chunk", "", true, "prompt tokens per forward call (default 512)"},
    {"threads", "t", true, "threads (default: all cores)"},
    {"roofline", "", true, "read the roofline from this JSON file (tandem bench roofline --json)"},
    {"roofline-seconds", "", true, "time for the in-process roofline measurement (default 1.5)"},
    {"seed", "", true, "seed of the random token ids (default 1)"},
    {"ops", "", false, "also time each op of the forward pass (matmuls with GFLOP/s and GB/s)"},
    {"help", "h", false, "show this help"},
};

// Multiply-adds per token and weight bytes of the matmul behind a
// ForwardTimes op, over all layers (0 for the other ops).
struct OpWeights {
  double params = 0, bytes = 0;
};
OpWeights op_weights(const Model& m, int op) {
  OpWeights w;
  auto add = [&](const TensorView& t) {
    w.params += static_cast<double>(t.numel());
    w.bytes += static_cast<double>(dtype_row_bytes(t.dtype, t.dim(1))) * static_cast<double>(t.dim(0));
  };
  if (op == ForwardTimes::kHead) {
    add(m.weights().output);
    return w;
  }
  for (const LayerWeights& L : m.weights().layers) {
    switch (op) {
      case ForwardTimes::kQkv: add(L.wq), add(L.wk), add(L.wv); break;
      case ForwardTimes::kWo: add(L.wo); break;
      case ForwardTimes::kGateUp: add(L.w_gate), add(L.w_up); break;
      case ForwardTimes::kDown: add(L.w_down); break;
      default: break;
    }
  }
  return w;
}

// One phase's op times: per forward call, share of the phase, and for the
// matmuls GFLOP/s (rows: tokens through the layers; head_rows: rows through
// the output head) and weight GB/s (one read of the weights per call).
nlohmann::ordered_json op_times_json(const Model& m, const ForwardTimes& t, double rows, double head_rows) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  const double total = t.total();
  for (int op = 0; op < ForwardTimes::kCount; ++op) {
    nlohmann::ordered_json o;
    const double sec = t.seconds[op];
    o["ms_per_call"] = t.calls > 0 ? 1e3 * sec / static_cast<double>(t.calls) : 0.0;
    o["share_pct"] = total > 0 ? 100.0 * sec / total : 0.0;
    const OpWeights w = op_weights(m, op);
    if (w.params > 0 && sec > 0) {
      const double r = op == ForwardTimes::kHead ? head_rows : rows;
      o["gflops"] = 2.0 * w.params * r / sec / 1e9;
      o["weight_gbs"] = w.bytes * static_cast<double>(t.calls) / sec / 1e9;
    }
    j[ForwardTimes::name(op)] = o;
  }
  return j;
}

void print_op_times(const char* phase, const nlohmann::ordered_json& j) {
  std::printf("\n%s by op:\n", phase);
  std::printf("| op        | ms per call | share  | GFLOP/s | weight GB/s |\n");
  std::printf("|-----------|-------------|--------|---------|-------------|\n");
  for (const auto& [name, o] : j.items()) {
    char g[16] = "", b[16] = "";
    if (o.contains("gflops")) {
      std::snprintf(g, sizeof g, "%7.1f", o["gflops"].get<double>());
      std::snprintf(b, sizeof b, "%11.1f", o["weight_gbs"].get<double>());
    }
    std::printf("| %-9s | %11.3f | %5.1f%% | %7s | %11s |\n", name.c_str(), o["ms_per_call"].get<double>(),
                o["share_pct"].get<double>(), g, b);
  }
}

void usage(FILE* out) {
  std::fprintf(out,
               "usage: tandem bench <test> [options]\n"
               "\n"
               "tests:\n"
               "  roofline   memory bandwidth and peak FP32 / INT8 throughput of this machine\n"
               "  model      prompt processing and generation speed of a model (tandem bench model -m PATH)\n"
               "  profile    step time vs batch tokens and context, fitted by the planner's cost model\n"
               "  serve      load an HTTP server: trace replay or N streams (tandem bench serve --url URL ...)\n"
               "\n"
               "Run 'tandem bench <test> --help' for a test's options.\n");
}

// Parses flags; returns 0 to go on, else the exit code (help printed or usage error).
int parse_or_usage(const std::vector<std::string>& argv, const std::vector<FlagSpec>& flags,
                   const char* name, const char* synopsis, Args& out) {
  auto parsed = Args::parse(argv, flags);
  if (!parsed.ok()) {
    std::fprintf(stderr, "tandem bench %s: %s\n\nusage: %s\n\noptions:\n%s", name,
                 parsed.status().message().c_str(), synopsis, Args::help_text(flags).c_str());
    return 2;
  }
  if (parsed->has("help")) {
    std::printf("usage: %s\n\noptions:\n%s", synopsis, Args::help_text(flags).c_str());
    return -1;
  }
  if (!parsed->positional().empty()) {
    std::fprintf(stderr, "tandem bench %s: unexpected argument '%s'\n", name,
                 parsed->positional()[0].c_str());
    return 2;
  }
  out = std::move(*parsed);
  return 0;
}

// The pool the user asked for (--threads), else the process-wide one.
ThreadPool& pick_pool(int64_t threads, std::unique_ptr<ThreadPool>& own) {
  if (threads > 0) {
    own = std::make_unique<ThreadPool>(static_cast<int>(threads));
    return *own;
  }
  return ThreadPool::global();
}

size_t peak_rss_bytes() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<size_t>(ru.ru_maxrss) * 1024;  // Linux reports KiB
}

// Bytes of the model on disk: the file, or a directory's regular files.
size_t model_file_bytes(const std::string& path) {
  std::error_code ec;
  namespace fs = std::filesystem;
  if (fs::is_regular_file(path, ec)) return static_cast<size_t>(fs::file_size(path, ec));
  size_t total = 0;
  for (const auto& e : fs::directory_iterator(path, ec))
    if (e.is_regular_file(ec) && e.path().extension() == ".safetensors")
      total += static_cast<size_t>(e.file_size(ec));
  return total;
}

int run_roofline(const std::vector<std::string>& argv) {
  Args a;
  const char* synopsis = "tandem bench roofline [--json] [--seconds S] [--threads T]";
  if (int rc = parse_or_usage(argv, kRooflineFlags, "roofline", synopsis, a); rc != 0)
    return rc < 0 ? 0 : rc;
  auto seconds = a.get_double("seconds", 6.0);
  auto threads = a.get_int("threads", 0);
  auto mem_mib = a.get_int("mem-mib", 1024);
  auto isa = bench::isa_limit_from_name(a.get("isa").value_or("auto"));
  for (const Status* s : {&seconds.status(), &threads.status(), &mem_mib.status(), &isa.status()}) {
    if (!s->ok()) {
      std::fprintf(stderr, "tandem bench roofline: %s\n", s->message().c_str());
      return 2;
    }
  }
  if (*seconds < 0 || *threads < 0 || *mem_mib < 1) {
    std::fprintf(stderr, "tandem bench roofline: --seconds, --threads must be >= 0, --mem-mib >= 1\n");
    return 2;
  }
  std::unique_ptr<ThreadPool> own;
  ThreadPool& pool = pick_pool(*threads, own);
  bench::RooflineOptions opt;
  opt.seconds = *seconds;
  opt.mem_bytes = static_cast<size_t>(*mem_mib) << 20;
  opt.isa = *isa;
  auto r = bench::measure_roofline(opt, pool);
  if (!r.ok()) {
    std::fprintf(stderr, "tandem bench roofline: %s\n", r.status().to_string().c_str());
    return 1;
  }
  if (a.has("json")) {
    std::printf("%s\n", bench::roofline_to_json(*r).c_str());
  } else {
    std::printf("memory read bandwidth  %8.1f GB/s      (%s loads, %zu MiB buffer)\n", r->mem_bw_gbs,
                r->isa_mem.c_str(), r->mem_bytes >> 20);
    std::printf("peak FP32              %8.1f GFLOP/s   (%s)\n", r->peak_gflops_f32, r->isa_f32.c_str());
    std::printf("peak INT8              %8.1f GOP/s     (%s)\n", r->peak_gops_int8, r->isa_int8.c_str());
    std::printf("threads                %8d\n", r->threads);
  }
  std::fprintf(stderr, "measured in %.1f s\n", r->seconds);
  return 0;
}

int run_model(const std::vector<std::string>& argv) {
  Args a;
  const char* synopsis =
      "tandem bench model -m PATH [--json] [--reps N] [--pp 512] [--tg 128] [--batch B] "
      "[--threads T] [--roofline FILE.json] [--ops]";
  if (int rc = parse_or_usage(argv, kModelFlags, "model", synopsis, a); rc != 0)
    return rc < 0 ? 0 : rc;
  if (!a.get("model")) {
    std::fprintf(stderr, "tandem bench model: -m PATH is required\n");
    return 2;
  }
  auto reps = a.get_int("reps", 3);
  auto pp = a.get_int("pp", 512);
  auto tg = a.get_int("tg", 128);
  auto batch = a.get_int("batch", 0);
  auto chunk = a.get_int("chunk", 512);
  auto threads = a.get_int("threads", 0);
  auto seed = a.get_int("seed", 1);
  auto rl_seconds = a.get_double("roofline-seconds", 1.5);
  for (const Status* s : {&reps.status(), &pp.status(), &tg.status(), &batch.status(),
                          &chunk.status(), &threads.status(), &seed.status(), &rl_seconds.status()}) {
    if (!s->ok()) {
      std::fprintf(stderr, "tandem bench model: %s\n", s->message().c_str());
      return 2;
    }
  }
  constexpr int64_t kMax = 1 << 20;
  auto in_range = [&](int64_t v, int64_t lo) { return v >= lo && v <= kMax; };
  if (!in_range(*reps, 1) || !in_range(*pp, 1) || !in_range(*tg, 1) || !in_range(*batch, 0) ||
      !in_range(*chunk, 1) || !in_range(*threads, 0) || *rl_seconds < 0) {
    std::fprintf(stderr,
                 "tandem bench model: --reps, --pp, --tg, --chunk must be >= 1, --batch and "
                 "--threads >= 0\n");
    return 2;
  }
  // Read the roofline file first: a typo should not cost a whole benchmark.
  std::optional<bench::Roofline> roofline;
  if (auto path = a.get("roofline")) {
    auto text = read_file(*path);
    if (!text.ok()) {
      std::fprintf(stderr, "tandem bench model: %s\n", text.status().to_string().c_str());
      return 1;
    }
    auto r = bench::roofline_from_json(*text, *path);
    if (!r.ok()) {
      std::fprintf(stderr, "tandem bench model: %s\n", r.status().to_string().c_str());
      return 1;
    }
    roofline = *r;
  }

  const std::string path = *a.get("model");
  const auto t_load = std::chrono::steady_clock::now();
  auto model = Model::load(path);
  if (!model.ok()) {
    std::fprintf(stderr, "tandem bench model: %s\n", model.status().to_string().c_str());
    return 1;
  }
  const Model& m = **model;
  const ModelConfig& c = m.config();
  std::fprintf(stderr, "loaded %s in %.2f s\n", path.c_str(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count());

  std::unique_ptr<ThreadPool> own;
  ThreadPool& pool = pick_pool(*threads, own);
  bench::ModelBenchOptions opt;
  opt.pp_tokens = static_cast<int32_t>(*pp);
  opt.tg_tokens = static_cast<int32_t>(*tg);
  opt.reps = static_cast<int32_t>(*reps);
  opt.batch = static_cast<int32_t>(*batch);
  opt.chunk_tokens = static_cast<int32_t>(*chunk);
  opt.seed = static_cast<uint64_t>(*seed);
  opt.op_times = a.has("ops");
  auto res = bench::run_model_bench(m, opt, pool, [](const std::string& line) {
    std::fprintf(stderr, "%s\n", line.c_str());
  });
  if (!res.ok()) {
    std::fprintf(stderr, "tandem bench model: %s\n", res.status().to_string().c_str());
    return 1;
  }
  // Rows each phase sent through the layers and through the output head.
  struct OpPhase {
    std::string name;
    double rows, head_rows;
    const ForwardTimes* times;
  };
  std::vector<OpPhase> op_phases;
  if (opt.op_times) {
    const double pp_calls = static_cast<double>(res->pp_ops.calls), tg_calls = static_cast<double>(res->tg_ops.calls);
    op_phases.push_back({"pp" + std::to_string(opt.pp_tokens), static_cast<double>(opt.pp_tokens) * opt.reps, pp_calls,
                         &res->pp_ops});
    op_phases.push_back({"tg" + std::to_string(opt.tg_tokens), tg_calls, tg_calls, &res->tg_ops});
    if (opt.batch > 1) {
      const double rows = static_cast<double>(res->tg_batch_ops.calls) * opt.batch;
      op_phases.push_back({"tg" + std::to_string(opt.tg_tokens) + " x" + std::to_string(opt.batch), rows, rows,
                           &res->tg_batch_ops});
    }
  }
  // Peak RSS before the roofline's read buffer can raise it.
  const size_t peak_rss = peak_rss_bytes();
  std::string roofline_source = a.get("roofline").value_or("");
  if (!roofline) {
    std::fprintf(stderr, "measuring the roofline (%.1f s)...\n", *rl_seconds);
    bench::RooflineOptions ro;
    ro.seconds = *rl_seconds;
    auto r = bench::measure_roofline(ro, pool);
    if (!r.ok()) {
      std::fprintf(stderr, "tandem bench model: %s\n", r.status().to_string().c_str());
      return 1;
    }
    roofline = *r;
    roofline_source = "measured";
  }

  const bench::ModelCost cost = bench::model_cost(m);
  const double pp_flops_per_token =
      bench::prefill_flops(c, cost, opt.pp_tokens, opt.chunk_tokens) / opt.pp_tokens;
  const double pp_tps = res->pp.mean(), tg_tps = res->tg.mean();
  const double pp_pct = 100.0 * pp_flops_per_token * pp_tps / (roofline->peak_gflops_f32 * 1e9);
  const double tg_pct = 100.0 * cost.tg_bytes_per_token * tg_tps / (roofline->mem_bw_gbs * 1e9);
  const std::string dtype(dtype_name(m.weight_dtype()));
  const size_t file_bytes = model_file_bytes(path);

  if (a.has("json")) {
    nlohmann::ordered_json j;
    j["model"] = path;
    j["arch"] = arch_name(c.arch);
    j["dtype"] = dtype;
    j["params"] = static_cast<int64_t>(cost.params);
    j["model_file_bytes"] = file_bytes;
    j["threads"] = pool.size();
    j["kernels"] = ops::isa_name(ops::active_isa());
    j["reps"] = opt.reps;
    j["pp_tokens"] = opt.pp_tokens;
    j["tg_tokens"] = opt.tg_tokens;
    j["pp512_tps"] = pp_tps;
    j["pp512_tps_stddev"] = res->pp.stddev();
    j["tg128_tps"] = tg_tps;
    j["tg128_tps_stddev"] = res->tg.stddev();
    j["pp512_roofline_pct"] = pp_pct;
    j["tg128_roofline_pct"] = tg_pct;
    if (opt.batch > 1) {
      j["batch"] = opt.batch;
      j["tg_batch_tps"] = res->tg_batch.mean();
      j["tg_batch_tps_stddev"] = res->tg_batch.stddev();
      j["tg_batch_speedup"] = res->tg_batch.mean() / tg_tps;
    }
    j["peak_rss_bytes"] = peak_rss;
    j["kv_cache_bytes"] = res->kv_cache_bytes;
    j["pp_flops_per_token"] = pp_flops_per_token;
    j["tg_bytes_per_token"] = cost.tg_bytes_per_token;
    j["mem_bw_gbs"] = roofline->mem_bw_gbs;
    j["peak_gflops_f32"] = roofline->peak_gflops_f32;
    j["peak_gops_int8"] = roofline->peak_gops_int8;
    j["roofline_isa"] = roofline->isa_f32;
    j["roofline_source"] = roofline_source;
    if (opt.op_times) {
      for (const auto& [name, rows, head_rows, times] : op_phases) j["ops"][name] = op_times_json(m, *times, rows, head_rows);
    }
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("model     %s (%s, %s, %.2f M params, %.2f MB weights read per token)\n",
              path.c_str(), arch_name(c.arch), dtype.c_str(), cost.params / 1e6,
              cost.tg_bytes_per_token / 1e6);
  std::printf("roofline  %.1f GB/s, %.1f GFLOP/s f32, %.1f GOP/s int8 (%s; %s)\n",
              roofline->mem_bw_gbs, roofline->peak_gflops_f32, roofline->peak_gops_int8,
              roofline->isa_f32.c_str(), roofline_source.c_str());
  std::printf("threads   %d, %d reps, %s kernels\n\n", pool.size(), opt.reps, ops::isa_name(ops::active_isa()));
  std::printf("| test          |            tokens/s | roofline |\n");
  std::printf("|---------------|---------------------|----------|\n");
  auto row = [](const std::string& name, const bench::PhaseResult& p, double pct) {
    char pct_s[32] = "";
    if (pct >= 0) std::snprintf(pct_s, sizeof pct_s, "%6.1f %%", pct);
    std::printf("| %-13s | %9.2f ± %7.2f | %8s |\n", name.c_str(), p.mean(), p.stddev(), pct_s);
  };
  row("pp" + std::to_string(opt.pp_tokens), res->pp, pp_pct);
  row("tg" + std::to_string(opt.tg_tokens), res->tg, tg_pct);
  if (opt.batch > 1) row("tg" + std::to_string(opt.tg_tokens) + " x" + std::to_string(opt.batch), res->tg_batch, -1);
  std::printf("\npeak RSS  %.1f MiB (model file %.1f MiB, KV cache %.1f MiB)\n", peak_rss / 1048576.0,
              file_bytes / 1048576.0, res->kv_cache_bytes / 1048576.0);
  if (opt.op_times) {
    for (const auto& [name, rows, head_rows, times] : op_phases)
      print_op_times(name.c_str(), op_times_json(m, *times, rows, head_rows));
  }
  return 0;
}

}  // namespace

int run_bench(const std::vector<std::string>& argv) {
  if (argv.empty()) {
    usage(stderr);
    return 2;
  }
  const std::string& test = argv[0];
  const std::vector<std::string> rest(argv.begin() + 1, argv.end());
  if (test == "roofline") return run_roofline(rest);
  if (test == "model") return run_model(rest);
  if (test == "profile") return run_bench_profile(rest);  // plan_cmd.cpp
  if (test == "serve") return run_bench_serve(rest);
  if (test == "-h" || test == "--help" || test == "help") {
    usage(stdout);
    return 0;
  }
  std::fprintf(stderr, "tandem bench: unknown test '%s'\n\n", test.c_str());
  usage(stderr);
  return 2;
}

}  // namespace tandem::cli
