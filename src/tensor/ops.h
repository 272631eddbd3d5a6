// CPU ops of the forward pass. All of them are batch-invariant: the value of
// an output element depends only on its own input row (and the weights),
// never on how many rows are processed together or where a row sits in the
// batch. Reductions run in a fixed order that depends only on their length.
//
// Activations are f32, row-major. Weights are TensorViews of any dtype that
// dequantize_row supports.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "base/thread_pool.h"
#include "tensor/tensor.h"

namespace tandem::ops {

// Kernel families, each a superset of the one before; the widest the CPU has
// is chosen at startup. kAvx2: AVX2 + FMA + F16C. kAvx512: AVX-512 F, BW,
// VL, DQ and VNNI on top (the packed f32 / f16 / bf16 / q8_0 / q4_0 matmuls
// run 16 outputs per register; the rest stays on AVX2). kAvx512 gives
// bitwise the results of kAvx2: each output's chain of operations is the
// same, only more of them run side by side. TANDEM_ISA=scalar|avx2|avx512 in
// the environment caps the choice.
enum class Isa { kScalar, kAvx2, kAvx512 };
Isa active_isa();
const char* isa_name(Isa isa);
// For tests and benchmarks: switch kernels. Returns false if the CPU lacks it.
bool set_isa(Isa isa);

// Dot product with a fixed 16-lane accumulation order.
float dot_f32(const float* a, const float* b, int64_t n);

// Weight dtypes matmul computes on every ISA (f32, f16, bf16, q8_0, q4_0).
bool matmul_supports(DType t);

// Whether matmul on the active ISA runs faster on w in Layout::kPanel8
// (packed::pack); matmul and embedding_row accept either layout.
bool prefers_panel8(DType t);

// y[i, j] = sum_k x[i, k] * w[j, k] (+ bias[j])  for i < n, j < m.
// x: [n, k]; w: [m, k] any weight dtype; bias: [m] f32 or null; y: [n, m].
// f32 / f16 / bf16 weights: f32 products of x and the stored weights.
// q8_0 / q4_0 weights: as llama.cpp, x is first quantized per block of 32
// (d = max|x| / 127, q = round(x / d)) and each block contributes
// d_w * d_x * (exact integer dot of the quants).
// Each weight row is read (and dequantized) once per call, whatever n.
void matmul(const float* x, int64_t n, int64_t k, const TensorView& w, const float* bias, float* y,
            ThreadPool* pool);

// Several matmuls of the same x (Q, K and V; gate and up) as one parallel
// region with one activation quantization: each output is bitwise what
// matmul() gives, only the synchronisation is shared. Falls back to one
// matmul() per weight where the weights do not share a fast path.
struct MatmulTarget {
  const TensorView* w;
  const float* bias;  // [m] or null
  float* y;           // [n, m]
};
void matmul_many(const float* x, int64_t n, int64_t k, std::initializer_list<MatmulTarget> targets,
                 ThreadPool* pool);

// y[i] = x[i] / sqrt(mean(x[i]^2) + eps) * weight, rows of length dim.
void rmsnorm(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps, float* y);

enum class RopeStyle {
  kNeox,         // rotate half: pairs (i, i + d/2)  -- Hugging Face Llama / Qwen2
  kInterleaved,  // adjacent pairs (2i, 2i + 1)       -- GGUF llama (permuted Q/K)
};

// Precomputed inverse frequencies for RoPE: inv_freq[i] = theta^(-2i/d).
struct RopeTable {
  int head_dim = 0;
  RopeStyle style = RopeStyle::kNeox;
  float inv_freq[256] = {};  // head_dim / 2 entries
};
RopeTable make_rope_table(int head_dim, float theta, RopeStyle style);

// Rotates x: [n_tokens, n_heads, head_dim] in place; pos[t] is token t's position.
void rope(float* x, const int32_t* pos, int64_t n_tokens, int n_heads, const RopeTable& table);

// out[i] = silu(gate[i]) * up[i]
void silu_mul(const float* gate, const float* up, float* out, int64_t n);

// In-place numerically stable softmax of x[0..n).
void softmax(float* x, int64_t n);

// `heads` query heads that share one KV head (grouped-query attention), each
// attending over the same n cached positions:
//   out[g][d] = sum_j softmax_j(scale * dot(q[g], k_rows[j])) * v_rows[j][d]
// q, out: heads x hd floats, head after head; k_rows[j], v_rows[j]: rows of
// hd floats (positions in ascending order); scores: scratch of heads x n
// floats. Each head's result depends only on its q and the rows: it is
// bitwise the same whether computed alone or with the rest of its group.
void attend(const float* q, int heads, const float* const* k_rows, const float* const* v_rows, int64_t n, int hd,
            float scale, float* scores, float* out);

// out[j] = row `index` of embedding table w: [vocab, dim], dequantized.
void embedding_row(const TensorView& w, int64_t index, float* out);

}  // namespace tandem::ops
