#include "tensor/dtype.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

#include "tensor/tensor.h"

namespace tandem {
namespace {

TEST(DTypeTest, InfoTable) {
  struct Row {
    DType t;
    const char* name;
    int block_elems;
    int block_bytes;
  };
  const Row rows[] = {
      {DType::kF32, "f32", 1, 4},        {DType::kF16, "f16", 1, 2},
      {DType::kBF16, "bf16", 1, 2},      {DType::kQ8_0, "q8_0", 32, 34},
      {DType::kQ4_0, "q4_0", 32, 18},    {DType::kQ4_K, "q4_K", 256, 144},
      {DType::kQ5_K, "q5_K", 256, 176},  {DType::kQ6_K, "q6_K", 256, 210},
      {DType::kI32, "i32", 1, 4},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.name);
    const DTypeInfo& info = dtype_info(r.t);
    EXPECT_EQ(info.name, r.name);
    EXPECT_EQ(dtype_name(r.t), r.name);
    EXPECT_EQ(info.block_elems, r.block_elems);
    EXPECT_EQ(info.block_bytes, r.block_bytes);
    ASSERT_TRUE(dtype_from_name(r.name).has_value());
    EXPECT_EQ(*dtype_from_name(r.name), r.t);
  }
  EXPECT_FALSE(dtype_from_name("q4_k").has_value());  // llama.cpp spelling only
  EXPECT_FALSE(dtype_from_name("").has_value());
  EXPECT_FALSE(dtype_from_name("f64").has_value());
}

TEST(DTypeTest, RowBytes) {
  EXPECT_EQ(dtype_row_bytes(DType::kF32, 7), 28u);
  EXPECT_EQ(dtype_row_bytes(DType::kBF16, 4096), 8192u);
  EXPECT_EQ(dtype_row_bytes(DType::kQ8_0, 4096), 128u * 34u);
  EXPECT_EQ(dtype_row_bytes(DType::kQ4_0, 64), 36u);
  EXPECT_EQ(dtype_row_bytes(DType::kQ4_K, 512), 288u);
  EXPECT_EQ(dtype_row_bytes(DType::kQ5_K, 256), 176u);
  EXPECT_EQ(dtype_row_bytes(DType::kQ6_K, 768), 630u);
}

TEST(DTypeTest, F16ToF32KnownValues) {
  EXPECT_EQ(f16_to_f32(0x0000), 0.0f);
  EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x3555), 0x1.554p-2f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0400), 0x1p-14f);    // smallest normal
  EXPECT_EQ(f16_to_f32(0x0001), 0x1p-24f);    // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x03ff), 0x3ffp-24f);  // largest subnormal
  EXPECT_EQ(f16_to_f32(0x8001), -0x1p-24f);
  EXPECT_EQ(f16_to_f32(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(f16_to_f32(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7c01)));  // signalling NaN stays NaN
  EXPECT_TRUE(std::isnan(f16_to_f32(0xfe00)));
}

TEST(DTypeTest, F16RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    const uint16_t back = f32_to_f16(f);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(back))) << std::hex << h;
      EXPECT_EQ(back & 0x8000, h & 0x8000) << std::hex << h;
    } else {
      ASSERT_EQ(back, h) << std::hex << h;
    }
  }
}

TEST(DTypeTest, F32ToF16RoundsToNearestEven) {
  // Midpoints between consecutive positive halves go to the even neighbour,
  // anything above or below a midpoint to the nearer one.
  for (uint32_t h = 0; h < 0x7bff; ++h) {
    const double lo = f16_to_f32(static_cast<uint16_t>(h));
    const double hi = f16_to_f32(static_cast<uint16_t>(h + 1));
    const auto mid = static_cast<float>((lo + hi) / 2);  // exact in float
    const uint16_t even = (h & 1) ? static_cast<uint16_t>(h + 1) : static_cast<uint16_t>(h);
    ASSERT_EQ(f32_to_f16(mid), even) << std::hex << h;
    ASSERT_EQ(f32_to_f16(std::nextafter(mid, 0.0f)), h) << std::hex << h;
    ASSERT_EQ(f32_to_f16(std::nextafter(mid, 1e9f)), h + 1) << std::hex << h;
    ASSERT_EQ(f32_to_f16(-mid), even | 0x8000) << std::hex << h;
  }
}

TEST(DTypeTest, F32ToF16Edges) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65519.996f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // tie with 65536 goes to even = inf
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-1e30f), 0xfc00);
  EXPECT_EQ(f32_to_f16(inf), 0x7c00);
  EXPECT_EQ(f32_to_f16(-inf), 0xfc00);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::max()), 0x7c00);
  EXPECT_EQ(f32_to_f16(0x1p-25f), 0x0000);  // tie between 0 and 2^-24 -> 0
  EXPECT_EQ(f32_to_f16(std::nextafter(0x1p-25f, 1.0f)), 0x0001);
  EXPECT_EQ(f32_to_f16(0x3p-25f), 0x0002);  // tie between 1 and 2 -> 2
  EXPECT_EQ(f32_to_f16(0x1p-30f), 0x0000);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::denorm_min()), 0x8000);
  EXPECT_EQ(f32_to_f16(0x7ffp-25f), 0x0400);  // 0x3ff.8 rounds up into the smallest normal
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  const uint16_t nan = f32_to_f16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);
  // A NaN whose payload lives only in the low bits must not become inf.
  const uint16_t low_nan = f32_to_f16(std::bit_cast<float>(0x7f800001u));
  EXPECT_TRUE(std::isnan(f16_to_f32(low_nan)));
}

#if defined(__FLT16_MAX__) && (defined(__x86_64__) || defined(__aarch64__))
// The compiler's own float -> _Float16 conversion (round to nearest even) as
// an independent reference, over a stride through all 2^32 float patterns.
TEST(DTypeTest, F32ToF16MatchesCompiler) {
  for (uint64_t i = 0; i < (1ull << 32); i += 997) {
    const auto bits = static_cast<uint32_t>(i);
    const float f = std::bit_cast<float>(bits);
    if (std::isnan(f)) continue;
    const auto ref = std::bit_cast<uint16_t>(static_cast<_Float16>(f));
    ASSERT_EQ(f32_to_f16(f), ref) << std::hex << bits;
  }
}
#endif

TEST(DTypeTest, BF16) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xc040), -3.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0).
  EXPECT_EQ(f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(std::nextafter(1.0f + 0x1p-8f, 2.0f)), 0x3f81);
  // 1 + 3*2^-8 is halfway between 0x3f81 and 0x3f82: ties to even (0x3f82).
  EXPECT_EQ(f32_to_bf16(1.0f + 0x3p-8f), 0x3f82);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds to inf
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::bit_cast<float>(0x7f800001u)))));
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::bit_cast<float>(0xffffffffu)))));
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = bf16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_bf16(f), h) << std::hex << h;
  }
}

TEST(TensorViewTest, ShapeString) {
  EXPECT_EQ(shape_to_string({}), "[]");
  EXPECT_EQ(shape_to_string({7}), "[7]");
  EXPECT_EQ(shape_to_string({4096, 11008}), "[4096, 11008]");
  TensorView v;
  v.shape = {2, 3, 4};
  EXPECT_EQ(v.shape_string(), "[2, 3, 4]");
  EXPECT_EQ(v.numel(), 24);
  EXPECT_EQ(v.rank(), 3);
  EXPECT_EQ(v.dim(-1), 4);
}

}  // namespace
}  // namespace tandem
