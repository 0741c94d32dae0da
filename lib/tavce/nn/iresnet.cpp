#include "tavce/nn/iresnet.h"

#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "tavce/error.h"

namespace tavce::nn {
namespace {

torch::nn::Conv2d conv(int64_t cin, int64_t cout, int64_t k, int64_t stride, int64_t pad) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(cin, cout, k).stride(stride).padding(pad).bias(false));
}

torch::nn::BatchNorm2d bn(int64_t c) { return torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(c).eps(1e-5)); }

}  // namespace

IResNetConfig IResNetConfig::from_json(const nlohmann::json& j) {
  IResNetConfig c;
  c.num_features = j.value("num_features", c.num_features);
  if (j.contains("layers")) c.layers = j.at("layers").get<std::vector<int64_t>>();
  if (c.layers.size() != 4) throw Error("IResNet: \"layers\" must list 4 stage depths");
  return c;
}

IBasicBlockImpl::IBasicBlockImpl(int64_t inplanes, int64_t planes, int64_t stride, bool with_downsample) {
  bn1 = register_module("bn1", bn(inplanes));
  conv1 = register_module("conv1", conv(inplanes, planes, 3, 1, 1));
  bn2 = register_module("bn2", bn(planes));
  prelu = register_module("prelu", torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(planes)));
  conv2 = register_module("conv2", conv(planes, planes, 3, stride, 1));
  bn3 = register_module("bn3", bn(planes));
  if (with_downsample)
    downsample = register_module("downsample", torch::nn::Sequential(conv(inplanes, planes, 1, stride, 0), bn(planes)));
}

at::Tensor IBasicBlockImpl::forward(const at::Tensor& x) {
  at::Tensor y = conv1->forward(bn1->forward(x));
  y = conv2->forward(prelu->forward(bn2->forward(y)));
  y = bn3->forward(y);
  return y + (downsample ? downsample->forward(x) : x);  // no activation after the sum
}

IResNetImpl::IResNetImpl(const IResNetConfig& config) : cfg(config) {
  if (cfg.layers.size() != 4) throw Error("IResNet: expected 4 stages");
  if (cfg.input_size % 16 != 0) throw Error("IResNet: input size must be divisible by 16");
  conv1 = register_module("conv1", conv(3, 64, 3, 1, 1));
  bn1 = register_module("bn1", bn(64));
  prelu = register_module("prelu", torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(64)));
  int64_t inplanes = 64;
  torch::nn::Sequential* stages[] = {&layer1, &layer2, &layer3, &layer4};
  for (int s = 0; s < 4; ++s) {
    const int64_t planes = int64_t{64} << s;
    torch::nn::Sequential stage;
    for (int64_t b = 0; b < cfg.layers[s]; ++b) {
      // Every stage starts with stride 2 (so layer1 has a downsample too).
      const int64_t stride = b == 0 ? 2 : 1;
      stage->push_back(IBasicBlock(inplanes, planes, stride, b == 0 && (stride != 1 || inplanes != planes)));
      inplanes = planes;
    }
    *stages[s] = register_module("layer" + std::to_string(s + 1), stage);
  }
  bn2 = register_module("bn2", bn(inplanes));
  const int64_t side = cfg.input_size / 16;
  fc = register_module("fc", torch::nn::Linear(inplanes * side * side, cfg.num_features));
  features = register_module("features",
                             torch::nn::BatchNorm1d(torch::nn::BatchNorm1dOptions(cfg.num_features).eps(1e-5)));
  // The reference's initialisation (for training from scratch): convs N(0, 0.1),
  // BatchNorm2d weight 1 / bias 0 (the LibTorch defaults), features.weight 1.
  {
    at::NoGradGuard no_grad;
    for (auto& m : modules(/*include_self=*/false))
      if (auto* c = m->as<torch::nn::Conv2dImpl>()) c->weight.normal_(0.0, 0.1);
    features->weight.fill_(1.0);
  }
  features->weight.set_requires_grad(false);  // frozen at 1 in the reference (still in the state dict)
}

at::Tensor IResNetImpl::forward(const at::Tensor& x) {
  if (x.dim() != 4 || x.size(1) != 3 || x.size(2) != cfg.input_size || x.size(3) != cfg.input_size)
    throw Error("IResNet: expected mouth crops (N, 3, " + std::to_string(cfg.input_size) + ", " +
                std::to_string(cfg.input_size) + ") in [-1,1], got " + std::string(c10::str(x.sizes())));
  at::Tensor y = prelu->forward(bn1->forward(conv1->forward(x)));
  y = layer4->forward(layer3->forward(layer2->forward(layer1->forward(y))));
  y = bn2->forward(y).flatten(1);
  if (cfg.dropout > 0.0) y = at::dropout(y, cfg.dropout, is_training());
  return features->forward(fc->forward(y));
}

}  // namespace tavce::nn
