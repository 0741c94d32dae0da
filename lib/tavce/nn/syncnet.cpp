#include "tavce/nn/syncnet.h"

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

// Linear 512-512, BatchNorm1d, ReLU, Linear 512-fc (slots 0..3).
tnn::Sequential fc_head(int64_t out) {
  tnn::Sequential seq;
  seq->push_back(tnn::Linear(SyncNetImpl::kFeature, SyncNetImpl::kFeature));
  seq->push_back(tnn::BatchNorm1d(SyncNetImpl::kFeature));
  seq->push_back(tnn::ReLU());
  seq->push_back(tnn::Linear(SyncNetImpl::kFeature, out));
  return seq;
}

std::string shape_of(const at::Tensor& t) { return std::string(c10::str(t.sizes())); }

}  // namespace

SyncNetConfig SyncNetConfig::from_json(const nlohmann::json& j) {
  SyncNetConfig c;
  if (!j.is_object()) return c;
  c.num_layers_in_fc_layers = j.value("num_layers_in_fc_layers", c.num_layers_in_fc_layers);
  return c;
}

SyncNetImpl::SyncNetImpl(const SyncNetConfig& cfg_) : cfg(cfg_) {
  if (cfg.num_layers_in_fc_layers <= 0) throw Error("SyncNet: num_layers_in_fc_layers must be positive");

  // Audio, spatial sizes for a 13x20 window in the comments.
  tnn::Sequential aud;
  conv2d_bn_relu(aud, 1, 64, {3, 3}, {1, 1});                                   // 0-2: 64x13x20
  aud->push_back(tnn::MaxPool2d(tnn::MaxPool2dOptions({1, 1}).stride({1, 1})));  // 3: identity, kept for the indices
  conv2d_bn_relu(aud, 64, 192, {3, 3}, {1, 1});                                 // 4-6: 192x13x20
  aud->push_back(tnn::MaxPool2d(tnn::MaxPool2dOptions({3, 3}).stride({1, 2})));  // 7: 192x11x9
  conv2d_bn_relu(aud, 192, 384, {3, 3}, {1, 1});                                // 8-10
  conv2d_bn_relu(aud, 384, 256, {3, 3}, {1, 1});                                // 11-13
  conv2d_bn_relu(aud, 256, 256, {3, 3}, {1, 1});                                // 14-16
  aud->push_back(tnn::MaxPool2d(tnn::MaxPool2dOptions({3, 3}).stride({2, 2})));  // 17: 256x5x4
  conv2d_bn_relu(aud, 256, kFeature, {5, 4}, {0, 0});                           // 18-20: 512x1x1
  netcnnaud = register_module("netcnnaud", aud);
  netfcaud = register_module("netfcaud", fc_head(cfg.num_layers_in_fc_layers));

  // Video, (time, H, W) for a 5x224x224 window in the comments.
  tnn::Sequential lip;
  conv3d_bn_relu(lip, 3, 96, {5, 7, 7}, {1, 2, 2}, {0, 0, 0});  // 0-2: 96x1x109x109
  lip->push_back(tnn::MaxPool3d(tnn::MaxPool3dOptions({1, 3, 3}).stride({1, 2, 2})));  // 3: 54x54
  conv3d_bn_relu(lip, 96, 256, {1, 5, 5}, {1, 2, 2}, {0, 1, 1});  // 4-6: 26x26
  lip->push_back(tnn::MaxPool3d(tnn::MaxPool3dOptions({1, 3, 3}).stride({1, 2, 2}).padding({0, 1, 1})));  // 7: 13x13
  conv3d_bn_relu(lip, 256, 256, {1, 3, 3}, {1, 1, 1}, {0, 1, 1});  // 8-10
  conv3d_bn_relu(lip, 256, 256, {1, 3, 3}, {1, 1, 1}, {0, 1, 1});  // 11-13
  conv3d_bn_relu(lip, 256, 256, {1, 3, 3}, {1, 1, 1}, {0, 1, 1});  // 14-16
  lip->push_back(tnn::MaxPool3d(tnn::MaxPool3dOptions({1, 3, 3}).stride({1, 2, 2})));  // 17: 6x6
  conv3d_bn_relu(lip, 256, kFeature, {1, 6, 6}, {1, 1, 1}, {0, 0, 0});  // 18-20: 512x1x1x1
  netcnnlip = register_module("netcnnlip", lip);
  netfclip = register_module("netfclip", fc_head(cfg.num_layers_in_fc_layers));
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
  const at::Tensor mid = netcnnlip->forward(video);
  return mid.reshape({video.size(0), -1});
}

at::Tensor SyncNetImpl::forward_lip(const at::Tensor& video) { return netfclip->forward(forward_lipfeat(video)); }

}  // namespace tavce::nn
