// Loading reference checkpoints into LibTorch modules, key for key.
//
// Modules register their submodules, parameters and buffers under the names
// the reference state dicts use, so a checkpoint loads by plain name lookup.
// Loading is strict: any missing, unexpected or mis-shaped key is an error
// that lists every difference.
#pragma once

#include <map>
#include <string>

#include <ATen/core/Tensor.h>

namespace torch::nn {
class Module;
}

namespace tavce::nn {

using TensorMap = std::map<std::string, at::Tensor>;

// Keys starting with prefix, with the prefix removed ("generator." -> "").
TensorMap select_prefix(const TensorMap& tensors, const std::string& prefix);
// Removes a leading "module." (DataParallel checkpoints) from every key that has it.
TensorMap strip_data_parallel(const TensorMap& tensors);
// Replaces each spectral-norm triple X.weight_orig / X.weight_u / X.weight_v by
// X.weight = weight_orig / sigma with sigma = u . (W v), W = weight_orig viewed
// as (out, -1): what torch.nn.utils.spectral_norm computes in eval mode, done
// once here instead of per forward.
TensorMap fold_spectral_norm(const TensorMap& tensors);

// Copies tensors into module's parameters and buffers (cast to their dtype).
// Throws tavce::Error naming `label` and listing missing, unexpected and
// mis-shaped keys.
void load_state_dict(torch::nn::Module& module, const TensorMap& tensors, const std::string& label);

// The module's parameters and buffers by full name.
TensorMap state_dict(const torch::nn::Module& module);

}  // namespace tavce::nn
