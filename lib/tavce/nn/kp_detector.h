// KPDetector: canonical 3-D keypoints of the source image (reference-architecture
// §3.6, SadTalker src/facerender/modules/keypoint_detector.py, facerender.yaml
// kp_detector_params). Keys as under "kp_extractor." in SadTalker_V0.0.2_256.safetensors:
// predictor.down_blocks.down{i}, predictor.conv, predictor.up_blocks.up{i}, kp, down.weight.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <memory>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include "tavce/nn/blocks.h"

namespace tavce::nn {

struct KPDetectorConfig {
  int64_t block_expansion = 32;
  int64_t feature_channel = 32;  // unused by the network (constructor argument of the reference)
  int64_t num_kp = 15;
  int64_t image_channel = 3;
  int64_t max_features = 1024;
  int64_t reshape_channel = 16384;
  int64_t reshape_depth = 16;
  int64_t num_blocks = 5;
  double temperature = 0.1;
  bool estimate_jacobian = false;  // true is not supported (no official checkpoint uses it)
  double scale_factor = 0.25;
  static KPDetectorConfig from_json(const nlohmann::json& j);
};

// The 2-D encoder / 3-D decoder hourglass ("predictor"): DownBlock2d x num_blocks,
// conv1x1 to reshape_channel, view (B, C/depth, depth, h, w), UpBlock3d x num_blocks.
struct KPHourglassImpl : torch::nn::Module {
  KPHourglassImpl(int64_t block_expansion, int64_t in_features, int64_t max_features, int64_t reshape_features,
                  int64_t reshape_depth, int64_t num_blocks);
  at::Tensor forward(const at::Tensor& x);

  std::vector<DownBlock2d> downs;  // registered in down_blocks as down0..
  std::vector<UpBlock3d> ups;      // registered in up_blocks as up0..
  // Plain containers: only their children's keys matter (down_blocks.down0...).
  std::shared_ptr<torch::nn::Module> down_blocks, up_blocks;
  torch::nn::Conv2d conv{nullptr};
  int64_t reshape_depth, out_filters;
};
TORCH_MODULE(KPHourglass);

struct KPDetectorImpl : torch::nn::Module {
  explicit KPDetectorImpl(const KPDetectorConfig& config = {});
  // image (B, image_channel, H, W) in [0,1], H and W divisible by
  // 2^num_blocks / scale_factor -> canonical keypoints (B, num_kp, 3) as (x, y, z) in [-1,1].
  at::Tensor forward(const at::Tensor& image);
  // The keypoint logits (B, num_kp, depth, h, w) before the softmax (for inspection/training).
  at::Tensor predict(const at::Tensor& image);
  // Softmax(logits / temperature) over each keypoint's voxels, then the
  // expected (x, y, z) grid coordinate.
  at::Tensor logits_to_kp(const at::Tensor& logits) const;

  KPDetectorConfig config;
  KPHourglass predictor{nullptr};
  torch::nn::Conv3d kp{nullptr};
  AntiAliasInterpolation2d down{nullptr};  // only when scale_factor != 1
};
TORCH_MODULE(KPDetector);

}  // namespace tavce::nn
