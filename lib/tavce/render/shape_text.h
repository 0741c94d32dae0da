// "(B, 3, H, W)" for error messages about a tensor of the wrong shape.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

namespace tavce::render {

inline std::string shape_of(const at::Tensor& t) {
  if (!t.defined()) return "undefined";
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}

}  // namespace tavce::render
