#include "tensor/ops.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <string>
#include <cmath>
#include <vector>

#include "base/check.h"
#include "tensor/kernels.h"
#include "tensor/kquant.h"
#include "tensor/packed.h"
#include "tensor/quant.h"

namespace tandem::ops {

float dot_f32(const float* a, const float* b, int64_t n) {
  constexpr int kLanes = 16;
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) acc[l] += a[i + l] * b[i + l];
  }
  for (int l = 0; i < n; ++i, ++l) acc[l] += a[i] * b[i];
  // Pairwise tree over lanes: fixed order.
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int l = 0; l < width; ++l) acc[l] += acc[l + width];
  }
  return acc[0];
}

namespace {

bool cpu_has(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2: return kernels::cpu_has_avx2_fma_f16c();
    case Isa::kAvx512: return kernels::cpu_has_avx2_fma_f16c() && kernels::cpu_has_avx512();
  }
  return false;
}

Isa detect_isa() {
  Isa best = cpu_has(Isa::kAvx512) ? Isa::kAvx512 : cpu_has(Isa::kAvx2) ? Isa::kAvx2 : Isa::kScalar;
  if (const char* env = std::getenv("TANDEM_ISA")) {
    const std::string e = env;
    // A cap, never a request for more than the CPU has.
    if (e == "scalar") best = Isa::kScalar;
    if (e == "avx2" && best == Isa::kAvx512) best = Isa::kAvx2;
  }
  return best;
}

std::atomic<Isa> g_isa{detect_isa()};

}  // namespace

Isa active_isa() { return g_isa.load(std::memory_order_relaxed); }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    case Isa::kScalar: break;
  }
  return "scalar";
}

bool set_isa(Isa isa) {
  if (!cpu_has(isa)) return false;
  g_isa.store(isa, std::memory_order_relaxed);
  return true;
}

bool matmul_supports(DType t) { return kernels::avx2_supports(t); }

bool prefers_panel8(DType t) { return active_isa() != Isa::kScalar && packed::supports(t); }

namespace {

// The packed matmuls of the active SIMD ISA.
using kernels::PackedFn;
using kernels::PackedQ8AFn;
PackedFn packed_fn() {
  return active_isa() == Isa::kAvx512 ? kernels::matmul_packed_avx512 : kernels::matmul_packed_avx2;
}
PackedQ8AFn packed_q8a_fn() {
  return active_isa() == Isa::kAvx512 ? kernels::matmul_packed_q8a_avx512 : kernels::matmul_packed_q8a_avx2;
}

void run_rows(ThreadPool* pool, size_t n, size_t grain, const std::function<void(size_t, size_t)>& work,
              size_t parts = 0) {
  if (pool != nullptr) {
    pool->parallel_for(n, grain, work, parts);
  } else {
    work(0, n);
  }
}

// Runs fn(i0, i1, p0, p1) -- rows [i0, i1) of the activations against
// panels [p0, p1) -- over all n rows and `panels` panels of a packed matmul.
// row_block (kRowBlock below) is kPrefillRowBlock, or
// kPrefillRowBlockAvx512Float for the AVX-512 float kernels, which widen
// their weights once per call. Up to kRowBlock rows: guided chunks of
// 8-panel units, each over all rows. More: the units are (block of
// kRowBlock rows, panel) and chunks hold at least 8 of them, so every block
// of activations a thread brings into its L2 serves 4 or more panel pairs.
// Over all rows, the guided chunks shrank to 2-8 panels at 16 threads and
// each of them streamed all of x again (the AVX2 kernels' row blocks are
// kRowBlock rows too). Splitting never changes results: each output's chain
// is the same.
void run_packed(ThreadPool* pool, int64_t n, size_t panels, int64_t row_block,
                const std::function<void(int64_t, int64_t, size_t, size_t)>& fn) {
  const int64_t kRowBlock = row_block;
  if (n <= kRowBlock || pool == nullptr || pool->size() == 1) {
    // Chunks of whole 8-panel units: the AVX-512 decode tiles take 4 pairs
    // (float, q4_0) or 2 (q8_0, and q8_0 batches), so a chunk of any other
    // size ends in narrower tiles (and an odd panel in the AVX2 kernel).
    // Decode and batches up to kSmallBatchRows: claims of 1/threads of what
    // is left rather than the pool's default 1/(2 threads), so half as many
    // claims, each a cache-line transfer between the threads, which counted
    // in these short calls (matmul_bench --copies, alternating: 2048 x 2048
    // q4_0 decode from DRAM 44-47 -> 41-43 us a call, q8_0 at 16 rows
    // 170-175 -> 155-156 us; in TinyLlama runs the 16-sequence rate was
    // higher in 9 of 13 alternating pairs, within the VM's noise).
    // Prefill keeps the default.
    constexpr size_t kUnit = 8;
    const size_t parts =
        pool != nullptr && n <= kernels::kSmallBatchRows ? static_cast<size_t>(pool->size()) : 0;
    run_rows(
        pool, (panels + kUnit - 1) / kUnit, 1,
        [&](size_t u0, size_t u1) { fn(0, n, u0 * kUnit, std::min(panels, u1 * kUnit)); }, parts);
    return;
  }
  const size_t blocks = static_cast<size_t>((n + kRowBlock - 1) / kRowBlock);
  pool->parallel_for(blocks * panels, 8, [&](size_t u0, size_t u1) {
    for (size_t b = u0 / panels; b * panels < u1; ++b) {
      const size_t p0 = std::max(u0, b * panels) - b * panels, p1 = std::min(u1, (b + 1) * panels) - b * panels;
      const int64_t i0 = static_cast<int64_t>(b) * kRowBlock;
      fn(i0, std::min(n, i0 + kRowBlock), p0, p1);
    }
  });
}

bool is_int8_dtype(DType t) { return t == DType::kQ8_0 || t == DType::kQ4_0 || is_kquant(t); }

// The activations a packed matmul reads: x itself (rows k floats apart) or,
// for the AVX-512 float kernels' batches and prefill (more than 2 rows), a
// copy with rows k + 16 floats apart made once per matmul (per calling
// thread; the pool's threads read it until the matmul returns).
struct PackedX {
  const float* x;
  int64_t ldx;
  int64_t row_block;  // for run_packed
};

PackedX packed_x(const float* x, int64_t n, int64_t k, bool int8, ThreadPool* pool) {
  if (int8 || active_isa() != Isa::kAvx512 || n <= 2) return {x, k, kernels::kPrefillRowBlock};
  thread_local std::vector<float> pad;
  const int64_t ldx = k + 16;
  pad.resize(static_cast<size_t>(n * ldx));
  float* dst = pad.data();
  run_rows(pool, static_cast<size_t>(n), 32, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i)
      std::memcpy(dst + static_cast<int64_t>(i) * ldx, x + static_cast<int64_t>(i) * k,
                  static_cast<size_t>(k) * sizeof(float));
  });
  return {dst, ldx, kernels::kPrefillRowBlockAvx512Float};
}

// The active ISA's packed kernel on rows [i0, i1) and panels [p0, p1) of
// y = x W^T (+ bias): xq / xsum (int8 weights) or x (float weights) and y
// offset to row i0.
void packed_block(const TensorView& w, const PackedX& x, const kernels::BlockQ8A* xq, const int32_t* xsum,
                  int64_t k, int64_t i0, int64_t i1, size_t p0, size_t p1, const float* bias, float* y) {
  const auto* wb = static_cast<const uint8_t*>(w.data);
  const int64_t m = w.dim(0), nb = k / 32;
  if (xq != nullptr) {
    packed_q8a_fn()(w.dtype, wb, xq + i0 * nb, xsum + i0 * nb, i1 - i0, k, m, static_cast<int64_t>(p0),
                    static_cast<int64_t>(p1), bias, y + i0 * m);
  } else {
    packed_fn()(w.dtype, wb, x.x + i0 * x.ldx, x.ldx, i1 - i0, k, m, static_cast<int64_t>(p0),
                static_cast<int64_t>(p1), bias, y + i0 * m);
  }
}

// Activations quantized per block of 32 for the q8_0 / q4_0 integer dot
// products, as llama.cpp computes those layers. Each row is quantized on its
// own, so the result stays batch-invariant. Per calling thread.
// Also sets *xsum to each block's sum of quants (q4_0 and K-quant kernels
// correct for their unsigned quants with it).
const kernels::BlockQ8A* quantize_x(const float* x, int64_t n, int64_t k, bool simd, const int32_t** xsum,
                                    ThreadPool* pool) {
  thread_local std::vector<kernels::BlockQ8A> xq;
  thread_local std::vector<int32_t> sums;
  const int64_t nb = k / 32;
  xq.resize(static_cast<size_t>(n * nb));
  sums.resize(static_cast<size_t>(n * nb));
  kernels::BlockQ8A* q = xq.data();
  int32_t* s = sums.data();
  if (simd) {
    // Rows over the pool for prefill (16 x 2048 take 5.5 us on one thread).
    auto rows = [&](size_t i0, size_t i1) {
      const int64_t a = static_cast<int64_t>(i0), b = static_cast<int64_t>(i1);
      kernels::quantize_activations_avx2(x + a * k, b - a, k, q + a * nb, s + a * nb);
    };
    if (n >= 64) run_rows(pool, static_cast<size_t>(n), 32, rows);
    else rows(0, static_cast<size_t>(n));
  } else {
    kernels::quantize_activations_scalar(x, n, k, q);
    for (int64_t b = 0; b < n * nb; ++b) {
      int32_t t = 0;
      for (int8_t v : q[b].qs) t += v;
      s[b] = t;
    }
  }
  *xsum = s;
  return q;
}

// Scalar reference on kPanel8 weights: unpack each row, then the row-major
// reference kernels on it.
void matmul_panel8_scalar(const float* x, const kernels::BlockQ8A* xq, const int32_t* xsum, int64_t n, int64_t k,
                          const TensorView& w,
                          const float* bias, float* y, size_t j0, size_t j1) {
  const int64_t m = w.dim(0);
  const size_t rb = dtype_row_bytes(w.dtype, k);
  thread_local std::vector<uint8_t> row;
  row.resize(rb);
  for (size_t j = j0; j < j1; ++j) {
    packed::unpack_row(w.dtype, static_cast<const uint8_t*>(w.data), k, static_cast<int64_t>(j), row.data());
    const float* b = bias != nullptr ? bias + j : nullptr;
    if (xq != nullptr) {
      kernels::matmul_q8a_rows_scalar(w.dtype, row.data(), rb, xq, xsum, n, k, m, 0, 1, b, y + j);
    } else {
      kernels::matmul_rows_scalar(w.dtype, row.data(), rb, x, n, k, m, 0, 1, b, y + j);
    }
  }
}

}  // namespace

void matmul(const float* x, int64_t n, int64_t k, const TensorView& w, const float* bias, float* y,
            ThreadPool* pool) {
  TANDEM_CHECK(w.rank() == 2 && w.dim(1) == k, "matmul: weight shape " + w.shape_string() +
                                                   " does not match input width " + std::to_string(k));
  const int64_t m = w.dim(0);
  const size_t row_bytes = dtype_row_bytes(w.dtype, k);
  const uint8_t* wbase = static_cast<const uint8_t*>(w.data);
  const bool simd = active_isa() != Isa::kScalar;  // AVX2, or AVX-512 on top
  const DType t = w.dtype;
  const int32_t* xsum = nullptr;
  const kernels::BlockQ8A* xq = is_int8_dtype(t) ? quantize_x(x, n, k, simd, &xsum, pool) : nullptr;

  if (w.layout == Layout::kPanel8) {
    TANDEM_CHECK(packed::supports(t), "matmul: kPanel8 weight of unsupported dtype");
    if (!simd) {
      run_rows(pool, static_cast<size_t>(m), 16,
               [&](size_t j0, size_t j1) { matmul_panel8_scalar(x, xq, xsum, n, k, w, bias, y, j0, j1); });
      return;
    }
    const PackedX px = packed_x(x, n, k, xq != nullptr, pool);
    run_packed(pool, n, static_cast<size_t>(packed::n_panels(m)), px.row_block,
               [&](int64_t i0, int64_t i1, size_t p0, size_t p1) {
                 packed_block(w, px, xq, xsum, k, i0, i1, p0, p1, bias, y);
               });
    return;
  }

  std::function<void(size_t, size_t)> work;
  if (xq != nullptr) {
    kernels::MatmulQ8ARowsFn fn = simd ? kernels::matmul_q8a_rows_avx2 : kernels::matmul_q8a_rows_scalar;
    work = [=](size_t j0, size_t j1) {
      fn(t, wbase, row_bytes, xq, xsum, n, k, m, static_cast<int64_t>(j0), static_cast<int64_t>(j1), bias, y);
    };
  } else {
    kernels::MatmulRowsFn fn = kernels::matmul_rows_scalar;
    if (simd && kernels::avx2_supports(t)) fn = kernels::matmul_rows_avx2;
    work = [=](size_t j0, size_t j1) {
      fn(t, wbase, row_bytes, x, n, k, m, static_cast<int64_t>(j0), static_cast<int64_t>(j1), bias, y);
    };
  }
  run_rows(pool, static_cast<size_t>(m), 16, work);
}

void matmul_many(const float* x, int64_t n, int64_t k, std::initializer_list<MatmulTarget> targets,
                 ThreadPool* pool) {
  constexpr size_t kMax = 4;
  const bool simd = active_isa() != Isa::kScalar;  // AVX2, or AVX-512 on top
  bool fused = simd && targets.size() <= kMax && targets.size() > 1;
  const bool int8 = targets.size() > 0 && is_int8_dtype(targets.begin()->w->dtype);
  for (const MatmulTarget& t : targets) {
    TANDEM_CHECK(t.w->rank() == 2 && t.w->dim(1) == k, "matmul: weight shape " + t.w->shape_string() +
                                                           " does not match input width " + std::to_string(k));
    fused = fused && t.w->layout == Layout::kPanel8 && is_int8_dtype(t.w->dtype) == int8;
  }
  if (!fused) {
    for (const MatmulTarget& t : targets) matmul(x, n, k, *t.w, t.bias, t.y, pool);
    return;
  }
  const int32_t* xsum = nullptr;
  const kernels::BlockQ8A* xq = int8 ? quantize_x(x, n, k, simd, &xsum, pool) : nullptr;
  // Panels of all weights as one range: [start[i], start[i + 1]) is weight i's.
  const MatmulTarget* tg = targets.begin();
  const size_t nt = targets.size();
  size_t start[kMax + 1] = {0};
  for (size_t i = 0; i < nt; ++i)
    start[i + 1] = start[i] + static_cast<size_t>(packed::n_panels(tg[i].w->dim(0)));
  const PackedX px = packed_x(x, n, k, int8, pool);
  run_packed(pool, n, start[nt], px.row_block, [&](int64_t i0, int64_t i1, size_t u0, size_t u1) {
    for (size_t i = 0; i < nt; ++i) {
      const size_t a = std::max(u0, start[i]), b = std::min(u1, start[i + 1]);
      if (a < b) packed_block(*tg[i].w, px, xq, xsum, k, i0, i1, a - start[i], b - start[i], tg[i].bias, tg[i].y);
    }
  });
}

void rmsnorm(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps, float* y) {
  if (active_isa() == Isa::kAvx512) return kernels::rmsnorm_avx512(x, weight, n_rows, dim, eps, y);
  if (active_isa() != Isa::kScalar) return kernels::rmsnorm_avx2(x, weight, n_rows, dim, eps, y);
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    const float ss = dot_f32(xr, xr, dim);
    const float scale = 1.0f / std::sqrt(ss / static_cast<float>(dim) + eps);
    for (int64_t i = 0; i < dim; ++i) yr[i] = (xr[i] * scale) * weight[i];
  }
}

RopeTable make_rope_table(int head_dim, float theta, RopeStyle style) {
  TANDEM_CHECK(head_dim > 0 && head_dim % 2 == 0 && head_dim <= 512, "rope: bad head_dim");
  RopeTable t;
  t.head_dim = head_dim;
  t.style = style;
  for (int i = 0; i < head_dim / 2; ++i) {
    // As PyTorch references compute it: f32 exponent, f32 power.
    const float expo = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    t.inv_freq[i] = 1.0f / std::pow(theta, expo);
  }
  return t;
}

void rope(float* x, const int32_t* pos, int64_t n_tokens, int n_heads, const RopeTable& table) {
  const int d = table.head_dim;
  const int half = d / 2;
  float cs[256], sn[256];
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float p = static_cast<float>(pos[t]);
    for (int i = 0; i < half; ++i) {
      const float angle = p * table.inv_freq[i];
      cs[i] = std::cos(angle);
      sn[i] = std::sin(angle);
    }
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * d;
      if (table.style == RopeStyle::kNeox && active_isa() != Isa::kScalar) {
        (active_isa() == Isa::kAvx512 ? kernels::rope_neox_avx512 : kernels::rope_neox_avx2)(v, cs, sn, half);
        continue;
      }
      for (int i = 0; i < half; ++i) {
        const int a = table.style == RopeStyle::kNeox ? i : 2 * i;
        const int b = table.style == RopeStyle::kNeox ? i + half : 2 * i + 1;
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * cs[i] - x1 * sn[i];
        v[b] = x1 * cs[i] + x0 * sn[i];
      }
    }
  }
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  if (active_isa() == Isa::kAvx512) return kernels::silu_mul_avx512(gate, up, out, n);
  if (active_isa() != Isa::kScalar) return kernels::silu_mul_avx2(gate, up, out, n);
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = (g / (1.0f + std::exp(-g))) * up[i];
  }
}

void softmax(float* x, int64_t n) {
  if (active_isa() == Isa::kAvx512) return kernels::softmax_avx512(x, n);
  if (active_isa() != Isa::kScalar) return kernels::softmax_avx2(x, n);
  if (n <= 0) return;
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void attend(const float* q, int heads, const float* const* k_rows, const float* const* v_rows, int64_t n, int hd,
            float scale, float* scores, float* out) {
  if (active_isa() == Isa::kAvx512)
    return kernels::attend_avx512(q, heads, k_rows, v_rows, n, hd, scale, scores, out);
  if (active_isa() != Isa::kScalar)
    return kernels::attend_avx2(q, heads, k_rows, v_rows, n, hd, scale, scores, out);
  for (int g = 0; g < heads; ++g) {
    const float* qg = q + static_cast<int64_t>(g) * hd;
    float* sg = scores + g * n;
    float* og = out + static_cast<int64_t>(g) * hd;
    for (int64_t j = 0; j < n; ++j) sg[j] = dot_f32(qg, k_rows[j], hd) * scale;
    softmax(sg, n);
    std::fill(og, og + hd, 0.0f);
    for (int64_t j = 0; j < n; ++j)
      for (int d = 0; d < hd; ++d) og[d] += sg[j] * v_rows[j][d];
  }
}

void embedding_row(const TensorView& w, int64_t index, float* out) {
  const int64_t dim = w.dim(1);
  const uint8_t* src = static_cast<const uint8_t*>(w.data) + index * dtype_row_bytes(w.dtype, dim);
  thread_local std::vector<uint8_t> row;
  if (w.layout == Layout::kPanel8) {
    row.resize(dtype_row_bytes(w.dtype, dim));
    packed::unpack_row(w.dtype, static_cast<const uint8_t*>(w.data), dim, index, row.data());
    src = row.data();
  }
  TANDEM_CHECK(dequantize_row(w.dtype, src, out, dim), "embedding: unsupported dtype");
}

}  // namespace tandem::ops
