// Element types and llama.cpp's block-quantized formats.
//
// Block formats (little-endian, as in GGUF files):
//   q8_0: 32 values per 34-byte block: f16 scale d, int8 q[32];      x = d * q
//   q4_0: 32 values per 18-byte block: f16 scale d, uint8 qs[16];    x = d * (nibble - 8)
//         value j (j < 16) is the low nibble of qs[j], value j + 16 its high nibble.
//   q4_K, q5_K, q6_K: 256-value super-blocks (144, 176, 210 bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace tandem {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kQ8_0,
  kQ4_0,
  kQ4_K,
  kQ5_K,
  kQ6_K,
  kI32,  // token ids, positions; never a weight type
};

struct DTypeInfo {
  std::string_view name;  // "f32", "q4_0", ... (llama.cpp spelling)
  int block_elems;        // values per block (1 for plain types)
  int block_bytes;        // bytes per block
};

const DTypeInfo& dtype_info(DType t);
inline std::string_view dtype_name(DType t) { return dtype_info(t).name; }
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes taken by `n` consecutive values of `t`; n must be a multiple of the
// block size (callers validate shapes first and report a Status otherwise).
inline size_t dtype_row_bytes(DType t, int64_t n) {
  const DTypeInfo& info = dtype_info(t);
  return static_cast<size_t>(n / info.block_elems) * static_cast<size_t>(info.block_bytes);
}

// IEEE half <-> float, exact for all finite halves; float -> half rounds to
// nearest even.
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
// Round to nearest even (as PyTorch does); NaN stays NaN.
uint16_t f32_to_bf16(float f);

struct BlockQ8_0 {
  uint16_t d;  // f16
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34);

struct BlockQ4_0 {
  uint16_t d;  // f16
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_0) == 18);

}  // namespace tandem
