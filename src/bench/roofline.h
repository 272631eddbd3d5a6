// Roofline of the machine the process runs on: memory read bandwidth and
// peak FP32 / INT8 arithmetic throughput, all cores together. The model
// benchmark divides its speeds by these to say how close to the hardware
// limit the engine runs (decode is bandwidth-bound, prefill compute-bound).
//
// Each figure is the best of several timed passes (the least disturbed by
// other processes), so it estimates what the hardware can do, not what one
// run happened to get. Kernels use the widest ISA the CPU reports at run time
// (AVX-512 / AVX-VNNI / AVX2, chosen with __builtin_cpu_supports), with
// portable C++ fallbacks, so one binary runs on any x86-64 (and builds
// elsewhere).
//
// Thread safety: measure_roofline uses `pool` for the whole call; it must not
// be used by anyone else meanwhile.
#pragma once

#include <cstddef>
#include <string>

#include "base/status.h"
#include "base/thread_pool.h"

namespace tandem::bench {

// Widest instruction set to use; kAuto picks the best the CPU has. A level
// the CPU lacks falls back to the best it has below that level. kPortable is
// plain C++ (on x86-64 the compiler vectorizes it for SSE2).
enum class IsaLimit { kAuto, kAvx2, kPortable };
Result<IsaLimit> isa_limit_from_name(const std::string& name);  // auto avx2 portable

struct RooflineOptions {
  double seconds = 6.0;                  // time budget for all three measurements together
  size_t mem_bytes = size_t{1} << 30;    // read buffer; must be far larger than the LLC
  IsaLimit isa = IsaLimit::kAuto;
};

struct Roofline {
  double mem_bw_gbs = 0;        // best read bandwidth, 1e9 bytes/s
  double peak_gflops_f32 = 0;   // FMA counts 2 FLOPs
  double peak_gops_int8 = 0;    // u8 x s8 multiply-add counts 2 ops
  std::string isa_mem;          // kernel used for each figure, e.g. "avx2"
  std::string isa_f32;          // "avx512f", "avx2+fma", "portable"
  std::string isa_int8;         // "avx512-vnni", "avx-vnni", "avx2", "portable"
  int threads = 0;
  size_t mem_bytes = 0;
  double seconds = 0;           // wall time the measurement took, setup included
};

// Measures all three figures with every thread of `pool`. Fails only if the
// read buffer cannot be allocated.
Result<Roofline> measure_roofline(const RooflineOptions& options, ThreadPool& pool);

// {"mem_bw_gbs": ..., "peak_gflops_f32": ..., "peak_gops_int8": ..., "isa": ..., ...}
std::string roofline_to_json(const Roofline& r);
// Reads the figures back from roofline_to_json's output (other keys ignored).
Result<Roofline> roofline_from_json(const std::string& text, const std::string& source);

}  // namespace tandem::bench
