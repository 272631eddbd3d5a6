// AVX2 + FMA + F16C matmuls over kPanel8 weights (src/tensor/packed.h).
//
// Every output y[i, j] is one chain over k in ascending order, whatever the
// tile, batch size or thread split:
//   f32 / f16 / bf16: acc = fma(x[i, k], w[j, k], acc) from acc = 0, then + bias;
//   q8_0 / q4_0:      per block b, acc = fma(d_w * d_x, float(isum), acc), where
//                     isum is the exact integer dot of the block's quants.
// Lanes hold 8 different outputs, so there is no horizontal reduction, and a
// partial chain parked in y between k-blocks is reloaded bit-exactly. That is
// what makes the GEMM (many rows) and the GEMV (one row) agree bitwise.
//
// Compiled with -mavx2 -mfma -mf16c; only called after
// cpu_has_avx2_fma_f16c() said yes.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "tensor/avx2_util.h"
#include "tensor/kernels.h"
#include "tensor/packed.h"

namespace tandem::kernels {
namespace {

// 8 rows' weights at column kk of a float-type panel.
template <DType T>
inline __m256 load_col(const uint8_t* panel, int64_t kk) {
  if constexpr (T == DType::kF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(panel) + kk * 8);
  } else if constexpr (T == DType::kF16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(panel + kk * 16)));
  } else {  // bf16
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(panel + kk * 16)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  }
}

// Bytes of one column (8 rows' weights) of a float-type panel.
template <DType T>
constexpr size_t kColBytes = T == DType::kF32 ? 32 : 16;

// Outputs of a panel: all 8 lanes, or the first `rows` of the last panel.
inline __m256 load_out(const float* p, int64_t rows) { return avx2::load_first(p, rows); }
inline void store_out(float* p, __m256 v, int64_t rows) { avx2::store_first(p, v, rows); }

// Where a tile's outputs go and which part of the chain it runs.
struct Out {
  float* y;            // y[0, 0]
  int64_t m;           // row stride of y
  const float* bias;   // [m] or null
  bool first, last;    // first k-block: start from 0; last: add the bias
};

// The tile's column loop for IR = 4..6 rows x 2 panels in assembly,
// unrolled by 4, for
// f32 weights (vmovups), f16 (vcvtph2ps from memory) or bf16 (vpmovzxwd
// from memory, then a 16-bit shift). On Zen 3 the conversions run beside
// the FMAs: build/bench/fma_ceiling has the f16 loop as fast as the f32 one,
// so f16 / bf16 prefill reads its panels directly instead of widening them
// to f32 first. acc (2 IR x 8 floats: row r, panel q at 8 (2 r + q)) is
// loaded, runs `steps` columns (a multiple of 4, > 0), and is stored back.
// w points at panel 0's first column (panel 1 is wstride bytes further), x
// at row 0's first activation (rows xstride bytes apart). Per accumulator
// these are float_tile's FMAs in the same column order (vfmadd231ps: acc +
// x * w, one rounding; f16 / bf16 to f32 is exact), so results are bitwise
// the same. Why: GCC 12's loop kept a loop counter and two pointer updates
// per column and could not be unrolled without spilling; in L1
// (build/bench/fma_ceiling, 9 runs) this loop reached 83-96% of the bare
// FMA chains, mostly 89-96%, against 78-96%, mostly 82-87%, for the
// compiled one.
template <DType T, int IR>
inline void tile_x2_asm(const void* w, long wstride, const float* x, long xstride, long steps, float* acc) {
  static_assert(IR >= 4 && IR <= 6);
  const float* x3 = x + 3 * (xstride / 4);
  long n = steps / 4;
#define TANDEM_W(OP, WOFF)                      \
  OP " " #WOFF "(%[w]), %%ymm12\n\t"            \
  OP " " #WOFF "(%[w],%[ws],1), %%ymm13\n\t"
  // Row r's broadcast (from ADDR) into BREG, then its two FMAs.
#define TANDEM_ROW(ADDR, BREG, A0, A1)                \
  "vbroadcastss " ADDR ", %%ymm" #BREG "\n\t"         \
  "vfmadd231ps %%ymm12, %%ymm" #BREG ", %%ymm" #A0 "\n\t" \
  "vfmadd231ps %%ymm13, %%ymm" #BREG ", %%ymm" #A1 "\n\t"
#define TANDEM_FMAS4(XOFF)                                  \
  TANDEM_ROW(#XOFF "(%[x0])", 14, 0, 1)                     \
  TANDEM_ROW(#XOFF "(%[x0],%[xs],1)", 15, 2, 3)             \
  TANDEM_ROW(#XOFF "(%[x0],%[xs],2)", 14, 4, 5)             \
  TANDEM_ROW(#XOFF "(%[x3])", 15, 6, 7)
#define TANDEM_FMAS5(XOFF) TANDEM_FMAS4(XOFF) TANDEM_ROW(#XOFF "(%[x3],%[xs],1)", 14, 8, 9)
#define TANDEM_FMAS6(XOFF) TANDEM_FMAS5(XOFF) TANDEM_ROW(#XOFF "(%[x3],%[xs],2)", 15, 10, 11)
#define TANDEM_ACC4(OP) OP(0, 0) OP(1, 32) OP(2, 64) OP(3, 96) OP(4, 128) OP(5, 160) OP(6, 192) OP(7, 224)
#define TANDEM_ACC5(OP) TANDEM_ACC4(OP) OP(8, 256) OP(9, 288)
#define TANDEM_ACC6(OP) TANDEM_ACC5(OP) OP(10, 320) OP(11, 352)
#define TANDEM_LOAD(R, OFF) "vmovups " #OFF "(%[acc]), %%ymm" #R "\n\t"
#define TANDEM_STORE(R, OFF) "vmovups %%ymm" #R ", " #OFF "(%[acc])\n\t"
#define TANDEM_OPERANDS                                                                                       \
  : [w] "+r"(w), [x0] "+r"(x), [x3] "+r"(x3), [n] "+r"(n)                                                     \
  : [ws] "r"(wstride), [xs] "r"(xstride), [acc] "r"(acc)                                                      \
  : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",    \
    "xmm13", "xmm14", "xmm15", "memory", "cc"
  // One loop: 4 columns per iteration (weights WLOAD, WSTEP bytes a column),
  // then the pointer updates.
#define TANDEM_LOOP(ACC, FMAS, WLOAD, WSTEP)                                                                 \
  __asm__ volatile(ACC(TANDEM_LOAD) "1:\n\t" WLOAD(0 * WSTEP) FMAS(0) WLOAD(1 * WSTEP) FMAS(4)             \
                       WLOAD(2 * WSTEP) FMAS(8) WLOAD(3 * WSTEP) FMAS(12) "add $4*" #WSTEP ", %[w]\n\t"     \
                       "add $16, %[x0]\n\t"                                                                \
                       "add $16, %[x3]\n\t"                                                                \
                       "dec %[n]\n\t"                                                                      \
                       "jnz 1b\n\t" ACC(TANDEM_STORE) TANDEM_OPERANDS)
#define TANDEM_F32(WOFF) TANDEM_W("vmovups", WOFF)
#define TANDEM_F16(WOFF) TANDEM_W("vcvtph2ps", WOFF)
#define TANDEM_BF16(WOFF) TANDEM_W("vpmovzxwd", WOFF) "vpslld $16, %%ymm12, %%ymm12\n\tvpslld $16, %%ymm13, %%ymm13\n\t"
#define TANDEM_BY_ROWS(WLOAD, WSTEP)                     \
  if constexpr (IR == 6) {                               \
    TANDEM_LOOP(TANDEM_ACC6, TANDEM_FMAS6, WLOAD, WSTEP); \
  } else if constexpr (IR == 5) {                        \
    TANDEM_LOOP(TANDEM_ACC5, TANDEM_FMAS5, WLOAD, WSTEP); \
  } else {                                               \
    TANDEM_LOOP(TANDEM_ACC4, TANDEM_FMAS4, WLOAD, WSTEP); \
  }
  if constexpr (T == DType::kF16) {
    TANDEM_BY_ROWS(TANDEM_F16, 16)
  } else if constexpr (T == DType::kBF16) {
    TANDEM_BY_ROWS(TANDEM_BF16, 16)
  } else {
    TANDEM_BY_ROWS(TANDEM_F32, 32)
  }
#undef TANDEM_BY_ROWS
#undef TANDEM_BF16
#undef TANDEM_F16
#undef TANDEM_F32
#undef TANDEM_LOOP
#undef TANDEM_OPERANDS
#undef TANDEM_STORE
#undef TANDEM_LOAD
#undef TANDEM_ACC6
#undef TANDEM_ACC5
#undef TANDEM_ACC4
#undef TANDEM_FMAS6
#undef TANDEM_FMAS5
#undef TANDEM_FMAS4
#undef TANDEM_ROW
#undef TANDEM_W
}

// JP panels x IR activation rows (rows i.. of the output), columns [k0, k1).
// xi points at row i, column k0 of the activations, whose rows are ldx floats
// apart. wp points at the first of the JP weight panels (pbytes apart), whose
// column kw0 lines up with column k0: kw0 = k0 for the stored panels, 0 for a
// converted slice. p is the first panel's index, for the outputs.
template <DType T, int JP, int IR>
inline void float_tile(const uint8_t* wp, size_t pbytes, int64_t p, const float* xi, int64_t ldx, int64_t i,
                       int64_t k0, int64_t k1, int64_t kw0, const Out& o) {
  __m256 acc[IR][JP];
  int64_t rows[JP];
  for (int q = 0; q < JP; ++q) rows[q] = std::min<int64_t>(8, o.m - (p + q) * 8);
  for (int r = 0; r < IR; ++r)
    for (int q = 0; q < JP; ++q)
      acc[r][q] = o.first ? _mm256_setzero_ps() : load_out(o.y + (i + r) * o.m + (p + q) * 8, rows[q]);
  const uint8_t* pw[JP];
  for (int q = 0; q < JP; ++q) pw[q] = wp + static_cast<size_t>(q) * pbytes;
  const float* xr[IR];
  for (int r = 0; r < IR; ++r) xr[r] = xi + r * ldx;
  int64_t kk = 0;
  if constexpr (JP == 2 && IR >= 4) {
    // acc[r][q] is float 8 (2 r + q) of the array: the assembly's layout.
    if (k1 - k0 >= 4) {
      kk = (k1 - k0) / 4 * 4;
      tile_x2_asm<T, IR>(pw[0] + kw0 * kColBytes<T>, static_cast<long>(pbytes), xi, static_cast<long>(ldx * 4),
                         static_cast<long>(kk), reinterpret_cast<float*>(acc));
    }
  }
  for (; kk < k1 - k0; ++kk) {
    __m256 wv[JP];
    for (int q = 0; q < JP; ++q) wv[q] = load_col<T>(pw[q], kk + kw0);
    for (int r = 0; r < IR; ++r) {
      const __m256 xb = _mm256_broadcast_ss(xr[r] + kk);
      for (int q = 0; q < JP; ++q) acc[r][q] = _mm256_fmadd_ps(xb, wv[q], acc[r][q]);
    }
  }
  for (int q = 0; q < JP; ++q) {
    __m256 b = _mm256_setzero_ps();
    if (o.last && o.bias != nullptr) b = load_out(o.bias + (p + q) * 8, rows[q]);
    for (int r = 0; r < IR; ++r) {
      const __m256 v = o.last ? _mm256_add_ps(acc[r][q], b) : acc[r][q];
      store_out(o.y + (i + r) * o.m + (p + q) * 8, v, rows[q]);
    }
  }
}

// Asks for columns [k0, k1) of `panels` consecutive panels (pbytes apart) in
// L2, so that the next pair's weights stream in while this pair computes:
// otherwise every block of rows waits for DRAM at the start of each pair.
template <DType T>
inline void prefetch_slice(const uint8_t* panel, size_t pbytes, int panels, int64_t k0, int64_t k1) {
  for (int q = 0; q < panels; ++q) {
    const char* a = reinterpret_cast<const char*>(panel + static_cast<size_t>(q) * pbytes + k0 * kColBytes<T>);
    const size_t bytes = static_cast<size_t>(k1 - k0) * kColBytes<T>;
    for (size_t off = 0; off < bytes; off += 64) _mm_prefetch(a + off, _MM_HINT_T1);
  }
}

// float_tile with a run-time row count (1..6).
template <DType T, int JP>
inline void float_tile_n(int64_t rows, const uint8_t* wp, size_t pbytes, int64_t p, const float* xi, int64_t ldx,
                         int64_t i, int64_t k0, int64_t k1, int64_t kw0, const Out& o) {
  switch (rows) {
    case 6: float_tile<T, JP, 6>(wp, pbytes, p, xi, ldx, i, k0, k1, kw0, o); break;
    case 5: float_tile<T, JP, 5>(wp, pbytes, p, xi, ldx, i, k0, k1, kw0, o); break;
    case 4: float_tile<T, JP, 4>(wp, pbytes, p, xi, ldx, i, k0, k1, kw0, o); break;
    case 3: float_tile<T, JP, 3>(wp, pbytes, p, xi, ldx, i, k0, k1, kw0, o); break;
    case 2: float_tile<T, JP, 2>(wp, pbytes, p, xi, ldx, i, k0, k1, kw0, o); break;
    case 1: float_tile<T, JP, 1>(wp, pbytes, p, xi, ldx, i, k0, k1, kw0, o); break;
    default: break;
  }
}

// Rows [i0, i1) of the output over columns [k0, k1); xb points at row i0,
// column k0 of the activations (rows ldx floats apart).
template <DType T, int JP>
inline void float_rows(const uint8_t* wp, size_t pbytes, int64_t p, const float* xb, int64_t ldx, int64_t i0,
                       int64_t i1, int64_t k0, int64_t k1, int64_t kw0, const Out& o) {
  constexpr int kIr = 6;
  auto xi = [&](int64_t i) { return xb + (i - i0) * ldx; };
  // Full tiles of 6 rows; when rows are left over, the last full tile is
  // kept back and shares them out (16 rows: 6 + 5 + 5, not 6 + 6 + 4): a
  // short tile has few independent FMA chains and took nearly a full tile's
  // time (matmul_bench f32 5632 x 2048 --copies 4: n = 18 ran faster than
  // n = 16).
  const int64_t rem = (i1 - i0) % kIr;
  const int64_t full_end = rem != 0 && i1 - i0 > kIr ? i1 - rem - kIr : i1 - rem;
  int64_t i = i0;
  for (; i < full_end; i += kIr) {
    // The next tile's outputs: a k-block pass over a big GEMM sweeps all of
    // y, so its partial sums come back from DRAM; ask for them one tile early.
    for (int64_t r = i + kIr; r < std::min(i1, i + 2 * kIr); ++r)
      for (int q = 0; q < JP; ++q) _mm_prefetch(reinterpret_cast<const char*>(o.y + r * o.m + (p + q) * 8), _MM_HINT_T0);
    float_tile<T, JP, kIr>(wp, pbytes, p, xi(i), ldx, i, k0, k1, kw0, o);
  }
  const int64_t left = i1 - i;  // 0, under 6, or 7..11
  if (left > kIr) {
    const int64_t a = (left + 1) / 2;
    float_tile_n<T, JP>(a, wp, pbytes, p, xi(i), ldx, i, k0, k1, kw0, o);
    float_tile_n<T, JP>(left - a, wp, pbytes, p, xi(i + a), ldx, i + a, k0, k1, kw0, o);
  } else if (left > 0) {
    float_tile_n<T, JP>(left, wp, pbytes, p, xi(i), ldx, i, k0, k1, kw0, o);
  }
}

template <DType T>
void matmul_packed_float_t(const uint8_t* w, const float* x, int64_t ldx, int64_t n, int64_t k, int64_t m,
                           int64_t p0, int64_t p1, const float* bias, float* y) {
  const size_t pbytes = packed::panel_bytes(T, k);
  if (n <= 2) {
    // Decode: one pass over the weights, four panels at a time for enough
    // independent FMA chains.
    const Out o{y, m, bias, true, true};
    int64_t p = p0;
    for (; p + 4 <= p1; p += 4) {
      if (n == 1) float_tile<T, 4, 1>(w + static_cast<size_t>(p) * pbytes, pbytes, p, x, ldx, 0, 0, k, 0, o);
      else float_tile<T, 4, 2>(w + static_cast<size_t>(p) * pbytes, pbytes, p, x, ldx, 0, 0, k, 0, o);
    }
    for (; p < p1; ++p) {
      if (n == 1) float_tile<T, 1, 1>(w + static_cast<size_t>(p) * pbytes, pbytes, p, x, ldx, 0, 0, k, 0, o);
      else float_tile<T, 1, 2>(w + static_cast<size_t>(p) * pbytes, pbytes, p, x, ldx, 0, 0, k, 0, o);
    }
    return;
  }
  // Prefill: each tile runs over up to kKc columns at once, so a 6 x 16
  // tile's partial sums go through y once per kKc columns, not once per 256
  // as before. The panel pair's columns (up to 384 KiB in f32) stay in L2
  // for the kNc rows of a block, whose activations stream from L3 once per
  // pair. With the assembly tile (tile_x2_asm), which hides L2 latency,
  // going through y every 256 columns cost more than keeping the weights in
  // L1 saved. matmul_bench --n 512, 2 threads, 5 alternating rounds,
  // medians: f16 5632 x 2048 145 (256 columns) -> 165 GFLOP/s (1024),
  // f16 2048 x 5632 150 (1024) / 157 (2048) -> 167 (all 5632); f32 2048 x
  // 5632 134 (256) -> 160 (1024). f16 and bf16 are converted in the tile's
  // loop: the slices widened to f32 once per block of rows before (a store
  // and a load of every weight) are gone, f16 2048 x 5632 163 -> 174,
  // bf16 5632 x 2048 150 -> 155.
  constexpr int64_t kKc = 6144, kNc = kPrefillRowBlock;
  // Up to kSmallBatchRows rows (decode batches, serving steps): one pass over all
  // of k. The activations fit in L2 anyway, each panel streams in one run,
  // and nothing is parked in y. matmul_bench, 5632 x 2048, alternating runs
  // (before the assembly tile): f16 at 4 rows 2x, at 12-48 rows +30-70%; f32
  // at 16 rows +16%.
  const bool small = n <= kSmallBatchRows;
  const int64_t kc = small ? k : kKc;
  for (int64_t k0 = 0; k0 < k; k0 += kc) {
    const int64_t k1 = std::min(k, k0 + kc);
    const Out o{y, m, bias, k0 == 0, k1 == k};
    for (int64_t i0 = 0; i0 < n; i0 += kNc) {
      const int64_t i1 = std::min(n, i0 + kNc);
      const float* xb = x + i0 * ldx + k0;  // the block's first activation
      int64_t p = p0;
      for (; p + 2 <= p1; p += 2) {
        // The next pair's first 256 columns (16 KiB of f32): its first tile
        // starts from L2 while the hardware prefetcher takes over.
        if (p + 2 < p1)
          prefetch_slice<T>(w + static_cast<size_t>(p + 2) * pbytes, pbytes, p + 4 <= p1 ? 2 : 1, k0,
                            std::min<int64_t>(k1, k0 + 256));
        float_rows<T, 2>(w + static_cast<size_t>(p) * pbytes, pbytes, p, xb, ldx, i0, i1, k0, k1, k0, o);
      }
      if (p < p1) float_rows<T, 1>(w + static_cast<size_t>(p) * pbytes, pbytes, p, xb, ldx, i0, i1, k0, k1, k0, o);
    }
  }
}

inline __m256i bcast4(const int8_t* q) {
  int32_t v;
  std::memcpy(&v, q, 4);
  return _mm256_set1_epi32(v);
}

// Prefetch for a decode tile over `panels` consecutive panels (pbytes
// each), now at block group g of panel j (block b of nb): the group `ahead`
// further on. Near the panel's end that lies in the next panel, which the
// tile reads already; the group of the next tile's panel j (`panels` on,
// what this thread reads next) is asked for instead.
inline void prefetch_group(const uint8_t* g, size_t gbytes, int64_t b, int64_t nb, int64_t ahead, size_t pbytes,
                           int panels, int lines) {
  const uint8_t* a = g + static_cast<size_t>(ahead) * gbytes;
  if (b + ahead >= nb) a += static_cast<size_t>(panels - 1) * pbytes;
  for (int c = 0; c < lines; ++c) _mm_prefetch(reinterpret_cast<const char*>(a + 64 * c), _MM_HINT_T0);
}

// One q4_0 block group of a panel (144 bytes at g): prefetches the group 8
// ahead, returns the 8 rows' scales and splits the 4 chunks into low and high
// nibbles (chunk t: quants 4t..4t+3 low, 16+4t.. high, of each row).
inline __m256 q4_group(const uint8_t* g, __m256i m4, __m256i lo[4], __m256i hi[4]) {
  constexpr size_t kG = 16 + 4 * 32;
  _mm_prefetch(reinterpret_cast<const char*>(g + 8 * kG), _MM_HINT_T0);
  _mm_prefetch(reinterpret_cast<const char*>(g + 8 * kG + 64), _MM_HINT_T0);
  _mm_prefetch(reinterpret_cast<const char*>(g + 8 * kG + 128), _MM_HINT_T0);
  for (int t = 0; t < 4; ++t) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 16 + 32 * t));
    lo[t] = _mm256_and_si256(v, m4);
    hi[t] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
  }
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g)));
}

// One panel x IR activation rows over all blocks (q4_0).
template <int IR>
inline void q4_tile(const uint8_t* panel, const BlockQ8A* const* xr, const int32_t* const* xs, int64_t nb,
                    __m256 acc[IR]) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  constexpr size_t kG = 16 + 4 * 32;
  for (int64_t b = 0; b < nb; ++b) {
    __m256i lo[4], hi[4];
    const __m256 dw = q4_group(panel + static_cast<size_t>(b) * kG, m4, lo, hi);
    for (int r = 0; r < IR; ++r) {
      const int8_t* q = xr[r][b].qs;
      // Unsigned nibbles (0..15) times int8: each int16 pair sum is at most
      // 2 * 15 * 127, so eight of them add without saturating.
      __m256i s = _mm256_maddubs_epi16(lo[0], bcast4(q));
      s = _mm256_add_epi16(s, _mm256_maddubs_epi16(hi[0], bcast4(q + 16)));
      for (int t = 1; t < 4; ++t) {
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(lo[t], bcast4(q + 4 * t)));
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(hi[t], bcast4(q + 16 + 4 * t)));
      }
      // (nibble - 8) . x = nibble . x - 8 * sum(x): exact.
      const __m256i isum = _mm256_sub_epi32(_mm256_madd_epi16(s, ones), _mm256_set1_epi32(8 * xs[r][b]));
      const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(xr[r][b].d));
      acc[r] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(isum), acc[r]);
    }
  }
}

// One panel x IR activation rows over all blocks (q8_0).
template <int IR>
inline void q8_tile(const uint8_t* panel, const BlockQ8A* const* xr, int64_t nb, __m256 acc[IR]) {
  const __m256i ones = _mm256_set1_epi16(1);
  constexpr size_t kG = 16 + 8 * 32;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* g = panel + static_cast<size_t>(b) * kG;
    for (int c = 0; c < 5; ++c)
      _mm_prefetch(reinterpret_cast<const char*>(g + 4 * kG + 64 * c), _MM_HINT_T0);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g)));
    __m256i s[IR];
    for (int r = 0; r < IR; ++r) s[r] = _mm256_setzero_si256();
    for (int t = 0; t < 8; ++t) {
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 16 + 32 * t));
      const __m256i aw = _mm256_sign_epi8(w, w);
      for (int r = 0; r < IR; ++r) {
        // |w| * (x * sign(w)): at most 2 * 128 * 127 per int16, no saturation.
        const __m256i p = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(bcast4(xr[r][b].qs + 4 * t), w));
        s[r] = _mm256_add_epi32(s[r], _mm256_madd_epi16(p, ones));
      }
    }
    for (int r = 0; r < IR; ++r) {
      const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(xr[r][b].d));
      acc[r] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(s[r]), acc[r]);
    }
  }
}

// q4_0 decode (one activation row), JP consecutive panels (pbytes apart) at
// once. Chunk-major: each pair of activation broadcasts (loaded from memory,
// not kept) serves all JP panels, so four panels fit in the 16 ymm
// registers. Holding all 8 broadcasts and the panels' nibbles spilled the
// accumulators to the stack every block. Each output's operations are
// exactly those of q4_tile<1>, so results are bitwise the same.
template <int JP>
inline void q4_gemv(const uint8_t* panel, size_t pbytes, const BlockQ8A* x, const int32_t* xs, int64_t nb,
                    __m256 acc[JP]) {
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  constexpr size_t kG = 16 + 4 * 32;
  for (int64_t b = 0; b < nb; ++b) {
    const int8_t* q = x[b].qs;
    const uint8_t* g[JP];
    for (int j = 0; j < JP; ++j) g[j] = panel + static_cast<size_t>(j) * pbytes + static_cast<size_t>(b) * kG;
    for (int j = 0; j < JP; ++j) prefetch_group(g[j], kG, b, nb, 8, pbytes, JP, 3);
    __m256i s[JP];
    for (int t = 0; t < 4; ++t) {
      const __m256i xl = bcast4(q + 4 * t), xh = bcast4(q + 16 + 4 * t);
      for (int j = 0; j < JP; ++j) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g[j] + 16 + 32 * t));
        const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        // Exact integer sums: the order of the int16 adds does not matter.
        const __m256i pt = _mm256_add_epi16(_mm256_maddubs_epi16(lo, xl), _mm256_maddubs_epi16(hi, xh));
        s[j] = t == 0 ? pt : _mm256_add_epi16(s[j], pt);
        // Keep the sums in order: GCC otherwise reassociates the exact
        // integer adds into a tree over all the products and spills them.
        __asm__("" : "+x"(s[j]));
      }
    }
    const __m256 dx = _mm256_set1_ps(x[b].d);
    const __m256i corr = _mm256_set1_epi32(8 * xs[b]);
    for (int j = 0; j < JP; ++j) {
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g[j])));
      const __m256i isum = _mm256_sub_epi32(_mm256_madd_epi16(s[j], ones), corr);
      acc[j] = _mm256_fmadd_ps(_mm256_mul_ps(dw, dx), _mm256_cvtepi32_ps(isum), acc[j]);
    }
  }
}

// q8_0 decode (one activation row), two panels at once: the activation
// broadcasts and scales are shared; each output's operations are exactly
// those of q8_tile<1>, so results are bitwise the same.
inline void q8_gemv_2p(const uint8_t* pa, const uint8_t* pb, const BlockQ8A* x, int64_t nb, __m256 acc[2]) {
  const __m256i ones = _mm256_set1_epi16(1);
  const uint8_t* pan[2] = {pa, pb};
  constexpr size_t kG = 16 + 8 * 32;
  for (int64_t b = 0; b < nb; ++b) {
    const __m256 dx = _mm256_set1_ps(x[b].d);
    __m256i s[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    const uint8_t* g[2] = {pan[0] + static_cast<size_t>(b) * kG, pan[1] + static_cast<size_t>(b) * kG};
    // pb is the panel after pa (the callers' pairs).
    for (int j = 0; j < 2; ++j) prefetch_group(g[j], kG, b, nb, 4, static_cast<size_t>(pan[1] - pan[0]), 2, 5);
    for (int t = 0; t < 8; ++t) {
      const __m256i xv = bcast4(x[b].qs + 4 * t);
      for (int j = 0; j < 2; ++j) {
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g[j] + 16 + 32 * t));
        const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(xv, w));
        s[j] = _mm256_add_epi32(s[j], _mm256_madd_epi16(p, ones));
      }
    }
    for (int j = 0; j < 2; ++j) {
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g[j])));
      acc[j] = _mm256_fmadd_ps(_mm256_mul_ps(dw, dx), _mm256_cvtepi32_ps(s[j]), acc[j]);
    }
  }
}

// q4_K / q5_K: one panel x IR activation rows over all super-blocks. Per
// output: acc = fma(d * sc[s] * d_x, isum, acc) and corr = fma(dmin * m[s],
// d_x * sum(x_q), corr) in block order; the result is acc - corr.
template <int IR, bool kQ5>
inline void kq45_tile(const uint8_t* panel, const BlockQ8A* const* xr, const int32_t* const* xs, int64_t nsb,
                      __m256 acc[IR]) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i one8 = _mm256_set1_epi8(1);
  const __m256i ones = _mm256_set1_epi16(1);
  constexpr size_t kG = kQ5 ? packed::kq::kQ5Bytes : packed::kq::kQ4Bytes;
  __m256 corr[IR];
  for (int r = 0; r < IR; ++r) corr[r] = _mm256_setzero_ps();
  for (int64_t sb = 0; sb < nsb; ++sb) {
    const uint8_t* g = panel + static_cast<size_t>(sb) * kG;
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g)));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g + 16)));
    for (int t = 0; t < 4; ++t) {
      const uint8_t* qs = g + packed::kq::kQs + 256 * t;
      for (int c = 0; c < 8; ++c) _mm_prefetch(reinterpret_cast<const char*>(qs + kG + 32 * c), _MM_HINT_T0);
      // Blocks 2t (low nibbles) and 2t + 1 (high), int16 pair sums per row.
      // q5_K quants reach 31: 2 * 31 * 127 per pair, so widen every 4 chunks.
      __m256i lo32[IR], hi32[IR];
      for (int r = 0; r < IR; ++r) lo32[r] = hi32[r] = _mm256_setzero_si256();
      for (int half = 0; half < 2; ++half) {
        __m256i lo16[IR], hi16[IR];
        for (int r = 0; r < IR; ++r) lo16[r] = hi16[r] = _mm256_setzero_si256();
        for (int c = 4 * half; c < 4 * half + 4; ++c) {
          const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c));
          __m256i lo = _mm256_and_si256(v, m4);
          __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
          if constexpr (kQ5) {
            const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + packed::kq::kQ5Qh + 32 * c));
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2 * t), one8), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2 * t + 1), one8), 4));
          }
          for (int r = 0; r < IR; ++r) {
            const int64_t b = sb * 8 + 2 * t;
            lo16[r] = _mm256_add_epi16(lo16[r], _mm256_maddubs_epi16(lo, bcast4(xr[r][b].qs + 4 * c)));
            hi16[r] = _mm256_add_epi16(hi16[r], _mm256_maddubs_epi16(hi, bcast4(xr[r][b + 1].qs + 4 * c)));
          }
        }
        for (int r = 0; r < IR; ++r) {
          lo32[r] = _mm256_add_epi32(lo32[r], _mm256_madd_epi16(lo16[r], ones));
          hi32[r] = _mm256_add_epi32(hi32[r], _mm256_madd_epi16(hi16[r], ones));
        }
      }
      for (int h = 0; h < 2; ++h) {
        const int s = 2 * t + h;
        const __m128i scb = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(g + packed::kq::kSc + 8 * s));
        const __m128i mb = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(g + packed::kq::kMin + 8 * s));
        const __m256 scale = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(scb)));
        const __m256 mins = _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(mb)));
        for (int r = 0; r < IR; ++r) {
          const BlockQ8A& xb = xr[r][sb * 8 + s];
          const __m256i isum = h == 0 ? lo32[r] : hi32[r];
          acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(scale, _mm256_set1_ps(xb.d)), _mm256_cvtepi32_ps(isum), acc[r]);
          const float dxs = xb.d * static_cast<float>(xs[r][sb * 8 + s]);
          corr[r] = _mm256_fmadd_ps(mins, _mm256_set1_ps(dxs), corr[r]);
        }
      }
    }
  }
  for (int r = 0; r < IR; ++r) acc[r] = _mm256_sub_ps(acc[r], corr[r]);
}

// q6_K: one panel x IR activation rows. Per output: acc = fma(d * sc[u] *
// d_x, isum_u, acc) over the sub-blocks u of 16 in order.
template <int IR>
inline void kq6_tile(const uint8_t* panel, const BlockQ8A* const* xr, int64_t nsb, __m256 acc[IR]) {
  namespace kq = packed::kq;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m3 = _mm256_set1_epi8(3);
  const __m256i c32 = _mm256_set1_epi8(32);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t sb = 0; sb < nsb; ++sb) {
    const uint8_t* g = panel + static_cast<size_t>(sb) * kq::kQ6Bytes;
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g)));
    for (int s = 0; s < 8; ++s) {
      const int n = s / 4, r4 = s % 4;
      const uint8_t* ql = g + kq::kQ6Ql + 256 * (2 * n + (r4 & 1));
      const uint8_t* qh = g + kq::kQ6Qh + 256 * n;
      for (int c = 0; c < 8; c += 2) _mm_prefetch(reinterpret_cast<const char*>(ql + kq::kQ6Bytes + 32 * c), _MM_HINT_T0);
      const int64_t b = sb * 8 + s;
      __m256i s16[2][IR];
      for (int u = 0; u < 2; ++u)
        for (int r = 0; r < IR; ++r) s16[u][r] = _mm256_setzero_si256();
      for (int c = 0; c < 8; ++c) {
        const __m256i lv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32 * c));
        const __m256i hv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh + 32 * c));
        const __m256i lo = r4 < 2 ? _mm256_and_si256(lv, m4) : _mm256_and_si256(_mm256_srli_epi16(lv, 4), m4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(hv, 2 * r4), m3);
        const __m256i q = _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)), c32);
        const __m256i qa = _mm256_sign_epi8(q, q);
        // |q| <= 32, |x| <= 127: four chunks of pair sums fit in int16.
        for (int r = 0; r < IR; ++r)
          s16[c / 4][r] = _mm256_add_epi16(s16[c / 4][r],
                                           _mm256_maddubs_epi16(qa, _mm256_sign_epi8(bcast4(xr[r][b].qs + 4 * c), q)));
      }
      for (int u = 0; u < 2; ++u) {
        const __m128i scb = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(g + kq::kQ6Scales + 8 * (2 * s + u)));
        const __m256 scale = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(scb)));
        for (int r = 0; r < IR; ++r)
          acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(scale, _mm256_set1_ps(xr[r][b].d)),
                                   _mm256_cvtepi32_ps(_mm256_madd_epi16(s16[u][r], ones)), acc[r]);
      }
    }
  }
}

template <DType T, int IR>
inline void q8a_tile_out(const uint8_t* w, size_t pbytes, int64_t p, const BlockQ8A* xq, const int32_t* xsum,
                         int64_t nb, int64_t i, const Out& o) {
  const BlockQ8A* xr[IR];
  const int32_t* xs[IR];
  for (int r = 0; r < IR; ++r) {
    xr[r] = xq + (i + r) * nb;
    xs[r] = xsum + (i + r) * nb;
  }
  __m256 acc[IR];
  for (int r = 0; r < IR; ++r) acc[r] = _mm256_setzero_ps();
  const uint8_t* panel = w + static_cast<size_t>(p) * pbytes;
  if constexpr (T == DType::kQ4_0) {
    q4_tile<IR>(panel, xr, xs, nb, acc);
  } else if constexpr (T == DType::kQ8_0) {
    q8_tile<IR>(panel, xr, nb, acc);
  } else if constexpr (T == DType::kQ6_K) {
    kq6_tile<IR>(panel, xr, nb / 8, acc);
  } else {
    kq45_tile<IR, T == DType::kQ5_K>(panel, xr, xs, nb / 8, acc);
  }
  const int64_t rows = std::min<int64_t>(8, o.m - p * 8);
  const __m256 b = o.bias != nullptr ? load_out(o.bias + p * 8, rows) : _mm256_setzero_ps();
  for (int r = 0; r < IR; ++r) store_out(o.y + (i + r) * o.m + p * 8, _mm256_add_ps(acc[r], b), rows);
}

template <DType T>
void matmul_packed_q8a_t(const uint8_t* w, const BlockQ8A* xq, const int32_t* xsum, int64_t n, int64_t k,
                         int64_t m, int64_t p0, int64_t p1, const float* bias, float* y) {
  const size_t pbytes = packed::panel_bytes(T, k);
  const int64_t nb = k / 32;
  const Out o{y, m, bias, true, true};
  // Rows of x per pass: their quantized blocks (36 bytes per 32 values) stay
  // in L2 while each weight panel (k * 0.56 or 1.06 bytes) sits in L1.
  const int64_t nc = std::clamp<int64_t>(int64_t{160 * 1024} / (nb * 36) / 4 * 4, 4, 64);
  constexpr int kIr = 4;
  auto store_gemv = [&](int64_t p, int jp, const __m256* acc) {
    for (int j = 0; j < jp; ++j) {
      const int64_t rows = std::min<int64_t>(8, m - (p + j) * 8);
      const __m256 b = bias != nullptr ? load_out(bias + (p + j) * 8, rows) : _mm256_setzero_ps();
      store_out(y + (p + j) * 8, _mm256_add_ps(acc[j], b), rows);
    }
  };
  if constexpr (T == DType::kQ4_0) {
    if (n == 1) {
      int64_t p = p0;
      for (; p + 4 <= p1; p += 4) {
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        q4_gemv<4>(w + static_cast<size_t>(p) * pbytes, pbytes, xq, xsum, nb, acc);
        store_gemv(p, 4, acc);
      }
      if (p + 2 <= p1) {
        __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
        q4_gemv<2>(w + static_cast<size_t>(p) * pbytes, pbytes, xq, xsum, nb, acc);
        store_gemv(p, 2, acc);
        p += 2;
      }
      if (p < p1) q8a_tile_out<T, 1>(w, pbytes, p, xq, xsum, nb, 0, o);
      return;
    }
  }
  if constexpr (T == DType::kQ8_0) {
    if (n == 1) {
      int64_t p = p0;
      for (; p + 2 <= p1; p += 2) {
        __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
        q8_gemv_2p(w + static_cast<size_t>(p) * pbytes, w + static_cast<size_t>(p + 1) * pbytes, xq, nb, acc);
        store_gemv(p, 2, acc);
      }
      if (p < p1) q8a_tile_out<T, 1>(w, pbytes, p, xq, xsum, nb, 0, o);
      return;
    }
  }
  for (int64_t i0 = 0; i0 < n; i0 += nc) {
    const int64_t i1 = std::min(n, i0 + nc);
    for (int64_t p = p0; p < p1; ++p) {
      int64_t i = i0;
      for (; i + kIr <= i1; i += kIr) q8a_tile_out<T, kIr>(w, pbytes, p, xq, xsum, nb, i, o);
      switch (i1 - i) {
        case 3: q8a_tile_out<T, 3>(w, pbytes, p, xq, xsum, nb, i, o); break;
        case 2: q8a_tile_out<T, 2>(w, pbytes, p, xq, xsum, nb, i, o); break;
        case 1: q8a_tile_out<T, 1>(w, pbytes, p, xq, xsum, nb, i, o); break;
        default: break;
      }
    }
  }
}

}  // namespace

void matmul_packed_avx2(DType t, const uint8_t* w, const float* x, int64_t ldx, int64_t n, int64_t k, int64_t m,
                        int64_t p0, int64_t p1, const float* bias, float* y) {
  switch (t) {
    case DType::kF32: return matmul_packed_float_t<DType::kF32>(w, x, ldx, n, k, m, p0, p1, bias, y);
    case DType::kF16: return matmul_packed_float_t<DType::kF16>(w, x, ldx, n, k, m, p0, p1, bias, y);
    case DType::kBF16: return matmul_packed_float_t<DType::kBF16>(w, x, ldx, n, k, m, p0, p1, bias, y);
    default: break;
  }
}

void matmul_packed_q8a_avx2(DType t, const uint8_t* w, const BlockQ8A* xq, const int32_t* xsum, int64_t n,
                            int64_t k, int64_t m, int64_t p0, int64_t p1, const float* bias, float* y) {
  switch (t) {
    case DType::kQ4_0: return matmul_packed_q8a_t<DType::kQ4_0>(w, xq, xsum, n, k, m, p0, p1, bias, y);
    case DType::kQ4_K: return matmul_packed_q8a_t<DType::kQ4_K>(w, xq, xsum, n, k, m, p0, p1, bias, y);
    case DType::kQ5_K: return matmul_packed_q8a_t<DType::kQ5_K>(w, xq, xsum, n, k, m, p0, p1, bias, y);
    case DType::kQ6_K: return matmul_packed_q8a_t<DType::kQ6_K>(w, xq, xsum, n, k, m, p0, p1, bias, y);
    default: return matmul_packed_q8a_t<DType::kQ8_0>(w, xq, xsum, n, k, m, p0, p1, bias, y);
  }
}

}  // namespace tandem::kernels
