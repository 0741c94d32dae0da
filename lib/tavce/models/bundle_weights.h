// Weight files of a model bundle, LibTorch side: writing a module's state
// dict as safetensors, and loading a module from a verified bundle.
#pragma once

#include <map>
#include <string>

#include "tavce/models/bundle.h"
#include "tavce/nn/state_dict.h"

namespace torch::nn {
class Module;
}

namespace tavce::models {

// Writes tensors (any CPU/CUDA layout; floating ones must be float32, float16,
// bfloat16 or float64, integers int64/int32/uint8/int8/int16, or bool) to a
// safetensors file, keys as given. Throws tavce::Error on an unsupported dtype.
void save_tensors(const std::string& path, const nn::TensorMap& tensors,
                  const std::map<std::string, std::string>& metadata = {});

// The tensors of `module` in bundle (whose directory is dir): the file that
// holds it, restricted to its key prefix and with the prefix removed; floating
// tensors upcast to float32.
nn::TensorMap bundle_module_tensors(const std::string& dir, const Bundle& bundle, const std::string& module);
// bundle_module_tensors + strict load_state_dict into `into`.
void load_bundle_module(const std::string& dir, const Bundle& bundle, const std::string& module,
                        torch::nn::Module& into);

}  // namespace tavce::models
