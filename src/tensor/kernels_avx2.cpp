// AVX2 + FMA + F16C matmul: weights converted to f32 in registers (never
// written out), activations f32. Register tile: 2 weight rows x 4 activation
// rows, one 8-lane accumulator per output, k walked in steps of 8 in
// ascending order, then a fixed horizontal sum. Tail tiles (fewer rows) run
// the same per-output sequence, so results do not depend on the tile an
// output lands in.
//
// Compiled with -mavx2 -mfma -mf16c (see CMakeLists.txt); only called after
// cpu_has_avx2_fma_f16c() said yes.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "tensor/avx2_util.h"
#include "tensor/kernels.h"
#include "tensor/kquant.h"

namespace tandem::kernels {
namespace {

using avx2::hsum;

inline float f16_scalar(uint16_t h) { return _cvtsh_ss(h); }

// Loads 8 weights [kk, kk + 8) of one row as f32. kk is a multiple of 8.
template <DType T>
inline __m256 load8(const uint8_t* row, int64_t kk) {
  if constexpr (T == DType::kF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + kk);
  } else if constexpr (T == DType::kF16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * kk)));
  } else if constexpr (T == DType::kBF16) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * kk)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  } else if constexpr (T == DType::kQ8_0) {
    const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(row) + kk / 32;
    const int sub = static_cast<int>(kk % 32);
    int64_t q8;
    std::memcpy(&q8, b->qs + sub, 8);
    __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128(q8)));
    return _mm256_mul_ps(_mm256_set1_ps(f16_scalar(b->d)), q);
  } else {  // kQ4_0
    const BlockQ4_0* b = reinterpret_cast<const BlockQ4_0*>(row) + kk / 32;
    const int sub = static_cast<int>(kk % 32);  // 0, 8: low nibbles; 16, 24: high nibbles
    int64_t q8;
    std::memcpy(&q8, b->qs + (sub & 15), 8);
    __m256i v = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(q8));
    v = sub < 16 ? _mm256_and_si256(v, _mm256_set1_epi32(15)) : _mm256_srli_epi32(v, 4);
    v = _mm256_sub_epi32(v, _mm256_set1_epi32(8));
    return _mm256_mul_ps(_mm256_set1_ps(f16_scalar(b->d)), _mm256_cvtepi32_ps(v));
  }
}

// Scalar weight value for the k % 8 tail (plain types only; block types have k % 32 == 0).
template <DType T>
inline float load1(const uint8_t* row, int64_t kk) {
  if constexpr (T == DType::kF32) {
    return reinterpret_cast<const float*>(row)[kk];
  } else if constexpr (T == DType::kF16) {
    uint16_t h;
    std::memcpy(&h, row + 2 * kk, 2);
    return f16_scalar(h);
  } else if constexpr (T == DType::kBF16) {
    uint16_t h;
    std::memcpy(&h, row + 2 * kk, 2);
    uint32_t bits = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  } else {
    return 0.0f;
  }
}

// One tile: JR weight rows x IR activation rows.
template <DType T, int JR, int IR>
inline void tile(const uint8_t* const* wr, const float* const* xr, int64_t k, float out[JR][IR]) {
  __m256 acc[JR][IR];
  for (int j = 0; j < JR; ++j)
    for (int i = 0; i < IR; ++i) acc[j][i] = _mm256_setzero_ps();
  const int64_t k8 = k & ~int64_t{7};
  // Bytes of one row per 8 weights, to prefetch ~1 KiB ahead of use.
  constexpr int64_t kBytes8 = T == DType::kF32 ? 32 : T == DType::kQ8_0 ? 8 : T == DType::kQ4_0 ? 4 : 16;
  for (int64_t kk = 0; kk < k8; kk += 8) {
    __m256 w[JR];
    if ((kk & 31) == 0) {
      for (int j = 0; j < JR; ++j)
        _mm_prefetch(reinterpret_cast<const char*>(wr[j] + kk / 8 * kBytes8 + 1024), _MM_HINT_T0);
    }
    for (int j = 0; j < JR; ++j) w[j] = load8<T>(wr[j], kk);
    for (int i = 0; i < IR; ++i) {
      const __m256 xv = _mm256_loadu_ps(xr[i] + kk);
      for (int j = 0; j < JR; ++j) acc[j][i] = _mm256_fmadd_ps(xv, w[j], acc[j][i]);
    }
  }
  for (int j = 0; j < JR; ++j) {
    for (int i = 0; i < IR; ++i) {
      float s = hsum(acc[j][i]);
      for (int64_t kk = k8; kk < k; ++kk) s += xr[i][kk] * load1<T>(wr[j], kk);
      out[j][i] = s;
    }
  }
}

// Walks the outputs [0, n) x [j0, j1) in register tiles and stores
// y = tile + bias. run<JR, IR>(j, i, out) computes the JR x IR tile whose
// first weight row is j and first activation row is i. Activation rows go in
// panels that stay in L2 while the weight rows stream by; with fewer than four
// rows (decode) it streams four weight rows at a time.
template <class Run>
inline void drive_tiles(int64_t n, int64_t m, int64_t j0, int64_t j1, const float* bias, float* y,
                        Run&& run) {
  auto emit = [&]<int JR, int IR>(int64_t j, int64_t i) {
    float o[JR][IR];
    run.template operator()<JR, IR>(j, i, o);
    for (int jr = 0; jr < JR; ++jr) {
      const float b = bias ? bias[j + jr] : 0.0f;
      for (int ir = 0; ir < IR; ++ir) y[(i + ir) * m + j + jr] = o[jr][ir] + b;
    }
  };
  constexpr int64_t kPanel = 32;
  for (int64_t ip = 0; ip < n; ip += kPanel) {
    const int64_t ie = ip + kPanel < n ? ip + kPanel : n;
    int64_t j = j0;
    if (ie - ip < 4) {
      for (; j + 4 <= j1; j += 4)
        for (int64_t i = ip; i < ie; ++i) emit.template operator()<4, 1>(j, i);
    }
    for (; j + 2 <= j1; j += 2) {
      int64_t i = ip;
      for (; i + 4 <= ie; i += 4) emit.template operator()<2, 4>(j, i);
      for (; i < ie; ++i) emit.template operator()<2, 1>(j, i);
    }
    for (; j < j1; ++j)
      for (int64_t i = ip; i < ie; ++i) emit.template operator()<1, 1>(j, i);
  }
}

template <DType T>
void matmul_rows_t(const uint8_t* w, size_t row_bytes, const float* x, int64_t n, int64_t k, int64_t m,
                   int64_t j0, int64_t j1, const float* bias, float* y) {
  drive_tiles(n, m, j0, j1, bias, y, [&]<int JR, int IR>(int64_t j, int64_t i, float (&o)[JR][IR]) {
    const uint8_t* wr[JR];
    const float* xr[IR];
    for (int r = 0; r < JR; ++r) wr[r] = w + (j + r) * row_bytes;
    for (int r = 0; r < IR; ++r) xr[r] = x + (i + r) * k;
    tile<T, JR, IR>(wr, xr, k, o);
  });
}

// 32 weight quants of block b as int8 and the block's scale.
template <DType T>
inline __m256i weight_q(const uint8_t* row, int64_t b, float* d) {
  if constexpr (T == DType::kQ8_0) {
    const BlockQ8_0* blk = reinterpret_cast<const BlockQ8_0*>(row) + b;
    *d = f16_scalar(blk->d);
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs));
  } else {
    const BlockQ4_0* blk = reinterpret_cast<const BlockQ4_0*>(row) + b;
    *d = f16_scalar(blk->d);
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->qs));
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(v, m4);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
    return _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8));
  }
}

// Exact integer dot of 32 int8 pairs, as 8 int32 lanes converted to f32.
// |w| <= 127 for q8_0 and <= 8 for q4_0, so maddubs' int16 sums never saturate.
inline __m256 block_dot(__m256i wabs, __m256i w, __m256i x) {
  const __m256i p16 = _mm256_maddubs_epi16(wabs, _mm256_sign_epi8(x, w));
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

template <DType T, int JR, int IR>
inline void q8a_tile(const uint8_t* const* wr, const BlockQ8A* const* xr, int64_t nb, float out[JR][IR]) {
  __m256 acc[JR][IR];
  for (int j = 0; j < JR; ++j)
    for (int i = 0; i < IR; ++i) acc[j][i] = _mm256_setzero_ps();
  constexpr int64_t kBlockBytes = T == DType::kQ8_0 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
  for (int64_t b = 0; b < nb; ++b) {
    __m256i w[JR], wabs[JR];
    float dw[JR];
    for (int j = 0; j < JR; ++j) {
      // Weights stream from memory once: ask for them ~1 KiB ahead of use.
      _mm_prefetch(reinterpret_cast<const char*>(wr[j] + (b + 1024 / kBlockBytes) * kBlockBytes), _MM_HINT_T0);
      w[j] = weight_q<T>(wr[j], b, &dw[j]);
      wabs[j] = _mm256_sign_epi8(w[j], w[j]);
    }
    for (int i = 0; i < IR; ++i) {
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr[i][b].qs));
      const float dx = xr[i][b].d;
      for (int j = 0; j < JR; ++j)
        acc[j][i] = _mm256_fmadd_ps(_mm256_set1_ps(dw[j] * dx), block_dot(wabs[j], w[j], xv), acc[j][i]);
    }
  }
  for (int j = 0; j < JR; ++j)
    for (int i = 0; i < IR; ++i) out[j][i] = hsum(acc[j][i]);
}

template <DType T>
constexpr size_t kq_bytes() {
  return T == DType::kQ4_K ? 144 : T == DType::kQ5_K ? 176 : 210;
}

// Scales and mins of the 8 blocks of one K-quant super-block, as
// kquant_scales32 computes them (f32 products of the f16 super-block scale
// and the small integer scale), decoded once per super-block.
template <DType T>
inline void kq_scales(const uint8_t* sb, float s0[8], float s1[8], float mn[8]) {
  uint16_t h;
  if constexpr (T == DType::kQ6_K) {
    std::memcpy(&h, sb + 208, 2);
    const float d = _cvtsh_ss(h);
    const int8_t* sc = reinterpret_cast<const int8_t*>(sb + 192);
    for (int b = 0; b < 8; ++b) {
      const int n = b / 4, r = b % 4;
      s0[b] = d * static_cast<float>(sc[8 * n + 2 * r]);
      s1[b] = d * static_cast<float>(sc[8 * n + 2 * r + 1]);
      mn[b] = 0.0f;
    }
  } else {
    std::memcpy(&h, sb, 2);
    const float d = _cvtsh_ss(h);
    std::memcpy(&h, sb + 2, 2);
    const float dmin = _cvtsh_ss(h);
    const uint8_t* q = sb + 4;
    for (int b = 0; b < 8; ++b) {
      int sc, m;
      kquant_get_scale_min(b, q, &sc, &m);
      s0[b] = s1[b] = d * static_cast<float>(sc);
      mn[b] = dmin * static_cast<float>(m);
    }
  }
}

// 32 quants of block s (0..7) of a K-quant super-block as int8
// (q4_K / q5_K: 0..31; q6_K: -32..31).
template <DType T>
inline __m256i kquant_q(const uint8_t* sb, int s) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  if constexpr (T == DType::kQ6_K) {
    const int n = s / 4, r = s % 4;
    const __m256i ql = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 64 * n + ((r & 1) ? 32 : 0)));
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 128 + 32 * n));
    const __m256i lo = r < 2 ? _mm256_and_si256(ql, m4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4);
    const __m256i hi = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * r)), _mm256_set1_epi8(3));
    return _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)), _mm256_set1_epi8(32));
  } else {
    const int qs_off = T == DType::kQ4_K ? 16 : 48;
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + qs_off + 32 * (s / 2)));
    __m256i q = (s & 1) ? _mm256_and_si256(_mm256_srli_epi16(v, 4), m4) : _mm256_and_si256(v, m4);
    if constexpr (T == DType::kQ5_K) {
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 16));
      const __m256i bit = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(s)), _mm256_set1_epi8(1));
      q = _mm256_or_si256(q, _mm256_slli_epi16(bit, 4));
    }
    return q;
  }
}

// K-quant tile: the same per-output sequence as every other tile shape.
template <DType T, int JR, int IR>
inline void kq_tile(const uint8_t* const* wr, const BlockQ8A* const* xr, const int32_t* const* xs, int64_t nb,
                    float out[JR][IR]) {
  __m256 acc[JR][IR];
  float corr[JR][IR];
  for (int j = 0; j < JR; ++j)
    for (int i = 0; i < IR; ++i) {
      acc[j][i] = _mm256_setzero_ps();
      corr[j][i] = 0.0f;
    }
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t sbi = 0; sbi < nb / 8; ++sbi) {
    float s0[JR][8], s1[JR][8], mn[JR][8];
    const uint8_t* sbp[JR];
    for (int j = 0; j < JR; ++j) {
      sbp[j] = wr[j] + static_cast<size_t>(sbi) * kq_bytes<T>();
      _mm_prefetch(reinterpret_cast<const char*>(sbp[j] + 4 * kq_bytes<T>()), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(sbp[j] + 4 * kq_bytes<T>() + 64), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(sbp[j] + 4 * kq_bytes<T>() + 128), _MM_HINT_T0);
      kq_scales<T>(sbp[j], s0[j], s1[j], mn[j]);
    }
    for (int s = 0; s < 8; ++s) {
      const int64_t b = sbi * 8 + s;
      __m256i q[JR], qa[JR];
      __m256 sw[JR];  // lanes 0..3: first 16 values' scale, 4..7: last 16's
      for (int j = 0; j < JR; ++j) {
        q[j] = kquant_q<T>(sbp[j], s);
        if constexpr (T == DType::kQ6_K) {
          qa[j] = _mm256_sign_epi8(q[j], q[j]);
          sw[j] = _mm256_set_m128(_mm_set1_ps(s1[j][s]), _mm_set1_ps(s0[j][s]));
        } else {
          sw[j] = _mm256_set1_ps(s0[j][s]);
        }
      }
      for (int i = 0; i < IR; ++i) {
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr[i][b].qs));
        const __m256 dx = _mm256_set1_ps(xr[i][b].d);
        const float dxs = xr[i][b].d * static_cast<float>(xs[i][b]);
        for (int j = 0; j < JR; ++j) {
          __m256i p16;
          if constexpr (T == DType::kQ6_K) {
            p16 = _mm256_maddubs_epi16(qa[j], _mm256_sign_epi8(xv, q[j]));
          } else {
            p16 = _mm256_maddubs_epi16(q[j], xv);  // unsigned quants: at most 2 * 31 * 127 per pair
          }
          // Lanes 0..3 hold the first 16 values' sums, 4..7 the last 16.
          const __m256 isum = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones));
          acc[j][i] = _mm256_fmadd_ps(_mm256_mul_ps(sw[j], dx), isum, acc[j][i]);
          if constexpr (T != DType::kQ6_K) corr[j][i] = std::fma(mn[j][s], dxs, corr[j][i]);
        }
      }
    }
  }
  for (int j = 0; j < JR; ++j)
    for (int i = 0; i < IR; ++i) out[j][i] = hsum(acc[j][i]) - corr[j][i];
}

template <DType T>
void matmul_kq_rows_t(const uint8_t* w, size_t row_bytes, const BlockQ8A* xq, const int32_t* xsum, int64_t n,
                      int64_t k, int64_t m, int64_t j0, int64_t j1, const float* bias, float* y) {
  const int64_t nb = k / 32;
  drive_tiles(n, m, j0, j1, bias, y, [&]<int JR, int IR>(int64_t j, int64_t i, float (&o)[JR][IR]) {
    const uint8_t* wr[JR];
    const BlockQ8A* xr[IR];
    const int32_t* xs[IR];
    for (int r = 0; r < JR; ++r) wr[r] = w + (j + r) * row_bytes;
    for (int r = 0; r < IR; ++r) {
      xr[r] = xq + (i + r) * nb;
      xs[r] = xsum + (i + r) * nb;
    }
    kq_tile<T, JR, IR>(wr, xr, xs, nb, o);
  });
}

template <DType T>
void matmul_q8a_rows_t(const uint8_t* w, size_t row_bytes, const BlockQ8A* xq, int64_t n, int64_t k,
                       int64_t m, int64_t j0, int64_t j1, const float* bias, float* y) {
  const int64_t nb = k / 32;
  drive_tiles(n, m, j0, j1, bias, y, [&]<int JR, int IR>(int64_t j, int64_t i, float (&o)[JR][IR]) {
    const uint8_t* wr[JR];
    const BlockQ8A* xr[IR];
    for (int r = 0; r < JR; ++r) wr[r] = w + (j + r) * row_bytes;
    for (int r = 0; r < IR; ++r) xr[r] = xq + (i + r) * nb;
    q8a_tile<T, JR, IR>(wr, xr, nb, o);
  });
}

}  // namespace

bool avx2_supports(DType t) {
  switch (t) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return true;
    default:
      return false;
  }
}

void matmul_rows_avx2(DType t, const uint8_t* w, size_t row_bytes, const float* x, int64_t n, int64_t k,
                      int64_t m, int64_t j0, int64_t j1, const float* bias, float* y) {
  switch (t) {
    case DType::kF32: return matmul_rows_t<DType::kF32>(w, row_bytes, x, n, k, m, j0, j1, bias, y);
    case DType::kF16: return matmul_rows_t<DType::kF16>(w, row_bytes, x, n, k, m, j0, j1, bias, y);
    case DType::kBF16: return matmul_rows_t<DType::kBF16>(w, row_bytes, x, n, k, m, j0, j1, bias, y);
    case DType::kQ8_0: return matmul_rows_t<DType::kQ8_0>(w, row_bytes, x, n, k, m, j0, j1, bias, y);
    case DType::kQ4_0: return matmul_rows_t<DType::kQ4_0>(w, row_bytes, x, n, k, m, j0, j1, bias, y);
    default: return matmul_rows_scalar(t, w, row_bytes, x, n, k, m, j0, j1, bias, y);
  }
}

}  // namespace tandem::kernels

namespace tandem::kernels {

void quantize_activations_avx2(const float* x, int64_t n, int64_t k, BlockQ8A* out, int32_t* sums) {
  // Eight blocks at a time: their maxima first, then d = amax / 127 and
  // 1 / d as two vector divisions (each lane the scalar division's exact
  // result) instead of sixteen dependent scalar ones, then the quants and
  // their sum (vpsadbw on the quants + 128, less 32 * 128). 16 x 2048
  // activations: 8.1 -> 2.5 us.
  const int64_t total = n * (k / 32);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t g = 0; g < total; g += 8) {
    const int64_t cnt = std::min<int64_t>(8, total - g);
    alignas(32) float amax[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t u = 0; u < cnt; ++u) {
      const int64_t blk = g + u;
      const float* xs = x + blk * 32;  // rows k = 32 nb floats apart
      __m256 mx = _mm256_setzero_ps();
      for (int c = 0; c < 4; ++c) mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, _mm256_loadu_ps(xs + 8 * c)));
      __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
      m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
      m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
      amax[u] = _mm_cvtss_f32(m4);
    }
    const __m256 d = _mm256_div_ps(_mm256_load_ps(amax), _mm256_set1_ps(127.0f));
    const __m256 nz = _mm256_cmp_ps(d, _mm256_setzero_ps(), _CMP_NEQ_UQ);  // d != 0 as in C++ (true for NaN)
    alignas(32) float dv[8], idv[8];
    _mm256_store_ps(dv, d);
    _mm256_store_ps(idv, _mm256_and_ps(nz, _mm256_div_ps(_mm256_set1_ps(1.0f), d)));
    for (int64_t u = 0; u < cnt; ++u) {
      const int64_t blk = g + u;
      const float* xs = x + blk * 32;  // rows k = 32 nb floats apart
      BlockQ8A& o = out[blk];
      o.d = dv[u];
      const __m256 id = _mm256_set1_ps(idv[u]);
      __m256i q[4];
      for (int c = 0; c < 4; ++c)
        q[c] = _mm256_cvtps_epi32(
            _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(xs + 8 * c), id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      // Pack 32 int32 -> 32 int8; packs work per 128-bit lane, so fix the order after.
      const __m256i p01 = _mm256_packs_epi32(q[0], q[1]);
      const __m256i p23 = _mm256_packs_epi32(q[2], q[3]);
      const __m256i fixed = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p01, p23), perm);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.qs), fixed);
      const __m256i sad =
          _mm256_sad_epu8(_mm256_xor_si256(fixed, _mm256_set1_epi8(static_cast<char>(0x80))), _mm256_setzero_si256());
      const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
      sums[blk] = static_cast<int32_t>(_mm_cvtsi128_si64(_mm_add_epi64(s2, _mm_unpackhi_epi64(s2, s2)))) - 32 * 128;
    }
  }
}

void matmul_q8a_rows_avx2(DType t, const uint8_t* w, size_t row_bytes, const BlockQ8A* xq,
                          const int32_t* xsum, int64_t n, int64_t k, int64_t m, int64_t j0, int64_t j1,
                          const float* bias, float* y) {
  switch (t) {
    case DType::kQ4_K: return matmul_kq_rows_t<DType::kQ4_K>(w, row_bytes, xq, xsum, n, k, m, j0, j1, bias, y);
    case DType::kQ5_K: return matmul_kq_rows_t<DType::kQ5_K>(w, row_bytes, xq, xsum, n, k, m, j0, j1, bias, y);
    case DType::kQ6_K: return matmul_kq_rows_t<DType::kQ6_K>(w, row_bytes, xq, xsum, n, k, m, j0, j1, bias, y);
    default: break;
  }
  if (t == DType::kQ8_0) return matmul_q8a_rows_t<DType::kQ8_0>(w, row_bytes, xq, n, k, m, j0, j1, bias, y);
  return matmul_q8a_rows_t<DType::kQ4_0>(w, row_bytes, xq, n, k, m, j0, j1, bias, y);
}

}  // namespace tandem::kernels
