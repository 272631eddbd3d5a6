// Portable reference kernels: dequantize one weight row into f32, then a
// 16-lane dot product (ops::dot_f32) with every activation row. The other
// ISAs are checked against these (src/tensor/ops_test.cpp).
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/check.h"
#include "tensor/kernels.h"
#include "tensor/kquant.h"
#include "tensor/ops.h"
#include "tensor/quant.h"

namespace tandem::kernels {

void matmul_rows_scalar(DType t, const uint8_t* w, size_t row_bytes, const float* x, int64_t n,
                        int64_t k, int64_t m, int64_t j0, int64_t j1, const float* bias, float* y) {
  thread_local std::vector<float> wrow;
  for (int64_t j = j0; j < j1; ++j) {
    const uint8_t* src = w + j * row_bytes;
    const float* wr;
    if (t == DType::kF32) {
      wr = reinterpret_cast<const float*>(src);
    } else {
      wrow.resize(static_cast<size_t>(k));
      TANDEM_CHECK(dequantize_row(t, src, wrow.data(), k), "matmul: unsupported weight dtype");
      wr = wrow.data();
    }
    const float b = bias != nullptr ? bias[j] : 0.0f;
    for (int64_t i = 0; i < n; ++i) y[i * m + j] = ops::dot_f32(x + i * k, wr, k) + b;
  }
}

bool cpu_has_avx2_fma_f16c() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // F16C is CPUID.1:ECX bit 29 (clang 14's __builtin_cpu_supports lacks it).
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) != 0;
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
#else
  return false;
#endif
}

bool cpu_has_avx512() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // libgcc sets the AVX-512 bits only when XCR0 says the OS saves the
  // opmask and zmm state.
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

}  // namespace tandem::kernels

namespace tandem::kernels {

void quantize_activations_scalar(const float* x, int64_t n, int64_t k, BlockQ8A* out) {
  const int64_t nb = k / 32;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t b = 0; b < nb; ++b) {
      const float* xs = x + i * k + b * 32;
      BlockQ8A& o = out[i * nb + b];
      float amax = 0.0f;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xs[j]));
      o.d = amax / 127.0f;
      const float id = o.d != 0.0f ? 1.0f / o.d : 0.0f;
      for (int j = 0; j < 32; ++j) o.qs[j] = static_cast<int8_t>(std::nearbyint(xs[j] * id));
    }
  }
}

namespace {

// The 32 weight quants of block b of a q8_0 / q4_0 row, as int8, and its scale.
inline float weight_block(DType t, const uint8_t* row, int64_t b, int8_t q[32]) {
  if (t == DType::kQ8_0) {
    const BlockQ8_0* blk = reinterpret_cast<const BlockQ8_0*>(row) + b;
    std::memcpy(q, blk->qs, 32);
    return f16_to_f32(blk->d);
  }
  const BlockQ4_0* blk = reinterpret_cast<const BlockQ4_0*>(row) + b;
  for (int j = 0; j < 16; ++j) {
    q[j] = static_cast<int8_t>((blk->qs[j] & 0x0F) - 8);
    q[j + 16] = static_cast<int8_t>((blk->qs[j] >> 4) - 8);
  }
  return f16_to_f32(blk->d);
}

}  // namespace

void matmul_q8a_rows_scalar(DType t, const uint8_t* w, size_t row_bytes, const BlockQ8A* xq,
                            const int32_t* xsum, int64_t n, int64_t k, int64_t m, int64_t j0, int64_t j1,
                            const float* bias, float* y) {
  const int64_t nb = k / 32;
  if (is_kquant(t)) {
    const size_t sb_bytes = static_cast<size_t>(dtype_info(t).block_bytes);
    KBlock32 kb;
    for (int64_t j = j0; j < j1; ++j) {
      const uint8_t* row = w + j * row_bytes;
      const float b0 = bias != nullptr ? bias[j] : 0.0f;
      for (int64_t i = 0; i < n; ++i) {
        const BlockQ8A* xb = xq + i * nb;
        float acc = 0.0f;
        for (int64_t b = 0; b < nb; ++b) {
          kquant_block32(t, row + static_cast<size_t>(b / 8) * sb_bytes, static_cast<int>(b % 8), &kb);
          int32_t isum[2] = {0, 0};
          for (int e = 0; e < 32; ++e) isum[e / 16] += static_cast<int32_t>(kb.q[e]) * xb[b].qs[e];
          const float v = kb.scale[0] * static_cast<float>(isum[0]) + kb.scale[1] * static_cast<float>(isum[1]) -
                          kb.min * static_cast<float>(xsum[i * nb + b]);
          acc += xb[b].d * v;
        }
        y[i * m + j] = acc + b0;
      }
    }
    return;
  }
  int8_t q[32];
  for (int64_t j = j0; j < j1; ++j) {
    const uint8_t* row = w + j * row_bytes;
    const float b0 = bias != nullptr ? bias[j] : 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      const BlockQ8A* xb = xq + i * nb;
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const float dw = weight_block(t, row, b, q);
        int32_t isum = 0;
        for (int jj = 0; jj < 32; ++jj) isum += static_cast<int32_t>(q[jj]) * xb[b].qs[jj];
        acc += (dw * xb[b].d) * static_cast<float>(isum);
      }
      y[i * m + j] = acc + b0;
    }
  }
}

}  // namespace tandem::kernels
