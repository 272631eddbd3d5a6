#include "tensor/tensor.h"

namespace tandem {

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  s += "]";
  return s;
}

std::string TensorView::shape_string() const { return shape_to_string(shape); }

}  // namespace tandem
