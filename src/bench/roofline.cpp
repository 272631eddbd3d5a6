#include "bench/roofline.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TANDEM_BENCH_X86 1
#endif
#include "base/huge_pages.h"

namespace tandem::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Results of every kernel end up here, so the compiler cannot drop the work.
std::atomic<uint64_t> g_sink{0};

void sink(uint64_t v) { g_sink.fetch_add(v, std::memory_order_relaxed); }

// Tells the compiler that `p`'s memory may have changed, so loop-invariant
// arithmetic on it is redone every iteration. Emits no instruction.
template <typename T>
inline void clobber(T* p) {
#if defined(__GNUC__)
  asm volatile("" : : "r"(p) : "memory");
#else
  (void)p;
#endif
}

// ---------------------------------------------------------------- memory read
// Each kernel reads [p, p + bytes), bytes a multiple of 256, p 64-byte aligned.

uint64_t read_portable(const uint8_t* p, size_t bytes) {
  const uint64_t* q = reinterpret_cast<const uint64_t*>(p);
  uint64_t a[8] = {};
  for (size_t i = 0; i < bytes / 8; i += 8)
    for (int j = 0; j < 8; ++j) a[j] ^= q[i + static_cast<size_t>(j)];
  return a[0] ^ a[1] ^ a[2] ^ a[3] ^ a[4] ^ a[5] ^ a[6] ^ a[7];
}

#ifdef TANDEM_BENCH_X86
__attribute__((target("avx2"))) uint64_t read_avx2(const uint8_t* p, size_t bytes) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
          a7 = a0;
  for (size_t i = 0; i < bytes; i += 256) {
    const __m256i* v = reinterpret_cast<const __m256i*>(p + i);
    a0 = _mm256_xor_si256(a0, _mm256_load_si256(v + 0));
    a1 = _mm256_xor_si256(a1, _mm256_load_si256(v + 1));
    a2 = _mm256_xor_si256(a2, _mm256_load_si256(v + 2));
    a3 = _mm256_xor_si256(a3, _mm256_load_si256(v + 3));
    a4 = _mm256_xor_si256(a4, _mm256_load_si256(v + 4));
    a5 = _mm256_xor_si256(a5, _mm256_load_si256(v + 5));
    a6 = _mm256_xor_si256(a6, _mm256_load_si256(v + 6));
    a7 = _mm256_xor_si256(a7, _mm256_load_si256(v + 7));
  }
  a0 = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
  a4 = _mm256_xor_si256(_mm256_xor_si256(a4, a5), _mm256_xor_si256(a6, a7));
  a0 = _mm256_xor_si256(a0, a4);
  return static_cast<uint64_t>(_mm256_extract_epi64(a0, 0) ^ _mm256_extract_epi64(a0, 1) ^
                               _mm256_extract_epi64(a0, 2) ^ _mm256_extract_epi64(a0, 3));
}
#endif

// ---------------------------------------------------------------- FP32 FMA
// Independent chains acc = acc * m + c: enough of them to cover the FMA
// latency on every port. m < 1 keeps values bounded and never denormal.
// Each returns a value to sink; flops = iters * kFlopsPerIter.

constexpr int kF32PortableChains = 16;
constexpr double kF32PortableFlopsPerIter = kF32PortableChains * 2.0;

float f32_portable(int64_t iters) {
  float acc[kF32PortableChains];
  for (int j = 0; j < kF32PortableChains; ++j) acc[j] = 0.01f * static_cast<float>(j);
  const float m = 0.999999f, c = 1e-3f;
  for (int64_t i = 0; i < iters; ++i)
    for (int j = 0; j < kF32PortableChains; ++j) acc[j] = acc[j] * m + c;
  float s = 0;
  for (float a : acc) s += a;
  return s;
}

#ifdef TANDEM_BENCH_X86
// The chains are named variables, not an array: GCC 12 spills arrays of
// vectors to the stack inside the loop.
#define TANDEM_REP12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define TANDEM_REP24(X) \
  TANDEM_REP12(X) X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)
#define TANDEM_LIST12(X) X(0), X(1), X(2), X(3), X(4), X(5), X(6), X(7), X(8), X(9), X(10), X(11)

// 16 ymm registers: 12 chains + 2 constants.
constexpr double kF32Avx2FlopsPerIter = 12 * 8 * 2.0;

__attribute__((target("avx2,fma"))) float f32_avx2(int64_t iters) {
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-3f);
#define DECL(i) __m256 a##i = _mm256_set1_ps(0.01f * (i));
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, m, c);
#define SUM(i) s = _mm256_add_ps(s, a##i);
  TANDEM_REP12(DECL)
  for (int64_t i = 0; i < iters; ++i) {
    TANDEM_REP12(STEP)
  }
  __m256 s = _mm256_setzero_ps();
  TANDEM_REP12(SUM)
#undef DECL
#undef STEP
#undef SUM
  return _mm256_cvtss_f32(s);
}

// 32 zmm registers: 24 chains.
constexpr double kF32Avx512FlopsPerIter = 24 * 16 * 2.0;

__attribute__((target("avx512f"))) float f32_avx512(int64_t iters) {
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-3f);
#define DECL(i) __m512 a##i = _mm512_set1_ps(0.01f * (i));
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, m, c);
#define SUM(i) s = _mm512_add_ps(s, a##i);
  TANDEM_REP24(DECL)
  for (int64_t i = 0; i < iters; ++i) {
    TANDEM_REP24(STEP)
  }
  __m512 s = _mm512_setzero_ps();
  TANDEM_REP24(SUM)
#undef DECL
#undef STEP
#undef SUM
  // (not _mm512_reduce_add_ps: GCC 12 warns inside it, -Wuninitialized)
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  return lanes[0];
}
#endif

// ---------------------------------------------------------------- INT8 dot
// u8 x s8 products summed into i32, as quantized matmuls do them. One
// multiply-add counts 2 ops.

constexpr int kI8PortableLen = 64;
constexpr double kI8PortableOpsPerIter = kI8PortableLen * 2.0;

uint64_t i8_portable(int64_t iters) {
  alignas(64) uint8_t a[kI8PortableLen];
  alignas(64) int8_t b[kI8PortableLen];
  for (int j = 0; j < kI8PortableLen; ++j) {
    a[j] = static_cast<uint8_t>(j * 7 + 3);
    b[j] = static_cast<int8_t>(j * 5 - 100);
  }
  int32_t acc[16] = {};
  for (int64_t i = 0; i < iters; ++i) {
    clobber(a);
    clobber(b);
    for (int j = 0; j < kI8PortableLen; ++j)
      acc[j % 16] += static_cast<int32_t>(a[j]) * static_cast<int32_t>(b[j]);
  }
  uint64_t s = 0;
  for (int32_t v : acc) s += static_cast<uint32_t>(v);
  return s;
}

#ifdef TANDEM_BENCH_X86
// The int8 loop bodies are inline assembly: with intrinsics GCC 12 stores
// the accumulators to the stack every iteration. Each chain's accumulator
// is also an input of its next instruction, so nothing is loop-invariant.

// vpmaddubsw + vpmaddwd (+ vpaddd), the AVX2 int8 dot product: 12 chains
// (the 7..11-cycle chain latency on two multiply ports), 15 ymm registers.
constexpr double kI8Avx2OpsPerIter = 12 * 32 * 2.0;

__attribute__((target("avx2"))) uint64_t i8_avx2(int64_t iters) {
  const __m256i b = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
  __m256i t;
#define DECL(i) __m256i a##i = _mm256_set1_epi8(static_cast<char>((i) + 1));
#define STEP(i)                                      \
  "vpmaddubsw %[b], %[a" #i "], %[t]\n\t"            \
  "vpmaddwd %[ones], %[t], %[t]\n\t"                \
  "vpaddd %[t], %[a" #i "], %[a" #i "]\n\t"
#define OPND(i) [a##i] "+x"(a##i)
#define SUM(i) s = _mm256_add_epi32(s, a##i);
  TANDEM_REP12(DECL)
  for (int64_t i = 0; i < iters; ++i) {
    asm volatile(TANDEM_REP12(STEP)
                 : TANDEM_LIST12(OPND), [t] "=&x"(t)
                 : [b] "x"(b), [ones] "x"(ones));
  }
  __m256i s = _mm256_setzero_si256();
  TANDEM_REP12(SUM)
#undef DECL
#undef STEP
#undef OPND
#undef SUM
  return static_cast<uint64_t>(_mm256_extract_epi64(s, 0));
}

// AVX-VNNI vpdpbusd on ymm: 32 multiply-adds per instruction.
constexpr double kI8AvxVnniOpsPerIter = 12 * 32 * 2.0;

__attribute__((target("avx2,avxvnni"))) uint64_t i8_avxvnni(int64_t iters) {
  const __m256i x = _mm256_set1_epi8(5), y = _mm256_set1_epi8(3);
#define DECL(i) __m256i a##i = _mm256_set1_epi32(i);
#define STEP(i) "%{vex%} vpdpbusd %[y], %[x], %[a" #i "]\n\t"
#define OPND(i) [a##i] "+x"(a##i)
#define SUM(i) s = _mm256_add_epi32(s, a##i);
  TANDEM_REP12(DECL)
  for (int64_t i = 0; i < iters; ++i) {
    asm volatile(TANDEM_REP12(STEP) : TANDEM_LIST12(OPND) : [x] "x"(x), [y] "x"(y));
  }
  __m256i s = _mm256_setzero_si256();
  TANDEM_REP12(SUM)
#undef DECL
#undef STEP
#undef OPND
#undef SUM
  return static_cast<uint64_t>(_mm256_extract_epi64(s, 0));
}

// AVX512-VNNI vpdpbusd on zmm: 64 multiply-adds per instruction.
constexpr double kI8Avx512VnniOpsPerIter = 24 * 64 * 2.0;

__attribute__((target("avx512f,avx512vnni"))) uint64_t i8_avx512vnni(int64_t iters) {
  const __m512i x = _mm512_set1_epi8(5), y = _mm512_set1_epi8(3);
#define DECL(i) __m512i a##i = _mm512_set1_epi32(i);
#define STEP(i) "vpdpbusd %[y], %[x], %[a" #i "]\n\t"
#define OPND(i) [a##i] "+v"(a##i)
#define OPND_HI(i) [a##i] "+v"(a##i##_hi)
#define SUM(i) s = _mm512_add_epi32(s, _mm512_add_epi32(a##i, a##i##_hi));
  // Two statements of 12 chains: an asm takes at most 30 operands.
  TANDEM_REP12(DECL)
#define DECL_HI(i) __m512i a##i##_hi = _mm512_set1_epi32(i + 12);
  TANDEM_REP12(DECL_HI)
  for (int64_t i = 0; i < iters; ++i) {
    asm volatile(TANDEM_REP12(STEP) : TANDEM_LIST12(OPND) : [x] "v"(x), [y] "v"(y));
    asm volatile(TANDEM_REP12(STEP) : TANDEM_LIST12(OPND_HI) : [x] "v"(x), [y] "v"(y));
  }
  __m512i s = _mm512_setzero_si512();
  TANDEM_REP12(SUM)
#undef DECL
#undef DECL_HI
#undef STEP
#undef OPND
#undef OPND_HI
#undef SUM
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, s);
  return static_cast<uint32_t>(lanes[0]);
}
#undef TANDEM_REP12
#undef TANDEM_REP24
#undef TANDEM_LIST12
#endif

// ---------------------------------------------------------------- dispatch

struct CpuFeatures {
  bool avx2 = false, fma = false, avx512f = false, avx512vnni = false, avxvnni = false;
};

CpuFeatures detect(IsaLimit limit) {
  CpuFeatures f;
#ifdef TANDEM_BENCH_X86
  __builtin_cpu_init();
  if (limit == IsaLimit::kPortable) return f;
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  if (limit == IsaLimit::kAvx2) return f;
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512vnni = f.avx512f && __builtin_cpu_supports("avx512vnni");
  f.avxvnni = f.avx2 && __builtin_cpu_supports("avxvnni");
#else
  (void)limit;
#endif
  return f;
}

using ReadFn = uint64_t (*)(const uint8_t*, size_t);
using F32Fn = float (*)(int64_t);
using I8Fn = uint64_t (*)(int64_t);

struct Kernels {
  ReadFn read = read_portable;
  const char* read_name = "portable";
  F32Fn f32 = f32_portable;
  double f32_per_iter = kF32PortableFlopsPerIter;
  const char* f32_name = "portable";
  I8Fn i8 = i8_portable;
  double i8_per_iter = kI8PortableOpsPerIter;
  const char* i8_name = "portable";
};

Kernels pick_kernels(const CpuFeatures& f) {
  Kernels k;
#ifdef TANDEM_BENCH_X86
  if (f.avx2) {
    k.read = read_avx2;
    k.read_name = "avx2";
    k.i8 = i8_avx2;
    k.i8_per_iter = kI8Avx2OpsPerIter;
    k.i8_name = "avx2";
  }
  if (f.avx2 && f.fma) {
    k.f32 = f32_avx2;
    k.f32_per_iter = kF32Avx2FlopsPerIter;
    k.f32_name = "avx2+fma";
  }
  if (f.avx512f) {
    k.f32 = f32_avx512;
    k.f32_per_iter = kF32Avx512FlopsPerIter;
    k.f32_name = "avx512f";
  }
  if (f.avxvnni) {
    k.i8 = i8_avxvnni;
    k.i8_per_iter = kI8AvxVnniOpsPerIter;
    k.i8_name = "avx-vnni";
  }
  if (f.avx512vnni) {
    k.i8 = i8_avx512vnni;
    k.i8_per_iter = kI8Avx512VnniOpsPerIter;
    k.i8_name = "avx512-vnni";
  }
#else
  (void)f;
#endif
  return k;
}

// ---------------------------------------------------------------- measurement

// Page-aligned buffer, freed on scope exit.
struct Buffer {
  HugePages mem;
  uint8_t* data = nullptr;  // mem.get()
  size_t size = 0;
};

// Best read bandwidth over passes that each read the whole buffer, every
// thread its own contiguous slice (as STREAM does), until `budget_s` is spent
// (at least 3 passes).
double measure_bandwidth(const Kernels& k, const Buffer& buf, ThreadPool& pool, double budget_s) {
  const size_t n = static_cast<size_t>(pool.size());
  const size_t slice = buf.size / n / 256 * 256;
  double best = 0;
  const auto t0 = Clock::now();
  for (int pass = 0; pass < 1000 && (pass < 3 || seconds_since(t0) < budget_s); ++pass) {
    std::vector<uint64_t> sums(n, 0);
    const auto p0 = Clock::now();
    pool.parallel_for(n, 1, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) sums[i] = k.read(buf.data + i * slice, slice);
    });
    const double dt = seconds_since(p0);
    for (uint64_t s : sums) sink(s);
    best = std::max(best, static_cast<double>(slice * n) / dt / 1e9);
  }
  return best;
}

// Best throughput over windows of `window_s` in which every thread runs
// `unit_iters`-iteration calls of `fn` until the window closes.
template <typename Fn>
double measure_compute(Fn fn, double ops_per_iter, ThreadPool& pool, double budget_s) {
  const size_t n = static_cast<size_t>(pool.size());
  const double window_s = std::clamp(budget_s / 6.0, 0.02, 0.25);
  constexpr int64_t kUnitIters = int64_t{1} << 14;
  double best = 0;
  const auto t0 = Clock::now();
  for (int pass = 0; pass < 1000 && (pass < 3 || seconds_since(t0) < budget_s); ++pass) {
    std::vector<int64_t> units(n, 0);
    const auto p0 = Clock::now();
    const auto deadline = p0 + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(window_s));
    pool.parallel_for(n, 1, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) {
        int64_t u = 0;
        do {
          sink(static_cast<uint64_t>(fn(kUnitIters)));
          ++u;
        } while (Clock::now() < deadline);
        units[i] = u;
      }
    });
    const double dt = seconds_since(p0);
    int64_t total = 0;
    for (int64_t u : units) total += u;
    best = std::max(best, static_cast<double>(total) * kUnitIters * ops_per_iter / dt / 1e9);
  }
  return best;
}

}  // namespace

Result<IsaLimit> isa_limit_from_name(const std::string& name) {
  if (name == "auto") return IsaLimit::kAuto;
  if (name == "avx2") return IsaLimit::kAvx2;
  if (name == "portable") return IsaLimit::kPortable;
  return invalid_argument("unknown ISA '" + name + "' (expected auto, avx2 or portable)");
}

Result<Roofline> measure_roofline(const RooflineOptions& options, ThreadPool& pool) {
  const auto t0 = Clock::now();
  const Kernels k = pick_kernels(detect(options.isa));
  Roofline r;
  r.threads = pool.size();
  r.isa_mem = k.read_name;
  r.isa_f32 = k.f32_name;
  r.isa_int8 = k.i8_name;

  // Slices of a multiple of 256 bytes per thread, on huge pages so that TLB
  // misses do not count.
  const size_t n = static_cast<size_t>(pool.size());
  Buffer buf;
  buf.size = std::max(options.mem_bytes, n * 256) / (n * 256) * (n * 256);
  buf.mem = alloc_huge_pages(buf.size);
  buf.data = buf.mem.get();
  if (buf.data == nullptr) {
    return Status(StatusCode::kResourceExhausted,
                  "roofline: cannot allocate a " + std::to_string(buf.size >> 20) + " MiB read buffer");
  }
  // Touch every page from the thread that will read it (first-touch NUMA).
  const size_t slice = buf.size / n;
  pool.parallel_for(n, 1, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      std::memset(buf.data + i * slice, static_cast<int>(i + 1), slice);
    }
  });
  r.mem_bytes = buf.size;

  const double budget = std::max(0.0, options.seconds);
  r.mem_bw_gbs = measure_bandwidth(k, buf, pool, 0.4 * budget);
  r.peak_gflops_f32 = measure_compute(
      [&](int64_t it) {
        float v = k.f32(it);
        uint32_t bits;
        std::memcpy(&bits, &v, sizeof bits);
        return bits;
      },
      k.f32_per_iter, pool, 0.3 * budget);
  r.peak_gops_int8 = measure_compute(k.i8, k.i8_per_iter, pool, 0.3 * budget);
  r.seconds = seconds_since(t0);
  return r;
}

std::string roofline_to_json(const Roofline& r) {
  nlohmann::ordered_json j;
  j["mem_bw_gbs"] = r.mem_bw_gbs;
  j["peak_gflops_f32"] = r.peak_gflops_f32;
  j["peak_gops_int8"] = r.peak_gops_int8;
  j["isa"] = r.isa_f32;
  j["isa_mem"] = r.isa_mem;
  j["isa_int8"] = r.isa_int8;
  j["threads"] = r.threads;
  j["mem_bytes"] = r.mem_bytes;
  j["seconds"] = r.seconds;
  return j.dump(2);
}

Result<Roofline> roofline_from_json(const std::string& text, const std::string& source) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return invalid_argument(source + ": not a JSON object");
  Roofline r;
  auto number = [&](const char* key, double& out) -> Status {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number() || it->get<double>() <= 0)
      return invalid_argument(source + ": '" + key + "' missing or not a positive number");
    out = it->get<double>();
    return ok_status();
  };
  TANDEM_RETURN_IF_ERROR(number("mem_bw_gbs", r.mem_bw_gbs));
  TANDEM_RETURN_IF_ERROR(number("peak_gflops_f32", r.peak_gflops_f32));
  TANDEM_RETURN_IF_ERROR(number("peak_gops_int8", r.peak_gops_int8));
  auto str = [&](const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  r.isa_f32 = str("isa");
  r.isa_mem = str("isa_mem");
  r.isa_int8 = str("isa_int8");
  if (auto it = j.find("threads"); it != j.end() && it->is_number_integer()) r.threads = it->get<int>();
  return r;
}

}  // namespace tandem::bench
