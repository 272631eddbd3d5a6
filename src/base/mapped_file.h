// Read-only memory-mapped file. Move-only RAII: the mapping lives as long as
// the object. Empty files map to an empty span.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "base/status.h"

namespace tandem {

class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // Maps `path` read-only. Errors name the path and the system error.
  static Result<MappedFile> open(const std::string& path);

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// Tells the kernel that the whole pages inside [p, p + n) of a read-only file
// mapping will not be read again, so they leave this process's resident set
// (the file stays intact; a later read faults the page back in).
void release_mapped_pages(const void* p, size_t n);

// Whole-file helpers. Errors name the path.
Result<std::string> read_file(const std::string& path);
Status write_file(const std::string& path, const std::string& contents);
bool file_exists(const std::string& path);
bool is_directory(const std::string& path);

}  // namespace tandem
