#include "tensor/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "tensor/kquant.h"

namespace tandem {

bool dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  TANDEM_CHECK(n % dtype_info(t).block_elems == 0, "row length not a multiple of the block size");
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return true;
    case DType::kF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return true;
    }
    case DType::kBF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return true;
    }
    case DType::kQ8_0: {
      const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
      for (int64_t blk = 0; blk < n / 32; ++blk) {
        const float d = f16_to_f32(b[blk].d);
        for (int j = 0; j < 32; ++j) dst[blk * 32 + j] = d * static_cast<float>(b[blk].qs[j]);
      }
      return true;
    }
    case DType::kQ4_0: {
      const BlockQ4_0* b = static_cast<const BlockQ4_0*>(src);
      for (int64_t blk = 0; blk < n / 32; ++blk) {
        const float d = f16_to_f32(b[blk].d);
        for (int j = 0; j < 16; ++j) {
          dst[blk * 32 + j] = d * static_cast<float>((b[blk].qs[j] & 0x0F) - 8);
          dst[blk * 32 + j + 16] = d * static_cast<float>((b[blk].qs[j] >> 4) - 8);
        }
      }
      return true;
    }
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      dequantize_kquant_row(t, src, dst, n);
      return true;
    default:
      return false;
  }
}

bool quantize_row(DType t, const float* src, void* dst, int64_t n) {
  TANDEM_CHECK(n % dtype_info(t).block_elems == 0, "row length not a multiple of the block size");
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return true;
    case DType::kF16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
      return true;
    }
    case DType::kBF16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      return true;
    }
    case DType::kQ8_0: {
      BlockQ8_0* b = static_cast<BlockQ8_0*>(dst);
      for (int64_t blk = 0; blk < n / 32; ++blk) {
        const float* x = src + blk * 32;
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[blk].d = f32_to_f16(d);
        for (int j = 0; j < 32; ++j) b[blk].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
      }
      return true;
    }
    case DType::kQ4_0: {
      BlockQ4_0* b = static_cast<BlockQ4_0*>(dst);
      for (int64_t blk = 0; blk < n / 32; ++blk) {
        const float* x = src + blk * 32;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 32; ++j) {
          if (amax < std::fabs(x[j])) {
            amax = std::fabs(x[j]);
            max = x[j];
          }
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[blk].d = f32_to_f16(d);
        for (int j = 0; j < 16; ++j) {
          const int x0 = std::min(15, static_cast<int>(x[j] * id + 8.5f));
          const int x1 = std::min(15, static_cast<int>(x[j + 16] * id + 8.5f));
          b[blk].qs[j] = static_cast<uint8_t>(x0 | (x1 << 4));
        }
      }
      return true;
    }
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      quantize_kquant_row(t, src, dst, n);
      return true;
    default:
      return false;
  }
}

}  // namespace tandem
