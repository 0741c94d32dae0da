#include "tavce/nn/res_unet.h"

#include <string>

#include <ATen/ATen.h>
#include <torch/nn/modules/activation.h>

#include "tavce/error.h"

namespace tavce::nn {
namespace {

torch::nn::Conv2d conv3x3(int64_t cin, int64_t cout, torch::ExpandingArray<2> stride, int64_t padding) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(cin, cout, 3).stride(stride).padding(padding));
}

}  // namespace

ResidualConvImpl::ResidualConvImpl(int64_t cin, int64_t cout, torch::ExpandingArray<2> stride, int64_t padding) {
  conv_block = register_module(
      "conv_block", torch::nn::Sequential(torch::nn::BatchNorm2d(cin), torch::nn::ReLU(),
                                          conv3x3(cin, cout, stride, padding), torch::nn::BatchNorm2d(cout),
                                          torch::nn::ReLU(), conv3x3(cout, cout, 1, 1)));
  conv_skip = register_module("conv_skip",
                              torch::nn::Sequential(conv3x3(cin, cout, stride, 1), torch::nn::BatchNorm2d(cout)));
}

at::Tensor ResidualConvImpl::forward(const at::Tensor& x) {
  return conv_block->forward(x) + conv_skip->forward(x);
}

ResUnetUpsampleImpl::ResUnetUpsampleImpl(int64_t cin, int64_t cout, torch::ExpandingArray<2> kernel,
                                         torch::ExpandingArray<2> stride) {
  upsample = register_module("upsample",
                             torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(cin, cout, kernel).stride(stride)));
}

at::Tensor ResUnetUpsampleImpl::forward(const at::Tensor& x) { return upsample->forward(x); }

ResUnetImpl::ResUnetImpl(int64_t channels, std::array<int64_t, 4> f) {
  const torch::ExpandingArray<2> down{2, 1};  // halve time, keep the 6 pose dims
  input_layer = register_module(
      "input_layer", torch::nn::Sequential(conv3x3(channels, f[0], 1, 1), torch::nn::BatchNorm2d(f[0]),
                                           torch::nn::ReLU(), conv3x3(f[0], f[0], 1, 1)));
  input_skip = register_module("input_skip", torch::nn::Sequential(conv3x3(channels, f[0], 1, 1)));
  residual_conv_1 = register_module("residual_conv_1", ResidualConv(f[0], f[1], down, 1));
  residual_conv_2 = register_module("residual_conv_2", ResidualConv(f[1], f[2], down, 1));
  bridge = register_module("bridge", ResidualConv(f[2], f[3], down, 1));
  upsample_1 = register_module("upsample_1", ResUnetUpsample(f[3], f[3], down, down));
  up_residual_conv1 = register_module("up_residual_conv1", ResidualConv(f[3] + f[2], f[2], 1, 1));
  upsample_2 = register_module("upsample_2", ResUnetUpsample(f[2], f[2], down, down));
  up_residual_conv2 = register_module("up_residual_conv2", ResidualConv(f[2] + f[1], f[1], 1, 1));
  upsample_3 = register_module("upsample_3", ResUnetUpsample(f[1], f[1], down, down));
  up_residual_conv3 = register_module("up_residual_conv3", ResidualConv(f[1] + f[0], f[0], 1, 1));
  output_layer = register_module(
      "output_layer", torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(f[0], 1, 1)),
                                            torch::nn::Sigmoid()));
}

at::Tensor ResUnetImpl::forward(const at::Tensor& x) {
  if (x.dim() != 4 || x.size(2) % 8 != 0)
    throw Error("ResUnet: expected (B, C, H, W) with H divisible by 8, got " + std::string(c10::str(x.sizes())));
  const at::Tensor x1 = input_layer->forward(x) + input_skip->forward(x);
  const at::Tensor x2 = residual_conv_1->forward(x1);
  const at::Tensor x3 = residual_conv_2->forward(x2);
  const at::Tensor x4 = bridge->forward(x3);
  // Decoder: upsampled features first, then the skip connection.
  const at::Tensor x6 = up_residual_conv1->forward(at::cat({upsample_1->forward(x4), x3}, 1));
  const at::Tensor x8 = up_residual_conv2->forward(at::cat({upsample_2->forward(x6), x2}, 1));
  const at::Tensor x10 = up_residual_conv3->forward(at::cat({upsample_3->forward(x8), x1}, 1));
  return output_layer->forward(x10);
}

}  // namespace tavce::nn
