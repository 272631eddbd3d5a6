#include "tokenizer/sentencepiece_model.h"

#include <cstdint>
#include <cstring>

namespace tandem {
namespace {

// Protobuf wire types.
enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

// Reads protobuf fields from a byte range. Every read checks bounds; the first
// failure sets `error` and makes every later read fail.
class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}

  bool done() const { return pos_ >= data_.size() || !error_.empty(); }
  const std::string& error() const { return error_; }

  // Reads a field key; false at the end or on error.
  bool next(uint32_t* field, uint32_t* wire) {
    if (done()) return false;
    uint64_t key = 0;
    if (!varint(&key)) return false;
    *field = static_cast<uint32_t>(key >> 3);
    *wire = static_cast<uint32_t>(key & 7);
    if (*field == 0) return fail("field number 0");
    return true;
  }

  bool varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return fail("truncated varint");
      const auto b = static_cast<uint8_t>(data_[pos_++]);
      *v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return fail("varint longer than 10 bytes");
  }

  bool bytes(std::string_view* out) {
    uint64_t len = 0;
    if (!varint(&len)) return false;
    if (len > data_.size() - pos_) return fail("length-delimited field runs past the end");
    *out = data_.substr(pos_, static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return true;
  }

  bool fixed32(uint32_t* v) {
    if (data_.size() - pos_ < 4) return fail("truncated fixed32");
    std::memcpy(v, data_.data() + pos_, 4);  // little-endian on every target we build for
    pos_ += 4;
    return true;
  }

  bool skip(uint32_t wire) {
    uint64_t v = 0;
    std::string_view s;
    uint32_t f = 0;
    switch (wire) {
      case kVarint:
        return varint(&v);
      case kFixed64:
        if (data_.size() - pos_ < 8) return fail("truncated fixed64");
        pos_ += 8;
        return true;
      case kLen:
        return bytes(&s);
      case kFixed32:
        return fixed32(&f);
      default:
        return fail("unsupported wire type " + std::to_string(wire));
    }
  }

  // Field-typed helpers: check the wire type the schema expects.
  bool read_int32(uint32_t wire, int32_t* out) {
    uint64_t v = 0;
    if (wire != kVarint) return fail("expected a varint");
    if (!varint(&v)) return false;
    *out = static_cast<int32_t>(static_cast<uint32_t>(v));  // negative int32: 10-byte varint
    return true;
  }
  bool read_bool(uint32_t wire, bool* out) {
    uint64_t v = 0;
    if (wire != kVarint) return fail("expected a varint");
    if (!varint(&v)) return false;
    *out = v != 0;
    return true;
  }
  bool read_float(uint32_t wire, float* out) {
    uint32_t bits = 0;
    if (wire != kFixed32) return fail("expected a fixed32 float");
    if (!fixed32(&bits)) return false;
    std::memcpy(out, &bits, 4);
    return true;
  }
  bool read_bytes(uint32_t wire, std::string_view* out) {
    if (wire != kLen) return fail("expected a length-delimited field");
    return bytes(out);
  }

  bool fail(std::string msg) {
    if (error_.empty()) error_ = std::move(msg) + " at byte " + std::to_string(pos_);
    return false;
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  std::string error_;
};

struct TrainerSpec {
  int32_t model_type = 1;  // UNIGRAM
  bool byte_fallback = false;
  bool treat_whitespace_as_suffix = false;
  int32_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
};

struct NormalizerSpec {
  std::string name;
  bool has_charsmap = false;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

bool parse_piece(std::string_view msg, VocabData* v, std::string* err) {
  WireReader r(msg);
  std::string_view piece;
  float score = 0.0f;
  int32_t type = 1;  // NORMAL
  uint32_t field, wire;
  while (r.next(&field, &wire)) {
    bool ok;
    switch (field) {
      case 1:
        ok = r.read_bytes(wire, &piece);
        break;
      case 2:
        ok = r.read_float(wire, &score);
        break;
      case 3:
        ok = r.read_int32(wire, &type);
        break;
      default:
        ok = r.skip(wire);
    }
    if (!ok) break;
  }
  if (!r.error().empty()) {
    *err = "piece " + std::to_string(v->tokens.size()) + ": " + r.error();
    return false;
  }
  if (type < 1 || type > 6) {
    *err =
        "piece " + std::to_string(v->tokens.size()) + " has unknown type " + std::to_string(type);
    return false;
  }
  v->tokens.emplace_back(piece);
  v->scores.push_back(score);
  v->token_types.push_back(type);
  return true;
}

bool parse_trainer(std::string_view msg, TrainerSpec* t, std::string* err) {
  WireReader r(msg);
  uint32_t field, wire;
  while (r.next(&field, &wire)) {
    bool ok;
    switch (field) {
      case 3:
        ok = r.read_int32(wire, &t->model_type);
        break;
      case 24:
        ok = r.read_bool(wire, &t->treat_whitespace_as_suffix);
        break;
      case 35:
        ok = r.read_bool(wire, &t->byte_fallback);
        break;
      case 40:
        ok = r.read_int32(wire, &t->unk_id);
        break;
      case 41:
        ok = r.read_int32(wire, &t->bos_id);
        break;
      case 42:
        ok = r.read_int32(wire, &t->eos_id);
        break;
      case 43:
        ok = r.read_int32(wire, &t->pad_id);
        break;
      default:
        ok = r.skip(wire);
    }
    if (!ok) break;
  }
  if (!r.error().empty()) *err = "trainer_spec: " + r.error();
  return r.error().empty();
}

bool parse_normalizer(std::string_view msg, NormalizerSpec* n, std::string* err) {
  WireReader r(msg);
  uint32_t field, wire;
  std::string_view s;
  while (r.next(&field, &wire)) {
    bool ok;
    switch (field) {
      case 1:
        ok = r.read_bytes(wire, &s);
        n->name = std::string(s);
        break;
      case 2:
        ok = r.read_bytes(wire, &s);
        n->has_charsmap = !s.empty();
        break;
      case 3:
        ok = r.read_bool(wire, &n->add_dummy_prefix);
        break;
      case 4:
        ok = r.read_bool(wire, &n->remove_extra_whitespaces);
        break;
      case 5:
        ok = r.read_bool(wire, &n->escape_whitespaces);
        break;
      default:
        ok = r.skip(wire);
    }
    if (!ok) break;
  }
  if (!r.error().empty()) *err = "normalizer_spec: " + r.error();
  return r.error().empty();
}

}  // namespace

Result<VocabData> parse_sentencepiece_model(std::string_view data, const std::string& name) {
  VocabData v;
  v.model = "llama";
  TrainerSpec trainer;
  NormalizerSpec norm;
  bool have_trainer = false;
  std::string err;
  WireReader r(data);
  uint32_t field, wire;
  while (err.empty() && r.next(&field, &wire)) {
    std::string_view msg;
    switch (field) {
      case 1:  // repeated SentencePiece pieces
        if (r.read_bytes(wire, &msg)) parse_piece(msg, &v, &err);
        break;
      case 2:  // TrainerSpec
        if (r.read_bytes(wire, &msg)) have_trainer = parse_trainer(msg, &trainer, &err);
        break;
      case 3:  // NormalizerSpec
        if (r.read_bytes(wire, &msg)) parse_normalizer(msg, &norm, &err);
        break;
      default:
        r.skip(wire);
    }
  }
  if (err.empty() && !r.error().empty()) err = r.error();
  if (!err.empty()) {
    return data_loss(name + ": not a valid SentencePiece model (" + err + ")");
  }
  if (v.tokens.empty()) return data_loss(name + ": not a valid SentencePiece model (no pieces)");
  if (!have_trainer) {
    return data_loss(name + ": SentencePiece model has no trainer_spec (cannot tell its type)");
  }
  if (trainer.model_type != 2) {
    static const char* kNames[] = {"?", "unigram", "bpe", "word", "char"};
    const char* type_name =
        trainer.model_type >= 1 && trainer.model_type <= 4 ? kNames[trainer.model_type] : "unknown";
    return unimplemented(name + ": SentencePiece model type " + type_name +
                         " is not supported; only BPE models are");
  }
  if (norm.has_charsmap || (!norm.name.empty() && norm.name != "identity")) {
    return unimplemented(name + ": SentencePiece normalization rule '" + norm.name +
                         "' is not supported; retrain with normalization_rule_name=identity");
  }
  if (!norm.escape_whitespaces || trainer.treat_whitespace_as_suffix) {
    return unimplemented(name +
                         ": SentencePiece models without escape_whitespaces or with "
                         "treat_whitespace_as_suffix are not supported");
  }
  const auto n = static_cast<int32_t>(v.tokens.size());
  auto id_or_none = [n](int32_t id) { return id >= 0 && id < n ? id : -1; };
  v.unk_id = id_or_none(trainer.unk_id);
  v.bos_id = id_or_none(trainer.bos_id);
  v.eos_id = id_or_none(trainer.eos_id);
  v.pad_id = id_or_none(trainer.pad_id);
  v.add_bos = v.bos_id >= 0;  // llama-style models are trained with BOS first
  v.add_space_prefix = norm.add_dummy_prefix;
  v.remove_extra_whitespaces = norm.remove_extra_whitespaces;
  return v;
}

}  // namespace tandem
