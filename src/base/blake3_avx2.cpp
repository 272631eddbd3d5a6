// BLAKE3 hash_many with AVX2: eight inputs at once, one per 32-bit lane.
// Compiled with -mavx2; only called when cpu_has_avx2() said yes.
#include <immintrin.h>

#include <cstring>

#include "base/blake3_impl.h"

namespace tandem::blake3_impl {

namespace {

inline __m256i add(__m256i a, __m256i b) { return _mm256_add_epi32(a, b); }
inline __m256i xor_(__m256i a, __m256i b) { return _mm256_xor_si256(a, b); }
inline __m256i set1(uint32_t x) { return _mm256_set1_epi32(static_cast<int>(x)); }

// Rotations by 16 and 8 move whole bytes: one shuffle.
inline __m256i rot16(__m256i x) {
  const __m256i k = _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,  //
                                     2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
  return _mm256_shuffle_epi8(x, k);
}
inline __m256i rot8(__m256i x) {
  const __m256i k = _mm256_setr_epi8(1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12,  //
                                     1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12);
  return _mm256_shuffle_epi8(x, k);
}
inline __m256i rot12(__m256i x) { return _mm256_or_si256(_mm256_srli_epi32(x, 12), _mm256_slli_epi32(x, 20)); }
inline __m256i rot7(__m256i x) { return _mm256_or_si256(_mm256_srli_epi32(x, 7), _mm256_slli_epi32(x, 25)); }

struct Ops {
  static __m256i add(__m256i a, __m256i b) { return _mm256_add_epi32(a, b); }
  static __m256i xor_(__m256i a, __m256i b) { return _mm256_xor_si256(a, b); }
  static __m256i rotr16(__m256i x) { return rot16(x); }
  static __m256i rotr12(__m256i x) { return rot12(x); }
  static __m256i rotr8(__m256i x) { return rot8(x); }
  static __m256i rotr7(__m256i x) { return rot7(x); }
};

// 8x8 transpose of 32-bit words: r[i] lane j <-> r[j] lane i.
inline void transpose8(__m256i r[8]) {
  const __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
  const __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
  const __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
  // u0: column 0 of rows 0-3 | column 4 of rows 0-3, and so on.
  const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
  const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
  const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
  const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
  r[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
  r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
  r[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
  r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
  r[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
  r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
  r[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
  r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

// Message words of block b of the eight inputs: m[j] lane i = word j of input i.
inline void load_transposed(const uint8_t* const* in, size_t offset, __m256i m[16]) {
  for (int i = 0; i < 8; ++i) {
    m[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in[i] + offset));
    m[8 + i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in[i] + offset + 32));
  }
  transpose8(m);
  transpose8(m + 8);
}

// in: the eight inputs; next: the next eight (prefetched), or null.
void hash8(const uint8_t* const* in, const uint8_t* const* next, size_t blocks, uint64_t counter,
           bool increment_counter, uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t* out) {
  __m256i h[8];
  for (int i = 0; i < 8; ++i) h[i] = set1(kIv[i]);
  // Lane i's counter: counter + i (or counter), the high word carrying where
  // the low word wrapped (unsigned lo < counter's low word).
  const __m256i base_lo = set1(static_cast<uint32_t>(counter));
  const __m256i ctr_lo =
      increment_counter ? add(base_lo, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)) : base_lo;
  const __m256i sign = set1(0x80000000u);
  const __m256i wrapped = _mm256_cmpgt_epi32(xor_(base_lo, sign), xor_(ctr_lo, sign));  // all ones or 0
  const __m256i ctr_hi = _mm256_sub_epi32(set1(static_cast<uint32_t>(counter >> 32)), wrapped);
  const __m256i block_len = set1(kBlockLen);
  for (size_t b = 0; b < blocks; ++b) {
    uint8_t f = flags;
    if (b == 0) f |= flags_start;
    if (b + 1 == blocks) f |= flags_end;
    __m256i m[16];
    load_transposed(in, b * kBlockLen, m);
    if (next != nullptr) {
      // The next eight chunks' 8 KiB, 512 bytes per block here: hashing
      // data that comes from memory (a store's save) ran at 2.1-2.3 GB/s
      // without this and 2.5-2.8 with it, as fast as from the cache.
      const uint8_t* q = next[b / 2] + (b % 2) * 512;
      for (int k = 0; k < 8; ++k) _mm_prefetch(reinterpret_cast<const char*>(q + 64 * k), _MM_HINT_T0);
    }
    __m256i v[16] = {h[0],         h[1],         h[2],         h[3],   h[4],   h[5],      h[6],     h[7],
                     set1(kIv[0]), set1(kIv[1]), set1(kIv[2]), set1(kIv[3]), ctr_lo, ctr_hi, block_len, set1(f)};
    // Two G at a time in a loop over the rounds: 3.0-3.1 GB/s here against
    // 2.7-2.8 for one at a time, 2.6 for two unrolled and 2.2 for four
    // unrolled (GCC 12 spills more of the state as the interleave widens).
    rounds<Ops, 2, /*kUnroll=*/false>(v, m);
    for (int i = 0; i < 8; ++i) h[i] = xor_(v[i], v[i + 8]);
  }
  transpose8(h);  // h[i] = the 8 CV words of input i (x86 is little-endian)
  for (int i = 0; i < 8; ++i) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 * i), h[i]);
}

}  // namespace

void hash_many_avx2(const uint8_t* const* inputs, size_t n, size_t blocks, uint64_t counter,
                    bool increment_counter, uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    // Prefetching the next group pays only for chunks (16 blocks: 16 x 512
    // bytes cover its eight inputs of 1 KiB).
    const uint8_t* const* next = blocks == 16 && i + 16 <= n ? inputs + i + 8 : nullptr;
    hash8(inputs + i, next, blocks, counter, increment_counter, flags, flags_start, flags_end, out + 32 * i);
    if (increment_counter) counter += 8;
  }
  const size_t rest = n - i;
  if (rest >= 2) {
    // One 8-lane pass costs less than two scalar ones: repeat the last input
    // in the spare lanes and keep the first `rest` results.
    const uint8_t* padded[8];
    for (size_t k = 0; k < 8; ++k) padded[k] = inputs[i + (k < rest ? k : rest - 1)];
    alignas(32) uint8_t tmp[8 * 32];
    hash8(padded, nullptr, blocks, counter, increment_counter, flags, flags_start, flags_end, tmp);
    std::memcpy(out + 32 * i, tmp, 32 * rest);
  } else if (rest == 1) {
    hash_many_scalar(inputs + i, 1, blocks, counter, increment_counter, flags, flags_start, flags_end, out + 32 * i);
  }
}

}  // namespace tandem::blake3_impl
