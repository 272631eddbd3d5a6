#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "base/blake3_impl.h"
#include "base/hash.h"

namespace tandem {
namespace {

using blake3_impl::Isa;

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i % 251);
  return v;
}

std::vector<Isa> isas() {
  std::vector<Isa> v = {Isa::kScalar};
  if (blake3_impl::cpu_has_avx2()) v.push_back(Isa::kAvx2);
  return v;
}

// The "hash" field (first 32 bytes) of test_vectors/test_vectors.json in the
// BLAKE3 repository; input bytes are i % 251.
TEST(Blake3, OfficialTestVectors) {
  const std::pair<size_t, const char*> kCases[] = {
      {0, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
      {1, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"},
      {1023, "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11"},
      {1024, "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7"},
      {1025, "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444"},
      {2048, "e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a"},
      {2049, "5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030"},
      {3072, "b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2"},
      {3073, "7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3"},
      {4096, "015094013f57a5277b59d8475c0501042c0b642e531b0a1c8f58d2163229e969"},
      {4097, "9b4052b38f1c5fc8b1f9ff7ac7b27cd242487b3d890d15c96a1c25b8aa0fb995"},
      {5120, "9cadc15fed8b5d854562b26a9536d9707cadeda9b143978f319ab34230535833"},
      {5121, "628bd2cb2004694adaab7bbd778a25df25c47b9d4155a55f8fbd79f2fe154cff"},
      {6144, "3e2e5b74e048f3add6d21faab3f83aa44d3b2278afb83b80b3c35164ebeca205"},
      {6145, "f1323a8631446cc50536a9f705ee5cb619424d46887f3c376c695b70e0f0507f"},
      {7168, "61da957ec2499a95d6b8023e2b0e604ec7f6b50e80a9678b89d2628e99ada77a"},
      {7169, "a003fc7a51754a9b3c7fae0367ab3d782dccf28855a03d435f8cfe74605e7817"},
      {8192, "aae792484c8efe4f19e2ca7d371d8c467ffb10748d8a5a1ae579948f718a2a63"},
      {8193, "bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b"},
      {16384, "f875d6646de28985646f34ee13be9a576fd515f76b5b0a26bb324735041ddde4"},
      {31744, "62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47"},
      {102400, "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085"},
  };
  for (const auto& [len, want] : kCases) {
    const std::vector<uint8_t> in = pattern(len);
    for (Isa isa : isas())
      EXPECT_EQ(blake3_impl::hash(in.data(), in.size(), isa).hex(), want)
          << "len " << len << (isa == Isa::kAvx2 ? " avx2" : " scalar");
    EXPECT_EQ(blake3(in.data(), in.size()).hex(), want) << "len " << len << " dispatched";
  }
}

// Every fast path against the scalar reference: lengths around chunk, block
// and 8-chunk-group boundaries, unaligned starts, random bytes.
TEST(Blake3, Avx2MatchesScalar) {
  if (!blake3_impl::cpu_has_avx2()) GTEST_SKIP() << "CPU lacks AVX2";
  std::mt19937_64 rng(7);
  std::vector<uint8_t> buf((1 << 20) + 4096 + 3);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  std::vector<size_t> lens;
  for (size_t c : {1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 1023, 1024})
    for (long d : {-65, -64, -1, 0, 1, 63, 64})
      if (long(c * 1024) + d >= 0) lens.push_back(c * 1024 + d);
  for (int i = 0; i < 50; ++i) lens.push_back(rng() % (1 << 20));
  lens.push_back(1 << 20);
  lens.push_back((1 << 20) + 4096);
  for (size_t len : lens)
    for (size_t off : {0, 1, 3}) {
      const uint8_t* p = buf.data() + off;
      ASSERT_EQ(blake3_impl::hash(p, len, Isa::kAvx2), blake3_impl::hash(p, len, Isa::kScalar))
          << "len " << len << " offset " << off;
    }
}

// Every length up to 20 KiB (every partial 8-chunk group, the padded
// 2..7-lane AVX2 pass, every partial last chunk and block).
TEST(Blake3, EveryLengthTo20KiBMatchesScalar) {
  if (!blake3_impl::cpu_has_avx2()) GTEST_SKIP() << "CPU lacks AVX2";
  std::mt19937_64 rng(11);
  std::vector<uint8_t> buf(20 * 1024 + 64);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (size_t len = 0; len <= buf.size(); ++len)
    ASSERT_EQ(blake3_impl::hash(buf.data(), len, Isa::kAvx2), blake3_impl::hash(buf.data(), len, Isa::kScalar))
        << "len " << len;
}

// hash_many directly: chunk counters whose low word wraps inside an 8-lane
// group, counts that leave 0..7 inputs after the 8-lane groups, and parents
// (one block, no counter increment).
TEST(Blake3, HashManyMatchesScalarAcrossCounterWrap) {
  if (!blake3_impl::cpu_has_avx2()) GTEST_SKIP() << "CPU lacks AVX2";
  std::mt19937_64 rng(13);
  std::vector<uint8_t> buf(20 * 1024);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  std::vector<const uint8_t*> in(20);
  for (size_t i = 0; i < in.size(); ++i) in[i] = buf.data() + 1024 * i;
  for (uint64_t counter : {uint64_t{0}, uint64_t{0xFFFFFFFD}, uint64_t{0x1FFFFFFF9}})
    for (size_t n = 0; n <= in.size(); ++n) {
      std::vector<uint8_t> a(32 * n + 1, 0xAA), b(32 * n + 1, 0xAA);
      using blake3_impl::kChunkEnd, blake3_impl::kChunkStart, blake3_impl::kParent;
      blake3_impl::hash_many_avx2(in.data(), n, 16, counter, true, 0, kChunkStart, kChunkEnd, a.data());
      blake3_impl::hash_many_scalar(in.data(), n, 16, counter, true, 0, kChunkStart, kChunkEnd, b.data());
      ASSERT_EQ(a, b) << "chunks, counter " << counter << " n " << n;
      blake3_impl::hash_many_avx2(in.data(), n, 1, counter, false, kParent, 0, 0, a.data());
      blake3_impl::hash_many_scalar(in.data(), n, 1, counter, false, kParent, 0, 0, b.data());
      ASSERT_EQ(a, b) << "parents, counter " << counter << " n " << n;
    }
}

TEST(Blake3, DiffersFromSha256AndDependsOnEveryByte) {
  std::vector<uint8_t> in = pattern(5000);
  const Hash256 h = blake3(in.data(), in.size());
  EXPECT_NE(h, sha256(in.data(), in.size()));
  EXPECT_EQ(hash_bytes(HashKind::kBlake3, in.data(), in.size()), h);
  EXPECT_EQ(hash_bytes(HashKind::kSha256, in.data(), in.size()), sha256(in.data(), in.size()));
  for (size_t i : {size_t{0}, size_t{1023}, size_t{1024}, size_t{4999}}) {
    in[i] ^= 1;
    EXPECT_NE(blake3(in.data(), in.size()), h) << i;
    in[i] ^= 1;
  }
}

}  // namespace
}  // namespace tandem
