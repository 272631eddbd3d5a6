// The matmul kernels' weight layout, kPanel8: rows are grouped in panels of 8
// (the last panel padded with zero rows), and within a panel the 8 rows'
// values for the same k sit next to each other, so one 256-bit load holds one
// column slice of 8 outputs and the kernels broadcast activations instead of
// reducing horizontally.
//
//   f32 / f16 / bf16: panel p = k groups of 8 values, [k][8 rows].
//   q8_0: panel p = k/32 blocks of 272 bytes: 8 f16 scales (row order), then 8
//         chunks of 32 bytes; chunk t holds quants [4t, 4t+4) of rows 0..7.
//   q4_0: panel p = k/32 blocks of 144 bytes: 8 f16 scales, then 4 chunks of
//         32 bytes; chunk t holds bytes [4t, 4t+4) of rows 0..7, i.e. quants
//         4t..4t+3 in the low nibbles and 16+4t..16+4t+3 in the high ones.
//   q4_K / q5_K / q6_K: panel p = k/256 super-block groups (offsets in kq::):
//     q4_K (1184 B): f16 d[8 rows], f16 dmin[8], u8 sc[8 blocks][8 rows],
//       u8 m[8][8] (the 6-bit scales and mins, unpacked), then for each of
//       the four 32-byte quant groups t, 8 chunks of 32 bytes: chunk c holds
//       qs bytes [32t + 4c, 32t + 4c + 4) of rows 0..7 (low nibbles: block
//       2t, high nibbles: block 2t + 1).
//     q5_K (1440 B): as q4_K, then 8 chunks of qh: chunk c holds qh bytes
//       [4c, 4c + 4) of rows 0..7.
//     q6_K (1680 B): f16 d[8], int8 sc[16 sub-blocks][8 rows], then ql as
//       four 32-byte groups and qh as two, each 8 chunks of 4 bytes per row.
//
// The layout is a permutation of the stored bytes (plus padding; q4_K / q5_K
// unpack their 6-bit scale bytes, a bijection): values and scales are
// unchanged, so results equal those on the row-major weights up to summation
// order.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/thread_pool.h"
#include "tensor/dtype.h"

namespace tandem::packed {

constexpr int kRows = 8;

// Offsets within one K-quant super-block group of a panel.
namespace kq {
constexpr size_t kSc = 32, kMin = 96, kQs = 160;             // q4_K / q5_K
constexpr size_t kQ4Bytes = kQs + 4 * 256;                   // 1184
constexpr size_t kQ5Qh = kQ4Bytes, kQ5Bytes = kQ5Qh + 256;   // 1440
constexpr size_t kQ6Scales = 16, kQ6Ql = 144, kQ6Qh = 144 + 4 * 256, kQ6Bytes = kQ6Qh + 2 * 256;  // 1680
}  // namespace kq

// Dtypes with a kPanel8 form.
bool supports(DType t);
int64_t n_panels(int64_t m);
// Bytes of one panel of a [m, k] matrix; the whole matrix is n_panels(m) of them.
size_t panel_bytes(DType t, int64_t k);
size_t matrix_bytes(DType t, int64_t m, int64_t k);
// Bytes of one block-of-32 group within a q8_0 / q4_0 panel, or of one
// super-block group within a K-quant panel.
size_t block_group_bytes(DType t);

// src: row-major [m, k] in dtype t; dst: matrix_bytes(t, m, k). Panels are
// split over `pool` when given.
void pack(DType t, const uint8_t* src, int64_t m, int64_t k, uint8_t* dst, ThreadPool* pool = nullptr);
// Writes row j (< m) of a packed matrix in the row-major encoding of dtype t
// (dtype_row_bytes(t, k) bytes).
void unpack_row(DType t, const uint8_t* packed, int64_t k, int64_t j, uint8_t* dst);

}  // namespace tandem::packed
