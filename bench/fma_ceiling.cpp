// What one core sustains for the inner loop of a broadcast-FMA GEMM, with
// every operand in L1, against the bare FMA throughput that `tandem bench
// roofline` calls peak. The gap is the ceiling of any AVX2 GEMM built this
// way (and of prefill, which is mostly GEMM) on this CPU, before memory.
//
//   build/bench/fma_ceiling [--seconds S]
//
// Kernels, one thread, AVX2 + FMA (results are printed so nothing is
// optimised away):
//   chains     12 independent vfmadd chains on registers (the roofline's kernel)
//   loads      12 chains, each FMA taking a weight from L1 (no broadcasts)
//   tile RxP   a GEMM tile: R activation rows x P panels of 8 outputs; per
//              column, R broadcasts of x from memory and P weight loads
#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

__attribute__((target("avx2,fma"), noinline)) float chains(long iters) {
  __m256 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm256_set1_ps(0.001f * static_cast<float>(i));
  const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(0.001f);
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) a[i] = _mm256_fmadd_ps(a[i], m, c);
  __m256 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, a[i]);
  return _mm256_cvtss_f32(s);
}

// 12 chains over a 64-column weight block in L1 (12 x 64 x 32 bytes = 24 KiB).
__attribute__((target("avx2,fma"), noinline)) float loads(const float* w, long iters) {
  __m256 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm256_setzero_ps();
  const __m256 x = _mm256_set1_ps(0.5f);
  for (long it = 0; it < iters; ++it)
    for (int k = 0; k < 64; ++k)
      for (int i = 0; i < 12; ++i) a[i] = _mm256_fmadd_ps(x, _mm256_load_ps(w + (i * 64 + k) * 8), a[i]);
  __m256 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, a[i]);
  return _mm256_cvtss_f32(s);
}

// R rows x P panels over kc columns, as the engine's kernel runs one tile:
// accumulators from zero, one pass over the columns, stored to out. x rows
// kc floats apart, panel p's column k at w + (p * kc + k) * 8.
template <int R, int P>
__attribute__((target("avx2,fma"), noinline)) void tile_pass(const float* w, const float* x, int kc, float* out) {
  __m256 a[R][P];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) a[r][p] = _mm256_setzero_ps();
  for (int k = 0; k < kc; ++k) {
    __m256 wv[P];
    for (int p = 0; p < P; ++p) wv[p] = _mm256_load_ps(w + (p * kc + k) * 8);
    for (int r = 0; r < R; ++r) {
      const __m256 b = _mm256_broadcast_ss(x + r * kc + k);
      for (int p = 0; p < P; ++p) a[r][p] = _mm256_fmadd_ps(b, wv[p], a[r][p]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) _mm256_storeu_ps(out + (r * P + p) * 8, a[r][p]);
}

template <int R, int P>
float tile(const float* w, const float* x, int kc, long iters) {
  float out[R * P * 8];
  float s = 0;
  for (long it = 0; it < iters; ++it) {
    tile_pass<R, P>(w, x, kc, out);
    s += out[0];
  }
  return s;
}

// Runs f(iters) with iters doubled until it takes `seconds`; returns GFLOP/s
// given the FLOPs of one iteration.
template <class F>
double measure(F&& f, double flops_per_iter, double seconds, float* sink) {
  long iters = 1000;
  for (;;) {
    const auto t0 = Clock::now();
    *sink += f(iters);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s >= seconds) return flops_per_iter * static_cast<double>(iters) / s / 1e9;
    iters *= s > 0.01 ? std::max(2L, static_cast<long>(seconds / s)) : 10;
  }
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 0.5;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: fma_ceiling [--seconds S]\n");
      return 2;
    }
  }
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::fprintf(stderr, "fma_ceiling: this CPU lacks AVX2 + FMA\n");
    return 1;
  }
  constexpr int kc = 128;
  std::vector<float> w(12 * 256 * 8 + 64, 0.5f), x(8 * kc + 64, 0.25f);
  float* wa = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(w.data()) + 63) & ~uintptr_t{63});
  float sink = 0;
  const double peak = measure([](long n) { return chains(n); }, 12 * 16.0, seconds, &sink);
  std::printf("%-10s %8s %8s\n", "kernel", "GFLOP/s", "%chains");
  auto row = [&](const char* name, double g) { std::printf("%-10s %8.1f %7.1f%%\n", name, g, 100.0 * g / peak); };
  row("chains", peak);
  row("loads", measure([&](long n) { return loads(wa, n); }, 64 * 12 * 16.0, seconds, &sink));
  row("tile 6x2", measure([&](long n) { return tile<6, 2>(wa, x.data(), kc, n); }, kc * 6 * 2 * 16.0, seconds, &sink));
  row("tile 3x4", measure([&](long n) { return tile<3, 4>(wa, x.data(), kc, n); }, kc * 3 * 4 * 16.0, seconds, &sink));
  row("tile 4x3", measure([&](long n) { return tile<4, 3>(wa, x.data(), kc, n); }, kc * 4 * 3 * 16.0, seconds, &sink));
  std::printf("(checksum %g)\n", static_cast<double>(sink));
  return 0;
}
