#include "tavce/nn/blocks.h"

#include <cmath>

#include <ATen/ATen.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/pooling.h>
#include <torch/nn/functional/upsampling.h>

namespace tavce::nn {

namespace F = torch::nn::functional;

W2LConvImpl::W2LConvImpl(int64_t cin, int64_t cout, torch::ExpandingArray<2> kernel,
                         torch::ExpandingArray<2> stride, torch::ExpandingArray<2> padding, bool residual_)
    : residual(residual_) {
  conv_block = register_module(
      "conv_block",
      torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(cin, cout, kernel).stride(stride).padding(padding)),
                            torch::nn::BatchNorm2d(cout)));
}

at::Tensor W2LConvImpl::forward(const at::Tensor& x) {
  at::Tensor out = conv_block->forward(x);
  if (residual) out = out + x;
  return at::relu(out);
}

DownBlock2dImpl::DownBlock2dImpl(int64_t cin, int64_t cout, int64_t kernel, int64_t padding) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(cin, cout, kernel).padding(padding)));
  norm = register_module("norm", torch::nn::BatchNorm2d(cout));
}

at::Tensor DownBlock2dImpl::forward(const at::Tensor& x) {
  return at::avg_pool2d(at::relu(norm->forward(conv->forward(x))), {2, 2});
}

SameBlock2dImpl::SameBlock2dImpl(int64_t cin, int64_t cout, int64_t kernel, int64_t padding, bool lrelu_)
    : lrelu(lrelu_) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(cin, cout, kernel).padding(padding)));
  norm = register_module("norm", torch::nn::BatchNorm2d(cout));
}

at::Tensor SameBlock2dImpl::forward(const at::Tensor& x) {
  const at::Tensor y = norm->forward(conv->forward(x));
  return lrelu ? at::leaky_relu(y, 0.01) : at::relu(y);
}

UpBlock3dImpl::UpBlock3dImpl(int64_t cin, int64_t cout, int64_t kernel, int64_t padding) {
  conv = register_module("conv", torch::nn::Conv3d(torch::nn::Conv3dOptions(cin, cout, kernel).padding(padding)));
  norm = register_module("norm", torch::nn::BatchNorm3d(cout));
}

at::Tensor UpBlock3dImpl::forward(const at::Tensor& x) {
  // Nearest x2 in H and W only: every voxel repeated, the same as the
  // reference's F.interpolate(scale_factor=(1, 2, 2)).
  const at::Tensor up = x.repeat_interleave(2, 3).repeat_interleave(2, 4);
  return at::relu(norm->forward(conv->forward(up)));
}

DownBlock3dImpl::DownBlock3dImpl(int64_t cin, int64_t cout, int64_t kernel, int64_t padding) {
  conv = register_module("conv", torch::nn::Conv3d(torch::nn::Conv3dOptions(cin, cout, kernel).padding(padding)));
  norm = register_module("norm", torch::nn::BatchNorm3d(cout));
}

at::Tensor DownBlock3dImpl::forward(const at::Tensor& x) {
  return at::avg_pool3d(at::relu(norm->forward(conv->forward(x))), {1, 2, 2});
}

ResBlock3dImpl::ResBlock3dImpl(int64_t channels, int64_t kernel, int64_t padding) {
  auto opts = torch::nn::Conv3dOptions(channels, channels, kernel).padding(padding);
  conv1 = register_module("conv1", torch::nn::Conv3d(opts));
  conv2 = register_module("conv2", torch::nn::Conv3d(opts));
  norm1 = register_module("norm1", torch::nn::BatchNorm3d(channels));
  norm2 = register_module("norm2", torch::nn::BatchNorm3d(channels));
}

at::Tensor ResBlock3dImpl::forward(const at::Tensor& x) {
  at::Tensor out = conv1->forward(at::relu(norm1->forward(x)));
  out = conv2->forward(at::relu(norm2->forward(out)));
  return out + x;
}

AntiAliasInterpolation2dImpl::AntiAliasInterpolation2dImpl(int64_t channels_, double scale_)
    : channels(channels_), scale(scale_) {
  const double sigma = (1.0 / scale - 1.0) / 2.0;
  int64_t size = 2 * int64_t(std::round(sigma * 4)) + 1;
  ka = size / 2;
  kb = size % 2 == 0 ? ka - 1 : ka;
  step = int64_t(1.0 / scale);
  // Product of two 1-D Gaussians, normalised to sum 1 (the checkpoints store
  // the same values, so loading overwrites this with identical numbers).
  const at::Tensor r = at::arange(size, at::kFloat);
  const double mean = (size - 1) / 2.0;
  const at::Tensor g = at::exp(-(r - mean).pow(2) / (2 * sigma * sigma));
  at::Tensor kernel = at::outer(g, g);
  kernel = kernel / kernel.sum();
  weight = register_buffer("weight", kernel.view({1, 1, size, size}).repeat({channels, 1, 1, 1}));
}

at::Tensor AntiAliasInterpolation2dImpl::forward(const at::Tensor& x) {
  if (scale == 1.0) return x;
  const at::Tensor padded = at::constant_pad_nd(x, {ka, kb, ka, kb});
  const std::vector<int64_t> one{1, 1}, zero{0, 0};
  const at::Tensor blurred = at::conv2d(padded, weight, {}, one, zero, one, channels);
  using at::indexing::Slice;
  return blurred.index({Slice(), Slice(), Slice(at::indexing::None, at::indexing::None, step),
                        Slice(at::indexing::None, at::indexing::None, step)});
}

at::Tensor make_coordinate_grid_3d(int64_t d, int64_t h, int64_t w, const at::TensorOptions& options) {
  auto axis = [&](int64_t n) { return 2 * (at::arange(n, options) / double(n - 1)) - 1; };
  const at::Tensor x = axis(w).view({1, 1, w}).expand({d, h, w});
  const at::Tensor y = axis(h).view({1, h, 1}).expand({d, h, w});
  const at::Tensor z = axis(d).view({d, 1, 1}).expand({d, h, w});
  return at::stack({x, y, z}, 3);
}

}  // namespace tavce::nn
