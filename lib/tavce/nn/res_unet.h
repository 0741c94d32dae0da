// The ResUnet of SadTalker's PoseVAE (reference-architecture §3.4,
// src/audio2pose_models/res_unet.py + networks.py): a small residual U-Net on
// (B, 1, seq_len, 6) pose maps whose down/up strides (2, 1) act on time only.
#pragma once

#include <array>

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

namespace tavce::nn {

// Pre-activation residual conv. conv_block = [BN(i), ReLU, conv3x3 stride s
// (i->o), BN(o), ReLU, conv3x3 (o->o)] (keys .0 .2 .3 .5); conv_skip =
// [conv3x3 stride s, BN] (keys .0 .1); out = conv_block(x) + conv_skip(x).
struct ResidualConvImpl : torch::nn::Module {
  ResidualConvImpl(int64_t cin, int64_t cout, torch::ExpandingArray<2> stride, int64_t padding = 1);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Sequential conv_block{nullptr}, conv_skip{nullptr};
};
TORCH_MODULE(ResidualConv);

// Learned upsampling: ConvTranspose2d with kernel == stride (key: upsample).
struct ResUnetUpsampleImpl : torch::nn::Module {
  ResUnetUpsampleImpl(int64_t cin, int64_t cout, torch::ExpandingArray<2> kernel, torch::ExpandingArray<2> stride);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::ConvTranspose2d upsample{nullptr};
};
TORCH_MODULE(ResUnetUpsample);

struct ResUnetImpl : torch::nn::Module {
  explicit ResUnetImpl(int64_t channels = 1, std::array<int64_t, 4> filters = {32, 64, 128, 256});
  // (B, channels, H, W) -> (B, 1, H, W) in (0, 1) (ends with a sigmoid). H must
  // be divisible by 8.
  at::Tensor forward(const at::Tensor& x);

  torch::nn::Sequential input_layer{nullptr}, input_skip{nullptr};
  ResidualConv residual_conv_1{nullptr}, residual_conv_2{nullptr}, bridge{nullptr};
  ResUnetUpsample upsample_1{nullptr}, upsample_2{nullptr}, upsample_3{nullptr};
  ResidualConv up_residual_conv1{nullptr}, up_residual_conv2{nullptr}, up_residual_conv3{nullptr};
  torch::nn::Sequential output_layer{nullptr};
};
TORCH_MODULE(ResUnet);

}  // namespace tavce::nn
