#include "tokenizer/sentencepiece_model.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/mapped_file.h"
#include "tokenizer/tokenizer.h"

namespace tandem {
namespace {

// A minimal protobuf writer for handcrafted ModelProtos.
class ProtoWriter {
 public:
  ProtoWriter& varint_field(uint32_t field, uint64_t v) {
    key(field, 0);
    varint(v);
    return *this;
  }
  ProtoWriter& float_field(uint32_t field, float f) {
    key(field, 5);
    char b[4];
    std::memcpy(b, &f, 4);
    out_.append(b, 4);
    return *this;
  }
  ProtoWriter& bytes_field(uint32_t field, std::string_view s) {
    key(field, 2);
    varint(s.size());
    out_.append(s);
    return *this;
  }
  ProtoWriter& fixed64_field(uint32_t field, uint64_t v) {
    key(field, 1);
    char b[8];
    std::memcpy(b, &v, 8);
    out_.append(b, 8);
    return *this;
  }
  const std::string& str() const { return out_; }

 private:
  void key(uint32_t field, uint32_t wire) { varint((uint64_t{field} << 3) | wire); }
  void varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  std::string out_;
};

std::string piece(std::string_view text, float score, int type) {
  ProtoWriter p;
  p.bytes_field(1, text).float_field(2, score);
  if (type != 1) p.varint_field(3, static_cast<uint64_t>(type));
  return p.str();
}

std::string trainer(int model_type, bool byte_fallback, int64_t pad_id) {
  ProtoWriter t;
  t.bytes_field(1, "corpus.txt")  // input: an unknown-to-us field, skipped
      .varint_field(3, static_cast<uint64_t>(model_type))
      .varint_field(4, 300)  // vocab_size
      .varint_field(35, byte_fallback ? 1 : 0)
      .varint_field(40, 0)
      .varint_field(41, 1)
      .varint_field(42, 2)
      .varint_field(43, static_cast<uint64_t>(pad_id));  // -1: a 10-byte varint
  return t.str();
}

std::string normalizer(std::string_view name, bool dummy_prefix, bool remove_ws,
                       std::string_view charsmap = "") {
  ProtoWriter n;
  n.bytes_field(1, name);
  if (!charsmap.empty()) n.bytes_field(2, charsmap);
  n.varint_field(3, dummy_prefix).varint_field(4, remove_ws);
  return n.str();
}

std::string model(int model_type = 2, std::string_view norm_name = "identity",
                  std::string_view charsmap = "") {
  ProtoWriter m;
  m.bytes_field(1, piece("<unk>", 0, 2))
      .bytes_field(1, piece("<s>", 0, 3))
      .bytes_field(1, piece("</s>", 0, 3))
      .bytes_field(1, piece("<0x41>", 0, 6))
      .bytes_field(1, piece("\xE2\x96\x81", -1, 1))
      .bytes_field(1, piece("b", -2, 1))
      .bytes_field(1, piece("\xE2\x96\x81"
                            "b",
                            -3, 1))
      .bytes_field(1, piece("<sep>", 0, 4))
      .bytes_field(2, trainer(model_type, true, -1))
      .bytes_field(3, normalizer(norm_name, true, false, charsmap))
      .fixed64_field(99, 0x1234);  // unknown field, skipped
  return m.str();
}

TEST(SentencePieceModelTest, ParsesHandcraftedModelProto) {
  auto v = parse_sentencepiece_model(model(), "hand.model");
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->model, "llama");
  EXPECT_EQ(v->tokens,
            (std::vector<std::string>{"<unk>", "<s>", "</s>", "<0x41>", "\xE2\x96\x81", "b",
                                      "\xE2\x96\x81"
                                      "b",
                                      "<sep>"}));
  EXPECT_EQ(v->scores, (std::vector<float>{0, 0, 0, 0, -1, -2, -3, 0}));
  EXPECT_EQ(v->token_types, (std::vector<int32_t>{2, 3, 3, 6, 1, 1, 1, 4}));
  EXPECT_EQ(v->unk_id, 0);
  EXPECT_EQ(v->bos_id, 1);
  EXPECT_EQ(v->eos_id, 2);
  EXPECT_EQ(v->pad_id, -1);
  EXPECT_TRUE(v->add_bos);
  EXPECT_EQ(v->add_space_prefix, true);
  EXPECT_FALSE(v->remove_extra_whitespaces);

  auto t = Tokenizer::from_vocab(std::move(v).value());
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ((*t)->encode("bA<sep>"), (std::vector<int32_t>{1, 6, 3, 7}));
  EXPECT_EQ((*t)->decode((*t)->encode("bA<sep>")), "bA<sep>");
}

TEST(SentencePieceModelTest, DefaultsWhenFieldsAreAbsent) {
  ProtoWriter m;
  m.bytes_field(1, piece("<unk>", 0, 2))
      .bytes_field(1, piece("<s>", 0, 3))
      .bytes_field(1, piece("</s>", 0, 3))
      .bytes_field(2, ProtoWriter().varint_field(3, 2).str());  // only model_type = BPE
  auto v = parse_sentencepiece_model(m.str(), "defaults.model");
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->unk_id, 0);
  EXPECT_EQ(v->bos_id, 1);
  EXPECT_EQ(v->eos_id, 2);
  EXPECT_EQ(v->pad_id, -1);
  EXPECT_EQ(v->add_space_prefix, true);      // add_dummy_prefix defaults to true
  EXPECT_TRUE(v->remove_extra_whitespaces);  // and so does remove_extra_whitespaces
}

TEST(SentencePieceModelTest, MalformedIsDataLossNamingTheFile) {
  const std::string good = model();
  const std::vector<std::string> bad = {
      "",                                                    // no pieces
      good.substr(0, good.size() / 2),                       // truncated mid-field
      std::string("\x0A\xFF\xFF\xFF\xFF\x0F", 6),            // length beyond the end
      std::string("\x0A\x03\x15\x00\x00", 5),                // piece: truncated float
      std::string("\x0B", 1),                                // wire type 3 (groups)
      std::string(12, '\xFF'),                               // endless varint
      ProtoWriter().bytes_field(1, piece("a", 0, 9)).str(),  // unknown piece type
      ProtoWriter().bytes_field(1, piece("a", 0, 1)).str(),  // no trainer_spec
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    auto v = parse_sentencepiece_model(bad[i], "broken.model");
    ASSERT_FALSE(v.ok()) << i;
    EXPECT_EQ(v.status().code(), StatusCode::kDataLoss) << i << ": " << v.status().to_string();
    EXPECT_NE(v.status().message().find("broken.model"), std::string::npos) << i;
  }
}

TEST(SentencePieceModelTest, UnsupportedModelsAreUnimplemented) {
  auto v = parse_sentencepiece_model(model(/*model_type=*/1), "unigram.model");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(v.status().message().find("unigram"), std::string::npos);
  v = parse_sentencepiece_model(model(2, "nmt_nfkc", "\x01\x02\x03"), "nfkc.model");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kUnimplemented);
}

TEST(SentencePieceModelTest, FromFileErrors) {
  auto t = Tokenizer::from_sentencepiece_file("/nonexistent/tokenizer.model");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("/nonexistent/tokenizer.model"), std::string::npos);
  const std::string path = ::testing::TempDir() + "garbage_tokenizer.model";
  ASSERT_TRUE(write_file(path, "this is not a protobuf").ok());
  t = Tokenizer::from_sentencepiece_file(path);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(t.status().message().find(path), std::string::npos);
}

// ---- golden vectors from the sentencepiece library (tools/spm_golden.py) ----

std::string source_dir() {
  if (const char* d = std::getenv("TANDEM_SOURCE_DIR")) return d;
  return TANDEM_SOURCE_DIR;
}

void check_golden(const std::string& model_path, const std::string& golden_path) {
  auto t = Tokenizer::from_sentencepiece_file(model_path);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  auto data = read_file(golden_path);
  ASSERT_TRUE(data.ok()) << data.status().to_string();
  const auto j = nlohmann::json::parse(*data);
  ASSERT_GE(j["cases"].size(), 300u);
  int failures = 0, round_trips = 0;
  for (const auto& c : j["cases"]) {
    const std::string text = c["text"].get<std::string>();
    const auto expected = c["ids"].get<std::vector<int32_t>>();
    const auto got = (*t)->encode(text, {.add_bos = false});
    if (got != expected && ++failures <= 10) {
      ADD_FAILURE() << nlohmann::json(text).dump() << "\n  expected "
                    << nlohmann::json(expected).dump() << "\n  got      "
                    << nlohmann::json(got).dump();
    }
    // Lossless unless the text has a literal U+2581 (it decodes to ' ').
    if (text.find("\xE2\x96\x81") == std::string::npos) {
      EXPECT_EQ((*t)->decode(got), text);
      ++round_trips;
    }
  }
  EXPECT_EQ(failures, 0) << failures << " of " << j["cases"].size() << " cases differ";
  EXPECT_GT(round_trips, 300);
}

TEST(SentencePieceGoldenTest, SmallModelMatchesSentencepiece) {
  const std::string dir = source_dir() + "/tests/data/tokenizer/";
  check_golden(dir + "small_spm.model", dir + "small_spm.json");
}

TEST(SentencePieceGoldenTest, TinyKjvMatchesSentencepiece) {
  const std::string model_path = source_dir() + "/models/tiny-kjv/tokenizer.model";
  const std::string golden = source_dir() + "/tests/data/tokenizer/tiny_kjv_spm.json";
  if (!file_exists(model_path) || !file_exists(golden)) {
    GTEST_SKIP() << "needs " << model_path << " and " << golden
                 << " (/usr/bin/python3 tools/spm_golden.py)";
  }
  check_golden(model_path, golden);
}

}  // namespace
}  // namespace tandem
