// AVX2 + FMA versions of the forward pass's row ops (RMSNorm, softmax,
// SwiGLU, RoPE, attention over cached K/V rows). Each output depends only on
// its own row, and every reduction runs in an order fixed by the row length,
// so they are batch-invariant like the scalar references in ops.cpp, which
// they match within the tolerances of ops_test's table.
//
// Compiled with -mavx2 -mfma -mf16c; only called after
// cpu_has_avx2_fma_f16c() said yes.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/avx2_util.h"
#include "tensor/kernels.h"

namespace tandem::kernels {
namespace {

using avx2::hsum;

inline float hmax8(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// e^x for 8 lanes: x = n ln2 + r with |r| <= ln2 / 2, e^r by a degree-6
// polynomial (Taylor, relative error < 2e-7 on that range), 2^n through the
// exponent bits. Inputs below -87.3 give 0, above 88.7 give +inf.
inline __m256 exp8(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.7228f), lo = _mm256_set1_ps(-87.3365f);
  const __m256 big = _mm256_cmp_ps(x, hi, _CMP_GT_OQ);
  const __m256 small = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // r = x - n ln2 in two steps (Cody-Waite) for accuracy.
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  // 2^n: n in [-126, 128]; split so each factor is a normal float.
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
  __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
  y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), big);
  return _mm256_blendv_ps(y, _mm256_setzero_ps(), small);
}

inline __m256 load_partial(const float* p, int64_t n) { return avx2::load_first(p, n); }
inline void store_partial(float* p, __m256 v, int64_t n) { avx2::store_first(p, v, n); }

// Dot product with two 8-lane accumulators (16 values per step), fixed order.
inline float dot(const float* a, const float* b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  if (i + 8 <= n) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    i += 8;
  }
  if (i < n) s1 = _mm256_fmadd_ps(load_partial(a + i, n - i), load_partial(b + i, n - i), s1);
  return hsum(_mm256_add_ps(s0, s1));
}

// dot(q, k[u], n) for four rows at once, bitwise equal to four dot() calls
// (same two chains per row, same final reduction order); n % 16 == 0.
inline void dot4(const float* q, const float* const* k, int64_t n, float scale, float* out) {
  __m256 s0[4], s1[4];
  for (int u = 0; u < 4; ++u) s0[u] = s1[u] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __m256 qa = _mm256_loadu_ps(q + i), qb = _mm256_loadu_ps(q + i + 8);
    for (int u = 0; u < 4; ++u) {
      s0[u] = _mm256_fmadd_ps(qa, _mm256_loadu_ps(k[u] + i), s0[u]);
      s1[u] = _mm256_fmadd_ps(qb, _mm256_loadu_ps(k[u] + i + 8), s1[u]);
    }
  }
  __m128 t[4];
  for (int u = 0; u < 4; ++u) {
    const __m256 v = _mm256_add_ps(s0[u], s1[u]);
    t[u] = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  }
  // Row u of the transpose holds lane u of every t: hsum's (a0 + a2) + (a1 + a3).
  _MM_TRANSPOSE4_PS(t[0], t[1], t[2], t[3]);
  const __m128 r = _mm_add_ps(_mm_add_ps(t[0], t[2]), _mm_add_ps(t[1], t[3]));
  _mm_storeu_ps(out, _mm_mul_ps(r, _mm_set1_ps(scale)));
}

// Scores of two heads (q0, q1) against two keys (k0, k1), times scale, into
// out0[0..1] and out1[0..1]: each score with dot4's two chains and its
// final reduction, so bitwise dot4's and dot()'s; n % 16 == 0. Each K load
// feeds two FMAs (8 loads per 8 FMAs, dot4 has 10).
inline void dot2x2(const float* q0, const float* q1, const float* const* k, int64_t n, float scale, float* out0,
                   float* out1) {
  __m256 s0[4], s1[4];  // combination c = 2 * head + key
  for (int c = 0; c < 4; ++c) s0[c] = s1[c] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __m256 ka = _mm256_loadu_ps(k[0] + i), kb = _mm256_loadu_ps(k[0] + i + 8);
    const __m256 la = _mm256_loadu_ps(k[1] + i), lb = _mm256_loadu_ps(k[1] + i + 8);
    const __m256 qa = _mm256_loadu_ps(q0 + i), qb = _mm256_loadu_ps(q0 + i + 8);
    s0[0] = _mm256_fmadd_ps(qa, ka, s0[0]);
    s1[0] = _mm256_fmadd_ps(qb, kb, s1[0]);
    s0[1] = _mm256_fmadd_ps(qa, la, s0[1]);
    s1[1] = _mm256_fmadd_ps(qb, lb, s1[1]);
    const __m256 ra = _mm256_loadu_ps(q1 + i), rb = _mm256_loadu_ps(q1 + i + 8);
    s0[2] = _mm256_fmadd_ps(ra, ka, s0[2]);
    s1[2] = _mm256_fmadd_ps(rb, kb, s1[2]);
    s0[3] = _mm256_fmadd_ps(ra, la, s0[3]);
    s1[3] = _mm256_fmadd_ps(rb, lb, s1[3]);
  }
  __m128 t[4];
  for (int c = 0; c < 4; ++c) {
    const __m256 v = _mm256_add_ps(s0[c], s1[c]);
    t[c] = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  }
  _MM_TRANSPOSE4_PS(t[0], t[1], t[2], t[3]);
  const __m128 r = _mm_mul_ps(_mm_add_ps(_mm_add_ps(t[0], t[2]), _mm_add_ps(t[1], t[3])), _mm_set1_ps(scale));
  _mm_storel_pi(reinterpret_cast<__m64*>(out0), r);
  _mm_storeh_pi(reinterpret_cast<__m64*>(out1), r);
}

}  // namespace

float dot_avx2(const float* a, const float* b, int64_t n) { return dot(a, b, n); }

void rmsnorm_avx2(const float* x, const float* weight, int64_t n_rows, int64_t dim, float eps, float* y) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    const float ss = dot(xr, xr, dim);
    const __m256 scale = _mm256_set1_ps(1.0f / std::sqrt(ss / static_cast<float>(dim) + eps));
    int64_t i = 0;
    for (; i + 8 <= dim; i += 8)
      _mm256_storeu_ps(yr + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(xr + i), scale), _mm256_loadu_ps(weight + i)));
    if (i < dim)
      store_partial(yr + i,
                    _mm256_mul_ps(_mm256_mul_ps(load_partial(xr + i, dim - i), scale), load_partial(weight + i, dim - i)),
                    dim - i);
  }
}

void softmax_avx2(float* x, int64_t n) {
  if (n <= 0) return;
  __m256 mx = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(x + i));
  float m = hmax8(mx);
  for (int64_t j = i; j < n; ++j) m = std::fmax(m, x[j]);
  const __m256 mv = _mm256_set1_ps(m);
  __m256 sum = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
    _mm256_storeu_ps(x + i, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (i < n) {
    const __m256 e = exp8(_mm256_sub_ps(load_partial(x + i, n - i), mv));
    // Lanes past n would be exp(0 - m): mask them out of the sum.
    const __m256 keep = _mm256_castsi256_ps(avx2::lane_mask(n - i));
    sum = _mm256_add_ps(sum, _mm256_and_ps(e, keep));
    store_partial(x + i, e, n - i);
  }
  const __m256 inv = _mm256_set1_ps(1.0f / hsum(sum));
  for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
  if (i < n) store_partial(x + i, _mm256_mul_ps(load_partial(x + i, n - i), inv), n - i);
}

void silu_mul_avx2(const float* gate, const float* up, float* out, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  auto f = [&](__m256 g, __m256 u) {
    const __m256 e = exp8(_mm256_xor_ps(g, sign));  // e^-g
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), u);
  };
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, f(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  if (i < n) store_partial(out + i, f(load_partial(gate + i, n - i), load_partial(up + i, n - i)), n - i);
}

void rope_pairs_avx2(float* a, float* b, const float* cs, const float* sn, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x0 = _mm256_loadu_ps(a + i), x1 = _mm256_loadu_ps(b + i);
    const __m256 c = _mm256_loadu_ps(cs + i), s = _mm256_loadu_ps(sn + i);
    _mm256_storeu_ps(a + i, _mm256_fmsub_ps(x0, c, _mm256_mul_ps(x1, s)));
    _mm256_storeu_ps(b + i, _mm256_fmadd_ps(x1, c, _mm256_mul_ps(x0, s)));
  }
  for (; i < n; ++i) {
    const float x0 = a[i], x1 = b[i];
    a[i] = x0 * cs[i] - x1 * sn[i];
    b[i] = x1 * cs[i] + x0 * sn[i];
  }
}

void rope_neox_avx2(float* v, const float* cs, const float* sn, int half) { rope_pairs_avx2(v, v + half, cs, sn, half); }

void attend_avx2(const float* q, int heads, const float* const* k_rows, const float* const* v_rows, int64_t n,
                 int hd, float scale, float* scores, float* out) {
  // The heads share the K and V rows, so the positions are taken in blocks
  // of kJb rows (8 KiB of K or V for hd 64) that stay in L1 while every head
  // uses them, instead of each head streaming all n rows from L2. Blocking
  // changes no arithmetic: the score groups of four start at multiples of 4
  // as without blocks, and each output keeps one FMA chain over the
  // positions in ascending order, parked in `out` between blocks.
  constexpr int64_t kJb = 32;
  static_assert(kJb % 4 == 0);
  for (int64_t jb = 0; jb < n; jb += kJb) {
    const int64_t je = std::min(n, jb + kJb);
    int g = 0;
    if (hd % 16 == 0) {
      // Heads in pairs share each K load (every score is still dot()'s).
      for (; g + 2 <= heads; g += 2) {
        const float* q0 = q + static_cast<int64_t>(g) * hd;
        const float* q1 = q0 + hd;
        float* s0 = scores + g * n;
        float* s1 = s0 + n;
        int64_t j = jb;
        for (; j + 2 <= je; j += 2) dot2x2(q0, q1, k_rows + j, hd, scale, s0 + j, s1 + j);
        for (; j < je; ++j) {
          s0[j] = dot(q0, k_rows[j], hd) * scale;
          s1[j] = dot(q1, k_rows[j], hd) * scale;
        }
      }
    }
    for (; g < heads; ++g) {
      const float* qg = q + static_cast<int64_t>(g) * hd;
      float* sg = scores + g * n;
      int64_t j = jb;
      if (hd % 16 == 0)
        for (; j + 4 <= je; j += 4) dot4(qg, k_rows + j, hd, scale, sg + j);
      for (; j < je; ++j) sg[j] = dot(qg, k_rows[j], hd) * scale;
    }
  }
  for (int g = 0; g < heads; ++g) softmax_avx2(scores + g * n, n);
  // out[d] is one fma chain over j in ascending order. Up to 8 lanes of 8
  // run side by side, so the FMA latency is hidden behind independent chains
  // instead of serialising one chain per 8 outputs.
  int d = 0;
  for (; d + 8 <= hd;) {
    const int nv = std::min(8, (hd - d) / 8);
    for (int64_t jb = 0; jb < n; jb += kJb) {
      const int64_t je = std::min(n, jb + kJb);
      int g = 0;
      if (nv == 8) {
        // Two heads at a time, 32 dimensions per pass: each V load feeds
        // two FMAs (6 loads per 8 FMAs instead of 9). Every output keeps
        // its one chain over j, so results are those of one head at a time.
        for (; g + 2 <= heads; g += 2) {
          for (int h = 0; h < 64; h += 32) {
            const float* s0 = scores + g * n;
            const float* s1 = s0 + n;
            float* o0 = out + static_cast<int64_t>(g) * hd + d + h;
            float* o1 = o0 + hd;
            __m256 a0[4], a1[4];
            for (int u = 0; u < 4; ++u) {
              a0[u] = jb == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(o0 + 8 * u);
              a1[u] = jb == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(o1 + 8 * u);
            }
            for (int64_t j = jb; j < je; ++j) {
              const __m256 b0 = _mm256_set1_ps(s0[j]), b1 = _mm256_set1_ps(s1[j]);
              const float* vj = v_rows[j] + d + h;
              for (int u = 0; u < 4; ++u) {
                const __m256 v = _mm256_loadu_ps(vj + 8 * u);
                a0[u] = _mm256_fmadd_ps(b0, v, a0[u]);
                a1[u] = _mm256_fmadd_ps(b1, v, a1[u]);
              }
            }
            for (int u = 0; u < 4; ++u) {
              _mm256_storeu_ps(o0 + 8 * u, a0[u]);
              _mm256_storeu_ps(o1 + 8 * u, a1[u]);
            }
          }
        }
      }
      for (; g < heads; ++g) {
        const float* sg = scores + g * n;
        float* og = out + static_cast<int64_t>(g) * hd + d;
        __m256 acc[8];
        for (int u = 0; u < 8; ++u) acc[u] = jb == 0 || u >= nv ? _mm256_setzero_ps() : _mm256_loadu_ps(og + 8 * u);
        if (nv == 8) {
          for (int64_t j = jb; j < je; ++j) {
            const __m256 sj = _mm256_set1_ps(sg[j]);
            const float* vj = v_rows[j] + d;
            for (int u = 0; u < 8; ++u) acc[u] = _mm256_fmadd_ps(sj, _mm256_loadu_ps(vj + 8 * u), acc[u]);
          }
        } else {
          for (int64_t j = jb; j < je; ++j) {
            const __m256 sj = _mm256_set1_ps(sg[j]);
            const float* vj = v_rows[j] + d;
            for (int u = 0; u < nv; ++u) acc[u] = _mm256_fmadd_ps(sj, _mm256_loadu_ps(vj + 8 * u), acc[u]);
          }
        }
        for (int u = 0; u < nv; ++u) _mm256_storeu_ps(og + 8 * u, acc[u]);
      }
    }
    d += 8 * nv;
  }
  for (; d < hd; ++d) {
    for (int g = 0; g < heads; ++g) {
      const float* sg = scores + g * n;
      float acc = 0.0f;
      for (int64_t j = 0; j < n; ++j) acc = std::fma(sg[j], v_rows[j][d], acc);
      out[static_cast<int64_t>(g) * hd + d] = acc;
    }
  }
}

}  // namespace tandem::kernels
