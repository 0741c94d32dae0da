// Deep3DFaceRecon ReconNet (reference-architecture §3.11, §5.2): a
// torchvision-layout ResNet-50 backbone without its fc, average-pooled, then
// seven 1x1 convolution heads giving the 257 3DMM coefficients of a 224x224
// aligned face crop. Keys as under "face_3drecon." in
// SadTalker_V0.0.2_256.safetensors: backbone.{conv1,bn1},
// backbone.layer{1..4}.{i}.{conv1..3,bn1..3,downsample.0/1}, final_layers.{0..6}.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

namespace tavce::nn {

struct ReconNetConfig {
  // Blocks per stage: ResNet-50 (the only backbone any official checkpoint uses).
  std::vector<int64_t> layers = {3, 4, 6, 3};
  // Head sizes in output order: id, exp, tex, angle, gamma, (tx, ty), tz = 257.
  std::vector<int64_t> heads = {80, 64, 80, 3, 27, 2, 1};
  // Reads case.json "config": net_recon must be "resnet50", use_last_fc false,
  // fc_dim 257 (anything else is rejected: no official checkpoint uses it).
  static ReconNetConfig from_json(const nlohmann::json& j);
  int64_t fc_dim() const;
};

// torchvision Bottleneck (v1.5: the stride sits on the 3x3 conv):
// 1x1 -> BN -> ReLU -> 3x3 (stride) -> BN -> ReLU -> 1x1 (x4) -> BN, + skip, ReLU.
// The skip is downsample = Sequential(1x1 conv stride s, BN) when the shape changes.
struct ResNetBottleneckImpl : torch::nn::Module {
  static constexpr int64_t kExpansion = 4;
  ResNetBottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride, bool downsample);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};  // null: identity skip
};
TORCH_MODULE(ResNetBottleneck);

// conv7x7 s2 -> BN -> ReLU -> maxpool3 s2 -> layer1..4 -> adaptive avgpool:
// (B, 3, H, W) -> (B, 2048, 1, 1). No fc (use_last_fc=False).
struct ResNetBackboneImpl : torch::nn::Module {
  explicit ResNetBackboneImpl(const std::vector<int64_t>& layers);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  int64_t out_channels = 0;
};
TORCH_MODULE(ResNetBackbone);

struct ReconNetImpl : torch::nn::Module {
  explicit ReconNetImpl(const ReconNetConfig& config = {});
  // image (B, 3, H, W) RGB in [0,1] (224x224 aligned crop; the reference does
  // NOT normalise by mean/std) -> (B, 257) coefficients.
  at::Tensor forward(const at::Tensor& image);
  // The heads on an already pooled feature (B, 2048, 1, 1) -> (B, 257).
  at::Tensor heads(const at::Tensor& pooled);

  ReconNetConfig cfg;
  ResNetBackbone backbone{nullptr};
  torch::nn::ModuleList final_layers{nullptr};
};
TORCH_MODULE(ReconNet);

// The 257-vector split as the reference's split_coeff names it (views of the input).
struct FaceCoeffs {
  at::Tensor id, exp, tex, angle, gamma, trans;  // 80, 64, 80, 3 (pitch, yaw, roll; radians), 27, 3
};
FaceCoeffs split_coeff(const at::Tensor& coeff257);

// The 73-d coeff_3dmm SadTalker saves per frame (CropAndExtract.generate):
// [exp(64) | angle(3) | trans(3) | trans_params[2:5] = (s', t0, t1)].
// coeff257 (B, 257); trans_params (5) for all rows, or (B, 5) -> (B, 73).
at::Tensor coeff_3dmm73(const at::Tensor& coeff257, const at::Tensor& trans_params);

}  // namespace tavce::nn
