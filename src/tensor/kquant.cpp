#include "tensor/kquant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/check.h"

namespace tandem {
namespace {

constexpr int kQK = 256;

inline uint16_t rd16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

inline void wr16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// Byte offsets inside the super-blocks.
constexpr int kQ4kScales = 4, kQ4kQs = 16;                 // q4_K: d, dmin, scales[12], qs[128]
constexpr int kQ5kQh = 16, kQ5kQs = 48;  // q5_K: d, dmin, scales[12] (as q4_K), qh[32], qs[128]
constexpr int kQ6kQl = 0, kQ6kQh = 128, kQ6kSc = 192, kQ6kD = 208;  // q6_K

}  // namespace

bool is_kquant(DType t) { return t == DType::kQ4_K || t == DType::kQ5_K || t == DType::kQ6_K; }

void kquant_scales32(DType t, const uint8_t* sb, int b, float* scale0, float* scale1, float* min) {
  if (t == DType::kQ6_K) {
    const float d = f16_to_f32(rd16(sb + kQ6kD));
    const int8_t* sc = reinterpret_cast<const int8_t*>(sb + kQ6kSc);
    const int n = b / 4, r = b % 4;
    *scale0 = d * static_cast<float>(sc[8 * n + 2 * r]);
    *scale1 = d * static_cast<float>(sc[8 * n + 2 * r + 1]);
    *min = 0.0f;
    return;
  }
  const float d = f16_to_f32(rd16(sb)), dmin = f16_to_f32(rd16(sb + 2));
  int sc = 0, m = 0;
  kquant_get_scale_min(b, sb + kQ4kScales, &sc, &m);  // same offset in q5_K
  *scale0 = *scale1 = d * static_cast<float>(sc);
  *min = dmin * static_cast<float>(m);
}

void kquant_block32(DType t, const uint8_t* sb, int b, KBlock32* out) {
  kquant_scales32(t, sb, b, &out->scale[0], &out->scale[1], &out->min);
  if (t == DType::kQ6_K) {
    const int n = b / 4, r = b % 4;
    const uint8_t* ql = sb + kQ6kQl + 64 * n + ((r & 1) ? 32 : 0);
    const uint8_t* qh = sb + kQ6kQh + 32 * n;
    for (int l = 0; l < 32; ++l) {
      const int lo = r < 2 ? (ql[l] & 0xF) : (ql[l] >> 4);
      const int hi = (qh[l] >> (2 * r)) & 3;
      out->q[l] = static_cast<int8_t>((lo | (hi << 4)) - 32);
    }
    return;
  }
  const uint8_t* qs = sb + (t == DType::kQ4_K ? kQ4kQs : kQ5kQs) + 32 * (b / 2);
  for (int l = 0; l < 32; ++l) {
    int v = (b & 1) ? (qs[l] >> 4) : (qs[l] & 0xF);
    if (t == DType::kQ5_K) v += ((sb[kQ5kQh + l] >> b) & 1) << 4;
    out->q[l] = static_cast<int8_t>(v);
  }
}

void dequantize_kquant_row(DType t, const void* src, float* dst, int64_t n) {
  TANDEM_CHECK(is_kquant(t) && n % kQK == 0, "dequantize_kquant_row: bad dtype or length");
  const size_t bytes = static_cast<size_t>(dtype_info(t).block_bytes);
  const uint8_t* s = static_cast<const uint8_t*>(src);
  KBlock32 kb;
  for (int64_t i = 0; i < n / kQK; ++i) {
    for (int b = 0; b < 8; ++b) {
      kquant_block32(t, s + static_cast<size_t>(i) * bytes, b, &kb);
      float* y = dst + i * kQK + b * 32;
      for (int e = 0; e < 32; ++e) y[e] = kb.scale[e / 16] * static_cast<float>(kb.q[e]) - kb.min;
    }
  }
}

namespace {

// Fits v[0..n) >= 0 to 6-bit multiples of a shared step: returns the step,
// writes the integers.
float fit6(const float* v, int n, int* out) {
  float mx = 0.0f;
  for (int i = 0; i < n; ++i) mx = std::max(mx, v[i]);
  const float step = mx / 63.0f;
  for (int i = 0; i < n; ++i) out[i] = step > 0 ? std::clamp(static_cast<int>(std::lround(v[i] / step)), 0, 63) : 0;
  return step;
}

void quantize_q45k_block(DType t, const float* x, uint8_t* sb) {
  const int qmax = t == DType::kQ4_K ? 15 : 31;
  float scale[8], mins[8];
  for (int s = 0; s < 8; ++s) {
    float lo = 0.0f, hi = 0.0f;
    for (int e = 0; e < 32; ++e) {
      lo = std::min(lo, x[32 * s + e]);
      hi = std::max(hi, x[32 * s + e]);
    }
    scale[s] = (hi - lo) / static_cast<float>(qmax);
    mins[s] = -lo;
  }
  int isc[8], im[8];
  // The stored super-block scales are f16: fit against their rounded values.
  const float d = f16_to_f32(f32_to_f16(fit6(scale, 8, isc)));
  const float dmin = f16_to_f32(f32_to_f16(fit6(mins, 8, im)));
  std::memset(sb, 0, static_cast<size_t>(dtype_info(t).block_bytes));
  wr16(sb, f32_to_f16(d));
  wr16(sb + 2, f32_to_f16(dmin));
  for (int s = 0; s < 8; ++s) {
    // Round the scale up so the block's maximum still fits.
    if (d > 0) isc[s] = std::clamp(static_cast<int>(std::ceil(scale[s] / d)), 0, 63);
    kquant_put_scale_min(s, isc[s], im[s], sb + kQ4kScales);
  }
  const int qs_off = t == DType::kQ4_K ? kQ4kQs : kQ5kQs;
  for (int s = 0; s < 8; ++s) {
    const float ds = d * static_cast<float>(isc[s]), ms = dmin * static_cast<float>(im[s]);
    for (int e = 0; e < 32; ++e) {
      const int q = ds > 0 ? std::clamp(static_cast<int>(std::lround((x[32 * s + e] + ms) / ds)), 0, qmax) : 0;
      uint8_t& byte = sb[qs_off + 32 * (s / 2) + e];
      byte = static_cast<uint8_t>(byte | ((s & 1) ? (q & 0xF) << 4 : (q & 0xF)));
      if (t == DType::kQ5_K && (q & 16)) sb[kQ5kQh + e] = static_cast<uint8_t>(sb[kQ5kQh + e] | (1 << s));
    }
  }
}

void quantize_q6k_block(const float* x, uint8_t* sb) {
  std::memset(sb, 0, 210);
  float scale[16];
  for (int s = 0; s < 16; ++s) {
    float amax = 0.0f, mx = 0.0f;
    for (int e = 0; e < 16; ++e) {
      const float v = x[16 * s + e];
      if (std::fabs(v) > amax) {
        amax = std::fabs(v);
        mx = v;
      }
    }
    scale[s] = mx / -32.0f;  // the extreme maps to -32, as q4_0 does with -8
  }
  float amax = 0.0f;
  for (float s : scale) amax = std::max(amax, std::fabs(s));
  const float d = f16_to_f32(f32_to_f16(amax / 127.0f));
  wr16(sb + kQ6kD, f32_to_f16(d));
  int8_t* sc = reinterpret_cast<int8_t*>(sb + kQ6kSc);
  for (int s = 0; s < 16; ++s)
    sc[s] = static_cast<int8_t>(d > 0 ? std::clamp(static_cast<int>(std::lround(scale[s] / d)), -127, 127) : 0);
  for (int b = 0; b < 8; ++b) {
    const int n = b / 4, r = b % 4;
    uint8_t* ql = sb + kQ6kQl + 64 * n + ((r & 1) ? 32 : 0);
    uint8_t* qh = sb + kQ6kQh + 32 * n;
    for (int l = 0; l < 32; ++l) {
      const float ds = d * static_cast<float>(sc[8 * n + 2 * r + l / 16]);
      const int q = ds != 0 ? std::clamp(static_cast<int>(std::lround(x[32 * b + l] / ds)), -32, 31) + 32 : 32;
      ql[l] = static_cast<uint8_t>(ql[l] | (r < 2 ? (q & 0xF) : (q & 0xF) << 4));
      qh[l] = static_cast<uint8_t>(qh[l] | ((q >> 4) << (2 * r)));
    }
  }
}

}  // namespace

void quantize_kquant_row(DType t, const float* src, void* dst, int64_t n) {
  TANDEM_CHECK(is_kquant(t) && n % kQK == 0, "quantize_kquant_row: bad dtype or length");
  const size_t bytes = static_cast<size_t>(dtype_info(t).block_bytes);
  uint8_t* d = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    if (t == DType::kQ6_K) {
      quantize_q6k_block(src + i * kQK, d + static_cast<size_t>(i) * bytes);
    } else {
      quantize_q45k_block(t, src + i * kQK, d + static_cast<size_t>(i) * bytes);
    }
  }
}

}  // namespace tandem
