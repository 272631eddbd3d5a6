// GGUF v2/v3 reader (llama.cpp's format): header, metadata key/values, tensor
// infos, aligned tensor data. The file is memory-mapped; tensor data pointers
// point into the mapping and live as long as the GgufFile.
//
// Every malformed input -- truncation, bad magic, unknown version, unknown
// value or tensor type, absurd counts or lengths, overlapping or
// out-of-bounds tensor data, duplicate names -- is a DATA_LOSS / UNIMPLEMENTED
// Status naming the file and the key or tensor, never a crash.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "base/mapped_file.h"
#include "base/status.h"
#include "tensor/tensor.h"

namespace tandem {

// A named tensor inside a model file. shape is row-major (outermost first):
// GGUF's ne[] reversed, so a GGUF linear weight with ne = {in, out} is
// reported as [out, in].
struct TensorInfo {
  std::string name;
  TensorView view;  // data points into the file's mapping
};

// One metadata value. Arrays hold scalars or strings (nested arrays are
// rejected as unsupported).
struct GgufValue {
  enum class Type : uint8_t { kU8, kI8, kU16, kI16, kU32, kI32, kF32, kBool, kString, kU64, kI64, kF64, kArray };
  Type type = Type::kU32;
  Type elem_type = Type::kU32;  // for kArray
  // Scalars: integers in i (bool as 0/1; u64 above INT64_MAX is rejected), floats in f.
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<int64_t> arr_i;    // integer / bool arrays
  std::vector<double> arr_f;     // float arrays
  std::vector<std::string> arr_s;  // string arrays
  size_t array_size() const;
};

class GgufFile {
 public:
  // Maps and parses `path`.
  static Result<GgufFile> open(const std::string& path);
  // Parses bytes that the caller keeps alive (fuzzing, tests). `name` is used
  // in error messages.
  static Result<GgufFile> parse(std::span<const uint8_t> bytes, const std::string& name);

  GgufFile(GgufFile&&) noexcept = default;
  GgufFile& operator=(GgufFile&&) noexcept = default;

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }

  const std::map<std::string, GgufValue>& metadata() const { return kv_; }
  const GgufValue* find(const std::string& key) const;
  // Typed getters: NOT_FOUND if missing, INVALID_ARGUMENT if the type differs
  // (any integer type satisfies get_int, any float or integer get_float).
  Result<std::string> get_string(const std::string& key) const;
  Result<int64_t> get_int(const std::string& key) const;
  Result<double> get_float(const std::string& key) const;
  Result<bool> get_bool(const std::string& key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(const std::string& name) const;

 private:
  GgufFile() = default;
  std::string name_;
  std::unique_ptr<MappedFile> file_;  // null when parsed from caller bytes
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  std::map<std::string, GgufValue> kv_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

}  // namespace tandem
