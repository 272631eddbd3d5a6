// Unit tests on handcrafted vocabularies: the SentencePiece BPE and byte-level
// BPE algorithms, special tokens, decoding, streaming and validation.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include "tokenizer/unicode.h"

namespace tandem {
namespace {

using Ids = std::vector<int32_t>;
constexpr EncodeOptions kNoBos{.add_bos = false};
constexpr EncodeOptions kSpecial{.add_bos = false, .parse_special = true};

// ids: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then pieces.
constexpr int32_t kByte0 = 3;
enum : int32_t {
  kSpace = 259,  // ▁
  kA,
  kB,
  kC,
  kSpaceA,   // ▁a
  kAB,       // ab
  kSpaceAB,  // ▁ab
  kBC,       // bc
  kTool,     // <tool> (user-defined)
  kXY,       // xy (unused)
  kX,
  kY,
  kCtl,  // <ctl> (control)
};

VocabData spm_vocab(bool byte_tokens = true) {
  VocabData v;
  v.model = "llama";
  auto add = [&](std::string t, float score, int32_t type) {
    v.tokens.push_back(std::move(t));
    v.scores.push_back(score);
    v.token_types.push_back(type);
  };
  add("<unk>", 0, kTokenUnknown);
  add("<s>", 0, kTokenControl);
  add("</s>", 0, kTokenControl);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    // Without byte tokens the slots hold unused pieces, keeping the ids stable.
    add(byte_tokens ? name : std::string("unused") + name, 0,
        byte_tokens ? kTokenByte : kTokenUnused);
  }
  add("\xE2\x96\x81", -1, kTokenNormal);
  add("a", -2, kTokenNormal);
  add("b", -3, kTokenNormal);
  add("c", -4, kTokenNormal);
  add("\xE2\x96\x81"
      "a",
      -5, kTokenNormal);
  add("ab", -0.5f, kTokenNormal);
  add("\xE2\x96\x81"
      "ab",
      -6, kTokenNormal);
  add("bc", -0.5f, kTokenNormal);
  add("<tool>", 0, kTokenUserDefined);
  add("xy", -0.1f, kTokenUnused);
  add("x", -7, kTokenNormal);
  add("y", -8, kTokenNormal);
  add("<ctl>", 0, kTokenControl);
  v.unk_id = 0;
  v.bos_id = 1;
  v.eos_id = 2;
  v.add_bos = true;
  return v;
}

std::unique_ptr<Tokenizer> make(VocabData v) {
  auto t = Tokenizer::from_vocab(std::move(v));
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return t.ok() ? std::move(t).value() : nullptr;
}

TEST(SpmTest, MergesByScoreLeftmostFirst) {
  auto t = make(spm_vocab());
  EXPECT_EQ(t->encode("ab", kNoBos), (Ids{kSpaceAB}));  // ab (-0.5) first, then ▁ab
  EXPECT_EQ(t->encode("abc", kNoBos), (Ids{kSpaceAB, kC}));
  // ab and bc tie at -0.5: the leftmost pair merges first.
  EXPECT_EQ(t->encode("bcab", kNoBos), (Ids{kSpace, kBC, kAB}));
  EXPECT_EQ(t->encode("a b", kNoBos), (Ids{kSpaceA, kSpace, kB}));
  EXPECT_EQ(t->encode("", kNoBos), Ids{});
}

TEST(SpmTest, BosAndSpacePrefix) {
  auto t = make(spm_vocab());
  EXPECT_EQ(t->encode("a"), (Ids{1, kSpaceA}));
  EXPECT_EQ(t->encode(""), (Ids{1}));
  EXPECT_EQ(t->encode(" a", kNoBos), (Ids{kSpace, kSpaceA}));
  VocabData v = spm_vocab();
  v.add_space_prefix = false;
  v.add_bos = false;
  auto u = make(std::move(v));
  EXPECT_EQ(u->encode("ab"), (Ids{kAB}));
  EXPECT_EQ(u->decode(Ids{kSpaceA}), " a");  // no dummy prefix: nothing to drop
}

TEST(SpmTest, ByteFallbackAndUnknown) {
  auto t = make(spm_vocab());
  // é is not a piece: its UTF-8 bytes C3 A9 become <0xC3><0xA9>.
  EXPECT_EQ(t->encode("\xC3\xA9", kNoBos), (Ids{kSpace, kByte0 + 0xC3, kByte0 + 0xA9}));
  // Invalid UTF-8 goes through byte fallback one byte at a time.
  EXPECT_EQ(t->encode("a\xFF", kNoBos), (Ids{kSpaceA, kByte0 + 0xFF}));
  EXPECT_EQ(t->decode(t->encode("a\xFF\xC3"
                                "b\xE2\x96",
                                kNoBos)),
            "a\xFF\xC3"
            "b\xE2\x96");
  // Without byte pieces an unknown character is one <unk>.
  auto u = make(spm_vocab(/*byte_tokens=*/false));
  EXPECT_EQ(u->encode("a\xC3\xA9", kNoBos), (Ids{kSpaceA, 0}));
}

TEST(SpmTest, UserDefinedUnusedAndControlPieces) {
  auto t = make(spm_vocab());
  // User-defined pieces are atomic and matched without parse_special; as in
  // sentencepiece, the text after them gets no new dummy prefix.
  EXPECT_EQ(t->encode("a<tool>b", kNoBos), (Ids{kSpaceA, kTool, kB}));
  EXPECT_EQ(t->decode(Ids{kSpaceA, kTool, kB}), "a<tool>b");
  // "xy" is unused: merged, then split back into what made it.
  EXPECT_EQ(t->encode("xy", kNoBos), (Ids{kSpace, kX, kY}));
  // Control pieces are text unless parse_special; then each text fragment after
  // one starts a new sentence (dummy prefix), like llama.cpp and Hugging Face.
  const Ids plain = t->encode("<ctl>", kNoBos);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), kCtl), 0);
  EXPECT_EQ(t->decode(plain), "<ctl>");
  EXPECT_EQ(t->encode("<ctl>ab", kSpecial), (Ids{kCtl, kSpaceAB}));
  EXPECT_EQ(t->encode("ab<ctl>", kSpecial), (Ids{kSpaceAB, kCtl}));
  // A text that already starts with BOS gets no second one.
  EXPECT_EQ(t->encode("<s>a", {.add_bos = true, .parse_special = true}), (Ids{1, kSpaceA}));
}

TEST(SpmTest, DecodeDropsTheDummyPrefixOnce) {
  auto t = make(spm_vocab());
  EXPECT_EQ(t->decode(Ids{kSpaceA, kB}), "ab");
  EXPECT_EQ(t->decode(Ids{kSpace, kSpaceA}), " a");
  EXPECT_EQ(t->decode(Ids{1, kSpaceA, 2}), "a");
  EXPECT_EQ(t->decode(Ids{1, kSpaceA, 2}, /*skip_special=*/false), "<s> a</s>");
  EXPECT_EQ(t->token_bytes(kSpaceAB), " ab");
  EXPECT_EQ(t->token_bytes(kByte0 + 0x41), "A");
  EXPECT_EQ(t->token_bytes(1), "<s>");
  for (const char* s : {"ab", " a b  c ", "abc\n\tcab", "x y xy", "\xC3\xA9t\xC3\xA9"}) {
    EXPECT_EQ(t->decode(t->encode(s)), s) << s;
  }
}

TEST(SpmTest, RemoveExtraWhitespaces) {
  VocabData v = spm_vocab();
  v.remove_extra_whitespaces = true;
  auto t = make(std::move(v));
  EXPECT_EQ(t->encode("  a   b  ", kNoBos), (Ids{kSpaceA, kSpace, kB}));
  EXPECT_EQ(t->encode("   ", kNoBos), Ids{});
}

TEST(SpmTest, MergeRanksReplaceScores) {
  // With merges (a Hugging Face tokenizer.json), the pair's rank decides:
  // here "▁ a" outranks "a b", the opposite of the scores.
  VocabData v = spm_vocab();
  v.merges = {"\xE2\x96\x81 a", "a b", "\xE2\x96\x81 ab", "b c"};
  auto t = make(std::move(v));
  EXPECT_EQ(t->encode("ab", kNoBos), (Ids{kSpaceA, kB}));
  EXPECT_EQ(t->encode("bc", kNoBos), (Ids{kSpace, kBC}));
}

TEST(SpmTest, StreamDecoderMatchesDecode) {
  auto t = make(spm_vocab());
  const Ids ids = t->encode("ab \xF0\x9F\x98\x80 c\xC3\xA9");
  StreamDecoder sd(*t);
  std::string all;
  int empty_chunks = 0;
  for (int32_t id : ids) {
    const std::string chunk = sd.push(id);
    EXPECT_TRUE(unicode::is_valid_utf8(chunk));
    if (chunk.empty()) ++empty_chunks;
    all += chunk;
  }
  all += sd.flush();
  EXPECT_EQ(all, t->decode(ids));
  EXPECT_EQ(empty_chunks, 1 + 3 + 1);  // BOS, the emoji's first 3 bytes, é's first byte
}

// ---- byte-level BPE ----

std::string bl(std::string_view raw) {
  std::string s;
  for (char c : raw) s += unicode::byte_to_unicode(static_cast<uint8_t>(c));
  return s;
}

// ids 0..255: the byte characters (id = byte value), then merges' results.
VocabData gpt2_vocab() {
  VocabData v;
  v.model = "gpt2";
  for (int b = 0; b < 256; ++b)
    v.tokens.emplace_back(unicode::byte_to_unicode(static_cast<uint8_t>(b)));
  v.tokens.push_back(bl(" a"));    // 256
  v.tokens.push_back("ab");        // 257
  v.tokens.push_back(bl(" ab"));   // 258
  v.tokens.push_back(bl(" abc"));  // 259: no merge path leads here
  v.tokens.push_back("<|end|>");   // 260 control
  v.tokens.push_back("<x>");       // 261 user-defined
  v.token_types.assign(v.tokens.size(), kTokenNormal);
  v.token_types[260] = kTokenControl;
  v.token_types[261] = kTokenUserDefined;
  v.merges = {bl(" ") + " a", "a b", bl(" a") + " b"};
  v.eos_id = 260;
  return v;
}

TEST(ByteLevelTest, MergesByRank) {
  auto t = make(gpt2_vocab());
  EXPECT_EQ(t->encode(" ab"), (Ids{258}));
  EXPECT_EQ(t->encode(" abc"), (Ids{258, 'c'}));
  EXPECT_EQ(t->encode("ab ab"), (Ids{257, 258}));
  EXPECT_EQ(t->encode("a\n\nb"), (Ids{'a', '\n', '\n', 'b'}));
  EXPECT_EQ(t->decode(t->encode(" ab\tc\xC3\xA9 ")), " ab\tc\xC3\xA9 ");
}

TEST(ByteLevelTest, IgnoreMergesTakesWholeWords) {
  VocabData v = gpt2_vocab();
  v.ignore_merges = true;
  auto t = make(std::move(v));
  EXPECT_EQ(t->encode(" abc"), (Ids{259}));
}

TEST(ByteLevelTest, AddedTokens) {
  auto t = make(gpt2_vocab());
  EXPECT_EQ(t->encode("a<x>b"), (Ids{'a', 261, 'b'}));  // user-defined: always
  EXPECT_EQ(t->encode("<|end|>", kSpecial), (Ids{260}));
  EXPECT_EQ(t->encode("<|end|>").size(), 7u);
  EXPECT_EQ(t->decode(Ids{'a', 260, 261}), "a<x>");
  EXPECT_EQ(t->decode(Ids{'a', 260, 261}, false), "a<|end|><x>");
  EXPECT_TRUE(t->is_special(260));
  EXPECT_FALSE(t->is_special(261));
  EXPECT_TRUE(t->is_end_of_generation(260));
}

TEST(ByteLevelTest, PrefixSpaceAndNfc) {
  VocabData v = gpt2_vocab();
  v.add_space_prefix = true;
  v.normalize_nfc = true;
  auto t = make(std::move(v));
  EXPECT_EQ(t->encode("ab"), (Ids{258}));
  EXPECT_EQ(t->encode(" ab"), (Ids{258}));
  EXPECT_EQ(t->encode("e\xCC\x81"), t->encode("\xC3\xA9"));
}

TEST(ByteLevelTest, InvalidUtf8IsBytes) {
  auto t = make(gpt2_vocab());
  for (std::string s :
       {std::string("\xFF"), std::string("a\xC3 b\xE2\x96"), std::string("\x80\x80")}) {
    const Ids ids = t->encode(s);
    EXPECT_EQ(t->decode(ids), s);
  }
  EXPECT_EQ(t->encode("\xFF"), (Ids{0xFF}));
}

TEST(ByteLevelTest, CustomPreRegex) {
  VocabData v = gpt2_vocab();
  v.pre_regex = R"(\p{L}+|\s+|.)";
  auto t = make(std::move(v));
  EXPECT_EQ(t->encode(" ab"), (Ids{' ', 257}));  // the space is its own piece now
  v = gpt2_vocab();
  v.pre_regex = "(unclosed";
  auto bad = Tokenizer::from_vocab(std::move(v));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

// ---- validation ----

Status build_status(VocabData v) {
  auto t = Tokenizer::from_vocab(std::move(v));
  return t.ok() ? ok_status() : t.status();
}

TEST(TokenizerValidationTest, RejectsBadVocabularies) {
  VocabData v = spm_vocab();
  v.model = "bert";
  EXPECT_EQ(build_status(v).code(), StatusCode::kUnimplemented);

  v = spm_vocab();
  v.tokens.clear();
  v.scores.clear();
  v.token_types.clear();
  EXPECT_EQ(build_status(v).code(), StatusCode::kInvalidArgument);

  v = spm_vocab();
  v.scores.pop_back();
  EXPECT_EQ(build_status(v).code(), StatusCode::kInvalidArgument);

  v = spm_vocab();
  v.token_types[5] = 9;
  EXPECT_EQ(build_status(v).code(), StatusCode::kInvalidArgument);

  v = spm_vocab();
  v.eos_id = static_cast<int32_t>(v.tokens.size());
  const Status s = build_status(v);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("eos_id"), std::string::npos);

  v = spm_vocab();
  v.token_types[kA] = kTokenByte;  // "a" is no <0xXX>
  EXPECT_EQ(build_status(v).code(), StatusCode::kInvalidArgument);

  VocabData g = gpt2_vocab();
  g.merges.push_back("q z");  // "qz" is no token
  EXPECT_EQ(build_status(g).code(), StatusCode::kInvalidArgument);

  g = gpt2_vocab();
  g.pre = "deepseek-llm";
  EXPECT_EQ(build_status(g).code(), StatusCode::kUnimplemented);
}

TEST(TokenizerValidationTest, Lookups) {
  auto t = make(spm_vocab());
  EXPECT_EQ(t->vocab_size(), kCtl + 1);
  EXPECT_EQ(t->token_id("\xE2\x96\x81"
                        "ab"),
            kSpaceAB);
  EXPECT_EQ(t->token_id("nope"), std::nullopt);
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->eos_id(), 2);
  EXPECT_TRUE(t->is_special(0));
  EXPECT_TRUE(t->is_special(kCtl));
  EXPECT_FALSE(t->is_special(kTool));
  EXPECT_FALSE(t->is_special(kCtl + 1));
  EXPECT_EQ(t->vocab().tokens[kA], "a");
}

}  // namespace
}  // namespace tandem
