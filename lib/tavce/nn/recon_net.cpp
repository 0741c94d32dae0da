#include "tavce/nn/recon_net.h"

#include <numeric>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "tavce/error.h"

namespace tavce::nn {
namespace {

torch::nn::Conv2d conv(int64_t cin, int64_t cout, int64_t k, int64_t stride, int64_t pad, bool bias) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(cin, cout, k).stride(stride).padding(pad).bias(bias));
}

}  // namespace

ReconNetConfig ReconNetConfig::from_json(const nlohmann::json& j) {
  ReconNetConfig c;
  const std::string net = j.value("net_recon", std::string("resnet50"));
  if (net != "resnet50")
    throw Error("ReconNet: net_recon '" + net + "' is not supported (only resnet50, as in every official checkpoint)");
  if (j.value("use_last_fc", false))
    throw Error("ReconNet: use_last_fc=True is not supported (SadTalker builds it with use_last_fc=False)");
  if (j.value("fc_dim", c.fc_dim()) != c.fc_dim())
    throw Error("ReconNet: fc_dim must be " + std::to_string(c.fc_dim()) + " (the seven fixed coefficient heads)");
  return c;
}

int64_t ReconNetConfig::fc_dim() const { return std::accumulate(heads.begin(), heads.end(), int64_t{0}); }

ResNetBottleneckImpl::ResNetBottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride, bool with_downsample) {
  const int64_t out = planes * kExpansion;
  conv1 = register_module("conv1", conv(inplanes, planes, 1, 1, 0, false));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, stride, 1, false));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(planes));
  conv3 = register_module("conv3", conv(planes, out, 1, 1, 0, false));
  bn3 = register_module("bn3", torch::nn::BatchNorm2d(out));
  if (with_downsample)
    downsample = register_module(
        "downsample", torch::nn::Sequential(conv(inplanes, out, 1, stride, 0, false), torch::nn::BatchNorm2d(out)));
}

at::Tensor ResNetBottleneckImpl::forward(const at::Tensor& x) {
  at::Tensor y = at::relu(bn1->forward(conv1->forward(x)));
  y = at::relu(bn2->forward(conv2->forward(y)));
  y = bn3->forward(conv3->forward(y));
  const at::Tensor skip = downsample ? downsample->forward(x) : x;
  return at::relu(y + skip);
}

ResNetBackboneImpl::ResNetBackboneImpl(const std::vector<int64_t>& layers) {
  if (layers.size() != 4) throw Error("ResNet backbone: expected 4 stages");
  conv1 = register_module("conv1", conv(3, 64, 7, 2, 3, false));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(64));
  int64_t inplanes = 64;
  torch::nn::Sequential* stages[] = {&layer1, &layer2, &layer3, &layer4};
  for (int s = 0; s < 4; ++s) {
    const int64_t planes = int64_t{64} << s;
    const int64_t stride = s == 0 ? 1 : 2;
    torch::nn::Sequential stage;
    for (int64_t b = 0; b < layers[s]; ++b) {
      const int64_t st = b == 0 ? stride : 1;
      const bool ds = b == 0 && (st != 1 || inplanes != planes * ResNetBottleneckImpl::kExpansion);
      stage->push_back(ResNetBottleneck(inplanes, planes, st, ds));
      inplanes = planes * ResNetBottleneckImpl::kExpansion;
    }
    *stages[s] = register_module("layer" + std::to_string(s + 1), stage);
  }
  out_channels = inplanes;
}

at::Tensor ResNetBackboneImpl::forward(const at::Tensor& x) {
  at::Tensor y = at::relu(bn1->forward(conv1->forward(x)));
  y = at::max_pool2d(y, {3, 3}, {2, 2}, {1, 1});
  y = layer4->forward(layer3->forward(layer2->forward(layer1->forward(y))));
  return at::adaptive_avg_pool2d(y, {1, 1});
}

ReconNetImpl::ReconNetImpl(const ReconNetConfig& config) : cfg(config) {
  backbone = register_module("backbone", ResNetBackbone(cfg.layers));
  final_layers = register_module("final_layers", torch::nn::ModuleList());
  for (int64_t n : cfg.heads) final_layers->push_back(conv(backbone->out_channels, n, 1, 1, 0, true));
}

at::Tensor ReconNetImpl::heads(const at::Tensor& pooled) {
  std::vector<at::Tensor> outs;
  for (const auto& m : *final_layers) outs.push_back(m->as<torch::nn::Conv2dImpl>()->forward(pooled));
  return at::cat(outs, 1).flatten(1);
}

at::Tensor ReconNetImpl::forward(const at::Tensor& image) {
  if (image.dim() != 4 || image.size(1) != 3)
    throw Error("ReconNet: expected an RGB image batch (B, 3, 224, 224) in [0,1], got " +
                std::string(c10::str(image.sizes())));
  return heads(backbone->forward(image));
}

FaceCoeffs split_coeff(const at::Tensor& c) {
  if (c.dim() != 2 || c.size(1) != 257)
    throw Error("split_coeff: expected (B, 257) coefficients, got " + std::string(c10::str(c.sizes())));
  return {c.slice(1, 0, 80),    c.slice(1, 80, 144),  c.slice(1, 144, 224),
          c.slice(1, 224, 227), c.slice(1, 227, 254), c.slice(1, 254, 257)};
}

at::Tensor coeff_3dmm73(const at::Tensor& coeff257, const at::Tensor& trans_params) {
  const FaceCoeffs parts = split_coeff(coeff257);
  const int64_t b = coeff257.size(0);
  if (trans_params.size(-1) != 5 || trans_params.dim() > 2 || (trans_params.dim() == 2 && trans_params.size(0) != b))
    throw Error("coeff_3dmm73: trans_params must be (5) or (B, 5) = [w0, h0, s, t0, t1], got " +
                std::string(c10::str(trans_params.sizes())));
  const at::Tensor crop = trans_params.reshape({-1, 5}).slice(1, 2, 5).to(coeff257.scalar_type()).expand({b, 3});
  return at::cat({parts.exp, parts.angle, parts.trans, crop}, 1);
}

}  // namespace tavce::nn
