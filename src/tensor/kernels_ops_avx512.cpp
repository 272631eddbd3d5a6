// AVX-512 row ops: attention over cached K/V rows, SwiGLU, softmax and
// RMSNorm, with the contracts of their AVX2 versions (kernels_ops_avx2.cpp)
// and every output's operations exactly those of the AVX2 kernel, so the
// results are bitwise the same. Attention:
//   scores: a 512-bit accumulator per key holds, in lanes 0..7 and 8..15, the
//           two 8-lane FMA chains the AVX2 dot4 keeps over each 16-wide chunk
//           of head dimensions; they are added, halved and reduced in the
//           same order as there;
//   output: out[d] is one FMA chain over the positions in ascending order,
//           16 dimensions per register instead of 8, blocks of positions
//           parked in `out` as in the AVX2 kernel.
// Single-key scores and head sizes that are not a multiple of 16 run the
// AVX2 code. SwiGLU and softmax use exp16, exp8's steps on 16 lanes; softmax
// adds the exponentials into its 8-lane sum half a register at a time, in
// the AVX2 order. RMSNorm takes its sum of squares from the AVX2 dot and
// scales 16 values per step. RoPE stays AVX2.
//
// As in kernels_packed_avx512.cpp, the instruction set is switched on by a
// pragma after the includes, not by a compiler flag.
#include <immintrin.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>

#include "tensor/kernels.h"

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's _mm512_undefined_* trip -Wmaybe-uninitialized (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")
#define TANDEM_AVX512_FN
#else
#define TANDEM_AVX512_FN __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")))
#endif

namespace tandem::kernels {
namespace {

// Reduces four 4-key score accumulators (AVX2 dot4's chains s0 and s1 in
// lanes 0..7 and 8..15) to the four scores, times scale, at out.
TANDEM_AVX512_FN inline void store_scores4(const __m512 s[4], float scale, float* out) {
  __m128 t[4];
  for (int u = 0; u < 4; ++u) {
    const __m256 v = _mm256_add_ps(_mm512_castps512_ps256(s[u]), _mm512_extractf32x8_ps(s[u], 1));
    t[u] = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  }
  _MM_TRANSPOSE4_PS(t[0], t[1], t[2], t[3]);
  const __m128 r = _mm_add_ps(_mm_add_ps(t[0], t[2]), _mm_add_ps(t[1], t[3]));
  _mm_storeu_ps(out, _mm_mul_ps(r, _mm_set1_ps(scale)));
}

// Scores of 4 keys against q (n % 16 == 0), times scale: AVX2 dot4's chains
// s0 (dimensions 16i..16i+7) and s1 (16i+8..16i+15) are lanes 0..7 and 8..15.
TANDEM_AVX512_FN inline void dot4(const float* q, const float* const* k, int64_t n, float scale, float* out) {
  __m512 s[4];
  for (int u = 0; u < 4; ++u) s[u] = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __m512 qv = _mm512_loadu_ps(q + i);
    for (int u = 0; u < 4; ++u) s[u] = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k[u] + i), s[u]);
  }
  store_scores4(s, scale, out);
}

// dot4 for two query heads q0, q1 at once (out0, out1): the same chains
// per head, eight of them in flight instead of four, and one load of each
// key chunk for both heads.
TANDEM_AVX512_FN inline void dot4x2(const float* q0, const float* q1, const float* const* k, int64_t n, float scale,
                                    float* out0, float* out1) {
  __m512 s[2][4];
  for (int h = 0; h < 2; ++h)
    for (int u = 0; u < 4; ++u) s[h][u] = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __m512 qv0 = _mm512_loadu_ps(q0 + i), qv1 = _mm512_loadu_ps(q1 + i);
    for (int u = 0; u < 4; ++u) {
      const __m512 kv = _mm512_loadu_ps(k[u] + i);
      s[0][u] = _mm512_fmadd_ps(qv0, kv, s[0][u]);
      s[1][u] = _mm512_fmadd_ps(qv1, kv, s[1][u]);
    }
  }
  store_scores4(s[0], scale, out0);
  store_scores4(s[1], scale, out1);
}

// dot4 for four query heads (q0 + h * hd) at once: each key chunk loaded
// once for four heads, 16 chains in flight; the same chains per head.
TANDEM_AVX512_FN inline void dot4x4(const float* q0, int64_t hd, const float* const* k, float scale, float* out0,
                                    int64_t out_stride) {
  __m512 s[4][4];
  for (int h = 0; h < 4; ++h)
    for (int u = 0; u < 4; ++u) s[h][u] = _mm512_setzero_ps();
  for (int64_t i = 0; i < hd; i += 16) {
    __m512 qv[4];
    for (int h = 0; h < 4; ++h) qv[h] = _mm512_loadu_ps(q0 + h * hd + i);
    for (int u = 0; u < 4; ++u) {
      const __m512 kv = _mm512_loadu_ps(k[u] + i);
      for (int h = 0; h < 4; ++h) s[h][u] = _mm512_fmadd_ps(qv[h], kv, s[h][u]);
    }
  }
  for (int h = 0; h < 4; ++h) store_scores4(s[h], scale, out0 + h * out_stride);
}

// e^x for 16 lanes: exp8 of kernels_ops_avx2.cpp step for step (the same
// clamps, rounding, Cody-Waite split, polynomial and 2^n by exponent bits),
// so each lane is bitwise exp8's.
TANDEM_AVX512_FN inline __m512 exp16(__m512 x) {
  const __m512 hi = _mm512_set1_ps(88.7228f), lo = _mm512_set1_ps(-87.3365f);
  const __mmask16 big = _mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ);
  const __mmask16 small = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
  x = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  const __m512i ni = _mm512_cvtps_epi32(n);
  const __m512i n1 = _mm512_srai_epi32(ni, 1), n2 = _mm512_sub_epi32(ni, n1);
  const __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, _mm512_set1_epi32(127)), 23));
  const __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, _mm512_set1_epi32(127)), 23));
  __m512 y = _mm512_mul_ps(_mm512_mul_ps(p, s1), s2);
  y = _mm512_mask_blend_ps(big, y, _mm512_set1_ps(__builtin_inff()));
  return _mm512_mask_blend_ps(small, y, _mm512_setzero_ps());
}

// Lanes [0, n) for n < 16.
TANDEM_AVX512_FN inline __mmask16 first(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

}  // namespace

namespace {

// silu(g) * u as silu_mul_avx2 computes it: g / (1 + e^-g), times u.
TANDEM_AVX512_FN inline __m512 silu_mul16(__m512 g, __m512 u) {
  const __m512 e = exp16(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(g), _mm512_set1_epi32(INT32_MIN))));
  return _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e)), u);
}

}  // namespace

TANDEM_AVX512_FN void silu_mul_avx512(const float* gate, const float* up, float* out, int64_t n) {
  // silu_mul16 is a function rather than a lambda: clang gives a lambda no
  // target attribute, and 512-bit arguments need one.
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, silu_mul16(_mm512_loadu_ps(gate + i), _mm512_loadu_ps(up + i)));
  if (i < n) {
    const __mmask16 k = first(n - i);
    _mm512_mask_storeu_ps(out + i, k, silu_mul16(_mm512_maskz_loadu_ps(k, gate + i), _mm512_maskz_loadu_ps(k, up + i)));
  }
}

TANDEM_AVX512_FN void softmax_avx512(float* x, int64_t n) {
  if (n < 16) return softmax_avx2(x, n);
  // The maximum does not depend on the order it is taken in.
  __m512 mx = _mm512_set1_ps(-__builtin_inff());
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(x + i));
  float m = _mm512_reduce_max_ps(mx);
  for (int64_t j = i; j < n; ++j) m = std::fmax(m, x[j]);
  const __m512 mv = _mm512_set1_ps(m);
  // AVX2's sum: an 8-lane accumulator, one 8-value chunk after another, the
  // last partial chunk masked; then its hsum.
  __m256 sum = _mm256_setzero_ps();
  for (i = 0; i + 16 <= n; i += 16) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), mv));
    _mm512_storeu_ps(x + i, e);
    sum = _mm256_add_ps(sum, _mm512_castps512_ps256(e));
    sum = _mm256_add_ps(sum, _mm512_extractf32x8_ps(e, 1));
  }
  if (i < n) {
    const __mmask16 k = first(n - i);
    const __m512 e = _mm512_maskz_mov_ps(k, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), mv)));
    _mm512_mask_storeu_ps(x + i, k, e);
    sum = _mm256_add_ps(sum, _mm512_castps512_ps256(e));
    if (n - i > 8) sum = _mm256_add_ps(sum, _mm512_extractf32x8_ps(e, 1));
  }
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  const __m512 inv = _mm512_set1_ps(1.0f / _mm_cvtss_f32(h));
  for (i = 0; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), inv));
  if (i < n) {
    const __mmask16 k = first(n - i);
    _mm512_mask_storeu_ps(x + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), inv));
  }
}

TANDEM_AVX512_FN void rmsnorm_avx512(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps,
                                     float* y) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    const float ss = dot_avx2(xr, xr, dim);
    const __m512 scale = _mm512_set1_ps(1.0f / std::sqrt(ss / static_cast<float>(dim) + eps));
    int64_t i = 0;
    for (; i + 16 <= dim; i += 16)
      _mm512_storeu_ps(yr + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(xr + i), scale), _mm512_loadu_ps(weight + i)));
    if (i < dim) {
      const __mmask16 k = first(dim - i);
      _mm512_mask_storeu_ps(
          yr + i, k,
          _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, xr + i), scale), _mm512_maskz_loadu_ps(k, weight + i)));
    }
  }
}

TANDEM_AVX512_FN void attend_avx512(const float* q, int heads, const float* const* k_rows,
                                    const float* const* v_rows, int64_t n, int hd, float scale, float* scores,
                                    float* out) {
  if (hd % 16 != 0) return attend_avx2(q, heads, k_rows, v_rows, n, hd, scale, scores, out);
  // Blocks of kJb positions, as in attend_avx2: the score groups of four
  // start at the same multiples of 4, and the output chains are parked in
  // `out` between blocks.
  constexpr int64_t kJb = 32;
  // The cache rows come from DRAM in batched decode (each sequence's rows
  // once per step) and the loads stalled on them (perf): the first head
  // group asks for the K rows kAhead positions on, and for the V rows kAhead
  // positions on in the PV loop, those of the first block up front (into
  // L2). TinyLlama q8_0, 16 sequences: attention 3.51 -> 2.96 ms a step.
  constexpr int64_t kAhead = 8;
  const int lines = hd * 4 / 64;
  auto prefetch_row = [&](const float* row, int hint) {
    for (int l = 0; l < lines; ++l) {
      if (hint == 0) _mm_prefetch(reinterpret_cast<const char*>(row) + 64 * l, _MM_HINT_T0);
      else _mm_prefetch(reinterpret_cast<const char*>(row) + 64 * l, _MM_HINT_T1);
    }
  };
  for (int64_t j = 0; j < std::min(n, kAhead); ++j) prefetch_row(k_rows[j], 0);
  for (int64_t j = 0; j < std::min(n, kJb); ++j) prefetch_row(v_rows[j], 1);
  for (int64_t jb = 0; jb < n; jb += kJb) {
    const int64_t je = std::min(n, jb + kJb);
    int g = 0;
    for (; g + 4 <= heads; g += 4) {
      const float* qg = q + static_cast<int64_t>(g) * hd;
      float* sg = scores + g * n;
      int64_t j = jb;
      for (; j + 4 <= je; j += 4) {
        if (g == 0)
          for (int64_t a = j + kAhead; a < std::min(n, j + kAhead + 4); ++a) prefetch_row(k_rows[a], 0);
        dot4x4(qg, hd, k_rows + j, scale, sg + j, n);
      }
      for (; j < je; ++j)
        for (int h = 0; h < 4; ++h) sg[h * n + j] = dot_avx2(qg + h * hd, k_rows[j], hd) * scale;
    }
    for (; g + 2 <= heads; g += 2) {
      const float* qg = q + static_cast<int64_t>(g) * hd;
      float* sg = scores + g * n;
      int64_t j = jb;
      for (; j + 4 <= je; j += 4) dot4x2(qg, qg + hd, k_rows + j, hd, scale, sg + j, sg + n + j);
      for (; j < je; ++j) {
        sg[j] = dot_avx2(qg, k_rows[j], hd) * scale;
        sg[n + j] = dot_avx2(qg + hd, k_rows[j], hd) * scale;
      }
    }
    for (; g < heads; ++g) {
      const float* qg = q + static_cast<int64_t>(g) * hd;
      float* sg = scores + g * n;
      int64_t j = jb;
      for (; j + 4 <= je; j += 4) dot4(qg, k_rows + j, hd, scale, sg + j);
      for (; j < je; ++j) sg[j] = dot_avx2(qg, k_rows[j], hd) * scale;
    }
  }
  for (int g = 0; g < heads; ++g) softmax_avx512(scores + g * n, n);
  for (int d = 0; d < hd;) {
    const int nv = std::min(8, (hd - d) / 16);
    for (int64_t jb = 0; jb < n; jb += kJb) {
      const int64_t je = std::min(n, jb + kJb);
      int g = 0;
      if (nv == 4) {
        // Head size 64, the common case: four heads at once, each with its
        // own chains (16 in flight; one head's 4 chains left the FMA units
        // waiting on their latency), sharing the loads of each V row.
        for (; g + 4 <= heads; g += 4) {
          __m512 acc[4][4];
          for (int h = 0; h < 4; ++h)
            for (int u = 0; u < 4; ++u)
              acc[h][u] = jb == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(out + static_cast<int64_t>(g + h) * hd + d + 16 * u);
          const float* sg = scores + g * n;
          for (int64_t j = jb; j < je; ++j) {
            if (g == 0 && d == 0 && j + kAhead >= kJb && j + kAhead < n) prefetch_row(v_rows[j + kAhead], 0);
            const float* vj = v_rows[j] + d;
            const __m512 v0 = _mm512_loadu_ps(vj), v1 = _mm512_loadu_ps(vj + 16), v2 = _mm512_loadu_ps(vj + 32),
                         v3 = _mm512_loadu_ps(vj + 48);
            for (int h = 0; h < 4; ++h) {
              const __m512 sj = _mm512_set1_ps(sg[h * n + j]);
              acc[h][0] = _mm512_fmadd_ps(sj, v0, acc[h][0]);
              acc[h][1] = _mm512_fmadd_ps(sj, v1, acc[h][1]);
              acc[h][2] = _mm512_fmadd_ps(sj, v2, acc[h][2]);
              acc[h][3] = _mm512_fmadd_ps(sj, v3, acc[h][3]);
            }
          }
          for (int h = 0; h < 4; ++h)
            for (int u = 0; u < 4; ++u) _mm512_storeu_ps(out + static_cast<int64_t>(g + h) * hd + d + 16 * u, acc[h][u]);
        }
      }
      for (; g < heads; ++g) {
        const float* sg = scores + g * n;
        float* og = out + static_cast<int64_t>(g) * hd + d;
        __m512 acc[8];
        for (int u = 0; u < 8; ++u) acc[u] = jb == 0 || u >= nv ? _mm512_setzero_ps() : _mm512_loadu_ps(og + 16 * u);
        if (nv == 4) {  // head size 64, the common case
          for (int64_t j = jb; j < je; ++j) {
            const __m512 sj = _mm512_set1_ps(sg[j]);
            const float* vj = v_rows[j] + d;
            for (int u = 0; u < 4; ++u) acc[u] = _mm512_fmadd_ps(sj, _mm512_loadu_ps(vj + 16 * u), acc[u]);
          }
        } else {
          for (int64_t j = jb; j < je; ++j) {
            const __m512 sj = _mm512_set1_ps(sg[j]);
            const float* vj = v_rows[j] + d;
            for (int u = 0; u < nv; ++u) acc[u] = _mm512_fmadd_ps(sj, _mm512_loadu_ps(vj + 16 * u), acc[u]);
          }
        }
        for (int u = 0; u < nv; ++u) _mm512_storeu_ps(og + 16 * u, acc[u]);
      }
    }
    d += 16 * nv;
  }
}

// rope_neox_avx2's operations per element (a = fmsub(x0, c, x1 * s),
// b = fmadd(x1, c, x0 * s)), 16 pairs per step; the last half % 16 pairs go
// to the AVX2 code itself (8 per step, then scalar), so results are bitwise.
TANDEM_AVX512_FN void rope_neox_avx512(float* v, const float* cs, const float* sn, int half) {
  int i = 0;
  for (; i + 16 <= half; i += 16) {
    const __m512 x0 = _mm512_loadu_ps(v + i), x1 = _mm512_loadu_ps(v + half + i);
    const __m512 c = _mm512_loadu_ps(cs + i), s = _mm512_loadu_ps(sn + i);
    _mm512_storeu_ps(v + i, _mm512_fmsub_ps(x0, c, _mm512_mul_ps(x1, s)));
    _mm512_storeu_ps(v + half + i, _mm512_fmadd_ps(x1, c, _mm512_mul_ps(x0, s)));
  }
  rope_pairs_avx2(v + i, v + half + i, cs + i, sn + i, half - i);
}

}  // namespace tandem::kernels

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
