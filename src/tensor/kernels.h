// Per-ISA kernel entry points behind ops::matmul. Internal to the tensor
// module: other modules call ops.h.
//
// Every implementation computes, for each output (i, j), one dot product over
// k whose summation order depends only on k and the ISA -- never on n, on the
// row's place in the batch, or on how work is split over threads -- so the
// forward pass is batch-invariant on any machine.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"

namespace tandem::kernels {

// y[i * m + j] = dot(x[i, :], W[j, :]) + (bias ? bias[j] : 0)
// for i in [0, n), j in [j0, j1). W rows are `row_bytes` apart starting at w.
using MatmulRowsFn = void (*)(DType t, const uint8_t* w, size_t row_bytes, const float* x, int64_t n,
                              int64_t k, int64_t m, int64_t j0, int64_t j1, const float* bias, float* y);

void matmul_rows_scalar(DType t, const uint8_t* w, size_t row_bytes, const float* x, int64_t n,
                        int64_t k, int64_t m, int64_t j0, int64_t j1, const float* bias, float* y);
void matmul_rows_avx2(DType t, const uint8_t* w, size_t row_bytes, const float* x, int64_t n, int64_t k,
                      int64_t m, int64_t j0, int64_t j1, const float* bias, float* y);

// Which dtypes the AVX2 kernel handles (others fall back to scalar).
bool avx2_supports(DType t);
bool cpu_has_avx2_fma_f16c();

}  // namespace tandem::kernels
