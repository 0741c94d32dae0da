#include "tavce/nn/dense_motion.h"

#include <algorithm>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "tavce/error.h"

namespace tavce::nn {

namespace {

int64_t width(int64_t block_expansion, int64_t level, int64_t max_features) {
  return std::min(max_features, block_expansion * (int64_t(1) << level));
}

// exp(-0.5 |grid - kp|^2 / variance) per keypoint: (B, K, D, H, W).
at::Tensor kp_to_gaussian(const at::Tensor& kp, const at::Tensor& grid, double variance) {
  const int64_t b = kp.size(0), k = kp.size(1);
  const at::Tensor diff = grid.unsqueeze(0).unsqueeze(0) - kp.view({b, k, 1, 1, 1, 3});
  // Same operation order as the reference: (-0.5 * sum) / variance.
  return at::exp(-0.5 * diff.pow(2).sum(-1) / variance);
}

}  // namespace

DenseMotionConfig DenseMotionConfig::from_json(const nlohmann::json& j) {
  DenseMotionConfig c;
  c.block_expansion = j.value("block_expansion", c.block_expansion);
  c.max_features = j.value("max_features", c.max_features);
  c.num_blocks = j.value("num_blocks", c.num_blocks);
  c.reshape_depth = j.value("reshape_depth", c.reshape_depth);
  c.compress = j.value("compress", c.compress);
  c.num_kp = j.value("num_kp", c.num_kp);
  c.feature_channel = j.value("feature_channel", c.feature_channel);
  c.estimate_occlusion_map = j.value("estimate_occlusion_map", c.estimate_occlusion_map);
  return c;
}

HourglassEncoderImpl::HourglassEncoderImpl(int64_t be, int64_t in_features, int64_t num_blocks, int64_t max_f) {
  down_blocks = register_module("down_blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_blocks; ++i) {
    const int64_t cin = i == 0 ? in_features : width(be, i, max_f);
    blocks.emplace_back(cin, width(be, i + 1, max_f));
    down_blocks->push_back(blocks.back());
  }
}

std::vector<at::Tensor> HourglassEncoderImpl::forward(const at::Tensor& x) {
  std::vector<at::Tensor> outs{x};
  for (auto& block : blocks) outs.push_back(block->forward(outs.back()));
  return outs;
}

HourglassDecoderImpl::HourglassDecoderImpl(int64_t be, int64_t in_features, int64_t num_blocks, int64_t max_f) {
  up_blocks = register_module("up_blocks", torch::nn::ModuleList());
  // up_blocks.0 is the deepest level; every later one also takes the skip.
  for (int64_t i = num_blocks - 1; i >= 0; --i) {
    const int64_t cin = (i == num_blocks - 1 ? 1 : 2) * width(be, i + 1, max_f);
    blocks.emplace_back(cin, width(be, i, max_f));
    up_blocks->push_back(blocks.back());
  }
  out_filters = be + in_features;
  conv = register_module("conv", torch::nn::Conv3d(torch::nn::Conv3dOptions(out_filters, out_filters, 3).padding(1)));
  norm = register_module("norm", torch::nn::BatchNorm3d(out_filters));
}

at::Tensor HourglassDecoderImpl::forward(std::vector<at::Tensor> skips) {
  at::Tensor out = skips.back();
  skips.pop_back();
  for (auto& block : blocks) {
    out = at::cat({block->forward(out), skips.back()}, 1);
    skips.pop_back();
  }
  return at::relu(norm->forward(conv->forward(out)));
}

HourglassImpl::HourglassImpl(int64_t be, int64_t in_features, int64_t num_blocks, int64_t max_f) {
  encoder = register_module("encoder", HourglassEncoder(be, in_features, num_blocks, max_f));
  decoder = register_module("decoder", HourglassDecoder(be, in_features, num_blocks, max_f));
  out_filters = decoder->out_filters;
}

at::Tensor HourglassImpl::forward(const at::Tensor& x) { return decoder->forward(encoder->forward(x)); }

DenseMotionNetworkImpl::DenseMotionNetworkImpl(const DenseMotionConfig& config_) : config(config_) {
  const int64_t in_features = (config.num_kp + 1) * (config.compress + 1);
  hourglass = register_module(
      "hourglass", Hourglass(config.block_expansion, in_features, config.num_blocks, config.max_features));
  mask = register_module(
      "mask", torch::nn::Conv3d(torch::nn::Conv3dOptions(hourglass->out_filters, config.num_kp + 1, 7).padding(3)));
  compress = register_module("compress",
                             torch::nn::Conv3d(torch::nn::Conv3dOptions(config.feature_channel, config.compress, 1)));
  norm = register_module("norm", torch::nn::BatchNorm3d(config.compress));
  if (config.estimate_occlusion_map)
    occlusion = register_module(
        "occlusion",
        torch::nn::Conv2d(torch::nn::Conv2dOptions(hourglass->out_filters * config.reshape_depth, 1, 7).padding(3)));
}

DenseMotion DenseMotionNetworkImpl::forward(const at::Tensor& feature_in, const at::Tensor& kp_driving,
                                            const at::Tensor& kp_source) {
  const int64_t k = config.num_kp;
  if (feature_in.dim() != 5 || feature_in.size(1) != config.feature_channel)
    throw Error("DenseMotionNetwork: feature must be (B, " + std::to_string(config.feature_channel) +
                ", D, H, W)");
  const int64_t b = feature_in.size(0), d = feature_in.size(2), h = feature_in.size(3), w = feature_in.size(4);
  for (const at::Tensor* kp : {&kp_driving, &kp_source})
    if (kp->dim() != 3 || kp->size(0) != b || kp->size(1) != k || kp->size(2) != 3)
      throw Error("DenseMotionNetwork: keypoints must be (" + std::to_string(b) + ", " + std::to_string(k) +
                  ", 3)");

  const at::Tensor feature = at::relu(norm->forward(compress->forward(feature_in)));
  const int64_t c = feature.size(1);

  // Sparse motions (B, K+1, D, H, W, 3): slot 0 the identity grid, slot k the
  // grid moved by kp_source[k] - kp_driving[k] (no jacobians in this config).
  const at::Tensor grid = make_coordinate_grid_3d(d, h, w, feature.options());
  const at::Tensor moved =
      grid.view({1, 1, d, h, w, 3}) - kp_driving.view({b, k, 1, 1, 1, 3}) + kp_source.view({b, k, 1, 1, 1, 3});
  const at::Tensor sparse_motion = at::cat({grid.view({1, 1, d, h, w, 3}).expand({b, 1, d, h, w, 3}), moved}, 1);

  // Source features warped by each motion: (B, K+1, C, D, H, W). grid_sample
  // with the PyTorch defaults: trilinear, zeros padding, align_corners=False.
  const at::Tensor feature_rep = feature.unsqueeze(1).expand({b, k + 1, c, d, h, w}).reshape({b * (k + 1), c, d, h, w});
  const at::Tensor deformed =
      at::grid_sampler(feature_rep, sparse_motion.reshape({b * (k + 1), d, h, w, 3}), /*bilinear*/ 0, /*zeros*/ 0,
                       /*align_corners=*/false)
          .view({b, k + 1, c, d, h, w});

  // Heatmaps (driving minus source Gaussians, variance 0.01), zeros for slot 0.
  const at::Tensor heat = kp_to_gaussian(kp_driving, grid, 0.01) - kp_to_gaussian(kp_source, grid, 0.01);
  const at::Tensor heatmap = at::cat({at::zeros({b, 1, d, h, w}, heat.options()), heat}, 1).unsqueeze(2);

  // Per slot [heat, f0..f(c-1)] -> (B, (K+1)(C+1), D, H, W).
  const at::Tensor input = at::cat({heatmap, deformed}, 2).view({b, -1, d, h, w});
  const at::Tensor prediction = hourglass->forward(input);

  DenseMotion out;
  out.mask = at::softmax(mask->forward(prediction), 1);
  // Quirk kept from the reference: weights under 1e-3 are dropped from the
  // deformation without renormalising the rest; the returned mask is the
  // softmax before this cut.
  const at::Tensor kept = at::where(out.mask < 1e-3, at::zeros_like(out.mask), out.mask);
  out.deformation = (sparse_motion * kept.unsqueeze(-1)).sum(1);

  if (occlusion) {
    // Channel index c * D + d, as .view(B, -1, H, W) of (B, C, D, H, W).
    out.occlusion_map = at::sigmoid(occlusion->forward(prediction.reshape({b, -1, h, w})));
  }
  return out;
}

}  // namespace tavce::nn
