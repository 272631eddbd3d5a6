#include "store/manifest.h"

#include <gtest/gtest.h>

namespace tandem::store {
namespace {

Manifest sample() {
  Manifest m;
  m.step = 42;
  m.time_us = 123456789;
  m.writer = "abcd";
  m.written_bytes = 99;
  m.tags = {"best"};
  m.metadata = {{"data_pos", "17"}, {"note", "x\"y"}};
  Entry t;
  t.name = "layers.0.w";
  t.kind = EntryKind::kTensor;
  t.dtype = "f32";
  t.shape = {2, 3};
  t.bytes = 24;
  t.chunks = {ChunkRef{sha256("a"), 16, {}}, ChunkRef{sha256("b"), 8, {sha256("c"), sha256("d")}}};
  m.entries.push_back(t);
  Entry b;
  b.name = "dir/file.txt";
  b.bytes = 0;
  m.entries.push_back(b);
  return m;
}

TEST(Manifest, RoundTrip) {
  const Manifest m = sample();
  auto back = parse_manifest(serialize_manifest(m));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->step, 42);
  EXPECT_EQ(back->time_us, m.time_us);
  EXPECT_EQ(back->writer, "abcd");
  EXPECT_EQ(back->written_bytes, 99u);
  EXPECT_EQ(back->tags, m.tags);
  EXPECT_EQ(back->metadata, m.metadata);
  ASSERT_EQ(back->entries.size(), 2u);
  const Entry* e = back->find("layers.0.w");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->kind, EntryKind::kTensor);
  EXPECT_EQ(e->shape, (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(e->chunks.size(), 2u);
  EXPECT_EQ(e->chunks[1].deps.size(), 2u);
  EXPECT_EQ(e->chunks[1].deps[1], sha256("d"));
  EXPECT_EQ(back->find("dir/file.txt")->kind, EntryKind::kBlob);
  EXPECT_EQ(back->logical_bytes(), 24u);
}

TEST(Manifest, EveryFlippedBitIsDetected) {
  const std::string text = serialize_manifest(sample());
  for (size_t i = 0; i < text.size(); ++i)
    for (int bit : {0, 3, 6}) {
      std::string bad = text;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      auto r = parse_manifest(bad);
      ASSERT_FALSE(r.ok()) << "byte " << i << " bit " << bit;
      EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
    }
}

TEST(Manifest, TruncationIsDetected) {
  const std::string text = serialize_manifest(sample());
  for (size_t n = 0; n < text.size(); n += 7) EXPECT_FALSE(parse_manifest(text.substr(0, n)).ok()) << n;
}

}  // namespace
}  // namespace tandem::store
