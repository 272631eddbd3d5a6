// Portable reference kernels: dequantize one weight row into f32, then a
// 16-lane dot product (ops::dot_f32) with every activation row. The other
// ISAs are checked against these (src/tensor/ops_test.cpp).
#include <vector>

#include "base/check.h"
#include "tensor/kernels.h"
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
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

}  // namespace tandem::kernels
