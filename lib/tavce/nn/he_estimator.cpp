#include "tavce/nn/he_estimator.h"

#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "tavce/error.h"

namespace tavce::nn {
namespace {

torch::nn::Conv2d conv(int64_t cin, int64_t cout, int64_t k, int64_t stride, int64_t pad) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(cin, cout, k).stride(stride).padding(pad).bias(true));
}

// Sequential of n stride-1 bottlenecks named "<prefix>_0".."<prefix>_{n-1}".
torch::nn::Sequential bottleneck_stack(const std::string& prefix, int64_t channels, int64_t n) {
  torch::nn::Sequential seq;
  for (int64_t i = 0; i < n; ++i) seq->push_back(prefix + "_" + std::to_string(i), ResBottleneck(channels, 1));
  return seq;
}

}  // namespace

HEEstimatorConfig HEEstimatorConfig::from_json(const nlohmann::json& j) {
  HEEstimatorConfig c;
  c.block_expansion = j.value("block_expansion", c.block_expansion);
  c.feature_channel = j.value("feature_channel", c.feature_channel);
  c.num_kp = j.value("num_kp", c.num_kp);
  c.image_channel = j.value("image_channel", c.image_channel);
  c.max_features = j.value("max_features", c.max_features);
  c.num_bins = j.value("num_bins", c.num_bins);
  c.estimate_jacobian = j.value("estimate_jacobian", c.estimate_jacobian);
  return c;
}

ResBottleneckImpl::ResBottleneckImpl(int64_t in_features, int64_t stride) {
  if (in_features < 4 || in_features % 4 != 0 || stride < 1)
    throw Error("ResBottleneck: in_features must be a positive multiple of 4 and stride >= 1");
  const int64_t mid = in_features / 4;
  conv1 = register_module("conv1", conv(in_features, mid, 1, 1, 0));
  conv2 = register_module("conv2", conv(mid, mid, 3, stride, 1));
  conv3 = register_module("conv3", conv(mid, in_features, 1, 1, 0));
  norm1 = register_module("norm1", torch::nn::BatchNorm2d(mid));
  norm2 = register_module("norm2", torch::nn::BatchNorm2d(mid));
  norm3 = register_module("norm3", torch::nn::BatchNorm2d(in_features));
  if (stride != 1) {
    skip = register_module("skip", conv(in_features, in_features, 1, stride, 0));
    norm4 = register_module("norm4", torch::nn::BatchNorm2d(in_features));
  }
}

at::Tensor ResBottleneckImpl::forward(const at::Tensor& x) {
  at::Tensor y = at::relu(norm1->forward(conv1->forward(x)));
  y = at::relu(norm2->forward(conv2->forward(y)));
  y = norm3->forward(conv3->forward(y));
  const at::Tensor s = skip ? norm4->forward(skip->forward(x)) : x;
  return at::relu(y + s);
}

HEEstimatorImpl::HEEstimatorImpl(const HEEstimatorConfig& cfg) : config(cfg) {
  if (cfg.block_expansion <= 0 || cfg.image_channel <= 0 || cfg.num_kp <= 0 || cfg.num_bins <= 0)
    throw Error("HEEstimator: invalid config (block_expansion, image_channel, num_kp and num_bins must be > 0)");
  // Stage widths are literals in the reference (not derived from max_features).
  conv1 = register_module("conv1", conv(cfg.image_channel, cfg.block_expansion, 7, 2, 3));
  norm1 = register_module("norm1", torch::nn::BatchNorm2d(cfg.block_expansion));
  conv2 = register_module("conv2", conv(cfg.block_expansion, 256, 1, 1, 0));
  norm2 = register_module("norm2", torch::nn::BatchNorm2d(256));
  block1 = register_module("block1", bottleneck_stack("b1", 256, 3));
  conv3 = register_module("conv3", conv(256, 512, 1, 1, 0));
  norm3 = register_module("norm3", torch::nn::BatchNorm2d(512));
  block2 = register_module("block2", ResBottleneck(512, 2));
  block3 = register_module("block3", bottleneck_stack("b3", 512, 3));
  conv4 = register_module("conv4", conv(512, 1024, 1, 1, 0));
  norm4 = register_module("norm4", torch::nn::BatchNorm2d(1024));
  block4 = register_module("block4", ResBottleneck(1024, 2));
  block5 = register_module("block5", bottleneck_stack("b5", 1024, 5));
  conv5 = register_module("conv5", conv(1024, 2048, 1, 1, 0));
  norm5 = register_module("norm5", torch::nn::BatchNorm2d(2048));
  block6 = register_module("block6", ResBottleneck(2048, 2));
  block7 = register_module("block7", bottleneck_stack("b7", 2048, 2));
  fc_roll = register_module("fc_roll", torch::nn::Linear(2048, cfg.num_bins));
  fc_pitch = register_module("fc_pitch", torch::nn::Linear(2048, cfg.num_bins));
  fc_yaw = register_module("fc_yaw", torch::nn::Linear(2048, cfg.num_bins));
  fc_t = register_module("fc_t", torch::nn::Linear(2048, 3));
  fc_exp = register_module("fc_exp", torch::nn::Linear(2048, 3 * cfg.num_kp));
}

HeadPose HEEstimatorImpl::forward(const at::Tensor& image) {
  if (image.dim() != 4 || image.size(1) != config.image_channel || image.size(2) < 2 || image.size(3) < 2)
    throw Error("HEEstimator: expected an image batch (B, " + std::to_string(config.image_channel) +
                ", H, W) (256x256 in the reference), got " + std::to_string(image.dim()) + " dims" +
                (image.dim() == 4 ? " with " + std::to_string(image.size(1)) + " channels" : std::string()));
  at::Tensor out = at::relu(norm1->forward(conv1->forward(image)));
  out = at::max_pool2d(out, {3, 3}, {2, 2}, {1, 1});
  out = at::relu(norm2->forward(conv2->forward(out)));
  out = block1->forward(out);
  out = at::relu(norm3->forward(conv3->forward(out)));
  out = block2->forward(out);
  out = block3->forward(out);
  out = at::relu(norm4->forward(conv4->forward(out)));
  out = block4->forward(out);
  out = block5->forward(out);
  out = at::relu(norm5->forward(conv5->forward(out)));
  out = block6->forward(out);
  out = block7->forward(out);
  out = at::adaptive_avg_pool2d(out, {1, 1}).flatten(1);  // F.adaptive_avg_pool2d(out, 1) + view(B, -1)
  HeadPose he;
  // Swapped on purpose: the reference returns yaw = fc_roll(out) and
  // roll = fc_yaw(out); checkpoints were trained with this wiring.
  he.yaw = fc_roll->forward(out);
  he.pitch = fc_pitch->forward(out);
  he.roll = fc_yaw->forward(out);
  he.t = fc_t->forward(out);
  he.exp = fc_exp->forward(out);
  return he;
}

}  // namespace tavce::nn
