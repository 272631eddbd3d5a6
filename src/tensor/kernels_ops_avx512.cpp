// AVX-512 attention over cached K/V rows: the contract of attend_avx2
// (kernels_ops_avx2.cpp), with every output's operations exactly those of
// the AVX2 kernel, so the results are bitwise the same:
//   scores: a 512-bit accumulator per key holds, in lanes 0..7 and 8..15, the
//           two 8-lane FMA chains the AVX2 dot4 keeps over each 16-wide chunk
//           of head dimensions; they are added, halved and reduced in the
//           same order as there;
//   output: out[d] is one FMA chain over the positions in ascending order,
//           16 dimensions per register instead of 8, blocks of positions
//           parked in `out` as in the AVX2 kernel.
// Softmax, single-key scores and head sizes that are not a multiple of 16
// run the AVX2 code.
//
// As in kernels_packed_avx512.cpp, the instruction set is switched on by a
// pragma after the includes, not by a compiler flag.
#include <immintrin.h>

#include <algorithm>

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

// Scores of 4 keys against q (n % 16 == 0), times scale: AVX2 dot4's chains
// s0 (dimensions 16i..16i+7) and s1 (16i+8..16i+15) are lanes 0..7 and 8..15.
TANDEM_AVX512_FN inline void dot4(const float* q, const float* const* k, int64_t n, float scale, float* out) {
  __m512 s[4];
  for (int u = 0; u < 4; ++u) s[u] = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __m512 qv = _mm512_loadu_ps(q + i);
    for (int u = 0; u < 4; ++u) s[u] = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k[u] + i), s[u]);
  }
  __m128 t[4];
  for (int u = 0; u < 4; ++u) {
    const __m256 v = _mm256_add_ps(_mm512_castps512_ps256(s[u]), _mm512_extractf32x8_ps(s[u], 1));
    t[u] = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  }
  _MM_TRANSPOSE4_PS(t[0], t[1], t[2], t[3]);
  const __m128 r = _mm_add_ps(_mm_add_ps(t[0], t[2]), _mm_add_ps(t[1], t[3]));
  _mm_storeu_ps(out, _mm_mul_ps(r, _mm_set1_ps(scale)));
}

}  // namespace

TANDEM_AVX512_FN void attend_avx512(const float* q, int heads, const float* const* k_rows,
                                    const float* const* v_rows, int64_t n, int hd, float scale, float* scores,
                                    float* out) {
  if (hd % 16 != 0) return attend_avx2(q, heads, k_rows, v_rows, n, hd, scale, scores, out);
  // Blocks of kJb positions, as in attend_avx2: the score groups of four
  // start at the same multiples of 4, and the output chains are parked in
  // `out` between blocks.
  constexpr int64_t kJb = 32;
  for (int64_t jb = 0; jb < n; jb += kJb) {
    const int64_t je = std::min(n, jb + kJb);
    for (int g = 0; g < heads; ++g) {
      const float* qg = q + static_cast<int64_t>(g) * hd;
      float* sg = scores + g * n;
      int64_t j = jb;
      for (; j + 4 <= je; j += 4) dot4(qg, k_rows + j, hd, scale, sg + j);
      for (; j < je; ++j) sg[j] = dot_avx2(qg, k_rows[j], hd) * scale;
    }
  }
  for (int g = 0; g < heads; ++g) softmax_avx2(scores + g * n, n);
  for (int d = 0; d < hd;) {
    const int nv = std::min(8, (hd - d) / 16);
    for (int64_t jb = 0; jb < n; jb += kJb) {
      const int64_t je = std::min(n, jb + kJb);
      for (int g = 0; g < heads; ++g) {
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

}  // namespace tandem::kernels

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
