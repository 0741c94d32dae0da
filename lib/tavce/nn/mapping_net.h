// MappingNet (reference-architecture §3.5, SadTalker
// src/facerender/modules/mapping.py): a window of 27 frames of 3DMM
// coefficients -> head-pose bin logits, translation and keypoint expression
// deltas. Keys as in mapping_00229['mapping'] / mapping_00109['mapping']:
// first.0, encoder{i}.1, fc_roll, fc_pitch, fc_yaw, fc_t, fc_exp.
#pragma once

#include <cstdint>

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "tavce/nn/keypoint_transform.h"

namespace tavce::nn {

struct MappingNetConfig {
  int64_t coeff_nc = 70;  // 70 (crop/resize, TAVCE) or 73 (full: + crop params)
  int64_t descriptor_nc = 1024;
  int64_t layer = 3;
  int64_t num_kp = 15;
  int64_t num_bins = 66;
  // Reads the reference constructor arguments (missing keys keep the defaults).
  static MappingNetConfig from_json(const nlohmann::json& j);
};

struct MappingNetImpl : torch::nn::Module {
  explicit MappingNetImpl(const MappingNetConfig& config = {});
  // input_3dmm (B, coeff_nc, T) with T = 27 in the reference (any T >= 7 + 6*layer
  // works: the convs are unpadded and the result is average-pooled).
  // Returns yaw/pitch/roll logits (B, num_bins), t (B,3), exp (B, 3*num_kp);
  // the *_in overrides are left undefined.
  HeadPose forward(const at::Tensor& input_3dmm);

  MappingNetConfig config;
  torch::nn::Sequential first{nullptr};
  std::vector<torch::nn::Sequential> encoders;  // "encoder0".. : [LeakyReLU(0.1), Conv1d k3 dil3]
  torch::nn::Linear fc_roll{nullptr}, fc_pitch{nullptr}, fc_yaw{nullptr}, fc_t{nullptr}, fc_exp{nullptr};
};
TORCH_MODULE(MappingNet);

}  // namespace tavce::nn
