// DenseMotionNetwork of the face renderer (reference-architecture §3.8):
// from the source feature volume and the source/driving keypoints, a soft
// assignment of every voxel to one of num_kp + 1 motions (slot 0 = identity,
// the background), the resulting dense deformation grid and an occlusion map.
#pragma once

#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <nlohmann/json_fwd.hpp>

#include "tavce/nn/blocks.h"

namespace tavce::nn {

struct DenseMotionConfig {
  // generator_params.dense_motion_params (facerender.yaml).
  int64_t block_expansion = 32;
  int64_t max_features = 1024;
  int64_t num_blocks = 5;
  int64_t reshape_depth = 16;
  int64_t compress = 4;
  // common_params, passed down by the generator.
  int64_t num_kp = 15;
  int64_t feature_channel = 32;
  bool estimate_occlusion_map = true;
  // Reads the dense_motion_params keys; absent keys keep the defaults.
  static DenseMotionConfig from_json(const nlohmann::json& j);
};

// Hourglass encoder: DownBlock3d in_features -> be*2 -> ... (capped at max_features).
struct HourglassEncoderImpl : torch::nn::Module {
  HourglassEncoderImpl(int64_t block_expansion, int64_t in_features, int64_t num_blocks, int64_t max_features);
  // [x, down_0(x), down_1(...), ...]
  std::vector<at::Tensor> forward(const at::Tensor& x);
  torch::nn::ModuleList down_blocks{nullptr};
  std::vector<DownBlock3d> blocks;
};
TORCH_MODULE(HourglassEncoder);

// Hourglass decoder: UpBlock3d with skip concatenation, then conv3d 3^3 + BN + ReLU.
struct HourglassDecoderImpl : torch::nn::Module {
  HourglassDecoderImpl(int64_t block_expansion, int64_t in_features, int64_t num_blocks, int64_t max_features);
  // Consumes the encoder outputs.
  at::Tensor forward(std::vector<at::Tensor> skips);
  torch::nn::ModuleList up_blocks{nullptr};
  std::vector<UpBlock3d> blocks;
  torch::nn::Conv3d conv{nullptr};
  torch::nn::BatchNorm3d norm{nullptr};
  int64_t out_filters;
};
TORCH_MODULE(HourglassDecoder);

struct HourglassImpl : torch::nn::Module {
  HourglassImpl(int64_t block_expansion, int64_t in_features, int64_t num_blocks, int64_t max_features);
  at::Tensor forward(const at::Tensor& x);
  HourglassEncoder encoder{nullptr};
  HourglassDecoder decoder{nullptr};
  int64_t out_filters;
};
TORCH_MODULE(Hourglass);

struct DenseMotion {
  at::Tensor mask;           // (B, K+1, D, H, W) softmax over the slots, before the <1e-3 cut
  at::Tensor deformation;    // (B, D, H, W, 3) (x, y, z) in [-1, 1] grid units
  at::Tensor occlusion_map;  // (B, 1, H, W), undefined without estimate_occlusion_map
};

struct DenseMotionNetworkImpl : torch::nn::Module {
  explicit DenseMotionNetworkImpl(const DenseMotionConfig& config = {});
  // feature: the source feature volume (B, feature_channel, D, H, W);
  // kp_driving, kp_source: (B, num_kp, 3).
  DenseMotion forward(const at::Tensor& feature, const at::Tensor& kp_driving, const at::Tensor& kp_source);
  DenseMotionConfig config;
  Hourglass hourglass{nullptr};
  torch::nn::Conv3d mask{nullptr};
  torch::nn::Conv3d compress{nullptr};
  torch::nn::BatchNorm3d norm{nullptr};
  torch::nn::Conv2d occlusion{nullptr};
};
TORCH_MODULE(DenseMotionNetwork);

}  // namespace tavce::nn
