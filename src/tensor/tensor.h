// Non-owning view of a tensor's bytes with a dtype and a row-major shape
// (outermost dimension first, as PyTorch prints it). A weight matrix of a
// linear layer y = x W^T is [out_features, in_features]; quantized blocks run
// along the last (innermost) dimension.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace tandem {

// How a 2-D weight's bytes are arranged. kPanel8 is the matmul kernels'
// interleaved layout (src/tensor/packed.h); only ops that say so accept it.
enum class Layout : uint8_t { kRowMajor, kPanel8 };

struct TensorView {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  Layout layout = Layout::kRowMajor;
  std::vector<int64_t> shape;  // row-major, outermost first
  size_t nbytes = 0;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  int rank() const { return static_cast<int>(shape.size()); }
  int64_t dim(int i) const { return shape[static_cast<size_t>(i < 0 ? rank() + i : i)]; }
  // "[4096, 4096]"
  std::string shape_string() const;
};

std::string shape_to_string(const std::vector<int64_t>& shape);

}  // namespace tandem
