#include "store/chunk_codec.h"

#include <immintrin.h>
#include <zstd.h>

#include <cstring>
#include <memory>
#include <vector>

#include "store/le_bytes.h"

namespace tandem::store {

namespace {

constexpr char kMagic[4] = {'T', 'C', 'K', '1'};

struct CCtxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxDeleter {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

ZSTD_CCtx* thread_cctx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxDeleter> c(ZSTD_createCCtx());
  return c.get();
}
ZSTD_DCtx* thread_dctx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxDeleter> d(ZSTD_createDCtx());
  return d.get();
}

// 4-byte elements (f32, the common case) with AVX2: 32 elements per step.
// In each 128-bit lane pshufb transposes 4 elements x 4 bytes (the mask is
// its own inverse), permutevar8x32 gathers 8 bytes of each byte plane, and
// 64-bit unpacks + lane permutes assemble 32 bytes per plane.
__attribute__((target("avx2"))) size_t shuffle4_avx2(const uint8_t* in, size_t count, uint8_t* out) {
  const __m256i mask = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 4, 8, 12, 1, 5, 9,
                                        13, 2, 6, 10, 14, 3, 7, 11, 15);
  const __m256i gather = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  size_t i = 0;
  for (; i + 32 <= count; i += 32) {
    __m256i r[4];
    for (int k = 0; k < 4; ++k) {
      __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + 4 * i + 32 * k));
      r[k] = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(x, mask), gather);
    }
    const __m256i a = _mm256_unpacklo_epi64(r[0], r[1]), b = _mm256_unpackhi_epi64(r[0], r[1]);
    const __m256i c = _mm256_unpacklo_epi64(r[2], r[3]), d = _mm256_unpackhi_epi64(r[2], r[3]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm256_permute2x128_si256(a, c, 0x20));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + count + i), _mm256_permute2x128_si256(b, d, 0x20));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 2 * count + i), _mm256_permute2x128_si256(a, c, 0x31));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 3 * count + i), _mm256_permute2x128_si256(b, d, 0x31));
  }
  return i;
}

__attribute__((target("avx2"))) size_t unshuffle4_avx2(const uint8_t* in, size_t count, uint8_t* out) {
  const __m256i mask = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 4, 8, 12, 1, 5, 9,
                                        13, 2, 6, 10, 14, 3, 7, 11, 15);
  const __m256i scatter = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  size_t i = 0;
  for (; i + 32 <= count; i += 32) {
    const __m256i p0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
    const __m256i p1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + count + i));
    const __m256i p2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + 2 * count + i));
    const __m256i p3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + 3 * count + i));
    const __m256i a = _mm256_permute2x128_si256(p0, p2, 0x20), c = _mm256_permute2x128_si256(p0, p2, 0x31);
    const __m256i b = _mm256_permute2x128_si256(p1, p3, 0x20), d = _mm256_permute2x128_si256(p1, p3, 0x31);
    const __m256i r[4] = {_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b), _mm256_unpacklo_epi64(c, d),
                          _mm256_unpackhi_epi64(c, d)};
    for (int k = 0; k < 4; ++k)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 4 * i + 32 * k),
                          _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(r[k], scatter), mask));
  }
  return i;
}

bool have_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}

}  // namespace

// Byte plane k of element i goes to out[k * count + i]; a tail shorter than
// one element is copied as is.
void shuffle_bytes_scalar(const uint8_t* in, size_t n, size_t es, uint8_t* out) {
  const size_t count = n / es;
  for (size_t i = 0; i < count; ++i)
    for (size_t k = 0; k < es; ++k) out[k * count + i] = in[i * es + k];
  if (n > count * es) std::memcpy(out + count * es, in + count * es, n - count * es);
}

void shuffle_bytes(const uint8_t* in, size_t n, size_t es, uint8_t* out) {
  const size_t count = n / es;
  size_t start = 0;
  if (es == 4 && have_avx2()) start = shuffle4_avx2(in, count, out);
  for (size_t i = start; i < count; ++i)
    for (size_t k = 0; k < es; ++k) out[k * count + i] = in[i * es + k];
  if (n > count * es) std::memcpy(out + count * es, in + count * es, n - count * es);
}

void unshuffle_bytes(const uint8_t* in, size_t n, size_t es, uint8_t* out) {
  const size_t count = n / es;
  size_t start = 0;
  if (es == 4 && have_avx2()) start = unshuffle4_avx2(in, count, out);
  for (size_t i = start; i < count; ++i)
    for (size_t k = 0; k < es; ++k) out[i * es + k] = in[k * count + i];
  if (n > count * es) std::memcpy(out + count * es, in + count * es, n - count * es);
}

EncodedChunk encode_chunk_into(const uint8_t* raw, size_t n, const EncodeOptions& opts, const uint8_t* base_raw,
                               const Hash256* base) {
  // Per-thread scratch, grown once and reused: no allocation or zero-fill
  // per chunk.
  thread_local std::vector<uint8_t> work, shuffled, packed;
  auto grow = [](std::vector<uint8_t>& v, size_t size) {
    if (v.size() < size) v.resize(size);
  };
  uint8_t flags = 0;
  const bool delta = base_raw != nullptr && base != nullptr;
  const size_t es = opts.elem_size > 1 && opts.elem_size <= 16 ? static_cast<size_t>(opts.elem_size) : 1;
  const uint8_t* src = raw;
  if (delta) {
    grow(work, n);
    for (size_t i = 0; i < n; ++i) work[i] = raw[i] ^ base_raw[i];
    src = work.data();
    flags |= kChunkXorDelta;
  }
  // Shuffling only helps a compressor.
  if (es > 1 && n >= es && opts.zstd_level != 0) {
    grow(shuffled, n);
    shuffle_bytes(src, n, es, shuffled.data());
    src = shuffled.data();
    flags |= kChunkShuffle;
  }
  EncodedChunk out;
  out.payload = src;
  out.payload_bytes = n;
  if (opts.zstd_level != 0) {
    const size_t bound = ZSTD_compressBound(n);
    grow(packed, bound);
    size_t c = ZSTD_compressCCtx(thread_cctx(), packed.data(), bound, src, n, opts.zstd_level);
    if (!ZSTD_isError(c) && c < n) {
      out.payload = packed.data();
      out.payload_bytes = c;
      flags |= kChunkZstd;
    }
  }
  uint8_t* h = out.header.data();
  std::memcpy(h, kMagic, 4);
  h[4] = flags;
  h[5] = static_cast<uint8_t>((flags & kChunkShuffle) ? es : 1);
  h[6] = h[7] = 0;
  put_u64(h + 8, n);
  put_u64(h + 16, out.payload_bytes);
  if (delta)
    std::memcpy(h + 24, base->bytes.data(), 32);
  else
    std::memset(h + 24, 0, 32);
  return out;
}

std::string encode_chunk(const uint8_t* raw, size_t n, const EncodeOptions& opts, const uint8_t* base_raw,
                         const Hash256* base) {
  EncodedChunk e = encode_chunk_into(raw, n, opts, base_raw, base);
  std::string out(kChunkHeaderBytes + e.payload_bytes, '\0');
  std::memcpy(out.data(), e.header.data(), kChunkHeaderBytes);
  if (e.payload_bytes > 0) std::memcpy(out.data() + kChunkHeaderBytes, e.payload, e.payload_bytes);
  return out;
}

Result<ChunkHeader> parse_chunk_header(std::string_view file) {
  if (file.size() < kChunkHeaderBytes) return data_loss("chunk: file shorter than its header (torn?)");
  const uint8_t* h = reinterpret_cast<const uint8_t*>(file.data());
  if (std::memcmp(h, kMagic, 4) != 0) return data_loss("chunk: bad magic");
  ChunkHeader c;
  c.flags = h[4];
  c.elem_size = h[5];
  if ((c.flags & ~7) != 0 || h[6] != 0 || h[7] != 0 || c.elem_size == 0 || c.elem_size > 16)
    return data_loss("chunk: bad header fields");
  c.raw_bytes = get_u64(h + 8);
  c.payload_bytes = get_u64(h + 16);
  std::memcpy(c.base.bytes.data(), h + 24, 32);
  if ((c.flags & kChunkXorDelta) == 0 && !c.base.is_zero()) return data_loss("chunk: base hash without delta flag");
  if ((c.flags & kChunkXorDelta) != 0 && c.base.is_zero()) return data_loss("chunk: delta without base hash");
  if (c.raw_bytes > (uint64_t{1} << 40)) return data_loss("chunk: implausible raw length");
  if (!(c.flags & kChunkZstd) && c.payload_bytes != c.raw_bytes) return data_loss("chunk: bad payload length");
  return c;
}

Status decode_chunk(std::string_view file, const ChunkHeader& h, const uint8_t* base_raw, uint8_t* out) {
  if (file.size() != kChunkHeaderBytes + h.payload_bytes)
    return data_loss("chunk: file length " + std::to_string(file.size()) + " does not match its header (torn?)");
  const uint8_t* payload = reinterpret_cast<const uint8_t*>(file.data()) + kChunkHeaderBytes;
  const size_t n = h.raw_bytes;
  const bool shuffled = (h.flags & kChunkShuffle) != 0 && n >= h.elem_size;
  std::vector<uint8_t> tmp;
  uint8_t* stage = out;
  if (shuffled) {
    tmp.resize(n);
    stage = tmp.data();
  }
  if (h.flags & kChunkZstd) {
    size_t d = ZSTD_decompressDCtx(thread_dctx(), stage, n, payload, h.payload_bytes);
    if (ZSTD_isError(d)) return data_loss(std::string("chunk: zstd: ") + ZSTD_getErrorName(d));
    if (d != n) return data_loss("chunk: decompressed length mismatch");
  } else {
    std::memcpy(stage, payload, n);
  }
  if (shuffled) unshuffle_bytes(stage, n, h.elem_size, out);
  if (h.flags & kChunkXorDelta) {
    if (base_raw == nullptr) return internal_error("chunk: delta chunk decoded without its base");
    for (size_t i = 0; i < n; ++i) out[i] ^= base_raw[i];
  }
  return ok_status();
}

}  // namespace tandem::store
