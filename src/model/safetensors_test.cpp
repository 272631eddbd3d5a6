#include "model/safetensors.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

namespace tandem {
namespace {

// --- A test-only safetensors writer ------------------------------------------

// Builds the file from a header given as raw JSON text (so tests can write any
// malformed header) and a data section.
std::vector<uint8_t> make_file(const std::string& header_json, size_t data_bytes, uint8_t fill = 0xab) {
  std::vector<uint8_t> out;
  const uint64_t n = header_json.size();
  for (int k = 0; k < 8; ++k) out.push_back(static_cast<uint8_t>(n >> (8 * k)));
  for (char c : header_json) out.push_back(static_cast<uint8_t>(c));
  out.resize(out.size() + data_bytes, fill);
  return out;
}

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape, uint64_t begin,
                  uint64_t end) {
  return "\"" + name + "\": {\"dtype\": \"" + dtype + "\", \"shape\": " + shape + ", \"data_offsets\": [" +
         std::to_string(begin) + ", " + std::to_string(end) + "]}";
}

std::string obj(std::initializer_list<std::string> entries) {
  std::string s = "{";
  for (const std::string& e : entries) {
    if (s.size() > 1) s.append(", ");
    s.append(e);
  }
  s.append("}");
  return s;
}

// Three tensors, metadata, header padded with spaces to a multiple of 8 as the
// reference writer does.
std::vector<uint8_t> small_file() {
  std::string h = "{\"__metadata__\": {\"format\": \"pt\"}, " +
                  entry("model.embed_tokens.weight", "BF16", "[4, 3]", 0, 24) + ", " +
                  entry("lm_head.weight", "F32", "[2, 3]", 24, 48) + ", " +
                  entry("model.norm.weight", "F16", "[3]", 48, 54) + "}";
  while ((h.size() + 8) % 8 != 0) h += ' ';
  auto bytes = make_file(h, 54);
  const size_t data = 8 + h.size();
  for (size_t k = 0; k < 54; ++k) bytes[data + k] = static_cast<uint8_t>(k);
  return bytes;
}

Result<SafetensorsFile> parse(const std::vector<uint8_t>& bytes) {
  return SafetensorsFile::parse(std::span<const uint8_t>(bytes.data(), bytes.size()), "model.safetensors");
}

Result<SafetensorsFile> parse_header(const std::string& header, size_t data_bytes) {
  const auto bytes = make_file(header, data_bytes);
  return SafetensorsFile::parse(std::span<const uint8_t>(bytes.data(), bytes.size()), "model.safetensors");
}

void expect_error(const Status& st, StatusCode code, std::initializer_list<std::string> needles) {
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), code) << st.to_string();
  for (const auto& n : needles) EXPECT_NE(st.message().find(n), std::string::npos) << "want '" << n << "' in " << st.to_string();
}

// --- Valid files -------------------------------------------------------------

TEST(SafetensorsTest, ParsesTensorsAndMetadata) {
  const auto bytes = small_file();
  auto f = parse(bytes);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->name(), "model.safetensors");
  EXPECT_EQ(f->metadata().size(), 1u);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  ASSERT_EQ(f->tensors().size(), 3u);
  // File (offset) order, not JSON key order.
  EXPECT_EQ(f->tensors()[0].name, "model.embed_tokens.weight");
  EXPECT_EQ(f->tensors()[1].name, "lm_head.weight");
  EXPECT_EQ(f->tensors()[2].name, "model.norm.weight");

  const size_t data_start = bytes.size() - 54;
  const TensorInfo* emb = f->find_tensor("model.embed_tokens.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->view.dtype, DType::kBF16);
  EXPECT_EQ(emb->view.shape, (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(emb->view.nbytes, 24u);
  EXPECT_EQ(emb->view.data, bytes.data() + data_start);
  const TensorInfo* head = f->find_tensor("lm_head.weight");
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->view.dtype, DType::kF32);
  EXPECT_EQ(head->view.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(static_cast<const uint8_t*>(head->view.data)[0], 24);
  const TensorInfo* norm = f->find_tensor("model.norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->view.dtype, DType::kF16);
  EXPECT_EQ(norm->view.nbytes, 6u);
  EXPECT_EQ(f->find_tensor("nope"), nullptr);
}

TEST(SafetensorsTest, EmptyAndScalarTensors) {
  auto f = parse_header(obj({entry("empty", "F32", "[0, 5]", 0, 0), entry("scalar", "F32", "[]", 0, 4),
                             entry("empty2", "F16", "[3, 0]", 4, 4)}),
                        4);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->find_tensor("empty")->view.nbytes, 0u);
  EXPECT_EQ(f->find_tensor("scalar")->view.shape.size(), 0u);
  EXPECT_EQ(f->find_tensor("scalar")->view.numel(), 1);
}

TEST(SafetensorsTest, HeaderOnly) {
  auto f = parse_header("{}", 0);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_TRUE(f->tensors().empty());
}

// --- Malformed files ---------------------------------------------------------

TEST(SafetensorsTest, EveryTruncationIsAnError) {
  const auto bytes = small_file();
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(n));
    auto f = parse(prefix);
    ASSERT_FALSE(f.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(f.status().code(), StatusCode::kDataLoss) << n << ": " << f.status().to_string();
    EXPECT_NE(f.status().message().find("model.safetensors"), std::string::npos);
  }
}

TEST(SafetensorsTest, HeaderLengthSanity) {
  std::vector<uint8_t> tiny = {1, 2, 3};
  expect_error(parse(tiny).status(), StatusCode::kDataLoss, {"model.safetensors", "too short"});
  auto bytes = make_file("{}", 0);
  const uint64_t huge = ~0ull;
  std::memcpy(bytes.data(), &huge, 8);
  expect_error(parse(bytes).status(), StatusCode::kDataLoss, {"header length", "exceeds the file size"});
  // Over 100 MB but within the file (the file is not allocated for real: a
  // span over a large zero-filled mapping would be needed, so use a vector).
  std::vector<uint8_t> big(8 + 100'000'001, ' ');
  const uint64_t n = 100'000'001;
  std::memcpy(big.data(), &n, 8);
  expect_error(parse(big).status(), StatusCode::kDataLoss, {"exceeds the limit"});
}

TEST(SafetensorsTest, BadJson) {
  expect_error(parse_header("{\"a\": ", 0).status(), StatusCode::kDataLoss, {"model.safetensors", "malformed JSON"});
  expect_error(parse_header("not json", 0).status(), StatusCode::kDataLoss, {"malformed JSON"});
  expect_error(parse_header("[1, 2]", 0).status(), StatusCode::kDataLoss, {"expected an object"});
  expect_error(parse_header(std::string(100, '[') + std::string(100, ']'), 0).status(), StatusCode::kDataLoss,
               {"nested deeper"});
  expect_error(parse_header("{\"t\": 5}", 0).status(), StatusCode::kDataLoss, {"tensor 't'", "expected an object"});
  expect_error(parse_header("{\"t\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4).status(), StatusCode::kDataLoss,
               {"tensor 't'", "missing \"dtype\""});
  expect_error(parse_header("{\"t\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4).status(),
               StatusCode::kDataLoss, {"tensor 't'", "missing \"shape\""});
  expect_error(parse_header("{\"t\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4).status(), StatusCode::kDataLoss,
               {"tensor 't'", "missing \"data_offsets\""});
  expect_error(parse_header("{\"t\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4).status(),
               StatusCode::kDataLoss, {"tensor 't'", "shape[0]"});
  expect_error(parse_header("{\"t\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", 4).status(),
               StatusCode::kDataLoss, {"tensor 't'", "shape[0]"});
  expect_error(parse_header("{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4).status(),
               StatusCode::kDataLoss, {"tensor 't'", "data_offsets"});
  expect_error(parse_header("{\"__metadata__\": {\"a\": 1}}", 0).status(), StatusCode::kDataLoss,
               {"__metadata__", "'a'"});
  expect_error(parse_header("{\"__metadata__\": [1]}", 0).status(), StatusCode::kDataLoss, {"__metadata__"});
}

TEST(SafetensorsTest, WrongDtypeString) {
  expect_error(parse_header(obj({entry("w", "F33", "[1]", 0, 4)}), 4).status(), StatusCode::kDataLoss,
               {"tensor 'w'", "unknown dtype 'F33'"});
  expect_error(parse_header("{\"w\": {\"dtype\": 32, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4).status(),
               StatusCode::kDataLoss, {"tensor 'w'", "dtype"});
  for (const char* dt : {"F64", "I64", "U8", "F8_E4M3", "BOOL"}) {
    std::string header = "{";
    header.append(entry("w", dt, "[1]", 0, 8)).append("}");
    std::string want = "dtype ";
    want.append(dt);
    expect_error(parse_header(header, 8).status(), StatusCode::kUnimplemented, {"tensor 'w'", want});
  }
}

TEST(SafetensorsTest, OffsetsMismatchingShape) {
  expect_error(parse_header(obj({entry("model.layers.0.mlp.up_proj.weight", "F32", "[2, 3]", 0, 20)}), 24)
                   .status(),
               StatusCode::kDataLoss, {"tensor 'model.layers.0.mlp.up_proj.weight'", "hold 20 bytes", "needs 24"});
  expect_error(parse_header(obj({entry("w", "F32", "[4611686018427387904, 4]", 0, 4)}), 4).status(),
               StatusCode::kDataLoss, {"tensor 'w'", "overflows"});
  expect_error(parse_header(obj({entry("w", "F32", "[4611686018427387904]", 0, 4)}), 4).status(),
               StatusCode::kDataLoss, {"tensor 'w'", "overflows"});
}

TEST(SafetensorsTest, OffsetsOutOfBounds) {
  expect_error(parse_header(obj({entry("w", "F32", "[2]", 8, 16)}), 12).status(), StatusCode::kDataLoss,
               {"tensor 'w'", "[8, 16]", "past the end of the data section (12 bytes)"});
  expect_error(parse_header(obj({entry("w", "F32", "[1]", 8, 4)}), 12).status(), StatusCode::kDataLoss,
               {"tensor 'w'", "begin is after end"});
  expect_error(parse_header(obj({entry("w", "F32", "[1]", 18446744073709551615ull, 18446744073709551615ull)}), 4)
                   .status(),
               StatusCode::kDataLoss, {"tensor 'w'"});
}

TEST(SafetensorsTest, OverlappingTensors) {
  expect_error(
      parse_header(obj({entry("a", "F32", "[4]", 0, 16), entry("b", "F32", "[2]", 8, 16)}), 16).status(),
      StatusCode::kDataLoss, {"overlap", "'a'", "'b'"});
}

TEST(SafetensorsTest, DuplicateNames) {
  expect_error(
      parse_header(obj({entry("w", "F32", "[1]", 0, 4), entry("w", "F32", "[1]", 4, 8)}), 8).status(),
      StatusCode::kDataLoss, {"duplicate JSON key 'w'"});
  expect_error(parse_header("{\"w\": {\"dtype\": \"F32\", \"dtype\": \"F16\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4)
                   .status(),
               StatusCode::kDataLoss, {"duplicate JSON key 'dtype'"});
}

// --- Model directories -------------------------------------------------------

class SafetensorsDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "st_dir_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    ASSERT_EQ(::mkdir(dir_.c_str(), 0755), 0);
  }
  void TearDown() override {
    for (const auto& f : written_) ::unlink(f.c_str());
    ::rmdir(dir_.c_str());
  }
  void write(const std::string& name, const std::vector<uint8_t>& bytes) {
    write(name, std::string(bytes.begin(), bytes.end()));
  }
  void write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    ASSERT_TRUE(write_file(path, text).ok());
    written_.push_back(path);
  }
  std::string dir_;
  std::vector<std::string> written_;
};

TEST_F(SafetensorsDirTest, SingleFile) {
  write("model.safetensors", small_file());
  auto set = SafetensorsSet::open_dir(dir_);
  ASSERT_TRUE(set.ok()) << set.status().to_string();
  EXPECT_EQ(set->tensor_names(),
            (std::vector<std::string>{"lm_head.weight", "model.embed_tokens.weight", "model.norm.weight"}));
  const TensorInfo* t = set->find_tensor("lm_head.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->view.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(static_cast<const uint8_t*>(t->view.data)[0], 24);
  EXPECT_EQ(set->find_tensor("nope"), nullptr);
}

TEST_F(SafetensorsDirTest, ShardedWithIndex) {
  write("model-00001-of-00002.safetensors", make_file(obj({entry("a", "F32", "[2]", 0, 8)}), 8, 1));
  write("model-00002-of-00002.safetensors",
        make_file(obj({entry("b", "F16", "[2]", 0, 4), entry("c", "BF16", "[1]", 4, 6)}), 6, 2));
  write("model.safetensors.index.json",
        std::string("{\"metadata\": {\"total_size\": 18}, \"weight_map\": {"
                    "\"a\": \"model-00001-of-00002.safetensors\", \"b\": \"model-00002-of-00002.safetensors\", "
                    "\"c\": \"model-00002-of-00002.safetensors\"}}"));
  auto set = SafetensorsSet::open_dir(dir_ + "/");
  ASSERT_TRUE(set.ok()) << set.status().to_string();
  SafetensorsSet moved = std::move(set).value();
  EXPECT_EQ(moved.tensor_names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(static_cast<const uint8_t*>(moved.find_tensor("a")->view.data)[0], 1);
  EXPECT_EQ(static_cast<const uint8_t*>(moved.find_tensor("c")->view.data)[0], 2);
  EXPECT_EQ(moved.find_tensor("c")->view.dtype, DType::kBF16);
}

TEST_F(SafetensorsDirTest, MissingFiles) {
  auto none = SafetensorsSet::open_dir(dir_);
  expect_error(none.status(), StatusCode::kNotFound, {dir_, "model.safetensors"});
  auto no_dir = SafetensorsSet::open_dir(dir_ + "/does_not_exist");
  expect_error(no_dir.status(), StatusCode::kNotFound, {"does_not_exist"});
  write("model.safetensors.index.json", std::string("{\"weight_map\": {\"a\": \"shard1.safetensors\"}}"));
  auto missing_shard = SafetensorsSet::open_dir(dir_);
  expect_error(missing_shard.status(), StatusCode::kNotFound, {dir_ + "/shard1.safetensors"});
  auto missing_file = SafetensorsFile::open(dir_ + "/nope.safetensors");
  expect_error(missing_file.status(), StatusCode::kNotFound, {"nope.safetensors"});
}

TEST_F(SafetensorsDirTest, BadIndex) {
  write("model.safetensors.index.json", std::string("{\"weight_map\": [}"));
  expect_error(SafetensorsSet::open_dir(dir_).status(), StatusCode::kDataLoss,
               {"model.safetensors.index.json", "malformed JSON"});
  write("model.safetensors.index.json", std::string("{\"weight_map\": {\"a\": \"../evil.safetensors\"}}"));
  expect_error(SafetensorsSet::open_dir(dir_).status(), StatusCode::kDataLoss, {"'a'", "plain file name"});
  write("model.safetensors.index.json", std::string("{\"weights\": {}}"));
  expect_error(SafetensorsSet::open_dir(dir_).status(), StatusCode::kDataLoss, {"weight_map"});
}

TEST_F(SafetensorsDirTest, IndexNamesTensorMissingFromShard) {
  write("s1.safetensors", make_file(obj({entry("a", "F32", "[2]", 0, 8)}), 8));
  write("model.safetensors.index.json",
        std::string("{\"weight_map\": {\"a\": \"s1.safetensors\", \"ghost\": \"s1.safetensors\"}}"));
  expect_error(SafetensorsSet::open_dir(dir_).status(), StatusCode::kDataLoss, {"'ghost'", "s1.safetensors"});
}

TEST_F(SafetensorsDirTest, DuplicateAcrossShards) {
  write("s1.safetensors", make_file(obj({entry("a", "F32", "[2]", 0, 8)}), 8));
  write("s2.safetensors", make_file(obj({entry("a", "F32", "[2]", 0, 8)}), 8));
  write("model.safetensors.index.json",
        std::string("{\"weight_map\": {\"a\": \"s1.safetensors\", \"b\": \"s2.safetensors\"}}"));
  expect_error(SafetensorsSet::open_dir(dir_).status(), StatusCode::kDataLoss, {"tensor 'a'", "appears in both"});
}

TEST_F(SafetensorsDirTest, CorruptShardNamesFile) {
  auto bytes = small_file();
  bytes.resize(bytes.size() - 1);
  write("model.safetensors", bytes);
  expect_error(SafetensorsSet::open_dir(dir_).status(), StatusCode::kDataLoss,
               {dir_ + "/model.safetensors", "model.norm.weight"});
}

}  // namespace
}  // namespace tandem
