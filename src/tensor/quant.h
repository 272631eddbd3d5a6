// Row conversion between weight dtypes and f32. A "row" is n consecutive
// values along the innermost dimension; n must be a multiple of the dtype's
// block size (checked).
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace tandem {

// dst[0..n) = value of src row. Supports every weight dtype (K-quants as
// llama.cpp's dequantize_row_q*_K computes them); false for kI32.
bool dequantize_row(DType t, const void* src, float* dst, int64_t n);

// Quantizes like llama.cpp's reference quantizers (quantize_row_q8_0_ref,
// quantize_row_q4_0_ref); f16 / bf16 round to nearest even; K-quants with
// the simple encoder of kquant.h. Returns false for dtypes it cannot produce.
bool quantize_row(DType t, const float* src, void* dst, int64_t n);

}  // namespace tandem
