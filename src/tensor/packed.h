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
//
// The layout is a permutation of the stored bytes (plus padding): values and
// scales are unchanged, so results equal those on the row-major weights up to
// summation order.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/thread_pool.h"
#include "tensor/dtype.h"

namespace tandem::packed {

constexpr int kRows = 8;

// Dtypes with a kPanel8 form.
bool supports(DType t);
int64_t n_panels(int64_t m);
// Bytes of one panel of a [m, k] matrix; the whole matrix is n_panels(m) of them.
size_t panel_bytes(DType t, int64_t k);
size_t matrix_bytes(DType t, int64_t m, int64_t k);
// Bytes of one block-of-32 group within a q8_0 / q4_0 panel.
size_t block_group_bytes(DType t);

// src: row-major [m, k] in dtype t; dst: matrix_bytes(t, m, k). Panels are
// split over `pool` when given.
void pack(DType t, const uint8_t* src, int64_t m, int64_t k, uint8_t* dst, ThreadPool* pool = nullptr);
// Writes row j (< m) of a packed matrix in the row-major encoding of dtype t
// (dtype_row_bytes(t, k) bytes).
void unpack_row(DType t, const uint8_t* packed, int64_t k, int64_t j, uint8_t* dst);

}  // namespace tandem::packed
