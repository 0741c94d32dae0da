// The wav2lip audio encoder (reference-architecture §3.2): 13 W2L conv blocks
// mapping one (1, 80 mel, 16 time) window to a 512-d embedding.
//
// Used by ExpNet (`audio_encoder.*`), PoseVAE (`audio_encoder.audio_encoder.*`)
// and the TAVCE correlation model (`audio_encoder.*`). The parent registers it
// under its own name; the blocks are the children "0".."12", so the keys are
// `<prefix>.{0..12}.conv_block.{0,1}.*` as in the reference's nn.Sequential.
#pragma once

#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "tavce/nn/blocks.h"

namespace tavce::nn {

struct Wav2LipAudioEncoderImpl : torch::nn::Module {
  static constexpr int64_t kEmbedding = 512;
  static constexpr int64_t kMels = 80;
  static constexpr int64_t kSteps = 16;

  Wav2LipAudioEncoderImpl();
  // (N, 1, 80, 16) -> (N, 512, 1, 1), as the reference returns it.
  at::Tensor forward(const at::Tensor& x);
  // (N, 1, 80, 16) -> (N, 512).
  at::Tensor embed(const at::Tensor& x);

  std::vector<W2LConv> blocks;
};
TORCH_MODULE(Wav2LipAudioEncoder);

}  // namespace tavce::nn
