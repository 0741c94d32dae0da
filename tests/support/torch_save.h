// A minimal torch.save (zip format) writer for tests: a top-level dict of
// state dicts, each an OrderedDict of float32 / int64 CPU tensors, pickled the
// way torch >= 1.6 does it (protocol 2, _rebuild_tensor_v2, persistent
// storage ids, one stored zip entry per storage). It lets tests build fake
// official checkpoints without Python; the project's reader
// (lib/tavce/io/torch_checkpoint.h) is checked against real torch.save files
// in test_torch_checkpoint, so this writer is tested through it too.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "tavce/nn/state_dict.h"

namespace tavce::testing {

// {"netG": {...}, "audio_encoder": {...}} -> path. Floating tensors are
// written as float32, integer ones as int64. ints adds plain integer entries
// beside the state dicts (the "epoch" of the official training checkpoints).
void write_torch_checkpoint(const std::string& path, const std::map<std::string, nn::TensorMap>& entries,
                            const std::map<std::string, int64_t>& ints = {});
// A bare state dict at the root (torch.save(model.state_dict(), path)), as syncnet_v2.model.
void write_torch_state_dict(const std::string& path, const nn::TensorMap& tensors);

}  // namespace tavce::testing
