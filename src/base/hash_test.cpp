#include "base/hash.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

TEST(Hash, Sha256KnownVectors) {
  EXPECT_EQ(sha256("").hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256("abc").hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Hash, HexRoundTripAndRejects) {
  Hash256 h = sha256("tandem");
  auto back = Hash256::from_hex(h.hex());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, h);
  EXPECT_FALSE(Hash256::from_hex("abc").has_value());
  std::string bad = h.hex();
  bad[5] = 'G';
  EXPECT_FALSE(Hash256::from_hex(bad).has_value());
  EXPECT_TRUE(Hash256().is_zero());
  EXPECT_FALSE(h.is_zero());
}

}  // namespace
}  // namespace tandem
