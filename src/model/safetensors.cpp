#include "model/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tandem {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the safetensors reader assumes a little-endian host");

using json = nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;  // as the reference implementation
constexpr int kMaxJsonDepth = 16;  // real headers nest 3 deep
constexpr char kMetadataKey[] = "__metadata__";
constexpr char kSingleFile[] = "model.safetensors";
constexpr char kIndexFile[] = "model.safetensors.index.json";

std::string quote(std::string_view s) {
  std::string q;
  q.reserve(s.size() + 2);
  q.append(1, '\'').append(s).append(1, '\'');
  return q;
}

struct SafetensorsDType {
  std::string_view name;
  std::optional<DType> dtype;  // nullopt: a valid safetensors dtype tandem does not load
};

constexpr SafetensorsDType kDTypes[] = {
    {"F32", DType::kF32},     {"F16", DType::kF16},      {"BF16", DType::kBF16},
    {"F64", std::nullopt},    {"I64", std::nullopt},     {"I32", std::nullopt},
    {"I16", std::nullopt},    {"I8", std::nullopt},      {"U64", std::nullopt},
    {"U32", std::nullopt},    {"U16", std::nullopt},     {"U8", std::nullopt},
    {"BOOL", std::nullopt},   {"F8_E4M3", std::nullopt}, {"F8_E5M2", std::nullopt},
    {"F8_E8M0", std::nullopt}, {"F6_E2M3", std::nullopt}, {"F6_E3M2", std::nullopt},
    {"F4", std::nullopt},     {"C64", std::nullopt},
};

// Rejects JSON nested deeper than kMaxJsonDepth before nlohmann builds it.
bool nesting_within_limit(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

// Parses JSON text; a key repeated within one object is an error (nlohmann
// would silently keep one of them). Throws nlohmann exceptions on bad syntax.
Status parse_json(std::string_view text, const std::string& where, json* out) {
  if (!nesting_within_limit(text)) {
    return data_loss(where + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  std::vector<std::set<std::string>> keys;  // one set per open object
  std::optional<std::string> duplicate;
  auto callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys.empty() && parsed.is_string() && !keys.back().insert(parsed.get<std::string>()).second &&
            !duplicate) {
          duplicate = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  *out = json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true);
  if (duplicate) return data_loss(where + ": duplicate JSON key " + quote(*duplicate));
  return ok_status();
}

Result<uint64_t> get_uint(const json& j, const std::string& what) {
  if (!j.is_number_unsigned()) return data_loss(what + " is " + j.type_name() + ", expected a non-negative integer");
  return j.get<uint64_t>();
}

struct Range {
  uint64_t begin;
  uint64_t end;
  size_t tensor;
};

Status parse_tensor(const std::string& name, const std::string& tensor_name, const json& entry,
                    std::span<const uint8_t> data, TensorInfo* out, Range* range) {
  const std::string what = name + ": tensor " + quote(tensor_name);
  if (!entry.is_object()) return data_loss(what + ": entry is " + entry.type_name() + ", expected an object");

  auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end()) return data_loss(what + ": missing \"dtype\"");
  if (!dtype_it->is_string()) return data_loss(what + ": \"dtype\" is " + dtype_it->type_name() + ", expected a string");
  const auto& dtype_str = dtype_it->get_ref<const std::string&>();
  const SafetensorsDType* st = nullptr;
  for (const SafetensorsDType& d : kDTypes) {
    if (d.name == dtype_str) st = &d;
  }
  if (st == nullptr) return data_loss(what + ": unknown dtype " + quote(dtype_str));
  if (!st->dtype) {
    return unimplemented(what + ": dtype " + dtype_str + " is not supported (supported: F32, F16, BF16)");
  }

  auto shape_it = entry.find("shape");
  if (shape_it == entry.end()) return data_loss(what + ": missing \"shape\"");
  if (!shape_it->is_array()) return data_loss(what + ": \"shape\" is " + shape_it->type_name() + ", expected an array");
  std::vector<int64_t> shape;
  int64_t numel = 1;
  for (size_t d = 0; d < shape_it->size(); ++d) {
    TANDEM_ASSIGN_OR_RETURN(uint64_t dim, get_uint((*shape_it)[d], what + ": shape[" + std::to_string(d) + "]"));
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        __builtin_mul_overflow(numel, static_cast<int64_t>(dim), &numel)) {
      return data_loss(what + ": shape " + shape_it->dump() + ": element count overflows");
    }
    shape.push_back(static_cast<int64_t>(dim));
  }

  auto off_it = entry.find("data_offsets");
  if (off_it == entry.end()) return data_loss(what + ": missing \"data_offsets\"");
  if (!off_it->is_array() || off_it->size() != 2) {
    return data_loss(what + ": \"data_offsets\" must be an array [begin, end]");
  }
  TANDEM_ASSIGN_OR_RETURN(uint64_t begin, get_uint((*off_it)[0], what + ": data_offsets[0]"));
  TANDEM_ASSIGN_OR_RETURN(uint64_t end, get_uint((*off_it)[1], what + ": data_offsets[1]"));
  const std::string range_str = "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "]";
  if (begin > end) return data_loss(what + ": " + range_str + ": begin is after end");
  if (end > data.size()) {
    return data_loss(what + ": " + range_str + " extend past the end of the data section (" +
                     std::to_string(data.size()) + " bytes)");
  }
  const DType dtype = *st->dtype;
  const auto elem_bytes = static_cast<uint64_t>(dtype_info(dtype).block_bytes);
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(numel), elem_bytes, &nbytes)) {
    return data_loss(what + ": shape " + shape_to_string(shape) + " of " + dtype_str + ": byte size overflows");
  }
  if (nbytes != end - begin) {
    return data_loss(what + ": " + range_str + " hold " + std::to_string(end - begin) + " bytes but shape " +
                     shape_to_string(shape) + " of " + dtype_str + " needs " + std::to_string(nbytes));
  }

  out->name = tensor_name;
  out->view.data = data.data() + begin;
  out->view.dtype = dtype;
  out->view.shape = std::move(shape);
  out->view.nbytes = static_cast<size_t>(nbytes);
  range->begin = begin;
  range->end = end;
  return ok_status();
}

std::string join_path(const std::string& dir, const std::string& file) {
  if (dir.empty()) return file;
  return dir.back() == '/' ? dir + file : dir + "/" + file;
}

}  // namespace

Result<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  if (!file_exists(path)) return not_found(path + ": no such file");
  TANDEM_ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::open(path));
  auto file = std::make_unique<MappedFile>(std::move(mapped));
  TANDEM_ASSIGN_OR_RETURN(SafetensorsFile st, parse(file->bytes(), path));
  st.file_ = std::move(file);  // the mapping moves with its pointer unchanged
  return st;
}

Result<SafetensorsFile> SafetensorsFile::parse(std::span<const uint8_t> bytes, const std::string& name) {
  if (bytes.size() < 8) {
    return data_loss(name + ": file is " + std::to_string(bytes.size()) +
                     " bytes, too short for the 8-byte safetensors header length");
  }
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  if (header_len > bytes.size() - 8) {
    return data_loss(name + ": header length " + std::to_string(header_len) + " exceeds the file size " +
                     std::to_string(bytes.size()) + " minus 8 (truncated, or not a safetensors file)");
  }
  if (header_len > kMaxHeaderBytes) {
    return data_loss(name + ": header length " + std::to_string(header_len) + " exceeds the limit of " +
                     std::to_string(kMaxHeaderBytes) + " bytes");
  }
  const std::string_view header(reinterpret_cast<const char*>(bytes.data() + 8), static_cast<size_t>(header_len));
  const std::span<const uint8_t> data = bytes.subspan(8 + static_cast<size_t>(header_len));

  SafetensorsFile out;
  out.name_ = name;
  try {
    json root;
    TANDEM_RETURN_IF_ERROR(parse_json(header, name + ": header", &root));
    if (!root.is_object()) {
      return data_loss(name + ": header is a JSON " + std::string(root.type_name()) + ", expected an object");
    }
    std::vector<Range> ranges;
    for (const auto& [key, value] : root.items()) {
      if (key == kMetadataKey) {
        if (!value.is_object()) return data_loss(name + ": \"__metadata__\" is " + value.type_name() + ", expected an object");
        for (const auto& [mk, mv] : value.items()) {
          if (!mv.is_string()) {
            return data_loss(name + ": \"__metadata__\" key " + quote(mk) + " is " + mv.type_name() +
                             ", expected a string");
          }
          out.metadata_.emplace(mk, mv.get<std::string>());
        }
        continue;
      }
      TensorInfo t;
      Range r{};
      TANDEM_RETURN_IF_ERROR(parse_tensor(name, key, value, data, &t, &r));
      r.tensor = out.tensors_.size();
      out.tensors_.push_back(std::move(t));
      ranges.push_back(r);
    }

    // Tensors in file order; no two non-empty tensors may share bytes.
    std::sort(ranges.begin(), ranges.end(), [&](const Range& a, const Range& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    const Range* prev = nullptr;
    for (const Range& r : ranges) {
      if (r.begin == r.end) continue;
      if (prev != nullptr && prev->end > r.begin) {
        return data_loss(name + ": tensor " + quote(out.tensors_[r.tensor].name) + " data_offsets [" +
                         std::to_string(r.begin) + ", " + std::to_string(r.end) + "] overlap tensor " +
                         quote(out.tensors_[prev->tensor].name) + " [" + std::to_string(prev->begin) + ", " +
                         std::to_string(prev->end) + "]");
      }
      prev = &r;
    }
    std::vector<TensorInfo> ordered;
    ordered.reserve(ranges.size());
    for (const Range& r : ranges) ordered.push_back(std::move(out.tensors_[r.tensor]));
    out.tensors_ = std::move(ordered);
    for (size_t k = 0; k < out.tensors_.size(); ++k) out.tensor_index_.emplace(out.tensors_[k].name, k);
  } catch (const json::exception& e) {
    return data_loss(name + ": malformed JSON header: " + e.what());
  } catch (const std::exception& e) {
    return data_loss(name + ": cannot parse header: " + e.what());
  }
  return out;
}

const TensorInfo* SafetensorsFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Result<SafetensorsSet> SafetensorsSet::open_dir(const std::string& dir) {
  if (!is_directory(dir)) return not_found(dir + ": no such directory");
  SafetensorsSet set;
  const std::string single = join_path(dir, kSingleFile);
  const std::string index = join_path(dir, kIndexFile);
  // weight_map from the index: tensor -> shard file; empty for a single file.
  std::map<std::string, std::string> weight_map;
  if (file_exists(single)) {
    TANDEM_ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::open(single));
    set.files_.push_back(std::move(f));
  } else if (file_exists(index)) {
    TANDEM_ASSIGN_OR_RETURN(std::string text, read_file(index));
    std::set<std::string> shards;
    try {
      json root;
      TANDEM_RETURN_IF_ERROR(parse_json(text, index, &root));
      if (!root.is_object() || !root.contains("weight_map") || !root["weight_map"].is_object()) {
        return data_loss(index + ": expected an object with a \"weight_map\" object");
      }
      for (const auto& [tensor, shard] : root["weight_map"].items()) {
        if (!shard.is_string()) {
          return data_loss(index + ": weight_map entry " + quote(tensor) + " is " + shard.type_name() +
                           ", expected a file name");
        }
        const auto& file = shard.get_ref<const std::string&>();
        if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos) {
          return data_loss(index + ": weight_map entry " + quote(tensor) + ": shard " + quote(file) +
                           " is not a plain file name in the model directory");
        }
        weight_map.emplace(tensor, file);
        shards.insert(file);
      }
    } catch (const json::exception& e) {
      return data_loss(index + ": malformed JSON: " + e.what());
    } catch (const std::exception& e) {
      return data_loss(index + ": cannot parse: " + e.what());
    }
    if (shards.empty()) return data_loss(index + ": weight_map lists no tensors");
    for (const std::string& shard : shards) {
      TANDEM_ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::open(join_path(dir, shard)));
      set.files_.push_back(std::move(f));
    }
  } else {
    return not_found(dir + ": no " + kSingleFile + " or " + kIndexFile + " (expected at " + single + ")");
  }

  // Tensor pointers stay valid: each file's tensor vector is never touched again.
  for (const SafetensorsFile& f : set.files_) {
    for (const TensorInfo& t : f.tensors()) {
      auto [it, inserted] = set.index_.emplace(t.name, &t);
      if (!inserted) {
        return data_loss(dir + ": tensor " + quote(t.name) + " appears in both " + f.name() + " and another shard");
      }
    }
  }
  for (const auto& [tensor, shard] : weight_map) {
    const std::string path = join_path(dir, shard);
    const SafetensorsFile* owner = nullptr;
    for (const SafetensorsFile& f : set.files_) {
      if (f.name() == path) owner = &f;
    }
    if (owner == nullptr || owner->find_tensor(tensor) == nullptr) {
      return data_loss(index + ": weight_map says tensor " + quote(tensor) + " is in " + shard +
                       ", but that file has no such tensor");
    }
  }
  return set;
}

const TensorInfo* SafetensorsSet::find_tensor(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

std::vector<std::string> SafetensorsSet::tensor_names() const {
  std::vector<std::string> names;
  names.reserve(index_.size());
  for (const auto& [name, info] : index_) names.push_back(name);
  return names;
}

}  // namespace tandem
