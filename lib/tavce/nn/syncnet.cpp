#include "tavce/nn/syncnet.h"

#include <algorithm>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include "tavce/error.h"

namespace tavce::nn {
namespace {

namespace tnn = torch::nn;

// Appends Conv2d + BatchNorm2d + ReLU (three Sequential slots).
void conv2d_bn_relu(tnn::Sequential& seq, int64_t cin, int64_t cout, torch::ExpandingArray<2> kernel,
                    torch::ExpandingArray<2> padding) {
  seq->push_back(tnn::Conv2d(tnn::Conv2dOptions(cin, cout, kernel).stride(1).padding(padding)));
  seq->push_back(tnn::BatchNorm2d(cout));
  seq->push_back(tnn::ReLU());
}

// Appends Conv3d + BatchNorm3d + ReLU (three Sequential slots).
void conv3d_bn_relu(tnn::Sequential& seq, int64_t cin, int64_t cout, torch::ExpandingArray<3> kernel,
                    torch::ExpandingArray<3> stride, torch::ExpandingArray<3> padding) {
  seq->push_back(tnn::Conv3d(tnn::Conv3dOptions(cin, cout, kernel).stride(stride).padding(padding)));
  seq->push_back(tnn::BatchNorm3d(cout));
  seq->push_back(tnn::ReLU());
}

// Linear f-f, BatchNorm1d, ReLU, Linear f-fc (slots 0..3); f = 512 in the reference.
tnn::Sequential fc_head(int64_t feature, int64_t out) {
  tnn::Sequential seq;
  seq->push_back(tnn::Linear(feature, feature));
  seq->push_back(tnn::BatchNorm1d(feature));
  seq->push_back(tnn::ReLU());
  seq->push_back(tnn::Linear(feature, out));
  return seq;
}

// Output side of a convolution or pooling along one axis; 0 when the window
// does not fit (C++ division would round a negative span up to a side of 1).
int64_t out_side(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  return in + 2 * pad < kernel ? 0 : (in + 2 * pad - kernel) / stride + 1;
}

std::string shape_of(const at::Tensor& t) { return std::string(c10::str(t.sizes())); }

}  // namespace

SyncNetConfig SyncNetConfig::from_json(const nlohmann::json& j) {
  SyncNetConfig c;
  if (!j.is_object()) return c;
  c.num_layers_in_fc_layers = j.value("num_layers_in_fc_layers", c.num_layers_in_fc_layers);
  c.audio_channels = j.value("audio_channels", c.audio_channels);
  c.lip_channels = j.value("lip_channels", c.lip_channels);
  c.lip_downsample = j.value("lip_downsample", c.lip_downsample);
  c.lip_region = j.value("lip_region", c.lip_region);
  return c;
}

SyncNetImpl::SyncNetImpl(const SyncNetConfig& cfg_) : cfg(cfg_) {
  if (cfg.num_layers_in_fc_layers <= 0) throw Error("SyncNet: num_layers_in_fc_layers must be positive");
  auto check_channels = [](const std::vector<int64_t>& c, const char* name) {
    if (c.size() != 6 || std::any_of(c.begin(), c.end(), [](int64_t v) { return v <= 0; }))
      throw Error(std::string("SyncNet: ") + name + " must list 6 positive channel counts");
  };
  check_channels(cfg.audio_channels, "audio_channels");
  check_channels(cfg.lip_channels, "lip_channels");
  if (cfg.lip_downsample != 1 && cfg.lip_downsample != 2 && cfg.lip_downsample != 4)
    throw Error("SyncNet: lip_downsample must be 1, 2 or 4");
  const std::vector<int64_t>& r = cfg.lip_region;
  if (r.size() != 4 || r[0] < 0 || r[1] < 0 || r[2] <= 0 || r[3] <= 0 || r[0] + r[2] > kImageSize ||
      r[1] + r[3] > kImageSize)
    throw Error("SyncNet: lip_region must be {top, left, height, width} inside the 224x224 crop");
  const std::vector<int64_t>& a = cfg.audio_channels;
  const std::vector<int64_t>& l = cfg.lip_channels;

  // Audio, spatial sizes for a 13x20 window and the reference widths in the comments.
  tnn::Sequential aud;
  conv2d_bn_relu(aud, 1, a[0], {3, 3}, {1, 1});                                  // 0-2: 64x13x20
  aud->push_back(tnn::MaxPool2d(tnn::MaxPool2dOptions({1, 1}).stride({1, 1})));  // 3: identity, kept for the indices
  conv2d_bn_relu(aud, a[0], a[1], {3, 3}, {1, 1});                               // 4-6: 192x13x20
  aud->push_back(tnn::MaxPool2d(tnn::MaxPool2dOptions({3, 3}).stride({1, 2})));  // 7: 192x11x9
  conv2d_bn_relu(aud, a[1], a[2], {3, 3}, {1, 1});                               // 8-10
  conv2d_bn_relu(aud, a[2], a[3], {3, 3}, {1, 1});                               // 11-13
  conv2d_bn_relu(aud, a[3], a[4], {3, 3}, {1, 1});                               // 14-16
  aud->push_back(tnn::MaxPool2d(tnn::MaxPool2dOptions({3, 3}).stride({2, 2})));  // 17: 256x5x4
  conv2d_bn_relu(aud, a[4], a[5], {5, 4}, {0, 0});                               // 18-20: 512x1x1
  netcnnaud = register_module("netcnnaud", aud);
  netfcaud = register_module("netfcaud", fc_head(a[5], cfg.num_layers_in_fc_layers));

  // Video, (time, H, W) for a 5x224x224 window in the comments; the side
  // after the three pools decides the last kernel (6 at 224, 2 at 112, 1 at 56).
  auto final_side = [](int64_t side) {
    side = out_side(side, 7, 2, 0);                  // conv 0
    if (side > 0) side = out_side(side, 3, 2, 0);    // pool 3
    if (side > 0) side = out_side(side, 5, 2, 1);    // conv 4
    if (side > 0) side = out_side(side, 3, 2, 1);    // pool 7
    return side > 0 ? out_side(side, 3, 2, 0) : 0;   // pool 17
  };
  const int64_t rows = final_side(r[2] / cfg.lip_downsample), cols = final_side(r[3] / cfg.lip_downsample);
  if (rows < 1 || cols < 1) throw Error("SyncNet: lip_region / lip_downsample leave no spatial extent");
  tnn::Sequential lip;
  conv3d_bn_relu(lip, 3, l[0], {5, 7, 7}, {1, 2, 2}, {0, 0, 0});  // 0-2: 96x1x109x109
  lip->push_back(tnn::MaxPool3d(tnn::MaxPool3dOptions({1, 3, 3}).stride({1, 2, 2})));  // 3: 54x54
  conv3d_bn_relu(lip, l[0], l[1], {1, 5, 5}, {1, 2, 2}, {0, 1, 1});  // 4-6: 26x26
  lip->push_back(tnn::MaxPool3d(tnn::MaxPool3dOptions({1, 3, 3}).stride({1, 2, 2}).padding({0, 1, 1})));  // 7: 13x13
  conv3d_bn_relu(lip, l[1], l[2], {1, 3, 3}, {1, 1, 1}, {0, 1, 1});  // 8-10
  conv3d_bn_relu(lip, l[2], l[3], {1, 3, 3}, {1, 1, 1}, {0, 1, 1});  // 11-13
  conv3d_bn_relu(lip, l[3], l[4], {1, 3, 3}, {1, 1, 1}, {0, 1, 1});  // 14-16
  lip->push_back(tnn::MaxPool3d(tnn::MaxPool3dOptions({1, 3, 3}).stride({1, 2, 2})));  // 17: 6x6
  conv3d_bn_relu(lip, l[4], l[5], {1, rows, cols}, {1, 1, 1}, {0, 0, 0});  // 18-20: 512x1x1x1
  netcnnlip = register_module("netcnnlip", lip);
  netfclip = register_module("netfclip", fc_head(l[5], cfg.num_layers_in_fc_layers));
}

at::Tensor SyncNetImpl::forward_aud(const at::Tensor& mfcc) {
  if (mfcc.dim() != 4 || mfcc.size(1) != 1 || mfcc.size(2) != kMfcc || mfcc.size(3) != kMfccSteps)
    throw Error("SyncNet: expected MFCC windows of shape (N, 1, 13, 20), got " + shape_of(mfcc));
  const at::Tensor mid = netcnnaud->forward(mfcc);
  return netfcaud->forward(mid.reshape({mfcc.size(0), -1}));
}

at::Tensor SyncNetImpl::forward_lipfeat(const at::Tensor& video) {
  if (video.dim() != 5 || video.size(1) != 3 || video.size(2) != kFrames || video.size(3) != kImageSize ||
      video.size(4) != kImageSize)
    throw Error("SyncNet: expected video windows of shape (N, 3, 5, 224, 224) (BGR, 0..255), got " +
                shape_of(video));
  // The mouth region, then area averaging: keeps the raw 0..255 scale, differentiable.
  const std::vector<int64_t>& r = cfg.lip_region;
  at::Tensor input = video.slice(3, r[0], r[0] + r[2]).slice(4, r[1], r[1] + r[3]);
  if (cfg.lip_downsample != 1) input = at::avg_pool3d(input, {1, cfg.lip_downsample, cfg.lip_downsample});
  const at::Tensor mid = netcnnlip->forward(input);
  return mid.reshape({video.size(0), -1});
}

at::Tensor SyncNetImpl::forward_lip(const at::Tensor& video) { return netfclip->forward(forward_lipfeat(video)); }

}  // namespace tavce::nn
