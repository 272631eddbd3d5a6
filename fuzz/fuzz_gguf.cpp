// libFuzzer entry point for GgufFile::parse: any input must give a value or a
// Status, never a crash, and an accepted file must be self-consistent.
#include <cstddef>
#include <cstdint>

#include "model/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = tandem::GgufFile::parse(std::span<const uint8_t>(data, size), "fuzz.gguf");
  if (!file.ok()) {
    if (file.status().message().empty()) __builtin_trap();
    return 0;
  }
  for (const auto& [key, value] : file->metadata()) {
    (void)file->get_string(key);
    (void)file->get_int(key);
    (void)file->get_float(key);
    (void)file->get_bool(key);
    (void)value.array_size();
  }
  const uint8_t* end = data + size;
  unsigned sum = 0;
  for (const tandem::TensorInfo& t : file->tensors()) {
    const auto* p = static_cast<const uint8_t*>(t.view.data);
    if (p < data || p > end || t.view.nbytes > static_cast<size_t>(end - p)) __builtin_trap();
    if (t.view.nbytes != tandem::dtype_row_bytes(t.view.dtype, t.view.numel())) __builtin_trap();
    if (file->find_tensor(t.name) != &t) __builtin_trap();
    for (size_t k = 0; k < t.view.nbytes; ++k) sum += p[k];  // ASan checks every byte is readable
  }
  return static_cast<int>(sum & 0);
}
