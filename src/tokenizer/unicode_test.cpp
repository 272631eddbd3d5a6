#include "tokenizer/unicode.h"

#include <gtest/gtest.h>

#include <random>

namespace tandem::unicode {
namespace {

TEST(UnicodeTest, DecodeValidAndInvalid) {
  uint32_t cp = 0;
  EXPECT_EQ(decode_utf8("A", 0, &cp), 1u);
  EXPECT_EQ(cp, 0x41u);
  EXPECT_EQ(decode_utf8("\xC3\xA9", 0, &cp), 2u);
  EXPECT_EQ(cp, 0xE9u);
  EXPECT_EQ(decode_utf8("\xE2\x96\x81", 0, &cp), 3u);
  EXPECT_EQ(cp, 0x2581u);
  EXPECT_EQ(decode_utf8("\xF0\x9F\x98\x80", 0, &cp), 4u);
  EXPECT_EQ(cp, 0x1F600u);
  for (std::string bad : {"\xFF", "\x80", "\xC0\xAF", "\xE0\x80\x80", "\xED\xA0\x80",
                          "\xF4\x90\x80\x80", "\xC3", "\xE2\x96", "\xF0\x9F\x98"}) {
    EXPECT_EQ(decode_utf8(bad, 0, &cp), 1u) << bad.size();
    EXPECT_EQ(cp, kInvalidCodePoint);
    EXPECT_FALSE(is_valid_utf8(bad));
  }
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x91\x8D"));
}

TEST(UnicodeTest, AppendUtf8RoundTrips) {
  for (uint32_t cp : {0x0u, 0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xFFFDu, 0x10000u, 0x10FFFFu}) {
    std::string s;
    append_utf8(cp, &s);
    uint32_t back = 0;
    EXPECT_EQ(decode_utf8(s, 0, &back), s.size());
    EXPECT_EQ(back, cp);
  }
}

TEST(UnicodeTest, NfcComposes) {
  EXPECT_EQ(nfc("cafe\xCC\x81"), "caf\xC3\xA9");  // e + U+0301 -> é
  EXPECT_EQ(nfc("A\xCC\x8A"), "\xC3\x85");        // A + ring -> Å
  EXPECT_EQ(nfc("\xE2\x84\xAB"), "\xC3\x85");     // U+212B ANGSTROM SIGN (singleton)
  EXPECT_EQ(nfc("\xE2\x84\xA6"), "\xCE\xA9");     // U+2126 OHM SIGN -> Ω
  // Hangul: L V T jamo -> syllable 각 (U+AC01).
  EXPECT_EQ(nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "\xEA\xB0\x81");
  // Canonical reordering: o + dot below (220) + circumflex (230) in either order -> ộ (U+1ED9).
  EXPECT_EQ(nfc("o\xCC\xA3\xCC\x82"), "\xE1\xBB\x99");
  EXPECT_EQ(nfc("o\xCC\x82\xCC\xA3"), "\xE1\xBB\x99");
  // U+0344 is a composition exclusion: it decomposes and does not come back.
  EXPECT_EQ(nfc("\xCD\x84"), "\xCC\x88\xCC\x81");
  // A leading combining mark composes with nothing.
  EXPECT_EQ(nfc("\xCC\x81"
                "e"),
            "\xCC\x81"
            "e");
  // Already NFC text, ASCII and CJK pass through.
  EXPECT_EQ(nfc("Hello, \xE4\xBD\xA0\xE5\xA5\xBD"), "Hello, \xE4\xBD\xA0\xE5\xA5\xBD");
  EXPECT_EQ(nfc(""), "");
}

TEST(UnicodeTest, NfcKeepsInvalidBytes) {
  EXPECT_EQ(nfc("e\xFF\xCC\x81"), "e\xFF\xCC\x81");  // invalid byte blocks composition
  EXPECT_EQ(nfc("\xC3"
                "e\xCC\x81"),
            "\xC3\xC3\xA9");
}

TEST(UnicodeTest, ByteLevelMapping) {
  EXPECT_EQ(byte_to_unicode(' '), "\xC4\xA0");   // Ġ
  EXPECT_EQ(byte_to_unicode('\n'), "\xC4\x8A");  // Ċ
  EXPECT_EQ(byte_to_unicode('a'), "a");
  EXPECT_EQ(byte_to_unicode(0xAD), "\xC5\x83");  // soft hyphen is remapped
  for (int b = 0; b < 256; ++b) {
    uint32_t cp = 0;
    const std::string_view s = byte_to_unicode(static_cast<uint8_t>(b));
    ASSERT_EQ(decode_utf8(s, 0, &cp), s.size());
    EXPECT_EQ(unicode_to_byte(cp), b);
  }
  EXPECT_EQ(unicode_to_byte(0x2581), -1);
}

TEST(UnicodeTest, SanitizeReplacesMaximalSubparts) {
  EXPECT_EQ(sanitize_utf8("ok"), "ok");
  EXPECT_EQ(sanitize_utf8("\xFF"), "\xEF\xBF\xBD");
  // A truncated 3-byte sequence is one maximal subpart: one U+FFFD.
  EXPECT_EQ(sanitize_utf8("\xE2\x96"
                          "a"),
            "\xEF\xBF\xBD"
            "a");
  // Surrogates: ED A0 is invalid at the second byte, so three U+FFFD.
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  std::string out;
  EXPECT_EQ(sanitize_utf8("ab\xF0\x9F\x98", /*final=*/false, &out), 2u);  // holds the tail
  EXPECT_EQ(out, "ab");
}

TEST(UnicodeTest, SanitizeInChunksEqualsWhole) {
  std::mt19937 rng(7);
  const std::vector<std::string> atoms = {
      "a",    " ",    "\xC3\xA9", "\xE4\xBD\xA0", "\xF0\x9F\x98\x80",
      "\xFF", "\x80", "\xC3",     "\xE2\x96",     "\xF0\x9F"};
  for (int iter = 0; iter < 2000; ++iter) {
    std::string s;
    const int n = static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) s += atoms[rng() % atoms.size()];
    const std::string whole = sanitize_utf8(s);
    ASSERT_TRUE(is_valid_utf8(whole));
    // Feed it byte range by byte range like a stream decoder does.
    std::string pending, streamed;
    size_t i = 0;
    while (i < s.size()) {
      const size_t len = 1 + rng() % 4;
      pending += s.substr(i, len);
      i += len;
      const size_t used = sanitize_utf8(pending, false, &streamed);
      pending.erase(0, used);
    }
    sanitize_utf8(pending, true, &streamed);
    ASSERT_EQ(streamed, whole);
  }
}

}  // namespace
}  // namespace tandem::unicode
