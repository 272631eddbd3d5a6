// llama.cpp's K-quant formats (256-value super-blocks), as in GGUF files:
//
//   q4_K (144 B): f16 d, f16 dmin, u8 scales[12] (eight 6-bit scales and
//         eight 6-bit mins, packed), u8 qs[128]. Sub-block s (32 values) is
//         the low (s even) or high (s odd) nibbles of qs[32 (s / 2) ..][0..32);
//         value = d * sc[s] * q - dmin * m[s].
//   q5_K (176 B): as q4_K plus u8 qh[32]: bit s of qh[l] is the fifth bit of
//         value l of sub-block s.
//   q6_K (210 B): u8 ql[128], u8 qh[64], int8 scales[16], f16 d. Sixteen
//         sub-blocks of 16 values with 8-bit scales; value = d * sc * (q - 32),
//         q = 4 bits from ql + 2 bits from qh.
//
// Every kernel reads them through KBlock32: one 32-value block as integer
// quants and affine parameters.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace tandem {

bool is_kquant(DType t);

// value[e] = scale[e / 16] * q[e] - min, for e in [0, 32). q is 0..31 for
// q4_K / q5_K (min >= 0 is dmin * m), -32..31 for q6_K (min = 0). scale and
// min are computed in f32 exactly as llama.cpp's dequantize_row_* does.
struct KBlock32 {
  float scale[2];
  float min;
  int8_t q[32];
};

// q4_K / q5_K: llama.cpp's packing of eight 6-bit scales and eight 6-bit
// mins into 12 bytes `q`. get reads block j's pair; put writes it, keeping the
// bits of the other blocks (a bijection on 6-bit values).
inline void kquant_get_scale_min(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

inline void kquant_put_scale_min(int j, int sc, int m, uint8_t* q) {
  if (j < 4) {
    q[j] = static_cast<uint8_t>((q[j] & 0xC0) | sc);
    q[j + 4] = static_cast<uint8_t>((q[j + 4] & 0xC0) | m);
  } else {
    q[j + 4] = static_cast<uint8_t>((sc & 0xF) | ((m & 0xF) << 4));
    q[j - 4] = static_cast<uint8_t>((q[j - 4] & 0x3F) | ((sc >> 4) << 6));
    q[j] = static_cast<uint8_t>((q[j] & 0x3F) | ((m >> 4) << 6));
  }
}

// Block `b` (0..7) of the super-block at `sb` (dtype t, a K-quant).
void kquant_block32(DType t, const uint8_t* sb, int b, KBlock32* out);

// Only the scales and min of block `b` (what SIMD kernels that decode the
// quants themselves need).
void kquant_scales32(DType t, const uint8_t* sb, int b, float* scale0, float* scale1, float* min);

// Row conversions (n a multiple of 256). Quantization fits each sub-block's
// range (q4_K / q5_K: [min(x, 0), max(x)]; q6_K: symmetric) and the scales
// to 6 or 8 bits; a simple encoder, not llama.cpp's search, but it writes
// valid blocks that any reader decodes the same way.
void dequantize_kquant_row(DType t, const void* src, float* dst, int64_t n);
void quantize_kquant_row(DType t, const float* src, void* dst, int64_t n);

}  // namespace tandem
