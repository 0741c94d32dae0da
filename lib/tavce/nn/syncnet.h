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

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

namespace tavce::nn {

struct SyncNetConfig {
  int64_t num_layers_in_fc_layers = 1024;  // embedding size of both branches
  // Reads the golden case.json "config" (unknown keys such as vshift / mfcc are ignored).
  static SyncNetConfig from_json(const nlohmann::json& j);
};

struct SyncNetImpl : torch::nn::Module {
  static constexpr int64_t kMfcc = 13;        // MFCC coefficients per step
  static constexpr int64_t kMfccSteps = 20;   // 100 Hz steps per window (5 video frames at 25 fps)
  static constexpr int64_t kFrames = 5;       // video frames per window
  static constexpr int64_t kImageSize = 224;  // face crop side
  static constexpr int64_t kFeature = 512;    // flattened conv output of either branch

  explicit SyncNetImpl(const SyncNetConfig& cfg = {});

  // forward_aud: (N, 1, 13, 20) -> (N, fc).
  at::Tensor forward_aud(const at::Tensor& mfcc);
  // forward_lip: (N, 3, 5, 224, 224) -> (N, fc).
  at::Tensor forward_lip(const at::Tensor& video);
  // forward_lipfeat: the flattened netcnnlip output, (N, 512).
  at::Tensor forward_lipfeat(const at::Tensor& video);

  SyncNetConfig cfg;
  torch::nn::Sequential netcnnaud{nullptr}, netfcaud{nullptr}, netcnnlip{nullptr}, netfclip{nullptr};
};
TORCH_MODULE(SyncNet);

}  // namespace tavce::nn
