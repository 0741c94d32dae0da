#include "tavce/nn/kp_detector.h"

#include <algorithm>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "tavce/error.h"

namespace tavce::nn {

KPDetectorConfig KPDetectorConfig::from_json(const nlohmann::json& j) {
  KPDetectorConfig c;
  c.block_expansion = j.value("block_expansion", c.block_expansion);
  c.feature_channel = j.value("feature_channel", c.feature_channel);
  c.num_kp = j.value("num_kp", c.num_kp);
  c.image_channel = j.value("image_channel", c.image_channel);
  c.max_features = j.value("max_features", c.max_features);
  c.reshape_channel = j.value("reshape_channel", c.reshape_channel);
  c.reshape_depth = j.value("reshape_depth", c.reshape_depth);
  c.num_blocks = j.value("num_blocks", c.num_blocks);
  c.temperature = j.value("temperature", c.temperature);
  c.estimate_jacobian = j.value("estimate_jacobian", c.estimate_jacobian);
  c.scale_factor = j.value("scale_factor", c.scale_factor);
  return c;
}

KPHourglassImpl::KPHourglassImpl(int64_t block_expansion, int64_t in_features, int64_t max_features,
                                 int64_t reshape_features, int64_t reshape_depth_, int64_t num_blocks)
    : reshape_depth(reshape_depth_) {
  auto width = [&](int64_t i) { return std::min(max_features, block_expansion * (int64_t(1) << i)); };
  down_blocks = register_module("down_blocks", std::make_shared<torch::nn::Module>());
  for (int64_t i = 0; i < num_blocks; ++i) {
    downs.emplace_back(i == 0 ? in_features : width(i), width(i + 1), 3, 1);
    down_blocks->register_module("down" + std::to_string(i), downs.back());
  }
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(width(num_blocks), reshape_features, 1)));
  up_blocks = register_module("up_blocks", std::make_shared<torch::nn::Module>());
  out_filters = width(num_blocks);
  for (int64_t i = 0; i < num_blocks; ++i) {
    const int64_t cin = width(num_blocks - i), cout = width(num_blocks - i - 1);
    ups.emplace_back(cin, cout, 3, 1);
    up_blocks->register_module("up" + std::to_string(i), ups.back());
    out_filters = cout;
  }
}

at::Tensor KPHourglassImpl::forward(const at::Tensor& x) {
  at::Tensor out = x;
  for (auto& block : downs) out = block->forward(out);
  out = conv->forward(out);
  // (B, C, h, w) -> (B, C/depth, depth, h, w): channel c*depth+d becomes (c, d).
  out = out.view({out.size(0), out.size(1) / reshape_depth, reshape_depth, out.size(2), out.size(3)});
  for (auto& block : ups) out = block->forward(out);
  return out;
}

KPDetectorImpl::KPDetectorImpl(const KPDetectorConfig& cfg) : config(cfg) {
  if (cfg.estimate_jacobian)
    throw Error("KPDetector: estimate_jacobian=true is not supported (SadTalker's facerender configs use false)");
  if (cfg.num_blocks < 1 || cfg.block_expansion <= 0 || cfg.max_features <= 0 || cfg.reshape_depth <= 0 ||
      cfg.num_kp <= 0 || cfg.image_channel <= 0 || cfg.temperature <= 0 || cfg.scale_factor <= 0)
    throw Error("KPDetector: invalid config (sizes, temperature and scale_factor must be positive)");
  const int64_t bottleneck = std::min(cfg.max_features, cfg.block_expansion * (int64_t(1) << cfg.num_blocks));
  if (cfg.reshape_channel % cfg.reshape_depth != 0)
    throw Error("KPDetector: reshape_channel " + std::to_string(cfg.reshape_channel) +
                " is not a multiple of reshape_depth " + std::to_string(cfg.reshape_depth));
  // The first UpBlock3d takes reshape_channel / reshape_depth channels; the
  // reference builds it for min(max_features, block_expansion * 2^num_blocks).
  if (cfg.reshape_channel / cfg.reshape_depth != bottleneck)
    throw Error("KPDetector: reshape_channel / reshape_depth (" +
                std::to_string(cfg.reshape_channel / cfg.reshape_depth) + ") must equal min(max_features, " +
                "block_expansion * 2^num_blocks) (" + std::to_string(bottleneck) + ")");
  predictor = register_module("predictor", KPHourglass(cfg.block_expansion, cfg.image_channel, cfg.max_features,
                                                       cfg.reshape_channel, cfg.reshape_depth, cfg.num_blocks));
  kp = register_module("kp", torch::nn::Conv3d(
                                 torch::nn::Conv3dOptions(predictor->out_filters, cfg.num_kp, 3).padding(1)));
  if (cfg.scale_factor != 1.0) down = register_module("down", AntiAliasInterpolation2d(cfg.image_channel, cfg.scale_factor));
}

at::Tensor KPDetectorImpl::predict(const at::Tensor& image) {
  if (image.dim() != 4 || image.size(1) != config.image_channel)
    throw Error("KPDetector: expected an image batch (B, " + std::to_string(config.image_channel) +
                ", H, W), got " + std::to_string(image.dim()) + " dims");
  at::Tensor x = down ? down->forward(image) : image;
  const int64_t f = int64_t(1) << config.num_blocks;
  if (x.size(2) % f != 0 || x.size(3) % f != 0)
    throw Error("KPDetector: image size " + std::to_string(image.size(2)) + "x" + std::to_string(image.size(3)) +
                " gives a " + std::to_string(x.size(2)) + "x" + std::to_string(x.size(3)) +
                " feature map after the anti-alias resize, not divisible by 2^num_blocks = " + std::to_string(f));
  return kp->forward(predictor->forward(x));
}

at::Tensor KPDetectorImpl::logits_to_kp(const at::Tensor& logits) const {
  const int64_t b = logits.size(0), k = logits.size(1), d = logits.size(2), h = logits.size(3), w = logits.size(4);
  // softmax(pred / temperature) over all d*h*w voxels of each keypoint, in the
  // logits' dtype (float32) with max subtraction as at::softmax does; the
  // reference divides by the temperature (not multiply by its inverse).
  const at::Tensor heat = at::softmax(logits.reshape({b, k, d * h * w}) / config.temperature, 2);
  const at::Tensor grid = make_coordinate_grid_3d(d, h, w, logits.options()).reshape({1, 1, d * h * w, 3});
  // value = sum over voxels of heatmap * (x, y, z)
  return (heat.unsqueeze(-1) * grid).sum(2);
}

at::Tensor KPDetectorImpl::forward(const at::Tensor& image) { return logits_to_kp(predict(image)); }

}  // namespace tavce::nn
