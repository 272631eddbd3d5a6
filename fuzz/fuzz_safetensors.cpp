// libFuzzer entry point for SafetensorsFile::parse: any input must give a
// value or a Status, never a crash or an escaping exception, and an accepted
// file must be self-consistent.
#include <cstddef>
#include <cstdint>

#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = tandem::SafetensorsFile::parse(std::span<const uint8_t>(data, size), "fuzz.safetensors");
  if (!file.ok()) {
    if (file.status().message().empty()) __builtin_trap();
    return 0;
  }
  const uint8_t* end = data + size;
  unsigned sum = 0;
  const uint8_t* prev_end = nullptr;
  for (const tandem::TensorInfo& t : file->tensors()) {
    const auto* p = static_cast<const uint8_t*>(t.view.data);
    if (p < data || p > end || t.view.nbytes > static_cast<size_t>(end - p)) __builtin_trap();
    if (t.view.nbytes != static_cast<size_t>(t.view.numel()) * tandem::dtype_info(t.view.dtype).block_bytes) {
      __builtin_trap();
    }
    if (file->find_tensor(t.name) != &t) __builtin_trap();
    // Tensors come in file order and never overlap.
    if (t.view.nbytes > 0) {
      if (prev_end != nullptr && p < prev_end) __builtin_trap();
      prev_end = p + t.view.nbytes;
    }
    for (size_t k = 0; k < t.view.nbytes; ++k) sum += p[k];
  }
  return static_cast<int>(sum & 0);
}
