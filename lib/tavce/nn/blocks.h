// Building blocks shared by the reference networks (reference-architecture §3.1),
// registered under the reference's submodule names so checkpoints load by key.
// All blocks are trainable: no inference-only shortcuts inside them.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

namespace tavce::nn {

// --- audio side (wav2lip encoder) --------------------------------------------

// conv_block = Sequential(Conv2d, BatchNorm2d); out = ReLU(BN(conv(x)) [+ x]).
struct W2LConvImpl : torch::nn::Module {
  W2LConvImpl(int64_t cin, int64_t cout, torch::ExpandingArray<2> kernel, torch::ExpandingArray<2> stride,
              torch::ExpandingArray<2> padding, bool residual);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Sequential conv_block;
  bool residual;
};
TORCH_MODULE(W2LConv);

// --- face renderer (face-vid2vid) --------------------------------------------

// conv3x3 -> BN -> ReLU -> AvgPool2d(2).  Keys: conv, norm.
struct DownBlock2dImpl : torch::nn::Module {
  DownBlock2dImpl(int64_t cin, int64_t cout, int64_t kernel = 3, int64_t padding = 1);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d norm{nullptr};
};
TORCH_MODULE(DownBlock2d);

// conv -> BN -> ReLU (LeakyReLU 0.01 when lrelu).  Keys: conv, norm.
struct SameBlock2dImpl : torch::nn::Module {
  SameBlock2dImpl(int64_t cin, int64_t cout, int64_t kernel = 3, int64_t padding = 1, bool lrelu = false);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d norm{nullptr};
  bool lrelu;
};
TORCH_MODULE(SameBlock2d);

// nearest x(1,2,2) -> conv3d -> BN3d -> ReLU.  Keys: conv, norm.
struct UpBlock3dImpl : torch::nn::Module {
  UpBlock3dImpl(int64_t cin, int64_t cout, int64_t kernel = 3, int64_t padding = 1);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv3d conv{nullptr};
  torch::nn::BatchNorm3d norm{nullptr};
};
TORCH_MODULE(UpBlock3d);

// conv3d -> BN3d -> ReLU -> AvgPool3d(1,2,2).  Keys: conv, norm.
struct DownBlock3dImpl : torch::nn::Module {
  DownBlock3dImpl(int64_t cin, int64_t cout, int64_t kernel = 3, int64_t padding = 1);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv3d conv{nullptr};
  torch::nn::BatchNorm3d norm{nullptr};
};
TORCH_MODULE(DownBlock3d);

// Pre-activation residual block: BN-ReLU-conv-BN-ReLU-conv + x.  Keys: conv1, conv2, norm1, norm2.
struct ResBlock3dImpl : torch::nn::Module {
  ResBlock3dImpl(int64_t channels, int64_t kernel = 3, int64_t padding = 1);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv3d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm3d norm1{nullptr}, norm2{nullptr};
};
TORCH_MODULE(ResBlock3d);

// Gaussian blur then stride-(1/scale) subsampling. The kernel is the buffer
// `weight` (channels,1,k,k), as in the checkpoints.
struct AntiAliasInterpolation2dImpl : torch::nn::Module {
  AntiAliasInterpolation2dImpl(int64_t channels, double scale);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight;
  int64_t channels, ka, kb, step;
  double scale;
};
TORCH_MODULE(AntiAliasInterpolation2d);

// (d, h, w, 3) grid with last dim (x, y, z), each 2 i/(n-1) - 1 in [-1, 1].
at::Tensor make_coordinate_grid_3d(int64_t d, int64_t h, int64_t w, const at::TensorOptions& options);

}  // namespace tavce::nn
