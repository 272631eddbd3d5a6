#include "store/chunk_codec.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "store/store_test_util.h"

namespace tandem::store {
namespace {

std::vector<uint8_t> decode(const std::string& image, const uint8_t* base_raw = nullptr) {
  auto h = parse_chunk_header(image);
  EXPECT_TRUE(h.ok()) << h.status().to_string();
  std::vector<uint8_t> out(h->raw_bytes);
  Status st = decode_chunk(image, *h, base_raw, out.data());
  EXPECT_TRUE(st.ok()) << st.to_string();
  return out;
}

TEST(ChunkCodec, RoundTripsEveryMode) {
  auto raw = testing::random_floats(1001, 3);  // not a multiple of 8: exercises the shuffle tail
  raw.push_back(7);
  auto base = raw;
  testing::perturb(&base, 9);
  const Hash256 bh = sha256(base.data(), base.size());
  for (int level : {0, 1, 3})
    for (int es : {1, 2, 4, 8})
      for (bool delta : {false, true}) {
        EncodeOptions o{level, es};
        std::string img = encode_chunk(raw.data(), raw.size(), o, delta ? base.data() : nullptr,
                                       delta ? &bh : nullptr);
        auto h = parse_chunk_header(img);
        ASSERT_TRUE(h.ok());
        EXPECT_EQ(h->raw_bytes, raw.size());
        EXPECT_EQ((h->flags & kChunkXorDelta) != 0, delta);
        if (delta) {
          EXPECT_EQ(h->base, bh);
        }
        EXPECT_EQ(decode(img, delta ? base.data() : nullptr), raw) << level << " " << es << " " << delta;
      }
}

TEST(ChunkCodec, FastShuffleMatchesScalarReference) {
  std::mt19937 rng(4);
  for (size_t n : {0, 3, 4, 100, 128, 129, 131, 4096, 4099, 65536 + 7}) {
    std::vector<uint8_t> in(n), fast(n), ref(n), back(n);
    for (auto& b : in) b = static_cast<uint8_t>(rng());
    for (size_t es : {2, 4, 8}) {
      shuffle_bytes(in.data(), n, es, fast.data());
      shuffle_bytes_scalar(in.data(), n, es, ref.data());
      EXPECT_EQ(fast, ref) << n << " " << es;
      unshuffle_bytes(fast.data(), n, es, back.data());
      EXPECT_EQ(back, in) << n << " " << es;
    }
  }
}

TEST(ChunkCodec, CompressesRedundantDataAndStoresNoiseRaw) {
  std::vector<uint8_t> zeros(65536, 0);
  std::string img = encode_chunk(zeros.data(), zeros.size(), EncodeOptions{1, 1});
  EXPECT_LT(img.size(), 1000u);
  std::vector<uint8_t> noise(65536);
  std::mt19937 rng(1);
  for (auto& b : noise) b = static_cast<uint8_t>(rng());
  img = encode_chunk(noise.data(), noise.size(), EncodeOptions{1, 1});
  auto h = parse_chunk_header(img);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->flags & kChunkZstd, 0) << "incompressible data is stored raw";
  EXPECT_EQ(img.size(), kChunkHeaderBytes + noise.size());
}

TEST(ChunkCodec, DeltaOfSmallUpdateIsSmallerThanFull) {
  auto base = testing::random_floats(16384, 5);
  auto raw = base;
  testing::perturb(&raw, 6, 1e-6f);
  const Hash256 bh = sha256(base.data(), base.size());
  std::string full = encode_chunk(raw.data(), raw.size(), EncodeOptions{1, 4});
  std::string delta = encode_chunk(raw.data(), raw.size(), EncodeOptions{1, 4}, base.data(), &bh);
  EXPECT_LT(delta.size(), full.size() * 3 / 4) << "full " << full.size() << " delta " << delta.size();
}

TEST(ChunkCodec, RejectsDamage) {
  auto raw = testing::random_floats(4096, 1);
  std::string img = encode_chunk(raw.data(), raw.size(), EncodeOptions{1, 4});
  EXPECT_FALSE(parse_chunk_header(img.substr(0, 20)).ok());
  std::string bad = img;
  bad[0] = 'X';
  EXPECT_FALSE(parse_chunk_header(bad).ok());
  bad = img;
  bad[4] = static_cast<char>(0x40);
  EXPECT_FALSE(parse_chunk_header(bad).ok());
  // Truncated payload.
  auto h = parse_chunk_header(img);
  ASSERT_TRUE(h.ok());
  std::vector<uint8_t> out(h->raw_bytes);
  EXPECT_FALSE(decode_chunk(std::string_view(img).substr(0, img.size() - 1), *h, nullptr, out.data()).ok());
  // A flipped payload bit either fails to decode or decodes to other bytes
  // (the store's hash check catches the latter).
  bad = img;
  bad[kChunkHeaderBytes + 10] ^= 0x10;
  Status st = decode_chunk(bad, *h, nullptr, out.data());
  if (st.ok()) {
    EXPECT_NE(sha256(out.data(), out.size()), sha256(raw.data(), raw.size()));
  }
}

}  // namespace
}  // namespace tandem::store
