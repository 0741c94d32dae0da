// ArcFace-style IResNet (reference-architecture §4.1): TAVCE's visual encoder
// of the stage-1 correlation model, IResNet18(num_features=128), on 112x112
// mouth crops in [-1,1]. Used in stage-1 training and by the stage-2 CAR loss;
// never at inference. Keys: conv1, bn1, prelu,
// layer{1..4}.{i}.{bn1,conv1,bn2,prelu,conv2,bn3,downsample.0/1}, bn2, fc, features.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace tavce::nn {

struct IResNetConfig {
  int64_t num_features = 128;
  std::vector<int64_t> layers = {2, 2, 2, 2};  // IResNet18
  int64_t input_size = 112;                    // fc takes 512 x (input/16)^2 = 25088
  double dropout = 0.0;                        // the reference's default (a no-op)
  // Reads case.json config "IResNet18" (num_features, layers).
  static IResNetConfig from_json(const nlohmann::json& j);
};

// Pre-activation-style block without a final activation:
// BN -> conv3x3 -> BN -> PReLU -> conv3x3 (stride) -> BN, + identity
// (downsample = Sequential(conv1x1 stride, BN) when the shape changes).
struct IBasicBlockImpl : torch::nn::Module {
  IBasicBlockImpl(int64_t inplanes, int64_t planes, int64_t stride, bool downsample);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::PReLU prelu{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(IBasicBlock);

struct IResNetImpl : torch::nn::Module {
  explicit IResNetImpl(const IResNetConfig& config = {});
  // (N, 3, 112, 112) RGB in [-1,1] -> (N, num_features).
  at::Tensor forward(const at::Tensor& x);

  IResNetConfig cfg;
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::PReLU prelu{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};
  // BatchNorm1d whose weight the reference initialises to 1 and freezes
  // (requires_grad=False); it stays a parameter (it is in the state dict and
  // loads from it), only the optimiser never moves it. Its bias trains.
  torch::nn::BatchNorm1d features{nullptr};
};
TORCH_MODULE(IResNet);

}  // namespace tavce::nn
