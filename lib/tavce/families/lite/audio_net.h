// The lite family's audio network: 80-bin mel -> mouth/jaw coefficients of
// the lite motion space, about 0.25 M parameters.
//
//   frame_encoder  per video frame, its mel window (80 x 16, the SadTalker
//                  windowing: 200 ms from 80 ms before the frame) ->
//                  Conv1d 80->C k3, ReLU, Conv1d C->3C/2 k3 s2, ReLU,
//                  Conv1d 3C/2->2C k3 s2, ReLU, flatten, Linear 8C->E, ReLU
//   temporal       over the frame embeddings, `past` frames before and
//                  `future` after: Conv1d E->E k(past+1+future), ReLU,
//                  Conv1d E->K k1
// Look-ahead: the window reaches 3 video frames ahead, the temporal layer
// `future` more (4 frames = 160 ms with the defaults). Frames past either end
// of the clip repeat the end embedding, in training, offline and streaming alike.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

namespace tavce::lite {

struct AudioNetConfig {
  int64_t n_mels = 80;
  int64_t window = 16;    // mel frames per video frame
  int64_t channels = 64;  // C
  int64_t embed = 128;    // E
  int64_t past = 3;
  int64_t future = 1;
  int64_t outputs = 8;    // K: mouth components of the motion space

  static AudioNetConfig from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
};

struct AudioNetImpl : torch::nn::Module {
  explicit AudioNetImpl(const AudioNetConfig& cfg = {});

  // (N, n_mels, window) -> (N, embed)
  at::Tensor encode(const at::Tensor& windows);
  // (B, embed, T + past + future) -> (B, outputs, T)
  at::Tensor decode(const at::Tensor& embeddings);
  // A whole clip: windows (T, n_mels, window) -> coefficients (T, outputs),
  // the ends padded by repetition.
  at::Tensor forward(const at::Tensor& windows);

  AudioNetConfig cfg;
  torch::nn::Sequential frame_encoder{nullptr};
  torch::nn::Sequential temporal{nullptr};
};
TORCH_MODULE(AudioNet);

// (B, E, T) -> (B, E, past + T + future), repeating the first and last frame.
at::Tensor pad_edges(const at::Tensor& embeddings, int64_t past, int64_t future);

}  // namespace tavce::lite
