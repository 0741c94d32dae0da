// SyncNet `S` of syncnet_python (the network syncnet_v2.model is loaded into),
// used for the LSE-D / LSE-C lip-sync metric.
//
// Two branches, each a conv stack then a 2-layer MLP:
//   audio: MFCC window (N, 1, 13 coefficients, 20 steps at 100 Hz = 0.2 s)
//          -> netcnnaud (6 Conv2d+BN+ReLU, 3 MaxPool2d) -> (N, 512, 1, 1)
//          -> netfcaud (Linear 512-512, BN1d, ReLU, Linear 512-fc) -> (N, fc)
//   video: 5 frames (N, 3 B/G/R, 5, 224, 224), raw 0..255 values, no normalisation
//          -> netcnnlip (6 Conv3d+BN+ReLU, 3 MaxPool3d) -> (N, 512, 1, 1, 1)
//          -> netfclip (same MLP layout) -> (N, fc)
// Keys: netcnnaud.*, netfcaud.*, netcnnlip.*, netfclip.* with the indices of the
// reference's nn.Sequential (ReLU / MaxPool layers hold no keys but keep their
// slot), no prefix in the official file.
#pragma once

#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

namespace tavce::nn {

// The defaults are syncnet_v2's sizes. The project's own small SyncNet
// (models/syncnet, trained by tavce-train syncnet) narrows every layer and
// looks only at the mouth: a fixed region of the 224x224 face crop
// (`lip_region`), optionally averaged down by `lip_downsample`. The layer
// order, kernels, strides and key names stay those of the reference.
struct SyncNetConfig {
  int64_t num_layers_in_fc_layers = 1024;  // embedding size of both branches
  // Output channels of the six convolutions of each branch; the last one is
  // also the width of the MLP's hidden layer (512 in the reference).
  std::vector<int64_t> audio_channels{64, 192, 384, 256, 256, 512};
  std::vector<int64_t> lip_channels{96, 256, 256, 256, 256, 512};
  // 1, 2 or 4: the lip branch first averages its input down by this factor
  // (no keys; the last convolution's kernel follows the smaller map: at the
  // full 224x224 crop 6, 2 or 1).
  int64_t lip_downsample = 1;
  // {top, left, height, width} of the part of the 224x224 crop the lip branch
  // reads (before lip_downsample). The crop spans 2.8 face-box half-sides, so
  // the mouth sits near rows 110..150 and columns 80..144.
  std::vector<int64_t> lip_region{0, 0, 224, 224};
  // Reads the golden case.json "config" or a bundle's architecture entry
  // (unknown keys such as vshift / mfcc are ignored).
  static SyncNetConfig from_json(const nlohmann::json& j);
};

struct SyncNetImpl : torch::nn::Module {
  static constexpr int64_t kMfcc = 13;        // MFCC coefficients per step
  static constexpr int64_t kMfccSteps = 20;   // 100 Hz steps per window (5 video frames at 25 fps)
  static constexpr int64_t kFrames = 5;       // video frames per window
  static constexpr int64_t kImageSize = 224;  // face crop side

  explicit SyncNetImpl(const SyncNetConfig& cfg = {});

  // forward_aud: (N, 1, 13, 20) -> (N, fc).
  at::Tensor forward_aud(const at::Tensor& mfcc);
  // forward_lip: (N, 3, 5, 224, 224) -> (N, fc).
  at::Tensor forward_lip(const at::Tensor& video);
  // forward_lipfeat: the flattened netcnnlip output, (N, lip_channels.back()).
  at::Tensor forward_lipfeat(const at::Tensor& video);

  SyncNetConfig cfg;
  torch::nn::Sequential netcnnaud{nullptr}, netfcaud{nullptr}, netcnnlip{nullptr}, netfclip{nullptr};
};
TORCH_MODULE(SyncNet);

}  // namespace tavce::nn
