#include "base/stream_copy.h"

#include <gtest/gtest.h>

#include <vector>

namespace tandem {
namespace {

// Every length around the thresholds and the 64-byte loop, at every
// destination misalignment: the bytes arrive, and nothing around them moves.
TEST(StreamCopyTest, CopiesExactlyAtEveryLengthAndAlignment) {
  std::vector<uint8_t> src(9000);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i * 131 + 7);
  for (size_t threshold : {size_t{0}, size_t{4096}}) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{127}, size_t{4095},
                     size_t{4096}, size_t{4097}, size_t{8191}}) {
      for (size_t off = 0; off < 17; ++off) {
        std::vector<uint8_t> dst(n + 64, 0xAB);
        stream_copy(dst.data() + off, src.data() + 3, n, threshold);
        store_fence();
        for (size_t i = 0; i < off; ++i) ASSERT_EQ(dst[i], 0xAB);
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(dst[off + i], src[3 + i]) << n << " " << off << " " << i;
        for (size_t i = off + n; i < dst.size(); ++i) ASSERT_EQ(dst[i], 0xAB);
      }
    }
  }
}

}  // namespace
}  // namespace tandem
