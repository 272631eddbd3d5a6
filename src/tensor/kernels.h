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

// Activations quantized for integer dot products against q8_0 / q4_0
// weights, as llama.cpp does: per block of 32, d = max|x| / 127 (f32),
// q = round-half-even(x * (1 / d)).
struct BlockQ8A {
  float d;
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8A) == 36);

// x: [n, k] -> out: [n, k / 32] blocks. k % 32 == 0.
void quantize_activations_scalar(const float* x, int64_t n, int64_t k, BlockQ8A* out);
// The same, bitwise, and sums[i * nb + b] = the sum of block b's quants.
void quantize_activations_avx2(const float* x, int64_t n, int64_t k, BlockQ8A* out, int32_t* sums);

// y[i * m + j] = sum over blocks b of (d_w[j, b] * d_x[i, b]) * isum(j, i, b)
// (+ bias[j]), where isum is the exact integer dot of the block's quants.
// For K-quants each 32-block b contributes
//   d_x * (scale0 * isum(first 16) + scale1 * isum(last 16) - min * xsum[b])
// (KBlock32 in kquant.h). xsum[i * nb + b]: sum of block b's quants of row i.
// Weight dtype q8_0, q4_0, q4_K, q5_K or q6_K.
using MatmulQ8ARowsFn = void (*)(DType t, const uint8_t* w, size_t row_bytes, const BlockQ8A* xq,
                                 const int32_t* xsum, int64_t n, int64_t k, int64_t m, int64_t j0,
                                 int64_t j1, const float* bias, float* y);
void matmul_q8a_rows_scalar(DType t, const uint8_t* w, size_t row_bytes, const BlockQ8A* xq,
                            const int32_t* xsum, int64_t n, int64_t k, int64_t m, int64_t j0, int64_t j1,
                            const float* bias, float* y);
void matmul_q8a_rows_avx2(DType t, const uint8_t* w, size_t row_bytes, const BlockQ8A* xq,
                          const int32_t* xsum, int64_t n, int64_t k, int64_t m, int64_t j0, int64_t j1,
                          const float* bias, float* y);

// Rows of activations the AVX2 packed float kernels take per block in
// prefill (their x block stays in L2); ops.cpp splits prefill work over
// threads in blocks of the same size (int8 weights too).
constexpr int64_t kPrefillRowBlock = 192;

// The AVX-512 float kernels' prefill: each call converts every weight of
// its panels to f32 once and runs all of its rows over it, so ops.cpp gives
// it blocks of up to this many rows, with x copied once per matmul to rows
// k + 16 floats apart (rows a multiple of 4 KiB apart would put a tile's
// broadcast streams in one L1 set).
constexpr int64_t kPrefillRowBlockAvx512Float = 512;

// Batches of up to this many rows (decode of many sequences) take the
// packed kernels' few-row tiles: one pass over all of k, every weight read
// once.
constexpr int64_t kSmallBatchRows = 48;

// Matmuls over kPanel8 weights (src/tensor/packed.h), panels [p0, p1):
// outputs j in [8 p0, min(m, 8 p1)). Float dtypes (f32, f16, bf16) take f32
// activations, rows ldx >= k floats apart; q8_0 / q4_0 take quantized
// activations and, for q4_0, xsum[i * nb + b] = sum of block b's quants of
// row i.
using PackedFn = void (*)(DType t, const uint8_t* w, const float* x, int64_t ldx, int64_t n, int64_t k, int64_t m,
                          int64_t p0, int64_t p1, const float* bias, float* y);
using PackedQ8AFn = void (*)(DType t, const uint8_t* w, const BlockQ8A* xq, const int32_t* xsum, int64_t n,
                             int64_t k, int64_t m, int64_t p0, int64_t p1, const float* bias, float* y);
void matmul_packed_avx2(DType t, const uint8_t* w, const float* x, int64_t ldx, int64_t n, int64_t k, int64_t m,
                        int64_t p0, int64_t p1, const float* bias, float* y);
void matmul_packed_q8a_avx2(DType t, const uint8_t* w, const BlockQ8A* xq, const int32_t* xsum, int64_t n,
                            int64_t k, int64_t m, int64_t p0, int64_t p1, const float* bias, float* y);

// The same contracts with AVX-512 (F, BW, VL, DQ, VNNI; only called after
// cpu_has_avx512()): f32 / f16 / bf16 / q8_0 / q4_0 / q4_K / q5_K / q6_K
// panels two at a time in 512-bit registers, a last odd panel on the AVX2
// kernels. Every output's operations are those of the AVX2 kernels, so the
// results are bitwise the same (src/tensor/kernels_packed_avx512.cpp).
void matmul_packed_avx512(DType t, const uint8_t* w, const float* x, int64_t ldx, int64_t n, int64_t k, int64_t m,
                          int64_t p0, int64_t p1, const float* bias, float* y);
void matmul_packed_q8a_avx512(DType t, const uint8_t* w, const BlockQ8A* xq, const int32_t* xsum, int64_t n,
                              int64_t k, int64_t m, int64_t p0, int64_t p1, const float* bias, float* y);

// Row ops (src/tensor/kernels_ops_avx2.cpp); ops.h states their contracts.
float dot_avx2(const float* a, const float* b, int64_t n);
void rmsnorm_avx2(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps, float* y);
void softmax_avx2(float* x, int64_t n);
void silu_mul_avx2(const float* gate, const float* up, float* out, int64_t n);
// Rotate-half RoPE of one head vector v[0, 2 half) with per-pair cos / sin.
void rope_neox_avx2(float* v, const float* cs, const float* sn, int half);
// The rotation of rope_neox_avx2 on n pairs (a[i], b[i]).
void rope_pairs_avx2(float* a, float* b, const float* cs, const float* sn, int n);
void attend_avx2(const float* q, int heads, const float* const* k_rows, const float* const* v_rows, int64_t n,
                 int hd, float scale, float* scores, float* out);
// The AVX2 row ops' contracts with AVX-512 (only called after
// cpu_has_avx512()), bitwise their results (src/tensor/kernels_ops_avx512.cpp).
void rmsnorm_avx512(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps, float* y);
void softmax_avx512(float* x, int64_t n);
void silu_mul_avx512(const float* gate, const float* up, float* out, int64_t n);
void rope_neox_avx512(float* v, const float* cs, const float* sn, int half);
void attend_avx512(const float* q, int heads, const float* const* k_rows, const float* const* v_rows, int64_t n,
                   int hd, float scale, float* scores, float* out);

// Which dtypes the kernels handle: the scalar reference and AVX2 cover the
// same set (ops::matmul_supports reports it).
bool avx2_supports(DType t);
bool cpu_has_avx2_fma_f16c();
// AVX-512 F, BW, VL, DQ and VNNI, with the OS saving the 512-bit state.
bool cpu_has_avx512();

}  // namespace tandem::kernels
