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

// The 6x2 tile with its column loop written in assembly, unrolled by 4, as
// the engine's kernel has it (tile_x2_asm): the same FMAs per accumulator
// in the same order as tile_pass<6, 2>, with the 12 accumulators pinned in
// ymm0-11 (kc % 4 == 0). W is float (panel p's column k at w + (p kc + k) 8)
// or uint16_t f16 weights (same layout), converted in the loop by vcvtph2ps
// from memory instead of being widened to f32 first.
template <typename W>
__attribute__((target("avx2,fma,f16c"), noinline)) void tile_pass_asm(const W* w, const float* x, int kc, float* out) {
  constexpr bool kF16 = sizeof(W) == 2;
  const W* w0 = w;
  const long wstride = static_cast<long>(kc) * 8 * static_cast<long>(sizeof(W));  // panel 0 to panel 1, bytes
  const long xs = static_cast<long>(kc) * 4;                                       // bytes between x rows
  const float* x0 = x;
  const float* x3 = x + 3 * kc;
  long n = kc / 4;
#define TANDEM_W(OP, WOFF)                     \
  OP " " #WOFF "(%[w]), %%ymm12\n\t"           \
  OP " " #WOFF "(%[w],%[ws],1), %%ymm13\n\t"
#define TANDEM_FMAS(XOFF)                              \
  "vbroadcastss " #XOFF "(%[x0]), %%ymm14\n\t"         \
  "vfmadd231ps %%ymm12, %%ymm14, %%ymm0\n\t"           \
  "vfmadd231ps %%ymm13, %%ymm14, %%ymm1\n\t"           \
  "vbroadcastss " #XOFF "(%[x0],%[xs],1), %%ymm15\n\t" \
  "vfmadd231ps %%ymm12, %%ymm15, %%ymm2\n\t"           \
  "vfmadd231ps %%ymm13, %%ymm15, %%ymm3\n\t"           \
  "vbroadcastss " #XOFF "(%[x0],%[xs],2), %%ymm14\n\t" \
  "vfmadd231ps %%ymm12, %%ymm14, %%ymm4\n\t"           \
  "vfmadd231ps %%ymm13, %%ymm14, %%ymm5\n\t"           \
  "vbroadcastss " #XOFF "(%[x3]), %%ymm15\n\t"         \
  "vfmadd231ps %%ymm12, %%ymm15, %%ymm6\n\t"           \
  "vfmadd231ps %%ymm13, %%ymm15, %%ymm7\n\t"           \
  "vbroadcastss " #XOFF "(%[x3],%[xs],1), %%ymm14\n\t" \
  "vfmadd231ps %%ymm12, %%ymm14, %%ymm8\n\t"           \
  "vfmadd231ps %%ymm13, %%ymm14, %%ymm9\n\t"           \
  "vbroadcastss " #XOFF "(%[x3],%[xs],2), %%ymm15\n\t" \
  "vfmadd231ps %%ymm12, %%ymm15, %%ymm10\n\t"          \
  "vfmadd231ps %%ymm13, %%ymm15, %%ymm11\n\t"
#define TANDEM_ZERO(R) "vxorps %%ymm" #R ", %%ymm" #R ", %%ymm" #R "\n\t"
#define TANDEM_OUT(R) "vmovups %%ymm" #R ", 32*" #R "(%[out])\n\t"
#define TANDEM_ALL(OP) OP(0) OP(1) OP(2) OP(3) OP(4) OP(5) OP(6) OP(7) OP(8) OP(9) OP(10) OP(11)
#define TANDEM_LOOP(WLOAD, WSTEP)                                                                              \
  __asm__ volatile(TANDEM_ALL(TANDEM_ZERO) "1:\n\t" TANDEM_W(WLOAD, 0 * WSTEP) TANDEM_FMAS(0)                  \
                       TANDEM_W(WLOAD, 1 * WSTEP) TANDEM_FMAS(4) TANDEM_W(WLOAD, 2 * WSTEP) TANDEM_FMAS(8)     \
                           TANDEM_W(WLOAD, 3 * WSTEP) TANDEM_FMAS(12) "add $4*" #WSTEP ", %[w]\n\t"            \
                       "add $16, %[x0]\n\t"                                                                    \
                       "add $16, %[x3]\n\t"                                                                    \
                       "dec %[n]\n\t"                                                                          \
                       "jnz 1b\n\t" TANDEM_ALL(TANDEM_OUT)                                                     \
                   : [w] "+r"(w0), [x0] "+r"(x0), [x3] "+r"(x3), [n] "+r"(n)                                   \
                   : [ws] "r"(wstride), [xs] "r"(xs), [out] "r"(out)                                           \
                   : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",   \
                     "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory", "cc")
  if constexpr (kF16) {
    TANDEM_LOOP("vcvtph2ps", 16);
  } else {
    TANDEM_LOOP("vmovaps", 32);
  }
#undef TANDEM_LOOP
#undef TANDEM_ALL
#undef TANDEM_OUT
#undef TANDEM_ZERO
#undef TANDEM_FMAS
#undef TANDEM_W
}

template <typename W>
float tile_asm(const W* w, const float* x, int kc, long iters) {
  float out[96];
  float s = 0;
  for (long it = 0; it < iters; ++it) {
    tile_pass_asm(w, x, kc, out);
    s += out[0];
  }
  return s;
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

// AVX-512 forms of the two kernels above: 16-lane chains, and an R x P
// tile of 16-wide weight columns (as the engine's AVX-512 prefill tile:
// R broadcasts of x and P weight loads per column, x rows ldx floats apart,
// weight column k of pair p at w + (p * kc + k) * 16).
__attribute__((target("avx512f"), noinline)) float chains512(long iters) {
  __m512 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) a[i] = _mm512_fmadd_ps(a[i], m, c);
  __m512 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, a[i]);
  float lanes[16];
  _mm512_storeu_ps(lanes, s);
  float t = 0;
  for (float v : lanes) t += v;
  return t;
}

template <int R, int P>
__attribute__((target("avx512f"), noinline)) void tile512_pass(const float* w, const float* x, int kc, long ldx,
                                                               float* out) {
  __m512 a[R][P];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) a[r][p] = _mm512_setzero_ps();
  for (int k = 0; k < kc; ++k) {
    __m512 wv[P];
    for (int p = 0; p < P; ++p) wv[p] = _mm512_load_ps(w + (static_cast<long>(p) * kc + k) * 16);
    for (int r = 0; r < R; ++r) {
      const __m512 b = _mm512_set1_ps(x[r * ldx + k]);
      for (int p = 0; p < P; ++p) a[r][p] = _mm512_fmadd_ps(b, wv[p], a[r][p]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) _mm512_storeu_ps(out + (r * P + p) * 16, a[r][p]);
}

template <int R, int P>
float tile512(const float* w, const float* x, int kc, long ldx, long iters) {
  float out[R * P * 16];
  float s = 0;
  for (long it = 0; it < iters; ++it) {
    tile512_pass<R, P>(w, x, kc, ldx, out);
    s += out[0];
  }
  return s;
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
  {
    // The assembly tile must give tile_pass<6, 2>'s results bit for bit.
    std::vector<float> wr(2 * kc * 8 + 16), xr(6 * kc);
    uint32_t st = 12345;
    auto rnd = [&] { st = st * 1664525u + 1013904223u; return static_cast<float>(st >> 8) / 16777216.0f - 0.5f; };
    float* wal = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(wr.data()) + 31) & ~uintptr_t{31});
    for (int i = 0; i < 2 * kc * 8; ++i) wal[i] = rnd();
    for (float& v : xr) v = rnd();
    float o1[96], o2[96];
    tile_pass<6, 2>(wal, xr.data(), kc, o1);
    tile_pass_asm(wal, xr.data(), kc, o2);
    if (std::memcmp(o1, o2, sizeof o1) != 0) {
      std::fprintf(stderr, "fma_ceiling: the assembly tile differs from the intrinsics tile\n");
      return 1;
    }
  }
  float sink = 0;
  const double peak = measure([](long n) { return chains(n); }, 12 * 16.0, seconds, &sink);
  std::printf("%-10s %8s %8s\n", "kernel", "GFLOP/s", "%chains");
  auto row = [&](const char* name, double g) { std::printf("%-10s %8.1f %7.1f%%\n", name, g, 100.0 * g / peak); };
  row("chains", peak);
  row("loads", measure([&](long n) { return loads(wa, n); }, 64 * 12 * 16.0, seconds, &sink));
  row("tile 6x2", measure([&](long n) { return tile<6, 2>(wa, x.data(), kc, n); }, kc * 6 * 2 * 16.0, seconds, &sink));
  row("asm 6x2", measure([&](long n) { return tile_asm(wa, x.data(), kc, n); }, kc * 6 * 2 * 16.0, seconds, &sink));
  std::vector<uint16_t> w16(2 * kc * 8, 0x3800);  // 0.5 in f16
  row("asm16 6x2", measure([&](long n) { return tile_asm(w16.data(), x.data(), kc, n); }, kc * 6 * 2 * 16.0, seconds, &sink));
  row("tile 3x4", measure([&](long n) { return tile<3, 4>(wa, x.data(), kc, n); }, kc * 3 * 4 * 16.0, seconds, &sink));
  row("tile 4x3", measure([&](long n) { return tile<4, 3>(wa, x.data(), kc, n); }, kc * 4 * 3 * 16.0, seconds, &sink));
  if (__builtin_cpu_supports("avx512f")) {
    // kc 128: weights and x in L1; kc 2048: the engine's prefill block
    // (weights 128 KiB per pair, x rows 2064 floats apart) in L2.
    const double peak512 = measure([](long n) { return chains512(n); }, 12 * 32.0, seconds, &sink);
    auto row512 = [&](const char* name, double g) {
      std::printf("%-14s %8.1f %7.1f%%\n", name, g, 100.0 * g / peak512);
    };
    std::vector<float> wz(3 * 2048 * 16 + 16, 0.5f), xz(14 * 2064 + 16, 0.25f);
    float* wza = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(wz.data()) + 63) & ~uintptr_t{63});
    row512("chains512", peak512);
    for (int kcz : {128, 2048}) {
      const long ldx = kcz == 128 ? 128 : 2064;
      char name[32];
      std::snprintf(name, sizeof name, "z12x2 kc%d", kcz);
      row512(name, measure([&](long n) { return tile512<12, 2>(wza, xz.data(), kcz, ldx, n); }, kcz * 12 * 2 * 32.0,
                           seconds, &sink));
      std::snprintf(name, sizeof name, "z8x3 kc%d", kcz);
      row512(name, measure([&](long n) { return tile512<8, 3>(wza, xz.data(), kcz, ldx, n); }, kcz * 8 * 3 * 32.0,
                           seconds, &sink));
      std::snprintf(name, sizeof name, "z6x4 kc%d", kcz);
      row512(name, measure([&](long n) { return tile512<6, 4>(wza, xz.data(), kcz, ldx, n); }, kcz * 6 * 4 * 32.0,
                           seconds, &sink));
      std::snprintf(name, sizeof name, "z14x2 kc%d", kcz);
      row512(name, measure([&](long n) { return tile512<14, 2>(wza, xz.data(), kcz, ldx, n); }, kcz * 14 * 2 * 32.0,
                           seconds, &sink));
    }
  }
  std::printf("(checksum %g)\n", static_cast<double>(sink));
  return 0;
}
