// safetensors reader (Hugging Face): 8-byte little-endian header length, a
// JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {...}},
// then the data. Memory-mapped; tensor data points into the mapping.
//
// Supported dtypes: F32, F16, BF16 (others: UNIMPLEMENTED naming the tensor
// and dtype). Malformed headers, offsets out of bounds or overlapping, sizes
// that disagree with shape x dtype: DATA_LOSS naming file and tensor.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "base/status.h"
#include "model/gguf.h"  // TensorInfo

namespace tandem {

class SafetensorsFile {
 public:
  static Result<SafetensorsFile> open(const std::string& path);
  static Result<SafetensorsFile> parse(std::span<const uint8_t> bytes, const std::string& name);

  SafetensorsFile(SafetensorsFile&&) noexcept = default;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept = default;

  const std::string& name() const { return name_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  std::string name_;
  std::unique_ptr<MappedFile> file_;
  std::map<std::string, std::string> metadata_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

// A Hugging Face model directory's weights: model.safetensors, or the shards
// listed in model.safetensors.index.json. Tensor names are unique across
// shards (a duplicate is DATA_LOSS).
class SafetensorsSet {
 public:
  static Result<SafetensorsSet> open_dir(const std::string& dir);
  const TensorInfo* find_tensor(const std::string& name) const;
  std::vector<std::string> tensor_names() const;

 private:
  std::vector<SafetensorsFile> files_;
  std::map<std::string, const TensorInfo*> index_;
};

}  // namespace tandem
