// safetensors <-> LibTorch.
#pragma once

#include <map>
#include <string>

#include <ATen/core/Tensor.h>

#include "tavce/io/safetensors.h"

namespace tavce::io {

// The LibTorch scalar type of a stored dtype (throws on an invalid value).
at::ScalarType scalar_type(DType dtype);

// A CPU tensor holding a copy of the view's data, in the stored dtype.
at::Tensor to_tensor(const TensorView& view);
// Every tensor of the file; floating tensors upcast to float32 when asked
// (the golden weights are stored as float16 and must be used as float32).
std::map<std::string, at::Tensor> load_tensors(const SafeTensors& file, bool float_to_f32 = true);

}  // namespace tavce::io
