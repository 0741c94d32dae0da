// PyTorch checkpoints -> LibTorch tensors (the reading itself is in
// torch_checkpoint.h, which needs no LibTorch).
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

#include "tavce/io/pickle_value.h"
#include "tavce/nn/state_dict.h"

namespace tavce::io {

// A contiguous CPU tensor holding a copy of the view's elements, in the stored
// dtype. Throws tavce::Error if the view does not fit its storage (or a BOOL
// tensor holds bytes other than 0 and 1).
at::Tensor to_tensor(const TensorRef& ref);

// The state dict at key_path of the checkpoint at path (see state_dict_at in
// torch_checkpoint.h), copied into tensors. With strip_module_prefix a leading
// "module." (DataParallel) is removed from every key that has it; two keys that
// become equal are an error. Errors name the file and, for a missing key, list
// the keys there.
nn::TensorMap load_torch_state_dict(const std::string& path, const std::string& key_path,
                                    bool strip_module_prefix = false);

}  // namespace tavce::io
