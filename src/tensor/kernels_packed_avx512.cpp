// AVX-512 matmuls over kPanel8 weights (src/tensor/packed.h): panels are
// taken two at a time, so one 512-bit register holds 16 outputs -- lanes
// 0..7 the rows of panel p, lanes 8..15 those of panel p + 1, which are the
// 16 consecutive outputs 8p..8p+15 of y.
//
// Each output runs exactly the chain of operations of the AVX2 kernels
// (kernels_packed_avx2.cpp), so the results are bitwise the same:
//   f32 / f16 / bf16: acc = fma(x[i, k], w[j, k], acc) over k in order from 0,
//                     partial sums parked in y between k-blocks, then + bias;
//   q8_0 / q4_0:      per block, acc = fma(d_w * d_x, float(isum), acc), where
//                     isum is the exact integer dot of the quants. VNNI's
//                     vpdpbusd multiplies unsigned by signed bytes: q4_0
//                     nibbles are unsigned already (isum = dot - 8 sum(x));
//                     q8_0 quants are offset by 128 (isum = dot - 128 sum(x)).
//                     Integer sums are exact in any order.
//   q4_K / q5_K:      per block s, acc = fma(d * sc[s] * d_x, float(isum), acc)
//                     and corr = fma(dmin * m[s], d_x * sum(x), corr); then
//                     acc - corr. The quants (0..15, 0..31) are unsigned.
//   q6_K:             per sub-block u of 16, acc = fma(d * sc[u] * d_x,
//                     float(isum_u), acc); vpdpbusd takes the unsigned 6-bit
//                     quants q and isum_u = dot(q, x) - 32 * sum(x over u).
// A last odd panel goes to the AVX2 kernels.
//
// The instruction set is switched on by a pragma after the includes, not by
// a compiler flag: inline functions from headers emitted in this file (and
// possibly chosen by the linker for the whole program) stay plain x86-64.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tensor/kernels.h"
#include "tensor/packed.h"

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's _mm512_undefined_* trip -Wmaybe-uninitialized (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")
#define TANDEM_AVX512_FN
#else
#define TANDEM_AVX512_FN __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#endif

namespace tandem::kernels {
namespace {

constexpr int64_t kSmallRows = kSmallBatchRows;

// Which of the 16 outputs 8p..8p+15 exist (m outputs in all; 8p < m).
TANDEM_AVX512_FN inline __mmask16 out_mask(int64_t m, int64_t p) {
  const int64_t rows = std::min<int64_t>(16, m - p * 8);
  return static_cast<__mmask16>((1u << rows) - 1u);
}

// Column kk of the panel pair whose first panel starts at a (the second
// pbytes later), as 16 f32 lanes.
template <DType T>
TANDEM_AVX512_FN inline __m512 load_pair_col(const uint8_t* a, size_t pbytes, int64_t kk) {
  const uint8_t* b = a + pbytes;
  if constexpr (T == DType::kF32) {
    const __m256 lo = _mm256_loadu_ps(reinterpret_cast<const float*>(a) + kk * 8);
    const __m256 hi = _mm256_loadu_ps(reinterpret_cast<const float*>(b) + kk * 8);
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
  } else {
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + kk * 16));
    const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + kk * 16));
    const __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
    if constexpr (T == DType::kF16) {
      return _mm512_cvtph_ps(h);
    } else {  // bf16: the top half of an f32
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
  }
}

// Where a tile's outputs go and which part of the chain it runs.
struct Out {
  float* y;           // y[0, 0]
  int64_t m;          // row stride of y
  const float* bias;  // [m] or null
  bool first, last;   // first k-block: start from 0; last: add the bias
};

// Weights of a tile: straight from the panels (pair q's first panel at
// wp + 2q pbytes, column c) or from an f32 slice widened once for many rows
// (pair q at ws + q * sstride floats, column c at (c - k0) * 16).
struct Src {
  const uint8_t* wp;
  size_t pbytes;
  const float* ws;
  int64_t sstride;
};

// JP pairs x IR activation rows over columns [k0, k1); xi points at row i,
// column k0 of the activations (rows ldx floats apart); p: first panel.
template <DType T, bool kSlice, int JP, int IR>
TANDEM_AVX512_FN inline void float_tile(const Src& s, int64_t p, const float* xi, int64_t ldx, int64_t i,
                                        int64_t k0, int64_t k1, const Out& o) {
  __m512 acc[IR][JP];
  __mmask16 mk[JP];
  for (int q = 0; q < JP; ++q) mk[q] = out_mask(o.m, p + 2 * q);
  for (int r = 0; r < IR; ++r)
    for (int q = 0; q < JP; ++q)
      acc[r][q] = o.first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mk[q], o.y + (i + r) * o.m + (p + 2 * q) * 8);
  for (int64_t c = 0; c < k1 - k0; ++c) {
    __m512 wv[JP];
    for (int q = 0; q < JP; ++q) {
      if constexpr (kSlice) {
        wv[q] = _mm512_load_ps(s.ws + q * s.sstride + c * 16);
      } else {
        wv[q] = load_pair_col<T>(s.wp + static_cast<size_t>(2 * q) * s.pbytes, s.pbytes, k0 + c);
      }
    }
    for (int r = 0; r < IR; ++r) {
      const __m512 xb = _mm512_set1_ps(xi[r * ldx + c]);
      for (int q = 0; q < JP; ++q) acc[r][q] = _mm512_fmadd_ps(xb, wv[q], acc[r][q]);
    }
  }
  for (int q = 0; q < JP; ++q) {
    __m512 b = _mm512_setzero_ps();
    if (o.last && o.bias != nullptr) b = _mm512_maskz_loadu_ps(mk[q], o.bias + (p + 2 * q) * 8);
    for (int r = 0; r < IR; ++r) {
      const __m512 v = o.last ? _mm512_add_ps(acc[r][q], b) : acc[r][q];
      _mm512_mask_storeu_ps(o.y + (i + r) * o.m + (p + 2 * q) * 8, mk[q], v);
    }
  }
}

// Rows [i0, i1) over columns [k0, k1); xb points at row i0, column k0.
// Tiles of kIr rows, then 8, 4, 2, 1.
template <DType T, bool kSlice, int JP, int kIr>
TANDEM_AVX512_FN inline void float_rows(const Src& s, int64_t p, const float* xb, int64_t ldx, int64_t i0,
                                        int64_t i1, int64_t k0, int64_t k1, const Out& o) {
  auto xi = [&](int64_t i) { return xb + (i - i0) * ldx; };
  int64_t i = i0;
  for (; i + kIr <= i1; i += kIr) {
    if (!o.first)
      for (int64_t r = i + kIr; r < std::min(i1, i + 2 * kIr); ++r)
        for (int q = 0; q < JP; ++q)
          _mm_prefetch(reinterpret_cast<const char*>(o.y + r * o.m + (p + 2 * q) * 8), _MM_HINT_T0);
    float_tile<T, kSlice, JP, kIr>(s, p, xi(i), ldx, i, k0, k1, o);
  }
  if (i1 - i >= 8) {
    float_tile<T, kSlice, JP, 8>(s, p, xi(i), ldx, i, k0, k1, o);
    i += 8;
  }
  if (i1 - i >= 4) {
    float_tile<T, kSlice, JP, 4>(s, p, xi(i), ldx, i, k0, k1, o);
    i += 4;
  }
  if (i1 - i >= 2) {
    float_tile<T, kSlice, JP, 2>(s, p, xi(i), ldx, i, k0, k1, o);
    i += 2;
  }
  if (i1 - i >= 1) float_tile<T, kSlice, JP, 1>(s, p, xi(i), ldx, i, k0, k1, o);
}

// Asks for columns [k0, k1) of `panels` consecutive panels in L2.
template <DType T>
TANDEM_AVX512_FN inline void prefetch_slice(const uint8_t* panel, size_t pbytes, int64_t panels, int64_t k0,
                                            int64_t k1) {
  constexpr size_t kColBytes = T == DType::kF32 ? 32 : 16;
  for (int64_t q = 0; q < panels; ++q) {
    const char* a = reinterpret_cast<const char*>(panel + static_cast<size_t>(q) * pbytes + k0 * kColBytes);
    const size_t bytes = static_cast<size_t>(k1 - k0) * kColBytes;
    for (size_t off = 0; off < bytes; off += 64) _mm_prefetch(a + off, _MM_HINT_T1);
  }
}

template <DType T>
TANDEM_AVX512_FN void matmul_packed_float_t(const uint8_t* w, const float* x, int64_t ldx, int64_t n, int64_t k,
                                            int64_t m, int64_t p0, int64_t p1, const float* bias, float* y) {
  const size_t pbytes = packed::panel_bytes(T, k);
  const int64_t pe = p0 + (p1 - p0) / 2 * 2;  // pairs in [p0, pe)
  if (pe < p1) matmul_packed_avx2(T, w, x, ldx, n, k, m, pe, p1, bias, y);
  auto at = [&](int64_t p) { return Src{w + static_cast<size_t>(p) * pbytes, pbytes, nullptr, 0}; };
  if (n <= 2) {
    // Decode: one pass over the weights, up to four pairs at a time.
    const Out o{y, m, bias, true, true};
    int64_t p = p0;
    // One row: four pairs (8 weight streams) at once kept more of DRAM's
    // latency covered (f16 11264 x 2048 from DRAM: 50 -> 56 GFLOP/s).
    if (n == 1)
      for (; p + 8 <= pe; p += 8) float_tile<T, false, 4, 1>(at(p), p, x, ldx, 0, 0, k, o);
    for (; p + 4 <= pe; p += 4) {
      if (n == 1) float_tile<T, false, 2, 1>(at(p), p, x, ldx, 0, 0, k, o);
      else float_tile<T, false, 2, 2>(at(p), p, x, ldx, 0, 0, k, o);
    }
    for (; p < pe; p += 2) {
      if (n == 1) float_tile<T, false, 1, 1>(at(p), p, x, ldx, 0, 0, k, o);
      else float_tile<T, false, 1, 2>(at(p), p, x, ldx, 0, 0, k, o);
    }
    return;
  }
  if (n <= kSmallRows) {
    // Few rows (batched decode): one pass over all of k, converting in the
    // tile, 8 rows x 2 pairs (16 accumulators, 8 broadcasts and 4 weight
    // loads per 16 FMAs). At 16 rows this measured 5% faster than 12 + 4
    // rows, and 16 rows x 1 pair was slower still (17 loads per 16 FMAs).
    // ops.cpp hands x over with rows k + 16 floats apart: rows 8 KiB apart
    // (k = 2048) put the broadcast streams in one L1 set; the padding alone
    // gained 5%.
    const Out o{y, m, bias, true, true};
    int64_t p = p0;
    for (; p + 4 <= pe; p += 4) {
      if (p + 4 < pe)
        prefetch_slice<T>(w + static_cast<size_t>(p + 4) * pbytes, pbytes, std::min<int64_t>(4, pe - p - 4), 0,
                          std::min<int64_t>(k, 256));
      float_rows<T, false, 2, 8>(at(p), p, x, ldx, 0, n, 0, k, o);
    }
    if (p < pe) float_rows<T, false, 1, 8>(at(p), p, x, ldx, 0, n, 0, k, o);
    return;
  }
  // Prefill: per group of two pairs (32 outputs), blocks of kKc columns,
  // each widened to f32 and interleaved 16 wide (256 KiB, in L2) once and
  // run by all n rows in tiles of 12 rows x 2 pairs (24 accumulators, 2
  // weight registers, 1 broadcast). The group's partial sums between
  // column blocks (n x 32 floats) stay in L2. Every weight is widened once
  // per call: with a block of x per call of 192 rows, widening (3 times at
  // 512 rows) and re-copying x took 7-9% of a TinyLlama f16 matmul's time
  // (perf). ops.cpp copies x once per matmul to rows k + 16 floats apart
  // (kPrefillRowBlockAvx512Float), so this reads it in place.
  // 2048 columns (all of k = 2048) measured 3-5% faster than 1024.
  constexpr int64_t kKc = 2048;
  thread_local std::vector<float> buf;
  buf.resize(2 * kKc * 16 + 16);
  float* slice[2];
  slice[0] = buf.data() + (16 - reinterpret_cast<uintptr_t>(buf.data()) / 4 % 16) % 16;
  slice[1] = slice[0] + kKc * 16;
  for (int64_t p = p0; p < pe; p += 4) {
    const int jp = p + 4 <= pe ? 2 : 1;
    for (int64_t k0 = 0; k0 < k; k0 += kKc) {
      const int64_t k1 = std::min(k, k0 + kKc);
      for (int q = 0; q < jp; ++q) {
        const uint8_t* src = w + static_cast<size_t>(p + 2 * q) * pbytes;
        for (int64_t c = k0; c < k1; ++c) _mm512_store_ps(slice[q] + (c - k0) * 16, load_pair_col<T>(src, pbytes, c));
      }
      // The next block's weights: this group's next columns, or the next
      // group's first ones.
      if (k1 < k) {
        prefetch_slice<T>(w + static_cast<size_t>(p) * pbytes, pbytes, 2 * jp, k1, std::min(k, k1 + kKc));
      } else if (p + 4 < pe) {
        prefetch_slice<T>(w + static_cast<size_t>(p + 4) * pbytes, pbytes, std::min<int64_t>(4, pe - p - 4), 0,
                          std::min(k, kKc));
      }
      const Out o{y, m, bias, k0 == 0, k1 == k};
      const Src s{nullptr, 0, slice[0], kKc * 16};
      if (jp == 2) float_rows<T, true, 2, 12>(s, p, x + k0, ldx, 0, n, k0, k1, o);
      else float_rows<T, true, 1, 12>(s, p, x + k0, ldx, 0, n, k0, k1, o);
    }
  }
}

// q8_0 / q4_0: the activation block's 4 quant bytes at q in all 16 lanes.
TANDEM_AVX512_FN inline __m512i bcast4(const int8_t* q) {
  int32_t v;
  std::memcpy(&v, q, 4);
  return _mm512_set1_epi32(v);
}

// 32 bytes at a in lanes 0..7, 32 bytes at b in lanes 8..15.
TANDEM_AVX512_FN inline __m512i load_pair(const uint8_t* a, const uint8_t* b) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a));
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)), 1);
}

// The 8 f16 scales at a and the 8 at b, as 16 f32 lanes.
TANDEM_AVX512_FN inline __m512 pair_scales(const uint8_t* a, const uint8_t* b) {
  const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a));
  const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b));
  return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1));
}

// Decode tiles (1 or 2 activation rows) prefetch their weights with
// prefetchnta: each line is read once per token. q4_0 decode from DRAM
// (matmul_bench --copies 200-256, medians of 7 alternating rounds):
// 2048 x 2048 174.0 -> 178.6 GFLOP/s, 2560 x 2048 176.6 -> 181.1; 11264 x
// 2048 and 2048 x 5632 unchanged, q8_0 within noise. Tiles of more rows
// keep T0 (their weights serve the next rows too). The 1- and 2-row tiles
// also take the rows a batch leaves over after its wider tiles; batches of
// 3 and 5 rows, where a pair's weights go through two such tiles, measured
// no slower (2048 x 5632 q8_0 / q4_0, --copies 32: 239 -> 249, 334 -> 361,
// 383 -> 397, 498 -> 520 GFLOP/s). The hint is
// __builtin_prefetch's locality: 3 is prefetcht0, 0 prefetchnta (GCC's
// _mm_prefetch takes an enum, clang's an int).
constexpr int kT0 = 3, kNta = 0;
constexpr int decode_hint(int rows) { return rows <= 2 ? kNta : kT0; }

template <int kHint = kT0>
TANDEM_AVX512_FN inline void prefetch_lines(const uint8_t* p, int lines) {
  for (int c = 0; c < lines; ++c) __builtin_prefetch(p + 64 * c, 0, kHint);
}

// Prefetch for a tile streaming `panels` consecutive panels (pbytes each,
// nb block groups of gbytes) and now at block b: `lines` lines of block
// b + ahead of each panel. Near a panel's end the blocks ahead belong to
// the start of the same panel of the next tile (the panels `panels` further
// on, which this thread reads next), not to the following panel, which is
// being read already.
template <int kHint = kT0>
TANDEM_AVX512_FN inline void prefetch_ahead(const uint8_t* a, size_t pbytes, int panels, size_t gbytes, int64_t b,
                                            int64_t nb, int64_t ahead, int lines) {
  const int64_t bp = b + ahead;
  const uint8_t* q = bp < nb ? a + static_cast<size_t>(bp) * gbytes
                             : a + static_cast<size_t>(panels) * pbytes + static_cast<size_t>(bp - nb) * gbytes;
  for (int j = 0; j < panels; ++j) prefetch_lines<kHint>(q + static_cast<size_t>(j) * pbytes, lines);
}

constexpr size_t kQ4G = 16 + 4 * 32;  // one q4_0 block group of a panel

constexpr size_t kQ8G = 16 + 8 * 32;  // one q8_0 block group

// q4_0: JP pairs (pair j's first panel at a + 2j pbytes) x IR activation
// rows over all blocks. Block b of panel p: 8 scales, then chunk t holds
// bytes [4t, 4t+4) of each row: quants 4t.. in the low nibbles, 16+4t.. in
// the high ones.
template <int JP, int IR>
TANDEM_AVX512_FN inline void q4_tile(const uint8_t* a, size_t pbytes, const BlockQ8A* const* xr,
                                     const int32_t* const* xs, int64_t nb, __m512 acc[IR][JP]) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_ahead<decode_hint(IR)>(a, pbytes, 2 * JP, kQ4G, b, nb, 8, 3);
    for (int j = 0; j < JP; ++j) {
      const uint8_t* g0 = a + static_cast<size_t>(2 * j) * pbytes + static_cast<size_t>(b) * kQ4G;
      const uint8_t* g1 = g0 + pbytes;
      __m512i lo[4], hi[4];
      for (int t = 0; t < 4; ++t) {
        const __m512i v = load_pair(g0 + 16 + 32 * t, g1 + 16 + 32 * t);
        lo[t] = _mm512_and_si512(v, m4);
        hi[t] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
      }
      const __m512 dw = pair_scales(g0, g1);
      for (int r = 0; r < IR; ++r) {
        const int8_t* q = xr[r][b].qs;
        // (nibble - 8) . x = nibble . x - 8 sum(x), the low chain started
        // at the correction (exact integers).
        __m512i sl = _mm512_dpbusd_epi32(_mm512_set1_epi32(-8 * xs[r][b]), lo[0], bcast4(q));
        __m512i sh = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi[0], bcast4(q + 16));
        for (int t = 1; t < 4; ++t) {
          sl = _mm512_dpbusd_epi32(sl, lo[t], bcast4(q + 4 * t));
          sh = _mm512_dpbusd_epi32(sh, hi[t], bcast4(q + 16 + 4 * t));
        }
        const __m512i isum = _mm512_add_epi32(sl, sh);
        const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(xr[r][b].d));
        acc[r][j] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(isum), acc[r][j]);
      }
    }
  }
}

// q8_0: as q4_tile; chunk t holds quants [4t, 4t+4) of each row.
template <int JP, int IR>
TANDEM_AVX512_FN inline void q8_tile(const uint8_t* a, size_t pbytes, const BlockQ8A* const* xr,
                                     const int32_t* const* xs, int64_t nb, __m512 acc[IR][JP]) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_ahead<decode_hint(IR)>(a, pbytes, 2 * JP, kQ8G, b, nb, 12, 5);
    for (int j = 0; j < JP; ++j) {
      const uint8_t* g0 = a + static_cast<size_t>(2 * j) * pbytes + static_cast<size_t>(b) * kQ8G;
      const uint8_t* g1 = g0 + pbytes;
      // isum = dot(w + 128, x) - 128 sum(x), the chain started at the
      // correction (integer sums are exact in any order).
      __m512i s[IR];
      for (int r = 0; r < IR; ++r) s[r] = _mm512_set1_epi32(-128 * xs[r][b]);
      for (int t = 0; t < 8; ++t) {
        // w + 128 as an unsigned byte.
        const __m512i wu = _mm512_xor_si512(load_pair(g0 + 16 + 32 * t, g1 + 16 + 32 * t), flip);
        for (int r = 0; r < IR; ++r) s[r] = _mm512_dpbusd_epi32(s[r], wu, bcast4(xr[r][b].qs + 4 * t));
      }
      const __m512 dw = pair_scales(g0, g1);
      for (int r = 0; r < IR; ++r) {
        const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(xr[r][b].d));
        acc[r][j] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(s[r]), acc[r][j]);
      }
    }
  }
}

// Block group g0 of a pair (second panel pbytes on) as 8 chunks of
// unsigned bytes, chunk t matching activation bytes [4t, 4t + 4): q8_0
// quants + 128; q4_0 low nibbles (chunks 0..3), then high ones (4..7).
template <DType T>
TANDEM_AVX512_FN inline void pair_chunks_u8(const uint8_t* g0, size_t pbytes, __m512i w[8]) {
  if constexpr (T == DType::kQ8_0) {
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
#pragma GCC unroll 8
    for (int t = 0; t < 8; ++t) w[t] = _mm512_xor_si512(load_pair(g0 + 16 + 32 * t, g0 + pbytes + 16 + 32 * t), flip);
  } else {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
#pragma GCC unroll 4
    for (int t = 0; t < 4; ++t) {
      const __m512i v = load_pair(g0 + 16 + 32 * t, g0 + pbytes + 16 + 32 * t);
      w[t] = _mm512_and_si512(v, m4);
      w[t + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
    }
  }
}

// q8_0, one pair x IR rows with the pair's 8 chunks of a block held in
// registers: the rows' integer chains run four at a time (four chains in
// flight cover vpdpbusd's latency), so 16 rows fit (16 accumulators + 8
// weight registers + 4 chains); every block's weights are loaded once for
// all rows. c0 holds -128 sum(x) per row and block (the chains' start); x0
// and c0 are row 0's, rows nb blocks apart. Per output the same operations
// as q8_tile. (Used for a thread's last odd pair; pairs of pairs take
// int8_tile_pairs_rows.)
template <int IR>
TANDEM_AVX512_FN inline void q8_tile_rows(const uint8_t* a, size_t pbytes, const BlockQ8A* x0, const int32_t* c0,
                                          int64_t nb, __m512 acc[IR][1]) {
  constexpr int kG = 4;
  static_assert(IR % kG == 0);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* g0 = a + static_cast<size_t>(b) * kQ8G;
    const uint8_t* g1 = g0 + pbytes;
    prefetch_ahead(a, pbytes, 2, kQ8G, b, nb, 12, 5);
    __m512i wu[8];
    pair_chunks_u8<DType::kQ8_0>(g0, pbytes, wu);
    const __m512 dw = pair_scales(g0, g1);
#pragma GCC unroll 16
    for (int r0 = 0; r0 < IR; r0 += kG) {
      __m512i s[kG];
      const BlockQ8A* xb[kG];
#pragma GCC unroll 16
      for (int g = 0; g < kG; ++g) {
        xb[g] = x0 + (r0 + g) * nb + b;
        s[g] = _mm512_set1_epi32(c0[(r0 + g) * nb + b]);
      }
#pragma GCC unroll 8
      for (int t = 0; t < 8; ++t)
#pragma GCC unroll 16
        for (int g = 0; g < kG; ++g) s[g] = _mm512_dpbusd_epi32(s[g], wu[t], bcast4(xb[g]->qs + 4 * t));
#pragma GCC unroll 16
      for (int g = 0; g < kG; ++g) {
        const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(xb[g]->d));
        acc[r0 + g][0] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(s[g]), acc[r0 + g][0]);
      }
    }
  }
}

// q8_0 / q4_0, two pairs x IR rows with both pairs' 8 chunks of a block
// held in registers (16), rows four at a time (8 integer chains);
// accumulators in memory. Each activation broadcast serves both pairs, and
// each block's weights are loaded once for all rows. c0 holds the chains'
// start per row and block (-128 or -8 sum(x)); x0 and c0 are row 0's, rows
// nb blocks apart. Per output the same result as q8_tile / q4_tile (q4_0's
// two integer chains become one: integer sums are exact in any order).
template <DType T, int IR>
TANDEM_AVX512_FN inline void int8_tile_pairs_rows(const uint8_t* a, size_t pbytes, const BlockQ8A* x0,
                                                  const int32_t* c0, int64_t nb, __m512 acc[IR][2]) {
  constexpr int kG = 4;
  static_assert(IR % kG == 0);
  constexpr size_t kGroup = T == DType::kQ8_0 ? kQ8G : kQ4G;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* g0 = a + static_cast<size_t>(b) * kGroup;
    const uint8_t* g2 = g0 + 2 * pbytes;
    if constexpr (T == DType::kQ8_0) prefetch_ahead(a, pbytes, 4, kGroup, b, nb, 12, 5);
    else prefetch_ahead(a, pbytes, 4, kGroup, b, nb, 8, 3);
    __m512i w0[8], w1[8];
    pair_chunks_u8<T>(g0, pbytes, w0);
    pair_chunks_u8<T>(g2, pbytes, w1);
    const __m512 dw0 = pair_scales(g0, g0 + pbytes), dw1 = pair_scales(g2, g2 + pbytes);
#pragma GCC unroll 1
    for (int r0 = 0; r0 < IR; r0 += kG) {
      __m512i s[kG][2];
#pragma GCC unroll 16
      for (int g = 0; g < kG; ++g) s[g][0] = s[g][1] = _mm512_set1_epi32(c0[(r0 + g) * nb + b]);
#pragma GCC unroll 8
      for (int t = 0; t < 8; ++t)
#pragma GCC unroll 16
        for (int g = 0; g < kG; ++g) {
          const __m512i xv = bcast4(x0[(r0 + g) * nb + b].qs + 4 * t);
          s[g][0] = _mm512_dpbusd_epi32(s[g][0], w0[t], xv);
          s[g][1] = _mm512_dpbusd_epi32(s[g][1], w1[t], xv);
        }
#pragma GCC unroll 16
      for (int g = 0; g < kG; ++g) {
        const __m512 dx = _mm512_set1_ps(x0[(r0 + g) * nb + b].d);
        acc[r0 + g][0] = _mm512_fmadd_ps(_mm512_mul_ps(dw0, dx), _mm512_cvtepi32_ps(s[g][0]), acc[r0 + g][0]);
        acc[r0 + g][1] = _mm512_fmadd_ps(_mm512_mul_ps(dw1, dx), _mm512_cvtepi32_ps(s[g][1]), acc[r0 + g][1]);
      }
    }
  }
}

// The 8 bytes at a (lanes 0..7) and the 8 at b (lanes 8..15), unsigned or
// signed, as 16 f32 lanes (exact).
template <bool kSigned>
TANDEM_AVX512_FN inline __m512 pair_bytes_ps(const uint8_t* a, const uint8_t* b) {
  const __m128i v = _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(a)),
                                       _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b)));
  return _mm512_cvtepi32_ps(kSigned ? _mm512_cvtepi8_epi32(v) : _mm512_cvtepu8_epi32(v));
}

// q4_K / q5_K: JP pairs x IR activation rows over all super-blocks. Per
// output, as kq45_tile of the AVX2 file: acc = fma(d * sc[s] * d_x, isum,
// acc) and corr = fma(dmin * m[s], d_x * sum(x_q), corr) in block order; the
// result is acc - corr. isum is the exact dot of the unsigned quants (0..15,
// or 0..31 with q5_K's fifth bit) with the activations, by vpdpbusd.
template <int JP, int IR, bool kQ5>
TANDEM_AVX512_FN inline void kq45_tile(const uint8_t* a, size_t pbytes, const BlockQ8A* const* xr,
                                       const int32_t* const* xs, int64_t nsb, __m512 acc[IR][JP]) {
  namespace kq = packed::kq;
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i one8 = _mm512_set1_epi8(1);
  constexpr size_t kG = kQ5 ? kq::kQ5Bytes : kq::kQ4Bytes;
  __m512 corr[IR][JP];
  for (int r = 0; r < IR; ++r)
    for (int j = 0; j < JP; ++j) corr[r][j] = _mm512_setzero_ps();
  for (int64_t sb = 0; sb < nsb; ++sb) {
    const uint8_t* g0[JP];
    const uint8_t* g1[JP];
    __m512 d[JP], dmin[JP];
    for (int j = 0; j < JP; ++j) {
      g0[j] = a + static_cast<size_t>(2 * j) * pbytes + static_cast<size_t>(sb) * kG;
      g1[j] = g0[j] + pbytes;
      d[j] = pair_scales(g0[j], g1[j]);
      dmin[j] = pair_scales(g0[j] + 16, g1[j] + 16);
    }
    for (int t = 0; t < 4; ++t) {
      const size_t qs = kq::kQs + 256 * static_cast<size_t>(t);
      for (int j = 0; j < JP; ++j) {
        prefetch_lines<decode_hint(IR)>(g0[j] + qs + kG, 5);
        prefetch_lines<decode_hint(IR)>(g1[j] + qs + kG, 5);
      }
      // Blocks 2t (low nibbles) and 2t + 1 (high) of the super-block.
      const int64_t b = sb * 8 + 2 * t;
      __m512i lo32[IR][JP], hi32[IR][JP];
      for (int r = 0; r < IR; ++r)
        for (int j = 0; j < JP; ++j) lo32[r][j] = hi32[r][j] = _mm512_setzero_si512();
      for (int c = 0; c < 8; ++c) {
        __m512i lo[JP], hi[JP];
        for (int j = 0; j < JP; ++j) {
          const __m512i v = load_pair(g0[j] + qs + 32 * c, g1[j] + qs + 32 * c);
          lo[j] = _mm512_and_si512(v, m4);
          hi[j] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
          if constexpr (kQ5) {
            const __m512i h = load_pair(g0[j] + kq::kQ5Qh + 32 * c, g1[j] + kq::kQ5Qh + 32 * c);
            lo[j] = _mm512_or_si512(lo[j], _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(h, 2 * t), one8), 4));
            hi[j] = _mm512_or_si512(hi[j],
                                    _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(h, 2 * t + 1), one8), 4));
          }
        }
        for (int r = 0; r < IR; ++r) {
          const __m512i xl = bcast4(xr[r][b].qs + 4 * c), xh = bcast4(xr[r][b + 1].qs + 4 * c);
          for (int j = 0; j < JP; ++j) {
            lo32[r][j] = _mm512_dpbusd_epi32(lo32[r][j], lo[j], xl);
            hi32[r][j] = _mm512_dpbusd_epi32(hi32[r][j], hi[j], xh);
          }
        }
      }
      for (int h = 0; h < 2; ++h) {
        const int s = 2 * t + h;
        for (int j = 0; j < JP; ++j) {
          const size_t so = kq::kSc + 8 * static_cast<size_t>(s), mo = kq::kMin + 8 * static_cast<size_t>(s);
          const __m512 scale = _mm512_mul_ps(d[j], pair_bytes_ps<false>(g0[j] + so, g1[j] + so));
          const __m512 mins = _mm512_mul_ps(dmin[j], pair_bytes_ps<false>(g0[j] + mo, g1[j] + mo));
          for (int r = 0; r < IR; ++r) {
            const BlockQ8A& xb = xr[r][b + h];
            const __m512i isum = h == 0 ? lo32[r][j] : hi32[r][j];
            acc[r][j] =
                _mm512_fmadd_ps(_mm512_mul_ps(scale, _mm512_set1_ps(xb.d)), _mm512_cvtepi32_ps(isum), acc[r][j]);
            const float dxs = xb.d * static_cast<float>(xs[r][b + h]);
            corr[r][j] = _mm512_fmadd_ps(mins, _mm512_set1_ps(dxs), corr[r][j]);
          }
        }
      }
    }
  }
  for (int r = 0; r < IR; ++r)
    for (int j = 0; j < JP; ++j) acc[r][j] = _mm512_sub_ps(acc[r][j], corr[r][j]);
}

// Sums of quants [0, 16) and [16, 32) of an activation block: x + 128 as
// unsigned bytes (xor 0x80), summed by vpsadbw in groups of 8, less 16 * 128.
TANDEM_AVX512_FN inline void half_sums(const int8_t* q, int32_t out[2]) {
  const __m256i u = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)),
                                     _mm256_set1_epi8(static_cast<char>(0x80)));
  const __m256i s = _mm256_sad_epu8(u, _mm256_setzero_si256());  // 4 x u64: bytes 0-7, 8-15, 16-23, 24-31
  const __m128i lo = _mm256_castsi256_si128(s), hi = _mm256_extracti128_si256(s, 1);
  const __m128i t = _mm_add_epi64(_mm_unpacklo_epi64(lo, hi), _mm_unpackhi_epi64(lo, hi));
  out[0] = _mm_cvtsi128_si32(t) - 16 * 128;
  out[1] = _mm_extract_epi32(t, 2) - 16 * 128;
}

// q6_K: JP pairs x IR activation rows. Per output, as kq6_tile of the AVX2
// file: acc = fma(d * sc[u] * d_x, isum_u, acc) over the sub-blocks u of 16
// in order. vpdpbusd takes the unsigned 6-bit quants q (0..63); isum_u =
// dot(q, x) - 32 * sum(x) over the sub-block, the exact dot of (q - 32).
template <int JP, int IR>
TANDEM_AVX512_FN inline void kq6_tile(const uint8_t* a, size_t pbytes, const BlockQ8A* const* xr, int64_t nsb,
                                      __m512 acc[IR][JP]) {
  namespace kq = packed::kq;
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i m3 = _mm512_set1_epi8(3);
  for (int64_t sb = 0; sb < nsb; ++sb) {
    const uint8_t* g0[JP];
    const uint8_t* g1[JP];
    __m512 d[JP];
    for (int j = 0; j < JP; ++j) {
      g0[j] = a + static_cast<size_t>(2 * j) * pbytes + static_cast<size_t>(sb) * kq::kQ6Bytes;
      g1[j] = g0[j] + pbytes;
      d[j] = pair_scales(g0[j], g1[j]);
    }
    for (int s = 0; s < 8; ++s) {
      const int n = s / 4, r4 = s % 4;
      const size_t ql = kq::kQ6Ql + 256 * static_cast<size_t>(2 * n + (r4 & 1));
      const size_t qh = kq::kQ6Qh + 256 * static_cast<size_t>(n);
      for (int j = 0; j < JP; ++j) {
        prefetch_lines<decode_hint(IR)>(g0[j] + ql + kq::kQ6Bytes, 5);
        prefetch_lines<decode_hint(IR)>(g1[j] + ql + kq::kQ6Bytes, 5);
      }
      const int64_t b = sb * 8 + s;
      __m512i s32[2][IR][JP];
      for (int u = 0; u < 2; ++u)
        for (int r = 0; r < IR; ++r)
          for (int j = 0; j < JP; ++j) s32[u][r][j] = _mm512_setzero_si512();
      for (int c = 0; c < 8; ++c) {
        __m512i q[JP];
        for (int j = 0; j < JP; ++j) {
          const __m512i lv = load_pair(g0[j] + ql + 32 * c, g1[j] + ql + 32 * c);
          const __m512i hv = load_pair(g0[j] + qh + 32 * c, g1[j] + qh + 32 * c);
          const __m512i lo = r4 < 2 ? _mm512_and_si512(lv, m4) : _mm512_and_si512(_mm512_srli_epi16(lv, 4), m4);
          const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(hv, 2 * r4), m3);
          q[j] = _mm512_or_si512(lo, _mm512_slli_epi16(hi, 4));
        }
        for (int r = 0; r < IR; ++r) {
          const __m512i xv = bcast4(xr[r][b].qs + 4 * c);
          for (int j = 0; j < JP; ++j) s32[c / 4][r][j] = _mm512_dpbusd_epi32(s32[c / 4][r][j], q[j], xv);
        }
      }
      int32_t hs[IR][2];
      for (int r = 0; r < IR; ++r) half_sums(xr[r][b].qs, hs[r]);
      for (int u = 0; u < 2; ++u) {
        for (int j = 0; j < JP; ++j) {
          const size_t so = kq::kQ6Scales + 8 * static_cast<size_t>(2 * s + u);
          const __m512 scale = _mm512_mul_ps(d[j], pair_bytes_ps<true>(g0[j] + so, g1[j] + so));
          for (int r = 0; r < IR; ++r) {
            const __m512i isum = _mm512_sub_epi32(s32[u][r][j], _mm512_set1_epi32(32 * hs[r][u]));
            acc[r][j] = _mm512_fmadd_ps(_mm512_mul_ps(scale, _mm512_set1_ps(xr[r][b].d)), _mm512_cvtepi32_ps(isum),
                                        acc[r][j]);
          }
        }
      }
    }
  }
}

template <DType T, int JP, int IR>
TANDEM_AVX512_FN inline void q8a_tile_out(const uint8_t* w, size_t pbytes, int64_t p, const BlockQ8A* xq,
                                          const int32_t* xsum, int64_t nb, int64_t i, const Out& o) {
  const BlockQ8A* xr[IR];
  const int32_t* xs[IR];
  for (int r = 0; r < IR; ++r) {
    xr[r] = xq + (i + r) * nb;
    xs[r] = xsum + (i + r) * nb;
  }
  __m512 acc[IR][JP];
  for (int r = 0; r < IR; ++r)
    for (int j = 0; j < JP; ++j) acc[r][j] = _mm512_setzero_ps();
  const uint8_t* a = w + static_cast<size_t>(p) * pbytes;
  if constexpr (T == DType::kQ4_0) {
    // The small-batch tile takes the -8 sum(x) table as xsum.
    if constexpr (JP == 2 && IR % 4 == 0) int8_tile_pairs_rows<T, IR>(a, pbytes, xr[0], xs[0], nb, acc);
    else q4_tile<JP, IR>(a, pbytes, xr, xs, nb, acc);
  } else if constexpr (T == DType::kQ8_0) {
    // The small-batch tiles take the -128 sum(x) table as xsum.
    if constexpr (JP == 1 && IR == 16) q8_tile_rows<IR>(a, pbytes, xr[0], xs[0], nb, acc);
    else if constexpr (JP == 2 && IR % 4 == 0) int8_tile_pairs_rows<T, IR>(a, pbytes, xr[0], xs[0], nb, acc);
    else q8_tile<JP, IR>(a, pbytes, xr, xs, nb, acc);
  } else if constexpr (T == DType::kQ6_K) {
    kq6_tile<JP, IR>(a, pbytes, xr, nb / 8, acc);
  } else {
    kq45_tile<JP, IR, T == DType::kQ5_K>(a, pbytes, xr, xs, nb / 8, acc);
  }
  for (int j = 0; j < JP; ++j) {
    const __mmask16 mk = out_mask(o.m, p + 2 * j);
    const __m512 b = o.bias != nullptr ? _mm512_maskz_loadu_ps(mk, o.bias + (p + 2 * j) * 8) : _mm512_setzero_ps();
    for (int r = 0; r < IR; ++r) _mm512_mask_storeu_ps(o.y + (i + r) * o.m + (p + 2 * j) * 8, mk, _mm512_add_ps(acc[r][j], b));
  }
}

// Decode (IR activation rows, 1 or 2): two pairs (four panels) at a time
// share the activations; the pairs [p0, pe).
template <DType T, int IR>
TANDEM_AVX512_FN inline void q8a_decode(const uint8_t* w, size_t pbytes, const BlockQ8A* xq, const int32_t* xsum,
                                        int64_t nb, int64_t p0, int64_t pe, const Out& o) {
  int64_t p = p0;
  // q4_0: four pairs (8 streams, 1.2 KiB each prefetched ahead) at once.
  // Two pairs left DRAM latency uncovered: 5632 x 2048 x 1 from DRAM went
  // from 168 to 192-207 GFLOP/s (matmul_bench --copies 16, medians of 5
  // alternating runs); eight pairs and one pair were slower, and q8_0 (272-
  // byte groups, 12 ahead) did not change.
  if constexpr (T == DType::kQ4_0)
    for (; p + 8 <= pe; p += 8) q8a_tile_out<T, 4, IR>(w, pbytes, p, xq, xsum, nb, 0, o);
  for (; p + 4 <= pe; p += 4) q8a_tile_out<T, 2, IR>(w, pbytes, p, xq, xsum, nb, 0, o);
  if (p < pe) q8a_tile_out<T, 1, IR>(w, pbytes, p, xq, xsum, nb, 0, o);
}

template <DType T>
TANDEM_AVX512_FN void matmul_packed_q8a_t(const uint8_t* w, const BlockQ8A* xq, const int32_t* xsum, int64_t n,
                                          int64_t k, int64_t m, int64_t p0, int64_t p1, const float* bias, float* y) {
  const size_t pbytes = packed::panel_bytes(T, k);
  const int64_t nb = k / 32;
  const int64_t pe = p0 + (p1 - p0) / 2 * 2;  // pairs in [p0, pe)
  if (pe < p1) matmul_packed_q8a_avx2(T, w, xq, xsum, n, k, m, pe, p1, bias, y);
  const Out o{y, m, bias, true, true};
  // K-quant tiles keep two integer sums (and, for q4_K / q5_K, a second
  // float chain) per accumulator: for q4_K / q5_K at most 4 rows x 1 pair
  // or 2 x 2 fit the 32 registers.
  constexpr bool kKQuant = T == DType::kQ4_K || T == DType::kQ5_K || T == DType::kQ6_K;
  if (n == 1) {
    q8a_decode<T, 1>(w, pbytes, xq, xsum, nb, p0, pe, o);
    return;
  }
  if constexpr (kKQuant) {
    if (n == 2) {
      q8a_decode<T, 2>(w, pbytes, xq, xsum, nb, p0, pe, o);
      return;
    }
  }
  // q6_K has no second float chain (no mins): 8 rows x 1 pair is 16
  // integer sums + 8 accumulators, and halves how often the pair's weights
  // (74 KiB for k = 5632, more than L1) come back from L2 per pass.
  constexpr int kIr = T == DType::kQ6_K ? 8 : kKQuant ? 4 : 8;
  // Rows of x per pass: their quantized blocks stay in L2 while a pair of
  // panels sits in L1.
  const int64_t nc = std::clamp<int64_t>(int64_t{160 * 1024} / (nb * 36) / 8 * 8, 8, 64);
  // The small-batch q8_0 / q4_0 tiles start each integer chain at -128 or
  // -8 sum(x), read here once per call (a broadcast from memory in the tile,
  // not an ALU op).
  constexpr bool kSmallTiles = T == DType::kQ8_0 || T == DType::kQ4_0;
  const int32_t* corr = nullptr;
  if constexpr (kSmallTiles) {
    if (n <= kSmallRows) {
      constexpr int32_t kOffset = T == DType::kQ8_0 ? 128 : 8;
      thread_local std::vector<int32_t> c;
      c.resize(static_cast<size_t>(n * nb));
      for (size_t e = 0; e < c.size(); ++e) c[e] = -kOffset * xsum[e];
      corr = c.data();
    }
  }
  // Rows [i, i1) against the pair at panel p.
  auto one_pair = [&](int64_t p, int64_t i, int64_t i1) {
    // q8_0 batches (decode of up to 48 sequences): 16-row tiles, whose
    // pair weights are loaded once per block for all 16 rows; measured
    // 7% faster at 16 rows, 7% slower at 512 (matmul_bench, 5632 x 2048).
    // (q4_0's tile holds its pair's nibbles in registers already: 16
    // rows measured the same as 8.)
    if constexpr (T == DType::kQ8_0)
      if (n <= kSmallRows)
        for (; i + 16 <= i1; i += 16) q8a_tile_out<T, 1, 16>(w, pbytes, p, xq, corr, nb, i, o);
    for (; i + kIr <= i1; i += kIr) q8a_tile_out<T, 1, kIr>(w, pbytes, p, xq, xsum, nb, i, o);
    if (i1 - i >= 4) {
      q8a_tile_out<T, 1, 4>(w, pbytes, p, xq, xsum, nb, i, o);
      i += 4;
    }
    if (i1 - i >= 2) {
      q8a_tile_out<T, 1, 2>(w, pbytes, p, xq, xsum, nb, i, o);
      i += 2;
    }
    if (i1 - i >= 1) q8a_tile_out<T, 1, 1>(w, pbytes, p, xq, xsum, nb, i, o);
  };
  if constexpr (kSmallTiles) {
    if (n <= kSmallRows) {
      // Two pairs at a time, 16 or 8 rows per tile (each activation
      // broadcast serves both pairs); rows left over go pair by pair.
      int64_t p = p0;
      for (; p + 4 <= pe; p += 4) {
        int64_t i = 0;
        for (; i + 16 <= n; i += 16) q8a_tile_out<T, 2, 16>(w, pbytes, p, xq, corr, nb, i, o);
        if (i + 8 <= n) {
          q8a_tile_out<T, 2, 8>(w, pbytes, p, xq, corr, nb, i, o);
          i += 8;
        }
        if (i < n) {
          one_pair(p, i, n);
          one_pair(p + 2, i, n);
        }
      }
      if (p < pe) one_pair(p, 0, n);
      return;
    }
  }
  for (int64_t i0 = 0; i0 < n; i0 += nc) {
    const int64_t i1 = std::min(n, i0 + nc);
    for (int64_t p = p0; p < pe; p += 2) one_pair(p, i0, i1);
  }
}

}  // namespace

TANDEM_AVX512_FN void matmul_packed_avx512(DType t, const uint8_t* w, const float* x, int64_t ldx, int64_t n,
                                           int64_t k, int64_t m, int64_t p0, int64_t p1, const float* bias,
                                           float* y) {
  switch (t) {
    case DType::kF32: return matmul_packed_float_t<DType::kF32>(w, x, ldx, n, k, m, p0, p1, bias, y);
    case DType::kF16: return matmul_packed_float_t<DType::kF16>(w, x, ldx, n, k, m, p0, p1, bias, y);
    case DType::kBF16: return matmul_packed_float_t<DType::kBF16>(w, x, ldx, n, k, m, p0, p1, bias, y);
    default: return matmul_packed_avx2(t, w, x, ldx, n, k, m, p0, p1, bias, y);
  }
}

TANDEM_AVX512_FN void matmul_packed_q8a_avx512(DType t, const uint8_t* w, const BlockQ8A* xq, const int32_t* xsum,
                                               int64_t n, int64_t k, int64_t m, int64_t p0, int64_t p1,
                                               const float* bias, float* y) {
  switch (t) {
    case DType::kQ4_0: return matmul_packed_q8a_t<DType::kQ4_0>(w, xq, xsum, n, k, m, p0, p1, bias, y);
    case DType::kQ8_0: return matmul_packed_q8a_t<DType::kQ8_0>(w, xq, xsum, n, k, m, p0, p1, bias, y);
    case DType::kQ4_K: return matmul_packed_q8a_t<DType::kQ4_K>(w, xq, xsum, n, k, m, p0, p1, bias, y);
    case DType::kQ5_K: return matmul_packed_q8a_t<DType::kQ5_K>(w, xq, xsum, n, k, m, p0, p1, bias, y);
    case DType::kQ6_K: return matmul_packed_q8a_t<DType::kQ6_K>(w, xq, xsum, n, k, m, p0, p1, bias, y);
    default: return matmul_packed_q8a_avx2(t, w, xq, xsum, n, k, m, p0, p1, bias, y);
  }
}

}  // namespace tandem::kernels

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
