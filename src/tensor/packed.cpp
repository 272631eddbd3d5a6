#include "tensor/packed.h"

#include <cstring>

#include "base/check.h"
#include "tensor/kquant.h"

namespace tandem::packed {

bool supports(DType t) {
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

int64_t n_panels(int64_t m) { return (m + kRows - 1) / kRows; }

size_t block_group_bytes(DType t) {
  if (t == DType::kQ8_0) return 16 + 8 * 32;
  if (t == DType::kQ4_0) return 16 + 4 * 32;
  if (t == DType::kQ4_K) return kq::kQ4Bytes;
  if (t == DType::kQ5_K) return kq::kQ5Bytes;
  if (t == DType::kQ6_K) return kq::kQ6Bytes;
  return 0;
}

size_t panel_bytes(DType t, int64_t k) {
  TANDEM_CHECK(supports(t), "packed: unsupported dtype");
  if (t == DType::kQ8_0 || t == DType::kQ4_0) return static_cast<size_t>(k / 32) * block_group_bytes(t);
  if (is_kquant(t)) return static_cast<size_t>(k / 256) * block_group_bytes(t);
  return static_cast<size_t>(k) * kRows * dtype_info(t).block_bytes;
}

size_t matrix_bytes(DType t, int64_t m, int64_t k) {
  return static_cast<size_t>(n_panels(m)) * panel_bytes(t, k);
}

namespace {

// Calls f(row_offset_in_stored_row, offset_in_panel, nbytes) for every byte
// run of row r (0..7) within one panel: the layout as a list of copies, so
// pack and unpack are the same walk in opposite directions.
template <class F>
void for_each_run(DType t, int64_t k, int r, F&& f) {
  if (t == DType::kQ8_0 || t == DType::kQ4_0) {
    const size_t g = block_group_bytes(t);
    const size_t blk = t == DType::kQ8_0 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
    const int chunks = t == DType::kQ8_0 ? 8 : 4;
    for (int64_t b = 0; b < k / 32; ++b) {
      const size_t src = static_cast<size_t>(b) * blk;
      const size_t dst = static_cast<size_t>(b) * g;
      f(src, dst + 2 * static_cast<size_t>(r), 2);  // scale
      for (int c = 0; c < chunks; ++c)
        f(src + 2 + 4 * static_cast<size_t>(c), dst + 16 + 32 * static_cast<size_t>(c) + 4 * static_cast<size_t>(r), 4);
    }
  } else if (is_kquant(t)) {
    // Byte runs of the K-quant layouts (see packed.h); the 6-bit scales and
    // mins of q4_K / q5_K are not runs and go through kq_scales_*.
    const size_t g = block_group_bytes(t);
    const size_t blk = static_cast<size_t>(dtype_info(t).block_bytes);
    const size_t rr = static_cast<size_t>(r);
    for (int64_t sb = 0; sb < k / 256; ++sb) {
      const size_t S = static_cast<size_t>(sb) * blk;
      const size_t D = static_cast<size_t>(sb) * g;
      if (t == DType::kQ6_K) {
        f(S + 208, D + 2 * rr, 2);
        for (size_t u = 0; u < 16; ++u) f(S + 192 + u, D + kq::kQ6Scales + 8 * u + rr, 1);
        for (size_t gi = 0; gi < 4; ++gi)
          for (size_t c = 0; c < 8; ++c) f(S + 32 * gi + 4 * c, D + kq::kQ6Ql + 256 * gi + 32 * c + 4 * rr, 4);
        for (size_t gi = 0; gi < 2; ++gi)
          for (size_t c = 0; c < 8; ++c) f(S + 128 + 32 * gi + 4 * c, D + kq::kQ6Qh + 256 * gi + 32 * c + 4 * rr, 4);
      } else {
        const size_t qs = t == DType::kQ4_K ? 16 : 48;
        f(S, D + 2 * rr, 2);
        f(S + 2, D + 16 + 2 * rr, 2);
        for (size_t ti = 0; ti < 4; ++ti)
          for (size_t c = 0; c < 8; ++c) f(S + qs + 32 * ti + 4 * c, D + kq::kQs + 256 * ti + 32 * c + 4 * rr, 4);
        if (t == DType::kQ5_K)
          for (size_t c = 0; c < 8; ++c) f(S + 16 + 4 * c, D + kq::kQ5Qh + 32 * c + 4 * rr, 4);
      }
    }
  } else {
    const size_t es = static_cast<size_t>(dtype_info(t).block_bytes);
    for (int64_t kk = 0; kk < k; ++kk)
      f(static_cast<size_t>(kk) * es, (static_cast<size_t>(kk) * kRows + static_cast<size_t>(r)) * es, es);
  }
}

// q4_K / q5_K: the 12 packed bytes of 6-bit scales and mins of row r's
// super-blocks <-> the panel's sc[8][8] and m[8][8] byte planes. The packing
// is a bijection on 6-bit values, so unpack restores the stored bytes.
void kq_scales_pack(DType t, const uint8_t* row, int64_t k, int r, uint8_t* panel) {
  const size_t blk = static_cast<size_t>(dtype_info(t).block_bytes), g = block_group_bytes(t);
  for (int64_t sb = 0; sb < k / 256; ++sb) {
    const uint8_t* q = row + static_cast<size_t>(sb) * blk + 4;
    uint8_t* d = panel + static_cast<size_t>(sb) * g;
    for (int b = 0; b < 8; ++b) {
      int sc, m;
      kquant_get_scale_min(b, q, &sc, &m);
      d[kq::kSc + 8 * b + r] = static_cast<uint8_t>(sc);
      d[kq::kMin + 8 * b + r] = static_cast<uint8_t>(m);
    }
  }
}

void kq_scales_unpack(DType t, const uint8_t* panel, int64_t k, int r, uint8_t* row) {
  const size_t blk = static_cast<size_t>(dtype_info(t).block_bytes), g = block_group_bytes(t);
  for (int64_t sb = 0; sb < k / 256; ++sb) {
    const uint8_t* d = panel + static_cast<size_t>(sb) * g;
    uint8_t* q = row + static_cast<size_t>(sb) * blk + 4;
    for (int b = 0; b < 8; ++b) kquant_put_scale_min(b, d[kq::kSc + 8 * b + r], d[kq::kMin + 8 * b + r], q);
  }
}

}  // namespace

namespace {

template <class E>
void pack_float_panel(const uint8_t* src, int64_t m, int64_t k, int64_t p, uint8_t* panel) {
  E* out = reinterpret_cast<E*>(panel);
  for (int r = 0; r < kRows; ++r) {
    const int64_t j = p * kRows + r;
    if (j >= m) break;
    const E* row = reinterpret_cast<const E*>(src) + j * k;
    for (int64_t kk = 0; kk < k; ++kk) out[kk * kRows + r] = row[kk];
  }
}

}  // namespace

void pack(DType t, const uint8_t* src, int64_t m, int64_t k, uint8_t* dst, ThreadPool* pool) {
  const size_t pb = panel_bytes(t, k);
  const size_t rb = dtype_row_bytes(t, k);
  auto work = [&](size_t p0, size_t p1) {
    for (size_t p = p0; p < p1; ++p) {
      uint8_t* panel = dst + p * pb;
      std::memset(panel, 0, pb);
      const int64_t pi = static_cast<int64_t>(p);
      if (t == DType::kF32) {
        pack_float_panel<uint32_t>(src, m, k, pi, panel);
      } else if (t == DType::kF16 || t == DType::kBF16) {
        pack_float_panel<uint16_t>(src, m, k, pi, panel);
      } else {
        for (int r = 0; r < kRows && pi * kRows + r < m; ++r) {
          const uint8_t* row = src + static_cast<size_t>(pi * kRows + r) * rb;
          for_each_run(t, k, r, [&](size_t s, size_t d, size_t n) { std::memcpy(panel + d, row + s, n); });
          if (t == DType::kQ4_K || t == DType::kQ5_K) kq_scales_pack(t, row, k, r, panel);
        }
      }
    }
  };
  const size_t panels = static_cast<size_t>(n_panels(m));
  if (pool != nullptr) {
    pool->parallel_for(panels, 8, work);
  } else {
    work(0, panels);
  }
}

void unpack_row(DType t, const uint8_t* packed, int64_t k, int64_t j, uint8_t* dst) {
  const uint8_t* panel = packed + static_cast<size_t>(j / kRows) * panel_bytes(t, k);
  const int r = static_cast<int>(j % kRows);
  for_each_run(t, k, r, [&](size_t s, size_t d, size_t n) { std::memcpy(dst + s, panel + d, n); });
  if (t == DType::kQ4_K || t == DType::kQ5_K) kq_scales_unpack(t, panel, k, r, dst);
}

}  // namespace tandem::packed
