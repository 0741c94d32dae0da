// face-vid2vid HEEstimator (reference-architecture §3.10, SadTalker
// src/facerender/modules/keypoint_detector.py): a ResNet-style bottleneck
// network from a 256x256 source image to head-pose bin logits, translation
// and keypoint expression deltas. Training only (no inference path uses it);
// weights in facevid2vid_00189-model.pth.tar['he_estimator'] and the TAVCE
// facerender checkpoint's 'he_estimator'. Keys: conv1..conv5, norm1..norm5,
// block1.b1_{0..2}, block2, block3.b3_{0..2}, block4, block5.b5_{0..4},
// block6, block7.b7_{0..1}, fc_roll, fc_pitch, fc_yaw, fc_t, fc_exp.
#pragma once

#include <cstdint>

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "tavce/nn/keypoint_transform.h"

namespace tavce::nn {

// The reference's he_estimator_params (facerender config).
struct HEEstimatorConfig {
  int64_t block_expansion = 64;  // conv1 output channels
  int64_t feature_channel = 32;  // accepted, unused by the reference HEEstimator
  int64_t num_kp = 15;           // fc_exp has 3 * num_kp outputs
  int64_t image_channel = 3;
  int64_t max_features = 2048;   // accepted, unused (stage widths 256..2048 are fixed)
  int64_t num_bins = 66;
  bool estimate_jacobian = false;  // accepted, unused (no jacobian head)
  // Reads the reference constructor arguments (missing keys keep the defaults).
  static HEEstimatorConfig from_json(const nlohmann::json& j);
};

// ResBottleneck(c, s) (§3.1): 1x1 (c -> c/4) BN ReLU, 3x3 stride s BN ReLU,
// 1x1 (c/4 -> c) BN; skip = 1x1 stride-s conv (c -> c) + BN when s != 1
// (keys skip, norm4), identity otherwise; add; ReLU. All convs have biases.
struct ResBottleneckImpl : torch::nn::Module {
  ResBottleneckImpl(int64_t in_features, int64_t stride);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, skip{nullptr};
  torch::nn::BatchNorm2d norm1{nullptr}, norm2{nullptr}, norm3{nullptr}, norm4{nullptr};
};
TORCH_MODULE(ResBottleneck);

struct HEEstimatorImpl : torch::nn::Module {
  explicit HEEstimatorImpl(const HEEstimatorConfig& config = {});
  // image (B, image_channel, H, W) (256x256 in the reference; any H, W >= 32
  // works thanks to the global average pool). Returns yaw/pitch/roll logits
  // (B, num_bins), t (B,3), exp (B, 3*num_kp); the *_in overrides stay undefined.
  // Quirk kept from the reference: yaw comes from fc_roll and roll from fc_yaw.
  HeadPose forward(const at::Tensor& image);

  HEEstimatorConfig config;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, conv4{nullptr}, conv5{nullptr};
  torch::nn::BatchNorm2d norm1{nullptr}, norm2{nullptr}, norm3{nullptr}, norm4{nullptr}, norm5{nullptr};
  torch::nn::Sequential block1{nullptr}, block3{nullptr}, block5{nullptr}, block7{nullptr};
  ResBottleneck block2{nullptr}, block4{nullptr}, block6{nullptr};
  torch::nn::Linear fc_roll{nullptr}, fc_pitch{nullptr}, fc_yaw{nullptr}, fc_t{nullptr}, fc_exp{nullptr};
};
TORCH_MODULE(HEEstimator);

}  // namespace tavce::nn
