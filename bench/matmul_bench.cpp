// Matmul kernels against this machine's roofline, measured in the same run.
//
//   matmul_bench [--m 2048] [--k 2048] [--n 1,16,512] [--reps 5] [--copies 1]
//                [--layout panel8|rowmajor|both] [dtype...]
//
// For each weight dtype and batch n (default 1, 16, 512): best-of-reps time of
// ops::matmul on the global thread pool, as GFLOP/s (2 n m k / t) and, for
// n = 1, weight GB/s; percentages are of the peak FP32 FLOP/s and memory read
// bandwidth measured just before (tandem bench roofline's kernels). Weights
// are random and larger than the LLC only for big m x k; with the default
// 2048 x 2048 the f16 matrix is 8 MiB, so n = 1 shows the L3-resident rate.
// --copies C packs C copies of the weights and times sweeps over them, one
// call per copy, as a model's forward pass calls one layer after another:
// with C x the matrix larger than the LLC, every call streams from DRAM, so
// the per-call costs of a layer-sized matmul (dispatch, stream start, the
// last chunk) show at the model's shapes. The time is then the mean per call
// of the best sweep.
// The last column divides the work by process CPU time per thread (best of
// reps), which other processes on a shared machine disturb less than wall
// time; compare it with the per-thread peak (peak / threads).
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/huge_pages.h"
#include "base/thread_pool.h"
#include "bench/roofline.h"
#include "tensor/ops.h"
#include "tensor/packed.h"
#include "tensor/quant.h"

using namespace tandem;

namespace {

// CPU time of the whole process (all pool threads): on a shared machine,
// work per CPU-second is steadier than work per wall second.
double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  int64_t m = 2048, k = 2048;
  int reps = 5;
  int64_t copies = 1;
  std::string layout = "panel8";
  std::vector<DType> dtypes;
  std::vector<int64_t> batches = {1, 16, 512};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "matmul_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--m") {
      m = std::stoll(next());
    } else if (a == "--k") {
      k = std::stoll(next());
    } else if (a == "--n") {
      batches.clear();
      const std::string list = next();
      for (size_t pos = 0; pos < list.size();) {
        const size_t comma = std::min(list.find(',', pos), list.size());
        const long long v = std::atoll(list.substr(pos, comma - pos).c_str());
        if (v <= 0) {
          std::fprintf(stderr, "matmul_bench: --n wants positive batch sizes, got '%s'\n", list.c_str());
          return 2;
        }
        batches.push_back(v);
        pos = comma + 1;
      }
    } else if (a == "--reps") {
      reps = std::stoi(next());
    } else if (a == "--copies") {
      copies = std::stoll(next());
      if (copies <= 0) {
        std::fprintf(stderr, "matmul_bench: --copies wants a positive count\n");
        return 2;
      }
    } else if (a == "--layout") {
      layout = next();
    } else {
      auto t = dtype_from_name(a);
      if (!t) {
        std::fprintf(stderr, "matmul_bench: unknown dtype '%s'\n", a.c_str());
        return 2;
      }
      dtypes.push_back(*t);
    }
  }
  if (dtypes.empty()) dtypes = {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0};
  if (k % 32 != 0 || m <= 0 || k <= 0) {
    std::fprintf(stderr, "matmul_bench: need m > 0 and k a positive multiple of 32\n");
    return 2;
  }
  ThreadPool& pool = ThreadPool::global();
  bench::RooflineOptions ro;
  ro.seconds = 2.0;
  ro.mem_bytes = size_t{512} << 20;
  auto roof = bench::measure_roofline(ro, pool);
  if (!roof.ok()) {
    std::fprintf(stderr, "matmul_bench: %s\n", roof.status().to_string().c_str());
    return 1;
  }
  std::printf("roofline: %.1f GB/s, %.1f GFLOP/s f32, %.1f GOP/s int8, %d threads, isa %s\n", roof->mem_bw_gbs,
              roof->peak_gflops_f32, roof->peak_gops_int8, pool.size(), ops::isa_name(ops::active_isa()));
  std::printf("%-6s %-8s %5s %10s %10s %8s %10s %8s %12s\n", "dtype", "layout", "n", "ms", "GFLOP/s", "%f32", "GB/s",
              "%bw", "GFLOP/cpu-s");

  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  std::vector<float> wf(static_cast<size_t>(m * k));
  for (float& v : wf) v = nd(rng);
  for (DType t : dtypes) {
    const size_t rb = dtype_row_bytes(t, k);
    std::vector<uint8_t> rm(rb * static_cast<size_t>(m));
    for (int64_t r = 0; r < m; ++r) quantize_row(t, wf.data() + r * k, rm.data() + r * rb, k);
    // Packed weights on huge pages, as Model::pack_weights allocates them.
    const size_t pk_bytes = packed::matrix_bytes(t, m, k);
    HugePages pk = alloc_huge_pages(pk_bytes * static_cast<size_t>(copies));
    if (pk == nullptr) {
      std::fprintf(stderr, "matmul_bench: cannot allocate %zu bytes\n", pk_bytes * static_cast<size_t>(copies));
      return 1;
    }
    for (int64_t c = 0; c < copies; ++c) packed::pack(t, rm.data(), m, k, pk.get() + c * pk_bytes, &pool);
    std::vector<uint8_t> rm_copies;
    if (copies > 1 && (layout == "rowmajor" || layout == "both")) {
      rm_copies.resize(rm.size() * static_cast<size_t>(copies));
      for (int64_t c = 0; c < copies; ++c) std::memcpy(rm_copies.data() + c * rm.size(), rm.data(), rm.size());
    }
    for (const std::string& lay : {std::string("panel8"), std::string("rowmajor")}) {
      if (layout != "both" && layout != lay) continue;
      const bool panel = lay == "panel8";
      std::vector<TensorView> ws(static_cast<size_t>(copies));
      for (int64_t c = 0; c < copies; ++c) {
        TensorView& w = ws[static_cast<size_t>(c)];
        w.dtype = t;
        w.shape = {m, k};
        w.layout = panel ? Layout::kPanel8 : Layout::kRowMajor;
        w.data = panel ? pk.get() + c * pk_bytes : (copies > 1 ? rm_copies.data() + c * rm.size() : rm.data());
        w.nbytes = panel ? pk_bytes : rm.size();
      }
      const TensorView& w = ws[0];
      for (int64_t n : batches) {
        std::vector<float> x(static_cast<size_t>(n * k)), y(static_cast<size_t>(n * m));
        for (float& v : x) v = nd(rng) * 20.0f;
        double best = 1e30, best_cpu = 1e30;
        for (const TensorView& wc : ws) ops::matmul(x.data(), n, k, wc, nullptr, y.data(), &pool);  // warm-up
        for (int r = 0; r < reps; ++r) {
          const double c0 = cpu_seconds();
          const auto t0 = std::chrono::steady_clock::now();
          for (const TensorView& wc : ws) ops::matmul(x.data(), n, k, wc, nullptr, y.data(), &pool);
          const double s =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / static_cast<double>(copies);
          best = std::min(best, s);
          best_cpu = std::min(best_cpu, (cpu_seconds() - c0) / pool.size() / static_cast<double>(copies));
        }
        const double gflops = 2.0 * static_cast<double>(n * m * k) / best / 1e9;
        const double gbs = static_cast<double>(w.nbytes) / best / 1e9;
        const double cpu_gflops = 2.0 * static_cast<double>(n * m * k) / best_cpu / 1e9;
        std::printf("%-6s %-8s %5lld %10.3f %10.1f %7.1f%% %10.1f %7.1f%% %12.1f\n", std::string(dtype_name(t)).c_str(),
                    lay.c_str(), static_cast<long long>(n), best * 1e3, gflops, 100.0 * gflops / roof->peak_gflops_f32,
                    gbs, 100.0 * gbs / roof->mem_bw_gbs, cpu_gflops);
      }
    }
  }
  return 0;
}
