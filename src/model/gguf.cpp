#include "model/gguf.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <set>

namespace tandem {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader assumes a little-endian host");

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr size_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims = 4;
constexpr char kAlignmentKey[] = "general.alignment";

// Value type ids as written in the file (gguf_type). Not GgufValue::Type's order.
enum WireType : uint32_t {
  kWireU8 = 0,
  kWireI8 = 1,
  kWireU16 = 2,
  kWireI16 = 3,
  kWireU32 = 4,
  kWireI32 = 5,
  kWireF32 = 6,
  kWireBool = 7,
  kWireString = 8,
  kWireArray = 9,
  kWireU64 = 10,
  kWireI64 = 11,
  kWireF64 = 12,
};

using VType = GgufValue::Type;

std::optional<VType> type_from_wire(uint32_t t) {
  switch (t) {
    case kWireU8: return VType::kU8;
    case kWireI8: return VType::kI8;
    case kWireU16: return VType::kU16;
    case kWireI16: return VType::kI16;
    case kWireU32: return VType::kU32;
    case kWireI32: return VType::kI32;
    case kWireF32: return VType::kF32;
    case kWireBool: return VType::kBool;
    case kWireString: return VType::kString;
    case kWireArray: return VType::kArray;
    case kWireU64: return VType::kU64;
    case kWireI64: return VType::kI64;
    case kWireF64: return VType::kF64;
    default: return std::nullopt;
  }
}

const char* type_name(VType t) {
  switch (t) {
    case VType::kU8: return "u8";
    case VType::kI8: return "i8";
    case VType::kU16: return "u16";
    case VType::kI16: return "i16";
    case VType::kU32: return "u32";
    case VType::kI32: return "i32";
    case VType::kF32: return "f32";
    case VType::kBool: return "bool";
    case VType::kString: return "string";
    case VType::kU64: return "u64";
    case VType::kI64: return "i64";
    case VType::kF64: return "f64";
    case VType::kArray: return "array";
  }
  return "?";
}

bool is_integer(VType t) {
  switch (t) {
    case VType::kU8: case VType::kI8: case VType::kU16: case VType::kI16:
    case VType::kU32: case VType::kI32: case VType::kU64: case VType::kI64:
      return true;
    default:
      return false;
  }
}

bool is_float(VType t) { return t == VType::kF32 || t == VType::kF64; }

// Smallest encoding of one value of type t (strings: the u64 length alone).
size_t min_wire_size(VType t) {
  switch (t) {
    case VType::kU8: case VType::kI8: case VType::kBool: return 1;
    case VType::kU16: case VType::kI16: return 2;
    case VType::kU32: case VType::kI32: case VType::kF32: return 4;
    case VType::kU64: case VType::kI64: case VType::kF64: case VType::kString: return 8;
    case VType::kArray: return 12;  // elem type + count
  }
  return 1;
}

// ggml type ids (ggml.h, enum ggml_type). Only the ones tandem computes with
// map to a DType; the rest are named in the UNIMPLEMENTED message.
std::optional<DType> dtype_from_ggml(uint32_t id) {
  switch (id) {
    case 0: return DType::kF32;
    case 1: return DType::kF16;
    case 2: return DType::kQ4_0;
    case 8: return DType::kQ8_0;
    case 12: return DType::kQ4_K;
    case 13: return DType::kQ5_K;
    case 14: return DType::kQ6_K;
    case 30: return DType::kBF16;
    default: return std::nullopt;
  }
}

const char* ggml_type_name(uint32_t id) {
  static constexpr const char* kNames[] = {
      "f32",    "f16",     "q4_0",    "q4_1",    nullptr,  nullptr, "q5_0",   "q5_1",
      "q8_0",   "q8_1",    "q2_K",    "q3_K",    "q4_K",   "q5_K",  "q6_K",   "q8_K",
      "iq2_xxs", "iq2_xs", "iq3_xxs", "iq1_s",   "iq4_nl", "iq3_s", "iq2_s",  "iq4_xs",
      "i8",     "i16",     "i32",     "i64",     "f64",    "iq1_m", "bf16",   nullptr,
      nullptr,  nullptr,   "tq1_0",   "tq2_0",   nullptr,  nullptr, nullptr,  "mxfp4",
  };
  return id < std::size(kNames) ? kNames[id] : nullptr;
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

// Bounds-checked little-endian cursor over the file bytes. Parse errors carry
// the file name and what was being read.
class Parser {
 public:
  Parser(std::span<const uint8_t> bytes, const std::string& name) : bytes_(bytes), name_(name) {}

  size_t pos() const { return pos_; }
  size_t size() const { return bytes_.size(); }
  size_t remaining() const { return bytes_.size() - pos_; }

  Status error(StatusCode code, const std::string& what) const {
    return Status(code, name_ + ": " + what);
  }

  Status truncated(const std::string& what, size_t need) const {
    return data_loss(name_ + ": " + what + ": truncated (need " + std::to_string(need) +
                     " bytes at offset " + std::to_string(pos_) + ", file size " +
                     std::to_string(size()) + ")");
  }

  template <typename T>
  Status read(T* out, const std::string& what) {
    if (remaining() < sizeof(T)) return truncated(what, sizeof(T));
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return ok_status();
  }

  // `index` >= 0 names an array element: "what[index]" (built only on error,
  // so reading a 150k-entry vocabulary allocates no messages).
  Status read_string(std::string* out, const std::string& what, int64_t index = -1) {
    uint64_t len = 0;
    if (remaining() < sizeof len) return truncated(element_name(what, index) + " length", sizeof len);
    TANDEM_RETURN_IF_ERROR(read(&len, what));
    if (len > remaining()) {
      return data_loss(name_ + ": " + element_name(what, index) + ": string length " + std::to_string(len) +
                       " at offset " + std::to_string(pos_ - 8) + " exceeds the " +
                       std::to_string(remaining()) + " bytes left in the file");
    }
    out->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return ok_status();
  }

  static std::string element_name(const std::string& what, int64_t index) {
    return index < 0 ? what : what + "[" + std::to_string(index) + "]";
  }

  // Rejects a count of items that cannot possibly fit in the bytes left, so
  // nothing is ever allocated from an unchecked count.
  Status check_count(uint64_t count, size_t min_item_bytes, const std::string& what) const {
    if (count > remaining() / min_item_bytes) {
      return data_loss(name_ + ": " + what + " " + std::to_string(count) + " is impossible: " +
                       "each needs at least " + std::to_string(min_item_bytes) + " bytes and only " +
                       std::to_string(remaining()) + " bytes are left after offset " +
                       std::to_string(pos_));
    }
    return ok_status();
  }

  // Reads one scalar (not array, not string) of type t into v.
  Status read_scalar(VType t, int64_t* i, double* f, const std::string& what) {
    switch (t) {
      case VType::kU8: { uint8_t x{}; TANDEM_RETURN_IF_ERROR(read(&x, what)); *i = x; break; }
      case VType::kI8: { int8_t x{}; TANDEM_RETURN_IF_ERROR(read(&x, what)); *i = x; break; }
      case VType::kU16: { uint16_t x{}; TANDEM_RETURN_IF_ERROR(read(&x, what)); *i = x; break; }
      case VType::kI16: { int16_t x{}; TANDEM_RETURN_IF_ERROR(read(&x, what)); *i = x; break; }
      case VType::kU32: { uint32_t x{}; TANDEM_RETURN_IF_ERROR(read(&x, what)); *i = x; break; }
      case VType::kI32: { int32_t x{}; TANDEM_RETURN_IF_ERROR(read(&x, what)); *i = x; break; }
      case VType::kI64: { int64_t x{}; TANDEM_RETURN_IF_ERROR(read(&x, what)); *i = x; break; }
      case VType::kU64: {
        uint64_t x = 0;
        TANDEM_RETURN_IF_ERROR(read(&x, what));
        if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return error(StatusCode::kUnimplemented,
                       what + ": u64 value " + std::to_string(x) + " above INT64_MAX is not supported");
        }
        *i = static_cast<int64_t>(x);
        break;
      }
      case VType::kBool: {
        uint8_t x = 0;
        TANDEM_RETURN_IF_ERROR(read(&x, what));
        if (x > 1) return data_loss(name_ + ": " + what + ": bool byte " + std::to_string(x) + " is not 0 or 1");
        *i = x;
        break;
      }
      case VType::kF32: { float x{}; TANDEM_RETURN_IF_ERROR(read(&x, what)); *f = x; break; }
      case VType::kF64: { double x{}; TANDEM_RETURN_IF_ERROR(read(&x, what)); *f = x; break; }
      case VType::kString:
      case VType::kArray:
        return internal_error(name_ + ": " + what + ": read_scalar on a non-scalar type");
    }
    return ok_status();
  }

  Status read_value(VType t, GgufValue* v, const std::string& what) {
    v->type = t;
    if (t == VType::kString) return read_string(&v->s, what);
    if (t != VType::kArray) return read_scalar(t, &v->i, &v->f, what);

    uint32_t wire_elem = 0;
    TANDEM_RETURN_IF_ERROR(read(&wire_elem, what + " array element type"));
    const std::optional<VType> elem = type_from_wire(wire_elem);
    if (!elem) {
      return data_loss(name_ + ": " + what + ": unknown array element type " + std::to_string(wire_elem));
    }
    if (*elem == VType::kArray) {
      return error(StatusCode::kUnimplemented, what + ": nested arrays are not supported");
    }
    v->elem_type = *elem;
    uint64_t count = 0;
    TANDEM_RETURN_IF_ERROR(read(&count, what + " array length"));
    TANDEM_RETURN_IF_ERROR(
        check_count(count, min_wire_size(*elem), what + ": array of " + type_name(*elem) + ", length"));
    const auto n = static_cast<size_t>(count);
    if (*elem == VType::kString) {
      v->arr_s.resize(n);
      for (size_t k = 0; k < n; ++k) {
        TANDEM_RETURN_IF_ERROR(read_string(&v->arr_s[k], what, static_cast<int64_t>(k)));
      }
    } else if (is_float(*elem)) {
      v->arr_f.resize(n);
      int64_t unused_i = 0;
      for (size_t k = 0; k < n; ++k) {
        TANDEM_RETURN_IF_ERROR(read_scalar(*elem, &unused_i, &v->arr_f[k], what));
      }
    } else {
      v->arr_i.resize(n);
      double unused_f = 0;
      for (size_t k = 0; k < n; ++k) {
        TANDEM_RETURN_IF_ERROR(read_scalar(*elem, &v->arr_i[k], &unused_f, what));
      }
    }
    return ok_status();
  }

 private:
  std::span<const uint8_t> bytes_;
  const std::string& name_;
  size_t pos_ = 0;
};

struct RawTensor {
  std::string name;
  uint32_t n_dims = 0;
  uint64_t ne[kMaxDims] = {1, 1, 1, 1};
  uint32_t type = 0;
  uint64_t offset = 0;  // relative to the data section
};

}  // namespace

size_t GgufValue::array_size() const {
  if (type != Type::kArray) return 0;
  if (elem_type == Type::kString) return arr_s.size();
  if (elem_type == Type::kF32 || elem_type == Type::kF64) return arr_f.size();
  return arr_i.size();
}

Result<GgufFile> GgufFile::open(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::open(path));
  auto file = std::make_unique<MappedFile>(std::move(mapped));
  TANDEM_ASSIGN_OR_RETURN(GgufFile gguf, parse(file->bytes(), path));
  gguf.file_ = std::move(file);  // the mapping moves with its pointer unchanged
  return gguf;
}

Result<GgufFile> GgufFile::parse(std::span<const uint8_t> bytes, const std::string& name) {
  Parser p(bytes, name);
  GgufFile out;
  out.name_ = name;

  uint32_t magic = 0;
  TANDEM_RETURN_IF_ERROR(p.read(&magic, "magic"));
  if (magic != kGgufMagic) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08x", magic);
    return data_loss(name + ": not a GGUF file (magic " + hex + ", expected 0x46554747 \"GGUF\")");
  }
  TANDEM_RETURN_IF_ERROR(p.read(&out.version_, "version"));
  if (out.version_ == 1) {
    return unimplemented(name + ": GGUF version 1 is not supported (re-convert with a current llama.cpp)");
  }
  if (out.version_ != 2 && out.version_ != 3) {
    const bool swapped = (out.version_ & 0xffff) == 0 && out.version_ != 0;
    return unimplemented(name + ": unsupported GGUF version " + std::to_string(out.version_) +
                         (swapped ? " (a big-endian file?)" : " (supported: 2, 3)"));
  }
  uint64_t n_tensors = 0;
  uint64_t n_kv = 0;
  TANDEM_RETURN_IF_ERROR(p.read(&n_tensors, "tensor count"));
  TANDEM_RETURN_IF_ERROR(p.read(&n_kv, "metadata key/value count"));
  // A key/value takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor
  // info 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset).
  TANDEM_RETURN_IF_ERROR(p.check_count(n_kv, 13, "metadata key/value count"));

  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key;
    TANDEM_RETURN_IF_ERROR(p.read_string(&key, "metadata key #" + std::to_string(k)));
    const std::string what = "key " + quote(key);
    uint32_t wire_type = 0;
    TANDEM_RETURN_IF_ERROR(p.read(&wire_type, what + " type"));
    const std::optional<VType> t = type_from_wire(wire_type);
    if (!t) return data_loss(name + ": " + what + ": unknown value type " + std::to_string(wire_type));
    GgufValue v;
    TANDEM_RETURN_IF_ERROR(p.read_value(*t, &v, what));
    if (!out.kv_.emplace(key, std::move(v)).second) {
      return data_loss(name + ": duplicate metadata " + what);
    }
  }

  if (const GgufValue* a = out.find(kAlignmentKey)) {
    if (!is_integer(a->type)) {
      return data_loss(name + ": key '" + kAlignmentKey + "' has type " + type_name(a->type) +
                       ", expected an integer");
    }
    if (a->i <= 0 || !std::has_single_bit(static_cast<uint64_t>(a->i))) {
      return data_loss(name + ": key '" + kAlignmentKey + "': alignment " + std::to_string(a->i) +
                       " is not a power of two");
    }
    out.alignment_ = static_cast<size_t>(a->i);
  } else {
    out.alignment_ = kDefaultAlignment;
  }

  TANDEM_RETURN_IF_ERROR(p.check_count(n_tensors, 24, "tensor count"));
  std::vector<RawTensor> raw(static_cast<size_t>(n_tensors));
  for (size_t k = 0; k < raw.size(); ++k) {
    RawTensor& r = raw[k];
    TANDEM_RETURN_IF_ERROR(p.read_string(&r.name, "tensor info #" + std::to_string(k) + " name"));
    const std::string what = "tensor " + quote(r.name);
    TANDEM_RETURN_IF_ERROR(p.read(&r.n_dims, what + " n_dims"));
    if (r.n_dims > kMaxDims) {
      return data_loss(name + ": " + what + ": n_dims " + std::to_string(r.n_dims) + " exceeds " +
                       std::to_string(kMaxDims));
    }
    for (uint32_t d = 0; d < r.n_dims; ++d) {
      TANDEM_RETURN_IF_ERROR(p.read(&r.ne[d], what + " ne[" + std::to_string(d) + "]"));
    }
    TANDEM_RETURN_IF_ERROR(p.read(&r.type, what + " type"));
    TANDEM_RETURN_IF_ERROR(p.read(&r.offset, what + " offset"));
  }

  // The data section starts at the next multiple of the alignment.
  size_t data_start = p.pos();
  if (const size_t rem = data_start % out.alignment_; rem != 0) {
    if (__builtin_add_overflow(data_start, out.alignment_ - rem, &data_start)) {
      data_start = std::numeric_limits<size_t>::max();
    }
  }

  out.tensors_.reserve(raw.size());
  std::set<std::string> seen;
  for (const RawTensor& r : raw) {
    const std::string what = name + ": tensor " + quote(r.name);
    if (!seen.insert(r.name).second) return data_loss(name + ": duplicate tensor name " + quote(r.name));
    const std::optional<DType> dtype = dtype_from_ggml(r.type);
    if (!dtype) {
      const char* tn = ggml_type_name(r.type);
      return unimplemented(what + ": ggml type " + (tn ? std::string(tn) + " " : std::string()) + "(id " +
                           std::to_string(r.type) +
                           ") is not supported (supported: f32, f16, bf16, q8_0, q4_0, q4_K, q5_K, q6_K)");
    }
    const DTypeInfo& info = dtype_info(*dtype);

    std::string ne_str = "ne [";
    for (uint32_t d = 0; d < r.n_dims; ++d) ne_str += (d ? ", " : "") + std::to_string(r.ne[d]);
    ne_str += "]";
    int64_t numel = 1;
    for (uint32_t d = 0; d < r.n_dims; ++d) {
      if (r.ne[d] == 0 || r.ne[d] > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return data_loss(what + ": " + ne_str + ": dimension " + std::to_string(d) + " is out of range");
      }
      if (__builtin_mul_overflow(numel, static_cast<int64_t>(r.ne[d]), &numel)) {
        return data_loss(what + ": " + ne_str + ": element count overflows");
      }
    }
    const uint64_t inner = r.n_dims > 0 ? r.ne[0] : 1;
    if (inner % static_cast<uint64_t>(info.block_elems) != 0) {
      return data_loss(what + ": innermost dimension " + std::to_string(inner) +
                       " is not a multiple of the " + std::string(info.name) + " block size " +
                       std::to_string(info.block_elems));
    }
    // numel is a multiple of the block size since the innermost dim is.
    uint64_t nbytes = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(numel) / static_cast<uint64_t>(info.block_elems),
                               static_cast<uint64_t>(info.block_bytes), &nbytes)) {
      return data_loss(what + ": " + ne_str + ": byte size overflows");
    }
    if (r.offset % out.alignment_ != 0) {
      return data_loss(what + ": data offset " + std::to_string(r.offset) +
                       " is not a multiple of the alignment " + std::to_string(out.alignment_));
    }
    uint64_t begin = 0;
    uint64_t end = 0;
    const bool overflow = __builtin_add_overflow(static_cast<uint64_t>(data_start), r.offset, &begin) ||
                          __builtin_add_overflow(begin, nbytes, &end);
    if (overflow || end > bytes.size()) {
      return data_loss(what + ": data [offset " + (overflow ? "data section + " + std::to_string(r.offset)
                                                           : std::to_string(begin)) +
                       ", " + std::to_string(nbytes) + " bytes] extends past end of file (size " +
                       std::to_string(bytes.size()) + ")");
    }

    TensorInfo t;
    t.name = r.name;
    t.view.data = bytes.data() + begin;
    t.view.dtype = *dtype;
    t.view.nbytes = static_cast<size_t>(nbytes);
    t.view.shape.resize(r.n_dims);
    for (uint32_t d = 0; d < r.n_dims; ++d) t.view.shape[r.n_dims - 1 - d] = static_cast<int64_t>(r.ne[d]);
    out.tensor_index_.emplace(t.name, out.tensors_.size());
    out.tensors_.push_back(std::move(t));
  }

  // No two tensors may share bytes. Every tensor is non-empty (ne > 0).
  std::vector<size_t> order(out.tensors_.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  auto begin_of = [&](size_t k) { return static_cast<const uint8_t*>(out.tensors_[k].view.data) - bytes.data(); };
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return begin_of(a) < begin_of(b); });
  for (size_t k = 1; k < order.size(); ++k) {
    const TensorInfo& prev = out.tensors_[order[k - 1]];
    const TensorInfo& cur = out.tensors_[order[k]];
    const auto prev_begin = static_cast<size_t>(begin_of(order[k - 1]));
    const auto cur_begin = static_cast<size_t>(begin_of(order[k]));
    if (prev_begin + prev.view.nbytes > cur_begin) {
      return data_loss(name + ": tensor " + quote(cur.name) + " data [offset " + std::to_string(cur_begin) +
                       ", " + std::to_string(cur.view.nbytes) + " bytes] overlaps tensor " +
                       quote(prev.name) + " [offset " + std::to_string(prev_begin) + ", " +
                       std::to_string(prev.view.nbytes) + " bytes]");
    }
  }
  return out;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

namespace {

Status key_not_found(const std::string& file, const std::string& key) {
  return not_found(file + ": metadata key " + quote(key) + " not found");
}

Status wrong_type(const std::string& file, const std::string& key, const GgufValue& v, const char* expected) {
  std::string actual = type_name(v.type);
  if (v.type == VType::kArray) actual += std::string(" of ") + type_name(v.elem_type);
  return invalid_argument(file + ": metadata key " + quote(key) + " has type " + actual + ", expected " +
                          expected);
}

}  // namespace

Result<std::string> GgufFile::get_string(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return key_not_found(name_, key);
  if (v->type != VType::kString) return wrong_type(name_, key, *v, "string");
  return v->s;
}

Result<int64_t> GgufFile::get_int(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return key_not_found(name_, key);
  if (!is_integer(v->type)) return wrong_type(name_, key, *v, "an integer");
  return v->i;
}

Result<double> GgufFile::get_float(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return key_not_found(name_, key);
  if (is_float(v->type)) return v->f;
  if (is_integer(v->type)) return static_cast<double>(v->i);
  return wrong_type(name_, key, *v, "a number");
}

Result<bool> GgufFile::get_bool(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return key_not_found(name_, key);
  if (v->type != VType::kBool) return wrong_type(name_, key, *v, "bool");
  return v->i != 0;
}

const TensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace tandem
