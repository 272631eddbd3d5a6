// BLAKE3 internals shared by the scalar (blake3.cpp) and AVX2
// (blake3_avx2.cpp) translation units, and by the tests that compare them.
// Hash mode only (key = IV), 32-byte output. Written from the BLAKE3
// specification (Aumasson, Neves, O'Connor, Wilcox-O'Hearn, 2020).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/hash.h"

namespace tandem::blake3_impl {

constexpr size_t kBlockLen = 64;    // bytes per compression
constexpr size_t kChunkLen = 1024;  // bytes per leaf (16 blocks)
constexpr int kRounds = 7;

enum Flags : uint8_t {
  kChunkStart = 1,
  kChunkEnd = 2,
  kParent = 4,
  kRoot = 8,
};

inline constexpr uint32_t kIv[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                                    0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};

// kSchedule[r][i]: the message word that round r uses in position i (the
// spec's permutation applied r times).
constexpr std::array<std::array<uint8_t, 16>, kRounds> make_schedule() {
  constexpr uint8_t kPerm[16] = {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8};
  std::array<std::array<uint8_t, 16>, kRounds> s{};
  for (int i = 0; i < 16; ++i) s[0][i] = static_cast<uint8_t>(i);
  for (int r = 1; r < kRounds; ++r)
    for (int i = 0; i < 16; ++i) s[r][i] = s[r - 1][kPerm[i]];
  return s;
}
inline constexpr auto kSchedule = make_schedule();

// The 7 rounds of the compression function over the 16-word state v with
// message words m, for any word type W (uint32_t, or __m256i holding eight
// lanes). Ops supplies add, xor_ and rotr16/12/8/7 on W.
//
// kG[j]: the state words (a, b, c, d) of the j-th G of a round: four
// columns, then four diagonals. g_steps applies G to N consecutive ones of
// them, step by step across the N: N independent dependency chains for the
// core to overlap. s is the round's schedule (kSchedule[r]).
inline constexpr int kG[8][4] = {{0, 4, 8, 12}, {1, 5, 9, 13}, {2, 6, 10, 14}, {3, 7, 11, 15},
                                 {0, 5, 10, 15}, {1, 6, 11, 12}, {2, 7, 8, 13}, {3, 4, 9, 14}};

template <class Ops, int First, int N, class W>
[[gnu::always_inline]] inline void g_steps(W v[16], const W m[16], const uint8_t* s) {
#define TANDEM_B3_EACH _Pragma("GCC unroll 4") for (int i = 0; i < N; ++i)
#define TANDEM_B3_A v[kG[First + i][0]]
#define TANDEM_B3_B v[kG[First + i][1]]
#define TANDEM_B3_C v[kG[First + i][2]]
#define TANDEM_B3_D v[kG[First + i][3]]
  TANDEM_B3_EACH TANDEM_B3_A = Ops::add(Ops::add(TANDEM_B3_A, m[s[2 * (First + i)]]), TANDEM_B3_B);
  TANDEM_B3_EACH TANDEM_B3_D = Ops::rotr16(Ops::xor_(TANDEM_B3_D, TANDEM_B3_A));
  TANDEM_B3_EACH TANDEM_B3_C = Ops::add(TANDEM_B3_C, TANDEM_B3_D);
  TANDEM_B3_EACH TANDEM_B3_B = Ops::rotr12(Ops::xor_(TANDEM_B3_B, TANDEM_B3_C));
  TANDEM_B3_EACH TANDEM_B3_A = Ops::add(Ops::add(TANDEM_B3_A, m[s[2 * (First + i) + 1]]), TANDEM_B3_B);
  TANDEM_B3_EACH TANDEM_B3_D = Ops::rotr8(Ops::xor_(TANDEM_B3_D, TANDEM_B3_A));
  TANDEM_B3_EACH TANDEM_B3_C = Ops::add(TANDEM_B3_C, TANDEM_B3_D);
  TANDEM_B3_EACH TANDEM_B3_B = Ops::rotr7(Ops::xor_(TANDEM_B3_B, TANDEM_B3_C));
#undef TANDEM_B3_EACH
#undef TANDEM_B3_A
#undef TANDEM_B3_B
#undef TANDEM_B3_C
#undef TANDEM_B3_D
}

// One round, G interleaved N at a time (N = 1, 2, 4).
template <class Ops, int N, class W>
[[gnu::always_inline]] inline void round(W v[16], const W m[16], const uint8_t* s) {
  static_assert(N == 1 || N == 2 || N == 4);
  g_steps<Ops, 0, N>(v, m, s);
  if constexpr (N <= 1) g_steps<Ops, 1, N>(v, m, s);
  if constexpr (N <= 2) g_steps<Ops, 2, N>(v, m, s);
  if constexpr (N <= 1) g_steps<Ops, 3, N>(v, m, s);
  g_steps<Ops, 4, N>(v, m, s);
  if constexpr (N <= 1) g_steps<Ops, 5, N>(v, m, s);
  if constexpr (N <= 2) g_steps<Ops, 6, N>(v, m, s);
  if constexpr (N <= 1) g_steps<Ops, 7, N>(v, m, s);
}

// All 7 rounds. Unrolled, the schedule's indices are constants (message
// words at fixed places); as a loop the code is 7x smaller. Which is faster
// depends on the word type and was measured (blake3.cpp, blake3_avx2.cpp).
template <class Ops, int N, bool kUnroll, class W>
[[gnu::always_inline]] inline void rounds(W v[16], const W m[16]) {
  if constexpr (kUnroll) {
    static_assert(kRounds == 7);
    round<Ops, N>(v, m, kSchedule[0].data()), round<Ops, N>(v, m, kSchedule[1].data());
    round<Ops, N>(v, m, kSchedule[2].data()), round<Ops, N>(v, m, kSchedule[3].data());
    round<Ops, N>(v, m, kSchedule[4].data()), round<Ops, N>(v, m, kSchedule[5].data());
    round<Ops, N>(v, m, kSchedule[6].data());
  } else {
#pragma GCC unroll 1
    for (int r = 0; r < kRounds; ++r) round<Ops, N>(v, m, kSchedule[r].data());
  }
}

// Compresses one block into cv (the first 8 words of the output, i.e. the
// chaining value; with kRoot the first 32 bytes of the hash). block_len <= 64,
// bytes past it in `block` must be zero.
void compress_in_place(uint32_t cv[8], const uint8_t block[kBlockLen], uint8_t block_len, uint64_t counter,
                       uint8_t flags);

// Hashes n inputs of `blocks` full blocks each, all with key = IV, and
// writes input i's 32-byte chaining value to out + 32 i. Input i uses
// counter + i when increment_counter, else counter. The first block of each
// input gets flags | flags_start, the last flags | flags_end.
// Chunks: blocks 16, flags 0, start kChunkStart, end kChunkEnd, increment.
// Parents: blocks 1, flags kParent, start = end = 0, no increment.
using HashManyFn = void (*)(const uint8_t* const* inputs, size_t n, size_t blocks, uint64_t counter,
                            bool increment_counter, uint8_t flags, uint8_t flags_start, uint8_t flags_end,
                            uint8_t* out);
void hash_many_scalar(const uint8_t* const* inputs, size_t n, size_t blocks, uint64_t counter,
                      bool increment_counter, uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t* out);
#if defined(__x86_64__)
// Eight inputs at a time in AVX2 lanes, the rest through hash_many_scalar.
// Only call when cpu_has_avx2() said yes.
void hash_many_avx2(const uint8_t* const* inputs, size_t n, size_t blocks, uint64_t counter,
                    bool increment_counter, uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t* out);
#endif

enum class Isa { kScalar, kAvx2 };
bool cpu_has_avx2();
// BLAKE3 of data[0, n) with the given implementation (kAvx2 needs cpu_has_avx2()).
Hash256 hash(const void* data, size_t n, Isa isa);

}  // namespace tandem::blake3_impl
