#include "tensor/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "tensor/kernels.h"
#include "tensor/kquant.h"
#include "tensor/packed.h"
#include "tensor/quant.h"

namespace tandem {
namespace {

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

struct QuantWeight {
  std::vector<uint8_t> bytes;
  TensorView view;
};

QuantWeight make_weight(DType t, const std::vector<float>& w, int64_t m, int64_t k) {
  QuantWeight q;
  const size_t rb = dtype_row_bytes(t, k);
  q.bytes.resize(rb * static_cast<size_t>(m));
  for (int64_t r = 0; r < m; ++r) EXPECT_TRUE(quantize_row(t, w.data() + r * k, q.bytes.data() + r * rb, k));
  q.view.data = q.bytes.data();
  q.view.dtype = t;
  q.view.shape = {m, k};
  q.view.nbytes = q.bytes.size();
  return q;
}

// The same weight in the kernels' kPanel8 layout.
QuantWeight make_panel8(const QuantWeight& rm) {
  QuantWeight q;
  const int64_t m = rm.view.dim(0), k = rm.view.dim(1);
  q.bytes.resize(packed::matrix_bytes(rm.view.dtype, m, k));
  packed::pack(rm.view.dtype, rm.bytes.data(), m, k, q.bytes.data());
  q.view = rm.view;
  q.view.data = q.bytes.data();
  q.view.layout = Layout::kPanel8;
  q.view.nbytes = q.bytes.size();
  return q;
}

// K-quant blocks built by hand from the format's definition (llama.cpp's
// block_q4_K / block_q5_K / block_q6_K and dequantize_row_q*_K).
// Puts back the ISA a test found, so that tests after it run on the default.
struct IsaGuard {
  ops::Isa saved = ops::active_isa();
  ~IsaGuard() { ops::set_isa(saved); }
};

TEST(KQuantTest, DecodesHandBuiltBlocks) {
  {  // q4_K: d = 0.5, dmin = 0.25; sub-block 0: sc 3, m 2; sub-block 5: sc 33 (high bits in byte 1), m 17
    uint8_t b[144] = {};
    const uint16_t d = f32_to_f16(0.5f), dmin = f32_to_f16(0.25f);
    std::memcpy(b, &d, 2);
    std::memcpy(b + 2, &dmin, 2);
    uint8_t* sc = b + 4;
    sc[0] = 3;
    sc[4] = 2;
    sc[9] = static_cast<uint8_t>((33 & 0xF) | ((17 & 0xF) << 4));  // j = 5: low bits of sc and m
    sc[1] = static_cast<uint8_t>((33 >> 4) << 6);                   // high bits of sc in q[j - 4]
    sc[5] = static_cast<uint8_t>((17 >> 4) << 6);                   // high bits of m in q[j]
    b[16 + 0] = 0x0B;        // element 0 (sub-block 0, low nibble) = 11
    b[16 + 64 + 7] = 0x90;   // sub-block 5 = high nibbles of qs[64..96): element 5*32+7 = 9
    std::vector<float> y(256);
    ASSERT_TRUE(dequantize_row(DType::kQ4_K, b, y.data(), 256));
    EXPECT_FLOAT_EQ(y[0], 0.5f * 3 * 11 - 0.25f * 2);
    EXPECT_FLOAT_EQ(y[1], -0.25f * 2);
    EXPECT_FLOAT_EQ(y[5 * 32 + 7], 0.5f * 33 * 9 - 0.25f * 17);
    EXPECT_FLOAT_EQ(y[5 * 32 + 8], -0.25f * 17);
  }
  {  // q5_K: the fifth bit of element l of sub-block s is bit s of qh[l]
    uint8_t b[176] = {};
    const uint16_t d = f32_to_f16(1.0f), dmin = f32_to_f16(0.0f);
    std::memcpy(b, &d, 2);
    std::memcpy(b + 2, &dmin, 2);
    b[4 + 2] = 1;                   // sub-block 2 scale 1
    b[16 + 4] = 1 << 2;             // qh[4] bit 2 -> element 2*32+4 gets +16
    b[48 + 32 + 4] = 0x05;          // sub-block 2 = low nibbles of qs[32..64)
    std::vector<float> y(256);
    ASSERT_TRUE(dequantize_row(DType::kQ5_K, b, y.data(), 256));
    EXPECT_FLOAT_EQ(y[2 * 32 + 4], 21.0f);
    EXPECT_FLOAT_EQ(y[2 * 32 + 5], 0.0f);
  }
  {  // q6_K: element 128 + 64 + 3 = half 1, l = 3, third quarter: high nibble of ql[64 + 3], qh bits 4..5 of qh[32 + 3]
    uint8_t b[210] = {};
    const uint16_t d = f32_to_f16(0.125f);
    std::memcpy(b + 208, &d, 2);
    reinterpret_cast<int8_t*>(b + 192)[8 + 4] = -5;  // sc[is + 4] of half 1, is = 0
    b[64 + 3] = 0x70;                                // high nibble 7
    b[128 + 32 + 3] = 2 << 4;                        // 2 high bits = 2 -> q = 7 | 32 = 39
    std::vector<float> y(256);
    ASSERT_TRUE(dequantize_row(DType::kQ6_K, b, y.data(), 256));
    EXPECT_FLOAT_EQ(y[128 + 64 + 3], 0.125f * -5 * (39 - 32));
    EXPECT_FLOAT_EQ(y[128 + 64 + 4], 0.125f * -5 * (0 - 32));
  }
}

TEST(KQuantTest, RoundTripWithinResolution) {
  std::vector<float> x = randn(1024, 41);
  for (DType t : {DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    std::vector<uint8_t> q(dtype_row_bytes(t, 1024));
    ASSERT_TRUE(quantize_row(t, x.data(), q.data(), 1024));
    std::vector<float> y(1024);
    ASSERT_TRUE(dequantize_row(t, q.data(), y.data(), 1024));
    double err = 0, mag = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      err += (y[i] - x[i]) * (y[i] - x[i]);
      mag += x[i] * x[i];
    }
    // Relative RMS error of 4, 5 and 6-bit codes over a unit normal.
    const double bound = t == DType::kQ4_K ? 0.12 : t == DType::kQ5_K ? 0.06 : 0.04;
    EXPECT_LT(std::sqrt(err / mag), bound) << dtype_name(t);
  }
}

TEST(PackedTest, UnpackRowInvertsPack) {
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K,
                  DType::kQ6_K}) {
    for (int64_t m : {1, 8, 13, 24}) {
      const int64_t k = is_kquant(t) ? 512 : 96;
      QuantWeight rm = make_weight(t, randn(static_cast<size_t>(m * k), static_cast<uint32_t>(m)), m, k);
      QuantWeight p = make_panel8(rm);
      const size_t rb = dtype_row_bytes(t, k);
      std::vector<uint8_t> row(rb);
      for (int64_t j = 0; j < m; ++j) {
        packed::unpack_row(t, p.bytes.data(), k, j, row.data());
        EXPECT_EQ(0, std::memcmp(row.data(), rm.bytes.data() + static_cast<size_t>(j) * rb, rb))
            << dtype_name(t) << " m=" << m << " row " << j;
      }
      std::vector<float> e1(static_cast<size_t>(k)), e2(e1.size());
      ops::embedding_row(rm.view, m - 1, e1.data());
      ops::embedding_row(p.view, m - 1, e2.data());
      EXPECT_EQ(e1, e2);
    }
  }
}

TEST(QuantTest, Q8_0MatchesLlamaCppDefinition) {
  std::vector<float> x = randn(64, 1);
  BlockQ8_0 b[2];
  ASSERT_TRUE(quantize_row(DType::kQ8_0, x.data(), b, 64));
  std::vector<float> y(64);
  ASSERT_TRUE(dequantize_row(DType::kQ8_0, b, y.data(), 64));
  for (int blk = 0; blk < 2; ++blk) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[blk * 32 + j]));
    EXPECT_EQ(b[blk].d, f32_to_f16(amax / 127.0f));
    const float d = f16_to_f32(b[blk].d);
    for (int j = 0; j < 32; ++j) EXPECT_NEAR(y[blk * 32 + j], x[blk * 32 + j], d * 0.5f + 1e-3f * amax);
  }
}

TEST(QuantTest, Q4_0RoundTripWithinHalfStep) {
  std::vector<float> x = randn(128, 2);
  std::vector<uint8_t> q(dtype_row_bytes(DType::kQ4_0, 128));
  ASSERT_TRUE(quantize_row(DType::kQ4_0, x.data(), q.data(), 128));
  std::vector<float> y(128);
  ASSERT_TRUE(dequantize_row(DType::kQ4_0, q.data(), y.data(), 128));
  const BlockQ4_0* b = reinterpret_cast<const BlockQ4_0*>(q.data());
  for (int i = 0; i < 128; ++i) {
    const float d = std::fabs(f16_to_f32(b[i / 32].d));
    // Half a step, except values beyond +7.5 steps, which clamp to nibble 15
    // (q4_0 spans -8..7 steps: the block's extreme maps exactly to -8).
    const float bound = std::fabs(x[i]) > 7.5f * d ? d : 0.5f * d;
    EXPECT_LE(std::fabs(y[i] - x[i]), bound + 1e-3f) << i;
  }
  // Layout: element j is the low nibble of qs[j], element j+16 the high one.
  BlockQ4_0 blk{};
  blk.d = f32_to_f16(1.0f);
  blk.qs[0] = 0x9F;  // low 15 -> 7, high 9 -> 1
  float out[32];
  ASSERT_TRUE(dequantize_row(DType::kQ4_0, &blk, out, 32));
  EXPECT_EQ(out[0], 7.0f);
  EXPECT_EQ(out[16], 1.0f);
  EXPECT_EQ(out[1], -8.0f);
}

TEST(OpsTest, MatmulMatchesDoubleReference) {
  const int64_t n = 5, k = 256, m = 33;
  std::vector<float> x = randn(static_cast<size_t>(n * k), 3);
  std::vector<float> w = randn(static_cast<size_t>(m * k), 4, 0.1f);
  std::vector<float> bias = randn(static_cast<size_t>(m), 5);
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K,
                  DType::kQ6_K}) {
    QuantWeight q = make_weight(t, w, m, k);
    // Reference on the dequantized weights: the kernel must be exact up to f32 rounding.
    std::vector<float> wd(static_cast<size_t>(m * k));
    for (int64_t r = 0; r < m; ++r)
      ASSERT_TRUE(dequantize_row(t, q.bytes.data() + r * dtype_row_bytes(t, k), wd.data() + r * k, k));
    // q8_0 / q4_0 layers see activations quantized per block of 32.
    std::vector<float> xe = x;
    if (t != DType::kF32 && t != DType::kF16 && t != DType::kBF16) {
      std::vector<kernels::BlockQ8A> xq(static_cast<size_t>(n * k / 32));
      kernels::quantize_activations_scalar(x.data(), n, k, xq.data());
      for (size_t b = 0; b < xq.size(); ++b)
        for (int j = 0; j < 32; ++j) xe[b * 32 + static_cast<size_t>(j)] = xq[b].d * xq[b].qs[j];
    }
    std::vector<float> y(static_cast<size_t>(n * m));
    ThreadPool pool(3);
    ops::matmul(x.data(), n, k, q.view, bias.data(), y.data(), &pool);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < m; ++j) {
        double ref = bias[static_cast<size_t>(j)], mag = 0;
        for (int64_t c = 0; c < k; ++c) {
          ref += double(xe[static_cast<size_t>(i * k + c)]) * wd[static_cast<size_t>(j * k + c)];
          mag += std::fabs(double(xe[static_cast<size_t>(i * k + c)]) * wd[static_cast<size_t>(j * k + c)]);
        }
        EXPECT_NEAR(y[static_cast<size_t>(i * m + j)], ref, 1e-6 * (mag + 1)) << dtype_name(t);
      }
    }
  }
}

TEST(OpsTest, MatmulIsBatchInvariant) {
  const IsaGuard isa_guard;
  for (ops::Isa isa : {ops::Isa::kScalar, ops::Isa::kAvx2, ops::Isa::kAvx512}) {
  if (!ops::set_isa(isa)) continue;
  // m = 70: 9 panels, m = 50: 7 (the q4_0 decode takes 4, then 2, then 1).
  for (const int64_t m : {70, 50}) {
  const int64_t k = 512;
  std::vector<float> x = randn(static_cast<size_t>(9 * k), 6);
  std::vector<float> w = randn(static_cast<size_t>(m * k), 7, 0.1f);
  for (DType t : {DType::kF32, DType::kF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    QuantWeight rm = make_weight(t, w, m, k);
    for (bool panel8 : {false, true}) {
    if (panel8 && !packed::supports(t)) continue;
    const QuantWeight q = panel8 ? make_panel8(rm) : rm;
    ThreadPool pool(2);
    std::vector<float> all(static_cast<size_t>(9 * m));
    ops::matmul(x.data(), 9, k, q.view, nullptr, all.data(), &pool);
    for (int64_t i = 0; i < 9; ++i) {
      std::vector<float> one(static_cast<size_t>(m));
      ops::matmul(x.data() + i * k, 1, k, q.view, nullptr, one.data(), nullptr);
      EXPECT_EQ(0, std::memcmp(one.data(), all.data() + i * m, one.size() * sizeof(float)))
          << "row " << i << " dtype " << dtype_name(t) << " isa " << ops::isa_name(isa) << " panel8 " << panel8
          << " m " << m;
    }
    }
  }
  }
  }
}

// Table-driven: every fast path against the scalar reference, over dtypes,
// shapes (k with and without an 8-wide tail), batch sizes that hit every tile
// shape, with and without bias. Tolerance: both compute the same products of
// the same dequantized weights in f32 and differ only in summation order, so
// |fast - ref| <= 1e-5 * sum |x_i w_i|.
struct MatmulCase {
  DType dtype;
  int64_t k;
  int64_t m;
};

TEST(OpsTest, FastPathsMatchScalarReference) {
  const IsaGuard isa_guard;
  if (!ops::set_isa(ops::Isa::kAvx2)) GTEST_SKIP() << "CPU lacks AVX2/FMA/F16C";
  for (ops::Isa fast_isa : {ops::Isa::kAvx2, ops::Isa::kAvx512}) {
  if (!ops::set_isa(fast_isa)) continue;
  const std::vector<MatmulCase> cases = {
      {DType::kF32, 8, 3},   {DType::kF32, 45, 5},   {DType::kF32, 256, 33},
      {DType::kF16, 64, 7},  {DType::kF16, 203, 10}, {DType::kBF16, 96, 9},
      {DType::kBF16, 13, 4}, {DType::kQ8_0, 32, 5},  {DType::kQ8_0, 320, 19},
      {DType::kQ4_0, 32, 3}, {DType::kQ4_0, 256, 21}, {DType::kF16, 600, 40},
      {DType::kQ8_0, 64, 8}, {DType::kQ4_0, 1024, 17}, {DType::kQ4_K, 256, 9},
      {DType::kQ5_K, 512, 6}, {DType::kQ6_K, 256, 11}, {DType::kQ4_0, 512, 50},
  };
  for (const MatmulCase& c : cases) {
    for (int64_t n : {1, 2, 3, 4, 5, 7, 9, 33, 70, 100}) {
      std::vector<float> x = randn(static_cast<size_t>(n * c.k), static_cast<uint32_t>(n + c.k));
      std::vector<float> w = randn(static_cast<size_t>(c.m * c.k), static_cast<uint32_t>(c.m), 0.2f);
      std::vector<float> bias = randn(static_cast<size_t>(c.m), 77);
      QuantWeight q = make_weight(c.dtype, w, c.m, c.k);
      std::vector<float> wd(static_cast<size_t>(c.m * c.k));
      for (int64_t r = 0; r < c.m; ++r)
        ASSERT_TRUE(dequantize_row(c.dtype, q.bytes.data() + r * dtype_row_bytes(c.dtype, c.k),
                                   wd.data() + r * c.k, c.k));
      const bool packable = packed::supports(c.dtype);
      const QuantWeight qp = packable ? make_panel8(q) : q;
      for (int variant = 0; variant < (packable ? 4 : 2); ++variant) {
        const bool with_bias = variant & 1;
        const bool panel8 = variant & 2;
        const float* b = with_bias ? bias.data() : nullptr;
        std::vector<float> ref(static_cast<size_t>(n * c.m)), fast(ref.size());
        ASSERT_TRUE(ops::set_isa(ops::Isa::kScalar));
        ops::matmul(x.data(), n, c.k, q.view, b, ref.data(), nullptr);
        ASSERT_TRUE(ops::set_isa(fast_isa));
        ThreadPool pool(3);
        ops::matmul(x.data(), n, c.k, panel8 ? qp.view : q.view, b, fast.data(), &pool);
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t j = 0; j < c.m; ++j) {
            double mag = 0;
            for (int64_t kk = 0; kk < c.k; ++kk)
              mag += std::fabs(double(x[static_cast<size_t>(i * c.k + kk)]) * wd[static_cast<size_t>(j * c.k + kk)]);
            ASSERT_NEAR(fast[static_cast<size_t>(i * c.m + j)], ref[static_cast<size_t>(i * c.m + j)], 1e-5 * mag + 1e-7)
                << dtype_name(c.dtype) << " k=" << c.k << " m=" << c.m << " n=" << n << " panel8=" << panel8
                << " (" << i << "," << j << ") isa " << ops::isa_name(fast_isa);
          }
        }
      }
    }
  }
  }
}

// kPanel8 kernels across k-blocks (6144 columns for AVX2 float prefill,
// whose tiles park partial sums in y between blocks; 256 on AVX-512) and row
// blocks (the kernels' 64 / 192-row passes, and the 192-row blocks that
// prefill work is split into over threads): every row of a 401-row batch
// equals that row alone, and the same rows in small batches, bitwise. Float
// k = 6306 also ends on a block whose column count is not a multiple of the
// assembly tile's 4.
TEST(OpsTest, Panel8IsBatchInvariantAcrossBlocks) {
  const IsaGuard isa_guard;
  if (!ops::set_isa(ops::Isa::kAvx2)) GTEST_SKIP() << "CPU lacks AVX2/FMA/F16C";
  for (ops::Isa isa : {ops::Isa::kAvx2, ops::Isa::kAvx512}) {
  if (!ops::set_isa(isa)) continue;
  const int64_t n = 401, m = 27;
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K,
                  DType::kQ6_K}) {
  const bool float_w = t == DType::kF32 || t == DType::kF16 || t == DType::kBF16;
  for (const int64_t k : is_kquant(t) ? std::vector<int64_t>{768}
                         : float_w    ? std::vector<int64_t>{544, 6306}
                                      : std::vector<int64_t>{544}) {
    std::vector<float> x = randn(static_cast<size_t>(n * k), 31);
    std::vector<float> w = randn(static_cast<size_t>(m * k), 32, 0.1f);
    std::vector<float> bias = randn(static_cast<size_t>(m), 33);
    const QuantWeight q = make_panel8(make_weight(t, w, m, k));
    ThreadPool pool(3);
    std::vector<float> all(static_cast<size_t>(n * m));
    ops::matmul(x.data(), n, k, q.view, bias.data(), all.data(), &pool);
    for (int64_t i = 0; i < n; i += 7) {
      std::vector<float> one(static_cast<size_t>(m));
      ops::matmul(x.data() + i * k, 1, k, q.view, bias.data(), one.data(), nullptr);
      EXPECT_EQ(0, std::memcmp(one.data(), all.data() + i * m, one.size() * sizeof(float)))
          << "row " << i << " dtype " << dtype_name(t) << " k " << k;
    }
    // Small batches take other paths (up to 48 rows one pass over k; 12
    // and 13 rows end in tiles of 6 + 6 and 6 + 4 + 3 rows); their rows
    // must match too.
    for (int64_t few : {3, 11, 12, 13, 48, 49}) {
      std::vector<float> part(static_cast<size_t>(few * m));
      ops::matmul(x.data() + 40 * k, few, k, q.view, bias.data(), part.data(), &pool);
      EXPECT_EQ(0, std::memcmp(part.data(), all.data() + 40 * m, part.size() * sizeof(float)))
          << few << " rows, dtype " << dtype_name(t) << " isa " << ops::isa_name(isa) << " k " << k;
    }
  }
  }
  }
}

// AVX-512 runs every output's chain of operations exactly as AVX2 does (two
// panels per 512-bit register; the odd last panel and K-quants on AVX2), so
// the two must agree bitwise: every packed dtype, panel counts odd and even
// (m = 8, 9, 27, 40, 70), k with and without a 128-column tail, row counts
// on every path (decode, small batch, prefill blocks), bias or not, and
// thread splits that hand out odd panel ranges.
TEST(OpsTest, Avx512IsBitwiseAvx2) {
  const IsaGuard isa_guard;
  if (!ops::set_isa(ops::Isa::kAvx512)) GTEST_SKIP() << "CPU lacks AVX-512 F/BW/VL/DQ/VNNI";
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K,
                  DType::kQ6_K}) {
    for (const int64_t m : {8, 9, 27, 40, 70}) {
      const int64_t k = is_kquant(t) ? 512 : (m % 2 == 0 ? 544 : 256);
      std::vector<float> w = randn(static_cast<size_t>(m * k), static_cast<uint32_t>(60 + m), 0.1f);
      std::vector<float> bias = randn(static_cast<size_t>(m), 61);
      const QuantWeight q = make_panel8(make_weight(t, w, m, k));
      for (int64_t n : {1, 2, 3, 5, 13, 48, 49, 100, 203}) {
        std::vector<float> x = randn(static_cast<size_t>(n * k), static_cast<uint32_t>(n));
        for (bool with_bias : {false, true}) {
          for (int threads : {1, 3}) {
            ThreadPool pool(threads);
            std::vector<float> a(static_cast<size_t>(n * m), -1.0f), b(a.size(), -2.0f);
            ASSERT_TRUE(ops::set_isa(ops::Isa::kAvx2));
            ops::matmul(x.data(), n, k, q.view, with_bias ? bias.data() : nullptr, a.data(), &pool);
            ASSERT_TRUE(ops::set_isa(ops::Isa::kAvx512));
            ops::matmul(x.data(), n, k, q.view, with_bias ? bias.data() : nullptr, b.data(), &pool);
            ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)))
                << dtype_name(t) << " m=" << m << " k=" << k << " n=" << n << " bias=" << with_bias
                << " threads=" << threads;
          }
        }
      }
    }
  }
}

// The AVX-512 float prefill path at widths it splits into column blocks of
// 2048 (partial sums parked in y between them), and row counts beyond its
// 512-row blocks (x copied to padded rows once per matmul).
TEST(OpsTest, Avx512FloatPrefillIsBitwiseAvx2) {
  const IsaGuard isa_guard;
  if (!ops::set_isa(ops::Isa::kAvx512)) GTEST_SKIP() << "CPU lacks AVX-512 F/BW/VL/DQ/VNNI";
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (const int64_t k : {int64_t{2054}, int64_t{4160}}) {
      const int64_t m = 40;
      std::vector<float> w = randn(static_cast<size_t>(m * k), static_cast<uint32_t>(k), 0.1f);
      std::vector<float> bias = randn(static_cast<size_t>(m), 62);
      const QuantWeight q = make_panel8(make_weight(t, w, m, k));
      for (int64_t n : {61, 530}) {
        std::vector<float> x = randn(static_cast<size_t>(n * k), static_cast<uint32_t>(n + 7));
        ThreadPool pool(2);
        std::vector<float> a(static_cast<size_t>(n * m), -1.0f), b(a.size(), -2.0f);
        ASSERT_TRUE(ops::set_isa(ops::Isa::kAvx2));
        ops::matmul(x.data(), n, k, q.view, bias.data(), a.data(), &pool);
        ASSERT_TRUE(ops::set_isa(ops::Isa::kAvx512));
        ops::matmul(x.data(), n, k, q.view, bias.data(), b.data(), &pool);
        ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)))
            << dtype_name(t) << " k=" << k << " n=" << n;
      }
    }
  }
}

// matmul_many shares one parallel region (and one activation quantization)
// between weights; every output must be bitwise what matmul() gives, for
// mixed int8 dtypes (a Q4_K_M file mixes q4_K and q6_K), float dtypes, mixed
// int8/float (the fallback) and the row-major layout.
TEST(OpsTest, MatmulManyIsBitwiseSeparateMatmuls) {
  const IsaGuard isa_guard;
  const int64_t k = 512;
  std::vector<float> w = randn(static_cast<size_t>(40 * k), 41, 0.1f);
  std::vector<float> bias = randn(40, 42);
  const std::vector<std::vector<DType>> groups = {
      {DType::kQ4_K, DType::kQ4_K, DType::kQ6_K}, {DType::kQ4_0, DType::kQ8_0}, {DType::kF16, DType::kF32, DType::kBF16},
      {DType::kF16, DType::kQ4_0}};
  for (ops::Isa isa : {ops::Isa::kScalar, ops::Isa::kAvx2, ops::Isa::kAvx512}) {
    if (!ops::set_isa(isa)) continue;
    for (const auto& g : groups) {
      for (bool panel8 : {false, true}) {
        // A QuantWeight's view points into its own bytes: build them in place.
        std::vector<QuantWeight> ws;
        ws.reserve(g.size());
        const int64_t ms[3] = {40, 17, 9};
        for (size_t i = 0; i < g.size(); ++i) {
          QuantWeight q = make_weight(g[i], std::vector<float>(w.begin(), w.begin() + ms[i] * k), ms[i], k);
          ws.push_back(panel8 ? make_panel8(q) : std::move(q));
        }
        // 250 rows: prefill work is split into 192-row blocks x panels.
        for (int64_t n : {1, 3, 13, 250}) {
          std::vector<float> x = randn(static_cast<size_t>(n * k), static_cast<uint32_t>(50 + n));
          std::vector<std::vector<float>> sep(g.size()), many(g.size());
          ThreadPool pool(2);
          for (size_t i = 0; i < g.size(); ++i) {
            sep[i].assign(static_cast<size_t>(n * ms[i]), 0.0f);
            many[i].assign(sep[i].size(), -1.0f);
            // One thread: no split at all.
            ops::matmul(x.data(), n, k, ws[i].view, i == 1 ? bias.data() : nullptr, sep[i].data(), nullptr);
          }
          if (g.size() == 3) {
            ops::matmul_many(x.data(), n, k,
                             {{&ws[0].view, nullptr, many[0].data()}, {&ws[1].view, bias.data(), many[1].data()},
                              {&ws[2].view, nullptr, many[2].data()}},
                             &pool);
          } else {
            ops::matmul_many(x.data(), n, k,
                             {{&ws[0].view, nullptr, many[0].data()}, {&ws[1].view, bias.data(), many[1].data()}},
                             &pool);
          }
          for (size_t i = 0; i < g.size(); ++i)
            EXPECT_EQ(0, std::memcmp(sep[i].data(), many[i].data(), sep[i].size() * sizeof(float)))
                << dtype_name(g[i]) << " n=" << n << " panel8=" << panel8 << " isa " << ops::isa_name(isa);
        }
      }
    }
  }
}

TEST(OpsTest, ActivationQuantizationAvx2IsBitwiseScalar) {
  if (!kernels::cpu_has_avx2_fma_f16c()) GTEST_SKIP() << "CPU lacks AVX2";
  // 56 blocks (whole groups of 8 for the AVX2 code), then 9 (a partial one).
  for (const auto& [n, k] : {std::pair<int64_t, int64_t>{7, 256}, {3, 96}}) {
    std::vector<float> x = randn(static_cast<size_t>(n * k), 21, 3.0f);
    for (int j = 0; j < 32; ++j) x[static_cast<size_t>(64 + j)] = 0.0f;  // an all-zero block
    x[5] = 127.5f / 127.0f * 2.0f;                                       // ties and extremes
    std::vector<kernels::BlockQ8A> a(static_cast<size_t>(n * k / 32)), b(a.size());
    std::vector<int32_t> sums(a.size(), -7);
    kernels::quantize_activations_scalar(x.data(), n, k, a.data());
    kernels::quantize_activations_avx2(x.data(), n, k, b.data(), sums.data());
    ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(kernels::BlockQ8A))) << n << "x" << k;
    for (size_t i = 0; i < a.size(); ++i) {
      int32_t want = 0;
      for (int8_t v : a[i].qs) want += v;
      ASSERT_EQ(want, sums[i]) << "block " << i;
    }
  }
}

// Table-driven: every row op's AVX2 path against the scalar reference, over
// lengths with and without an 8-wide tail. Tolerances: rmsnorm, rope, dot are
// the same f32 products summed in another order (1e-5 relative); softmax,
// SwiGLU and attention also use a vectorized exp (relative error < 2e-7
// against libm's expf, checked here at 2e-6).
struct RowOpCase {
  const char* op;
  int64_t n;
  double tol;
};

TEST(OpsTest, RowOpFastPathsMatchScalarReference) {
  const IsaGuard isa_guard;
  if (!ops::set_isa(ops::Isa::kAvx2)) GTEST_SKIP() << "CPU lacks AVX2/FMA/F16C";
  const std::vector<RowOpCase> cases = {
      {"rmsnorm", 7, 1e-5},  {"rmsnorm", 64, 1e-5},  {"rmsnorm", 2051, 1e-5},
      {"softmax", 1, 2e-6},  {"softmax", 13, 2e-6},  {"softmax", 300, 2e-6},
      {"silu", 5, 2e-6},     {"silu", 1000, 2e-6},   {"rope", 16, 1e-5},
      {"rope", 128, 1e-5},   {"rope", 20, 1e-5},     {"attend", 1, 2e-6},
      {"attend", 9, 2e-6},   {"attend", 257, 2e-6},
  };
  for (const RowOpCase& c : cases) {
    const std::string op = c.op;
    auto run = [&](ops::Isa isa) {
      EXPECT_TRUE(ops::set_isa(isa));
      std::vector<float> out;
      if (op == "rmsnorm") {
        std::vector<float> x = randn(static_cast<size_t>(3 * c.n), 1, 2.0f), w = randn(static_cast<size_t>(c.n), 2);
        out.resize(x.size());
        ops::rmsnorm(x.data(), w.data(), 3, c.n, 1e-5f, out.data());
      } else if (op == "softmax") {
        out = randn(static_cast<size_t>(c.n), 3, 8.0f);
        ops::softmax(out.data(), c.n);
      } else if (op == "silu") {
        std::vector<float> g = randn(static_cast<size_t>(c.n), 4, 6.0f), u = randn(static_cast<size_t>(c.n), 5);
        g[0] = -100.0f;  // exp overflow side
        if (c.n > 1) g[1] = 100.0f;
        out.resize(g.size());
        ops::silu_mul(g.data(), u.data(), out.data(), c.n);
      } else if (op == "rope") {
        out = randn(static_cast<size_t>(2 * 3 * c.n), 6);
        const int32_t pos[2] = {5, 4000};
        for (auto style : {ops::RopeStyle::kNeox, ops::RopeStyle::kInterleaved}) {
          auto table = ops::make_rope_table(static_cast<int>(c.n), 10000.0f, style);
          ops::rope(out.data(), pos, 2, 3, table);
        }
      } else {  // attend: 3 query heads of head_dim 64 sharing c.n cached rows
        const int hd = 64, heads = 3;
        std::vector<float> q = randn(heads * hd, 7), k = randn(static_cast<size_t>(c.n * hd), 8),
                           v = randn(static_cast<size_t>(c.n * hd), 9);
        std::vector<const float*> kr, vr;
        for (int64_t j = 0; j < c.n; ++j) {
          kr.push_back(k.data() + j * hd);
          vr.push_back(v.data() + j * hd);
        }
        std::vector<float> scores(static_cast<size_t>(heads * c.n));
        out.resize(heads * hd);
        ops::attend(q.data(), heads, kr.data(), vr.data(), c.n, hd, 0.125f, scores.data(), out.data());
      }
      return out;
    };
    const std::vector<float> ref = run(ops::Isa::kScalar), fast = run(ops::Isa::kAvx2);
    ASSERT_EQ(ref.size(), fast.size());
    float mag = 0;
    for (float v : ref) mag = std::max(mag, std::fabs(v));
    for (size_t i = 0; i < ref.size(); ++i)
      ASSERT_NEAR(fast[i], ref[i], c.tol * mag + 1e-30) << c.op << " n=" << c.n << " at " << i;
  }
}

TEST(OpsTest, GroupedAttentionIsBitwisePerHead) {
  // A head's output must not depend on which other heads share its call
  // (batch invariance across GQA groups), for head dims with and without
  // the 16-wide score path and the scalar tail, and lengths around the
  // kernel's position blocks.
  for (int hd : {64, 40, 12}) {
    for (int64_t n : {1, 5, 31, 32, 33, 100}) {
      const int heads = 4;
      std::vector<float> q = randn(static_cast<size_t>(heads * hd), 11), k = randn(static_cast<size_t>(n * hd), 12),
                         v = randn(static_cast<size_t>(n * hd), 13);
      std::vector<const float*> kr, vr;
      for (int64_t j = 0; j < n; ++j) {
        kr.push_back(k.data() + j * hd);
        vr.push_back(v.data() + j * hd);
      }
      std::vector<float> scores(static_cast<size_t>(heads * n)), group(static_cast<size_t>(heads * hd));
      ops::attend(q.data(), heads, kr.data(), vr.data(), n, hd, 0.3f, scores.data(), group.data());
      for (int g = 0; g < heads; ++g) {
        std::vector<float> one(static_cast<size_t>(hd));
        ops::attend(q.data() + g * hd, 1, kr.data(), vr.data(), n, hd, 0.3f, scores.data(), one.data());
        for (int d = 0; d < hd; ++d)
          ASSERT_EQ(one[static_cast<size_t>(d)], group[static_cast<size_t>(g * hd + d)])
              << "hd=" << hd << " n=" << n << " head " << g << " dim " << d;
      }
    }
  }
}

// AVX-512 attention runs every score's and every output's operations as the
// AVX2 kernel does: bitwise the same for head sizes 16 to 256 (one to eight
// 512-bit registers per output chunk, and more than one chunk), GQA groups,
// lengths around the 4-key groups and 32-position blocks; other head sizes
// fall back to AVX2.
TEST(OpsTest, Avx512AttentionIsBitwiseAvx2) {
  const IsaGuard isa_guard;
  if (!ops::set_isa(ops::Isa::kAvx512)) GTEST_SKIP() << "CPU lacks AVX-512 F/BW/VL/DQ/VNNI";
  for (int hd : {16, 64, 80, 128, 256, 40}) {
    for (int heads : {1, 3, 8}) {
      for (int64_t n : {1, 3, 4, 5, 31, 32, 33, 100, 257}) {
        std::vector<float> q = randn(static_cast<size_t>(heads * hd), 14),
                           k = randn(static_cast<size_t>(n * hd), 15), v = randn(static_cast<size_t>(n * hd), 16);
        std::vector<const float*> kr, vr;
        for (int64_t j = 0; j < n; ++j) {
          kr.push_back(k.data() + j * hd);
          vr.push_back(v.data() + j * hd);
        }
        std::vector<float> scores(static_cast<size_t>(heads * n)), a(static_cast<size_t>(heads * hd), -1.0f),
            b(a.size(), -2.0f);
        ASSERT_TRUE(ops::set_isa(ops::Isa::kAvx2));
        ops::attend(q.data(), heads, kr.data(), vr.data(), n, hd, 0.125f, scores.data(), a.data());
        ASSERT_TRUE(ops::set_isa(ops::Isa::kAvx512));
        ops::attend(q.data(), heads, kr.data(), vr.data(), n, hd, 0.125f, scores.data(), b.data());
        ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)))
            << "hd=" << hd << " heads=" << heads << " n=" << n;
      }
    }
  }
}

// The AVX-512 row ops are bitwise their AVX2 versions: RMSNorm, softmax
// and SwiGLU over lengths around the 8- and 16-wide steps, with exp's
// overflow and underflow sides.
TEST(OpsTest, Avx512RowOpsAreBitwiseAvx2) {
  const IsaGuard isa_guard;
  if (!ops::set_isa(ops::Isa::kAvx512)) GTEST_SKIP() << "CPU lacks AVX-512 F/BW/VL/DQ/VNNI";
  auto both = [](const std::function<std::vector<float>()>& run) {
    EXPECT_TRUE(ops::set_isa(ops::Isa::kAvx2));
    const std::vector<float> a = run();
    EXPECT_TRUE(ops::set_isa(ops::Isa::kAvx512));
    const std::vector<float> b = run();
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
  };
  for (int64_t n : {1, 5, 8, 15, 16, 17, 24, 31, 32, 33, 64, 100, 300, 2051}) {
    EXPECT_TRUE(both([&] {
      std::vector<float> x = randn(static_cast<size_t>(3 * n), 1, 2.0f), w = randn(static_cast<size_t>(n), 2);
      std::vector<float> y(x.size());
      ops::rmsnorm(x.data(), w.data(), 3, n, 1e-5f, y.data());
      return y;
    })) << "rmsnorm n=" << n;
    EXPECT_TRUE(both([&] {
      std::vector<float> x = randn(static_cast<size_t>(n), 3, 30.0f);
      ops::softmax(x.data(), n);
      return x;
    })) << "softmax n=" << n;
    EXPECT_TRUE(both([&] {
      std::vector<float> g = randn(static_cast<size_t>(n), 4, 6.0f), u = randn(static_cast<size_t>(n), 5);
      g[0] = -100.0f;
      if (n > 1) g[static_cast<size_t>(n - 1)] = 100.0f;
      std::vector<float> out(g.size());
      ops::silu_mul(g.data(), u.data(), out.data(), n);
      return out;
    })) << "silu n=" << n;
  }
  // NeoX RoPE: head sizes whose halves take 16-wide steps, an 8-wide step
  // and the scalar tail; several positions and heads.
  for (int hd : {8, 16, 40, 64, 80, 128, 250}) {
    EXPECT_TRUE(both([&] {
      const ops::RopeTable table = ops::make_rope_table(hd, 10000.0f, ops::RopeStyle::kNeox);
      std::vector<float> x = randn(static_cast<size_t>(3 * 2 * hd), 6);
      const std::vector<int32_t> pos = {0, 7, 1000};
      ops::rope(x.data(), pos.data(), 3, 2, table);
      return x;
    })) << "rope head_dim " << hd;
  }
}

TEST(OpsTest, RmsNormAndSoftmax) {
  std::vector<float> x{1, 2, 3, 4}, w{1, 1, 2, 0.5f}, y(4);
  ops::rmsnorm(x.data(), w.data(), 1, 4, 0.0f, y.data());
  const float rms = std::sqrt((1 + 4 + 9 + 16) / 4.0f);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[i], x[i] / rms * w[i], 1e-6);
  std::vector<float> s{1000, 1001, 1002};
  ops::softmax(s.data(), 3);
  EXPECT_NEAR(s[0] + s[1] + s[2], 1.0, 1e-6);
  EXPECT_NEAR(s[2] / s[1], std::exp(1.0), 1e-4);
}

TEST(OpsTest, RopeStylesAgreeUnderThePermutation) {
  // Interleaved rope on permuted dims equals neox rope on the original dims,
  // which is why GGUF llama files store Q/K permuted.
  const int hd = 16, half = 8;
  std::vector<float> v = randn(hd, 8);
  std::vector<float> perm(hd);
  for (int i = 0; i < half; ++i) {
    perm[2 * i] = v[i];
    perm[2 * i + 1] = v[i + half];
  }
  const int32_t pos = 37;
  auto neox = ops::make_rope_table(hd, 10000.0f, ops::RopeStyle::kNeox);
  auto inter = ops::make_rope_table(hd, 10000.0f, ops::RopeStyle::kInterleaved);
  ops::rope(v.data(), &pos, 1, 1, neox);
  ops::rope(perm.data(), &pos, 1, 1, inter);
  for (int i = 0; i < half; ++i) {
    EXPECT_FLOAT_EQ(perm[2 * i], v[i]);
    EXPECT_FLOAT_EQ(perm[2 * i + 1], v[i + half]);
  }
  // Position 0 is the identity.
  std::vector<float> z = randn(hd, 9), z0 = z;
  const int32_t p0 = 0;
  ops::rope(z.data(), &p0, 1, 1, neox);
  EXPECT_EQ(z, z0);
}

}  // namespace
}  // namespace tandem
