#include "model/gguf.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <unistd.h>
#include <vector>

namespace tandem {
namespace {

// --- A test-only GGUF writer -------------------------------------------------

class ByteWriter {
 public:
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes_.insert(bytes_.end(), p, p + sizeof v);
  }
  void u8(uint8_t v) { put(v); }
  void u32(uint32_t v) { put(v); }
  void u64(uint64_t v) { put(v); }
  void str(const std::string& s) {
    u64(s.size());
    bytes_.insert(bytes_.end(), s.begin(), s.end());
  }
  void pad_to(size_t alignment) {
    while (bytes_.size() % alignment != 0) bytes_.push_back(0);
  }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

enum Wire : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

// ggml type ids
constexpr uint32_t kGgmlF32 = 0, kGgmlF16 = 1, kGgmlQ4_0 = 2, kGgmlQ4_1 = 3, kGgmlQ8_0 = 8,
                   kGgmlQ4_K = 12, kGgmlQ5_K = 13, kGgmlQ6_K = 14, kGgmlBF16 = 30;

uint64_t ggml_nbytes(uint32_t type, const std::vector<uint64_t>& ne) {
  uint64_t block_elems = 1, block_bytes = 4;
  switch (type) {
    case kGgmlF32: block_bytes = 4; break;
    case kGgmlF16: case kGgmlBF16: block_bytes = 2; break;
    case kGgmlQ4_0: block_elems = 32; block_bytes = 18; break;
    case kGgmlQ8_0: block_elems = 32; block_bytes = 34; break;
    case kGgmlQ4_K: block_elems = 256; block_bytes = 144; break;
    case kGgmlQ5_K: block_elems = 256; block_bytes = 176; break;
    case kGgmlQ6_K: block_elems = 256; block_bytes = 210; break;
    default: block_elems = 1; block_bytes = 1; break;
  }
  uint64_t n = 1;
  for (uint64_t d : ne) n *= d;
  return n / block_elems * block_bytes;
}

class GgufBuilder {
 public:
  // Metadata values are written raw: callers give the wire type and a writer.
  GgufBuilder& kv_u32(const std::string& k, uint32_t v) { return kv(k, kU32, [=](ByteWriter& w) { w.u32(v); }); }
  GgufBuilder& kv_i32(const std::string& k, int32_t v) { return kv(k, kI32, [=](ByteWriter& w) { w.put(v); }); }
  GgufBuilder& kv_u64(const std::string& k, uint64_t v) { return kv(k, kU64, [=](ByteWriter& w) { w.u64(v); }); }
  GgufBuilder& kv_i64(const std::string& k, int64_t v) { return kv(k, kI64, [=](ByteWriter& w) { w.put(v); }); }
  GgufBuilder& kv_u8(const std::string& k, uint8_t v) { return kv(k, kU8, [=](ByteWriter& w) { w.u8(v); }); }
  GgufBuilder& kv_i8(const std::string& k, int8_t v) { return kv(k, kI8, [=](ByteWriter& w) { w.put(v); }); }
  GgufBuilder& kv_u16(const std::string& k, uint16_t v) { return kv(k, kU16, [=](ByteWriter& w) { w.put(v); }); }
  GgufBuilder& kv_i16(const std::string& k, int16_t v) { return kv(k, kI16, [=](ByteWriter& w) { w.put(v); }); }
  GgufBuilder& kv_f32(const std::string& k, float v) { return kv(k, kF32, [=](ByteWriter& w) { w.put(v); }); }
  GgufBuilder& kv_f64(const std::string& k, double v) { return kv(k, kF64, [=](ByteWriter& w) { w.put(v); }); }
  GgufBuilder& kv_bool(const std::string& k, bool v) { return kv(k, kBool, [=](ByteWriter& w) { w.u8(v ? 1 : 0); }); }
  GgufBuilder& kv_str(const std::string& k, const std::string& v) {
    return kv(k, kString, [=](ByteWriter& w) { w.str(v); });
  }
  GgufBuilder& kv_str_array(const std::string& k, const std::vector<std::string>& v) {
    return kv(k, kArray, [=](ByteWriter& w) {
      w.u32(kString);
      w.u64(v.size());
      for (const auto& s : v) w.str(s);
    });
  }
  GgufBuilder& kv_i32_array(const std::string& k, const std::vector<int32_t>& v) {
    return kv(k, kArray, [=](ByteWriter& w) {
      w.u32(kI32);
      w.u64(v.size());
      for (int32_t x : v) w.put(x);
    });
  }
  GgufBuilder& kv_f32_array(const std::string& k, const std::vector<float>& v) {
    return kv(k, kArray, [=](ByteWriter& w) {
      w.u32(kF32);
      w.u64(v.size());
      for (float x : v) w.put(x);
    });
  }
  GgufBuilder& kv(const std::string& k, uint32_t type, std::function<void(ByteWriter&)> value) {
    kvs_.push_back({k, type, std::move(value)});
    return *this;
  }

  // ne in GGUF order (innermost first). Without an explicit offset the tensor
  // goes after the previous one at the next aligned offset.
  GgufBuilder& tensor(const std::string& name, uint32_t type, std::vector<uint64_t> ne,
                      std::optional<uint64_t> offset = std::nullopt) {
    const uint64_t nbytes = ggml_nbytes(type, ne);
    uint64_t off = offset ? *offset : next_offset_;
    tensors_.push_back({name, type, std::move(ne), off, nbytes});
    next_offset_ = std::max(next_offset_, (off + nbytes + alignment_ - 1) / alignment_ * alignment_);
    return *this;
  }

  GgufBuilder& version(uint32_t v) { version_ = v; return *this; }
  GgufBuilder& alignment(uint32_t a) {
    alignment_ = a;
    return kv_u32("general.alignment", a);
  }
  // Overrides the counts written in the header.
  GgufBuilder& n_tensors(uint64_t n) { n_tensors_ = n; return *this; }
  GgufBuilder& n_kv(uint64_t n) { n_kv_ = n; return *this; }

  std::vector<uint8_t> build() const {
    ByteWriter w;
    w.u32(0x46554747);
    w.u32(version_);
    w.u64(n_tensors_.value_or(tensors_.size()));
    w.u64(n_kv_.value_or(kvs_.size()));
    for (const auto& kv : kvs_) {
      w.str(kv.key);
      w.u32(kv.type);
      kv.write(w);
    }
    for (const auto& t : tensors_) {
      w.str(t.name);
      w.u32(static_cast<uint32_t>(t.ne.size()));
      for (uint64_t d : t.ne) w.u64(d);
      w.u32(t.type);
      w.u64(t.offset);
    }
    w.pad_to(alignment_);
    const size_t data_start = w.bytes().size();
    uint64_t data_size = 0;
    for (const auto& t : tensors_) data_size = std::max(data_size, t.offset + t.nbytes);
    w.bytes().resize(data_start + data_size);
    // Each tensor's bytes are (index + 1) so tests can check the data pointers.
    for (size_t k = 0; k < tensors_.size(); ++k) {
      const auto& t = tensors_[k];
      std::memset(w.bytes().data() + data_start + t.offset, static_cast<int>(k + 1), t.nbytes);
    }
    return w.bytes();
  }

 private:
  struct Kv {
    std::string key;
    uint32_t type;
    std::function<void(ByteWriter&)> write;
  };
  struct Tensor {
    std::string name;
    uint32_t type;
    std::vector<uint64_t> ne;
    uint64_t offset;
    uint64_t nbytes;
  };
  uint32_t version_ = 3;
  uint64_t alignment_ = 32;
  uint64_t next_offset_ = 0;
  std::optional<uint64_t> n_tensors_, n_kv_;
  std::vector<Kv> kvs_;
  std::vector<Tensor> tensors_;
};

Result<GgufFile> parse(const std::vector<uint8_t>& bytes) {
  return GgufFile::parse(std::span<const uint8_t>(bytes.data(), bytes.size()), "model.gguf");
}

// A small file touching every feature: all scalar types, arrays, two tensors.
GgufBuilder small_model() {
  GgufBuilder b;
  b.kv_str("general.architecture", "llama")
      .kv_u32("llama.block_count", 2)
      .kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
      .kv_bool("tokenizer.ggml.add_bos_token", true)
      .kv_str_array("tokenizer.ggml.tokens", {"<s>", "</s>", "a", ""})
      .kv_i32_array("tokenizer.ggml.token_type", {3, 3, 1, 1})
      .tensor("token_embd.weight", kGgmlF32, {8, 4})
      .tensor("blk.0.attn_q.weight", kGgmlQ8_0, {64, 2});
  return b;
}

// Expects a non-OK status with this code whose message contains every needle.
void expect_error(const Status& st, StatusCode code, std::initializer_list<std::string> needles) {
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), code) << st.to_string();
  EXPECT_NE(st.message().find("model.gguf"), std::string::npos) << st.to_string();
  for (const auto& n : needles) EXPECT_NE(st.message().find(n), std::string::npos) << "want '" << n << "' in " << st.to_string();
}

// --- Valid files -------------------------------------------------------------

TEST(GgufTest, ParsesMetadataAndTensors) {
  const auto bytes = small_model().build();
  auto f = parse(bytes);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->name(), "model.gguf");
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->metadata().size(), 6u);

  EXPECT_EQ(f->get_string("general.architecture").value(), "llama");
  EXPECT_EQ(f->get_int("llama.block_count").value(), 2);
  EXPECT_FLOAT_EQ(static_cast<float>(f->get_float("llama.attention.layer_norm_rms_epsilon").value()), 1e-5f);
  EXPECT_EQ(f->get_float("llama.block_count").value(), 2.0);  // integers satisfy get_float
  EXPECT_TRUE(f->get_bool("tokenizer.ggml.add_bos_token").value());

  const GgufValue* tokens = f->find("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->type, GgufValue::Type::kArray);
  EXPECT_EQ(tokens->elem_type, GgufValue::Type::kString);
  EXPECT_EQ(tokens->array_size(), 4u);
  EXPECT_EQ(tokens->arr_s, (std::vector<std::string>{"<s>", "</s>", "a", ""}));
  const GgufValue* types = f->find("tokenizer.ggml.token_type");
  ASSERT_NE(types, nullptr);
  EXPECT_EQ(types->elem_type, GgufValue::Type::kI32);
  EXPECT_EQ(types->arr_i, (std::vector<int64_t>{3, 3, 1, 1}));
  EXPECT_EQ(f->find("nope"), nullptr);

  ASSERT_EQ(f->tensors().size(), 2u);
  const TensorInfo* emb = f->find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->view.dtype, DType::kF32);
  EXPECT_EQ(emb->view.shape, (std::vector<int64_t>{4, 8}));  // ne {8, 4} reversed
  EXPECT_EQ(emb->view.nbytes, 128u);
  const TensorInfo* q = f->find_tensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->view.dtype, DType::kQ8_0);
  EXPECT_EQ(q->view.shape, (std::vector<int64_t>{2, 64}));
  EXPECT_EQ(q->view.nbytes, 2u * 2u * 34u);
  EXPECT_EQ(f->find_tensor("missing"), nullptr);

  // Data pointers: aligned relative to the file start, right contents.
  const auto* base = bytes.data();
  const auto* emb_p = static_cast<const uint8_t*>(emb->view.data);
  const auto* q_p = static_cast<const uint8_t*>(q->view.data);
  EXPECT_EQ((emb_p - base) % 32, 0);
  EXPECT_EQ((q_p - base) % 32, 0);
  EXPECT_EQ(q_p - emb_p, 128);
  EXPECT_EQ(emb_p[0], 1);
  EXPECT_EQ(emb_p[127], 1);
  EXPECT_EQ(q_p[0], 2);
  EXPECT_EQ(q_p[135], 2);
  EXPECT_EQ(q_p + 136, base + bytes.size());
}

TEST(GgufTest, AllScalarTypes) {
  GgufBuilder b;
  b.kv_u8("u8", 200).kv_i8("i8", -100).kv_u16("u16", 60000).kv_i16("i16", -30000)
      .kv_u32("u32", 4000000000u).kv_i32("i32", -2000000000).kv_u64("u64", 1ull << 40)
      .kv_i64("i64", -(1ll << 50)).kv_f32("f32", 0.5f).kv_f64("f64", 0.125).kv_bool("b", false)
      .kv_str("s", "hello");
  const auto bytes = b.build();
  auto f = parse(bytes);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->get_int("u8").value(), 200);
  EXPECT_EQ(f->get_int("i8").value(), -100);
  EXPECT_EQ(f->get_int("u16").value(), 60000);
  EXPECT_EQ(f->get_int("i16").value(), -30000);
  EXPECT_EQ(f->get_int("u32").value(), 4000000000);
  EXPECT_EQ(f->get_int("i32").value(), -2000000000);
  EXPECT_EQ(f->get_int("u64").value(), 1ll << 40);
  EXPECT_EQ(f->get_int("i64").value(), -(1ll << 50));
  EXPECT_EQ(f->get_float("f32").value(), 0.5);
  EXPECT_EQ(f->get_float("f64").value(), 0.125);
  EXPECT_FALSE(f->get_bool("b").value());
  EXPECT_EQ(f->get_string("s").value(), "hello");
  EXPECT_EQ(f->find("u8")->type, GgufValue::Type::kU8);
  EXPECT_EQ(f->find("f64")->type, GgufValue::Type::kF64);
  EXPECT_EQ(f->find("s")->array_size(), 0u);
  EXPECT_TRUE(f->tensors().empty());
}

TEST(GgufTest, TypedGettersReportMissingAndWrongType) {
  const auto bytes = small_model().build();
  auto f = parse(bytes);
  ASSERT_TRUE(f.ok());
  auto missing = f->get_int("llama.context_length");
  expect_error(missing.status(), StatusCode::kNotFound, {"'llama.context_length'", "not found"});
  expect_error(f->get_int("general.architecture").status(), StatusCode::kInvalidArgument,
               {"'general.architecture'", "string"});
  expect_error(f->get_string("llama.block_count").status(), StatusCode::kInvalidArgument,
               {"'llama.block_count'", "u32"});
  expect_error(f->get_float("tokenizer.ggml.tokens").status(), StatusCode::kInvalidArgument,
               {"'tokenizer.ggml.tokens'", "array of string"});
  expect_error(f->get_bool("llama.block_count").status(), StatusCode::kInvalidArgument, {"bool"});
  expect_error(f->get_int("tokenizer.ggml.add_bos_token").status(), StatusCode::kInvalidArgument, {"bool"});
  expect_error(f->get_int("llama.attention.layer_norm_rms_epsilon").status(), StatusCode::kInvalidArgument,
               {"f32"});
}

TEST(GgufTest, Version2) {
  const auto bytes = small_model().version(2).build();
  auto f = parse(bytes);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->version(), 2u);
  EXPECT_EQ(f->tensors().size(), 2u);
}

TEST(GgufTest, AllSupportedTensorTypes) {
  GgufBuilder b;
  b.tensor("f32", kGgmlF32, {3})
      .tensor("f16", kGgmlF16, {5, 3})
      .tensor("bf16", kGgmlBF16, {2, 3, 4})
      .tensor("q4_0", kGgmlQ4_0, {32, 1, 2, 3})
      .tensor("q8_0", kGgmlQ8_0, {96})
      .tensor("q4_K", kGgmlQ4_K, {256, 2})
      .tensor("q5_K", kGgmlQ5_K, {512})
      .tensor("q6_K", kGgmlQ6_K, {256, 3})
      .tensor("scalar", kGgmlF32, {});
  const auto bytes = b.build();
  auto f = parse(bytes);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  struct Want {
    const char* name;
    DType t;
    std::vector<int64_t> shape;
    size_t nbytes;
  };
  const Want want[] = {
      {"f32", DType::kF32, {3}, 12},
      {"f16", DType::kF16, {3, 5}, 30},
      {"bf16", DType::kBF16, {4, 3, 2}, 48},
      {"q4_0", DType::kQ4_0, {3, 2, 1, 32}, 6 * 18},
      {"q8_0", DType::kQ8_0, {96}, 3 * 34},
      {"q4_K", DType::kQ4_K, {2, 256}, 2 * 144},
      {"q5_K", DType::kQ5_K, {512}, 2 * 176},
      {"q6_K", DType::kQ6_K, {3, 256}, 3 * 210},
      {"scalar", DType::kF32, {}, 4},
  };
  for (const Want& w : want) {
    SCOPED_TRACE(w.name);
    const TensorInfo* t = f->find_tensor(w.name);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->view.dtype, w.t);
    EXPECT_EQ(t->view.shape, w.shape);
    EXPECT_EQ(t->view.nbytes, w.nbytes);
    EXPECT_EQ(t->view.numel() * dtype_info(w.t).block_bytes / dtype_info(w.t).block_elems,
              static_cast<int64_t>(w.nbytes));
  }
  // File order is kept.
  EXPECT_EQ(f->tensors()[0].name, "f32");
  EXPECT_EQ(f->tensors()[8].name, "scalar");
}

TEST(GgufTest, CustomAlignment) {
  GgufBuilder b;
  b.alignment(64).tensor("a", kGgmlF32, {3}).tensor("b", kGgmlF32, {5});
  const auto bytes = b.build();
  auto f = parse(bytes);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->alignment(), 64u);
  const auto* a = static_cast<const uint8_t*>(f->find_tensor("a")->view.data);
  const auto* bp = static_cast<const uint8_t*>(f->find_tensor("b")->view.data);
  EXPECT_EQ((a - bytes.data()) % 64, 0);
  EXPECT_EQ(bp - a, 64);
  EXPECT_EQ(*bp, 2);
}

TEST(GgufTest, OpenFromDisk) {
  const auto bytes = small_model().build();
  const std::string path = ::testing::TempDir() + "gguf_test_" + std::to_string(::getpid()) + ".gguf";
  ASSERT_TRUE(write_file(path, std::string(bytes.begin(), bytes.end())).ok());
  {
    auto f = GgufFile::open(path);
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    GgufFile moved = std::move(f).value();  // data pointers survive the move
    EXPECT_EQ(moved.name(), path);
    const TensorInfo* q = moved.find_tensor("blk.0.attn_q.weight");
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(static_cast<const uint8_t*>(q->view.data)[0], 2);
  }
  ::unlink(path.c_str());
  auto missing = GgufFile::open(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(path), std::string::npos);
}

// --- Malformed files ---------------------------------------------------------

TEST(GgufTest, EveryTruncationIsAnError) {
  const auto bytes = small_model().build();
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(n));
    auto f = parse(prefix);
    ASSERT_FALSE(f.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(f.status().code(), StatusCode::kDataLoss) << n << ": " << f.status().to_string();
    EXPECT_NE(f.status().message().find("model.gguf"), std::string::npos);
  }
  EXPECT_TRUE(parse(bytes).ok());
}

TEST(GgufTest, TruncatedDataNamesTensor) {
  auto bytes = small_model().build();
  bytes.resize(bytes.size() - 1);
  auto f = parse(bytes);
  expect_error(f.status(), StatusCode::kDataLoss,
               {"tensor 'blk.0.attn_q.weight'", "136 bytes]", "extends past end of file", "size " + std::to_string(bytes.size())});
}

TEST(GgufTest, BadMagic) {
  auto bytes = small_model().build();
  bytes[0] = 'X';
  expect_error(parse(bytes).status(), StatusCode::kDataLoss, {"not a GGUF file", "magic"});
  const std::vector<uint8_t> empty;
  expect_error(parse(empty).status(), StatusCode::kDataLoss, {"magic", "truncated"});
}

TEST(GgufTest, Version1IsUnimplemented) {
  expect_error(parse(small_model().version(1).build()).status(), StatusCode::kUnimplemented, {"version 1"});
  expect_error(parse(small_model().version(4).build()).status(), StatusCode::kUnimplemented, {"version 4"});
  expect_error(parse(small_model().version(0x03000000).build()).status(), StatusCode::kUnimplemented,
               {"big-endian"});
}

TEST(GgufTest, BogusValueType) {
  GgufBuilder b;
  b.kv("general.bogus", 13, [](ByteWriter& w) { w.u32(0); });
  expect_error(parse(b.build()).status(), StatusCode::kDataLoss, {"'general.bogus'", "unknown value type 13"});
}

TEST(GgufTest, BogusArrayElementType) {
  GgufBuilder b;
  b.kv("arr", kArray, [](ByteWriter& w) { w.u32(99); w.u64(0); });
  expect_error(parse(b.build()).status(), StatusCode::kDataLoss, {"'arr'", "element type 99"});
}

TEST(GgufTest, NestedArrayIsUnimplemented) {
  GgufBuilder b;
  b.kv("arr", kArray, [](ByteWriter& w) { w.u32(kArray); w.u64(0); });
  expect_error(parse(b.build()).status(), StatusCode::kUnimplemented, {"'arr'", "nested"});
}

TEST(GgufTest, BoolMustBeZeroOrOne) {
  GgufBuilder b;
  b.kv("flag", kBool, [](ByteWriter& w) { w.u8(7); });
  expect_error(parse(b.build()).status(), StatusCode::kDataLoss, {"'flag'", "bool"});
}

TEST(GgufTest, U64AboveInt64MaxIsRejected) {
  GgufBuilder b;
  b.kv_u64("big", ~0ull);
  expect_error(parse(b.build()).status(), StatusCode::kUnimplemented, {"'big'", "INT64_MAX"});
}

TEST(GgufTest, HugeCounts) {
  expect_error(parse(small_model().n_kv(1ull << 60).build()).status(), StatusCode::kDataLoss,
               {"key/value count", "impossible"});
  expect_error(parse(small_model().n_tensors(~0ull).build()).status(), StatusCode::kDataLoss,
               {"tensor count", "impossible"});
  GgufBuilder arr;
  arr.kv("tokens", kArray, [](ByteWriter& w) { w.u32(kString); w.u64(1ull << 62); });
  expect_error(parse(arr.build()).status(), StatusCode::kDataLoss, {"'tokens'", "array of string", "impossible"});
  GgufBuilder arr2;
  arr2.kv("ids", kArray, [](ByteWriter& w) { w.u32(kI32); w.u64(1000); w.u32(1); w.u32(2); });
  expect_error(parse(arr2.build()).status(), StatusCode::kDataLoss, {"'ids'", "impossible"});
}

TEST(GgufTest, StringLengthPastEnd) {
  GgufBuilder key;
  key.kv("k", kString, [](ByteWriter& w) { w.u64(1000); w.u8('x'); });
  expect_error(parse(key.build()).status(), StatusCode::kDataLoss, {"'k'", "string length 1000", "exceeds"});
  GgufBuilder arr;
  arr.kv("toks", kArray, [](ByteWriter& w) { w.u32(kString); w.u64(2); w.str("a"); w.u64(~0ull); });
  expect_error(parse(arr.build()).status(), StatusCode::kDataLoss, {"'toks'[1]", "string length"});
  // The key itself.
  ByteWriter w;
  w.u32(0x46554747); w.u32(3); w.u64(0); w.u64(1); w.u64(5000); w.u32(0); w.u32(0); w.u32(0); w.u8(0);
  expect_error(parse(w.bytes()).status(), StatusCode::kDataLoss, {"metadata key #0", "string length 5000"});
}

TEST(GgufTest, TensorOutOfBounds) {
  GgufBuilder d;
  d.tensor("a", kGgmlF32, {8}).tensor("blk.0.attn_q.weight", kGgmlF32, {1024}, 32);
  auto big = d.build();
  big.resize(big.size() - 4096);  // the second tensor starts at the end of the file
  expect_error(parse(big).status(), StatusCode::kDataLoss,
               {"tensor 'blk.0.attn_q.weight'", "4096 bytes]", "extends past end of file (size " + std::to_string(big.size())});
}

TEST(GgufTest, OffsetOverflow) {
  // An offset near 2^64 must not wrap around into the file.
  ByteWriter w;
  w.u32(0x46554747); w.u32(3); w.u64(1); w.u64(0);
  w.str("t"); w.u32(1); w.u64(8); w.u32(kGgmlF32); w.u64(~0ull - 31);
  w.pad_to(32);
  w.bytes().resize(w.bytes().size() + 64);
  expect_error(parse(w.bytes()).status(), StatusCode::kDataLoss, {"tensor 't'", "extends past end of file"});
}

TEST(GgufTest, MisalignedOffset) {
  GgufBuilder b;
  b.tensor("a", kGgmlF32, {8}).tensor("b", kGgmlF32, {8}, 40);
  expect_error(parse(b.build()).status(), StatusCode::kDataLoss, {"tensor 'b'", "offset 40", "alignment 32"});
}

TEST(GgufTest, BadAlignmentValue) {
  GgufBuilder b;
  b.kv_u32("general.alignment", 24);
  expect_error(parse(b.build()).status(), StatusCode::kDataLoss, {"general.alignment", "power of two"});
  GgufBuilder c;
  c.kv_u32("general.alignment", 0);
  expect_error(parse(c.build()).status(), StatusCode::kDataLoss, {"general.alignment"});
  GgufBuilder d;
  d.kv_str("general.alignment", "32");
  expect_error(parse(d.build()).status(), StatusCode::kDataLoss, {"general.alignment", "integer"});
}

TEST(GgufTest, OverlappingTensors) {
  GgufBuilder b;
  b.tensor("a", kGgmlF32, {16}).tensor("b", kGgmlF32, {16}, 32);  // a spans [0, 64)
  expect_error(parse(b.build()).status(), StatusCode::kDataLoss, {"'b'", "overlaps tensor 'a'"});
  GgufBuilder same;
  same.tensor("a", kGgmlF32, {8}).tensor("b", kGgmlF32, {8}, 0);
  expect_error(parse(same.build()).status(), StatusCode::kDataLoss, {"overlaps"});
}

TEST(GgufTest, InnerDimNotMultipleOfBlock) {
  GgufBuilder b;
  b.tensor("blk.0.ffn_down.weight", kGgmlQ4_K, {128, 4});
  expect_error(parse(b.build()).status(), StatusCode::kDataLoss,
               {"'blk.0.ffn_down.weight'", "innermost dimension 128", "q4_K block size 256"});
  GgufBuilder c;
  c.tensor("x", kGgmlQ8_0, {33});
  expect_error(parse(c.build()).status(), StatusCode::kDataLoss, {"'x'", "33", "q8_0"});
}

TEST(GgufTest, BadDims) {
  GgufBuilder zero;
  zero.tensor("z", kGgmlF32, {4, 0});
  expect_error(parse(zero.build()).status(), StatusCode::kDataLoss, {"'z'", "dimension 1"});
  GgufBuilder five;
  five.tensor("five", kGgmlF32, {1, 1, 1, 1, 1});
  expect_error(parse(five.build()).status(), StatusCode::kDataLoss, {"'five'", "n_dims 5"});
  ByteWriter w;  // ne product overflows int64
  w.u32(0x46554747); w.u32(3); w.u64(1); w.u64(0);
  w.str("huge"); w.u32(2); w.u64(1ull << 32); w.u64(1ull << 32); w.u32(kGgmlF32); w.u64(0);
  w.pad_to(32);
  expect_error(parse(w.bytes()).status(), StatusCode::kDataLoss, {"'huge'", "overflows"});
  ByteWriter v;  // nbytes overflows even though numel does not
  v.u32(0x46554747); v.u32(3); v.u64(1); v.u64(0);
  v.str("wide"); v.u32(1); v.u64(1ull << 62); v.u32(kGgmlF32); v.u64(0);
  v.pad_to(32);
  expect_error(parse(v.bytes()).status(), StatusCode::kDataLoss, {"'wide'", "overflows"});
}

TEST(GgufTest, UnsupportedTensorType) {
  GgufBuilder b;
  b.tensor("blk.3.ffn_up.weight", kGgmlQ4_1, {32});
  expect_error(parse(b.build()).status(), StatusCode::kUnimplemented, {"'blk.3.ffn_up.weight'", "q4_1", "id 3"});
  GgufBuilder c;
  c.tensor("t", 777, {32});
  expect_error(parse(c.build()).status(), StatusCode::kUnimplemented, {"'t'", "id 777"});
}

TEST(GgufTest, DuplicateNames) {
  GgufBuilder keys;
  keys.kv_u32("llama.block_count", 1).kv_u32("llama.block_count", 2);
  expect_error(parse(keys.build()).status(), StatusCode::kDataLoss, {"duplicate", "'llama.block_count'"});
  GgufBuilder tensors;
  tensors.tensor("w", kGgmlF32, {8}).tensor("w", kGgmlF32, {8});
  expect_error(parse(tensors.build()).status(), StatusCode::kDataLoss, {"duplicate tensor name 'w'"});
}

}  // namespace
}  // namespace tandem
