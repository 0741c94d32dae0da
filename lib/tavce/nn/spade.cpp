#include "tavce/nn/spade.h"

#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/nn/modules/activation.h>

namespace tavce::nn {

namespace {

torch::nn::Conv2d conv(int64_t cin, int64_t cout, int64_t k, bool bias = true) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(cin, cout, k).padding(k / 2).bias(bias));
}

// F.interpolate(mode='nearest') to (h, w): the legacy floor rule
// src = floor(dst * in / out), which is what upsample_nearest2d computes.
at::Tensor resize_nearest(const at::Tensor& x, int64_t h, int64_t w) {
  if (x.size(2) == h && x.size(3) == w) return x;
  return at::upsample_nearest2d(x, {h, w});
}

}  // namespace

SpadeImpl::SpadeImpl(int64_t norm_nc, int64_t label_nc, int64_t nhidden) {
  mlp_shared_conv = conv(label_nc, nhidden, 3);
  mlp_shared = register_module("mlp_shared", torch::nn::Sequential(mlp_shared_conv, torch::nn::ReLU()));
  mlp_gamma = register_module("mlp_gamma", conv(nhidden, norm_nc, 3));
  mlp_beta = register_module("mlp_beta", conv(nhidden, norm_nc, 3));
}

at::Tensor SpadeImpl::forward(const at::Tensor& x, const at::Tensor& segmap) {
  // InstanceNorm2d(affine=False, track_running_stats=False): per-sample
  // statistics, biased variance, eps 1e-5, in training and eval alike.
  const at::Tensor normalized =
      at::instance_norm(x, {}, {}, {}, {}, /*use_input_stats=*/true, /*momentum=*/0.1, /*eps=*/1e-5,
                        /*cudnn_enabled=*/false);
  const at::Tensor actv = mlp_shared->forward(resize_nearest(segmap, x.size(2), x.size(3)));
  const at::Tensor gamma = mlp_gamma->forward(actv);
  const at::Tensor beta = mlp_beta->forward(actv);
  return normalized * (1 + gamma) + beta;
}

ConvParams SpadeImpl::shared_params() const { return {mlp_shared_conv->weight, mlp_shared_conv->bias}; }

at::Tensor SpadeImpl::forward_actv(const at::Tensor& x, const at::Tensor& actv) {
  at::Tensor normalized = at::instance_norm(x, {}, {}, {}, {}, /*use_input_stats=*/true, /*momentum=*/0.1,
                                            /*eps=*/1e-5, /*cudnn_enabled=*/false);
  const at::Tensor gamma_beta = fast_gamma_beta->forward(
      actv, {{mlp_gamma->weight, mlp_gamma->bias}, {mlp_beta->weight, mlp_beta->bias}});
  const int64_t c = x.size(1);
  at::Tensor gamma = gamma_beta.narrow(1, 0, c);
  // normalized * (1 + gamma) + beta, in place (same rounding as forward()).
  return normalized.mul_(gamma.add_(1)).add_(gamma_beta.narrow(1, c, c));
}

SpadeResnetBlockImpl::SpadeResnetBlockImpl(int64_t fin, int64_t fout, int64_t label_nc, int64_t nhidden)
    : learned_shortcut(fin != fout) {
  const int64_t fmiddle = std::min(fin, fout);
  conv_0 = register_module("conv_0", conv(fin, fmiddle, 3));
  conv_1 = register_module("conv_1", conv(fmiddle, fout, 3));
  if (learned_shortcut) conv_s = register_module("conv_s", conv(fin, fout, 1, /*bias=*/false));
  norm_0 = register_module("norm_0", Spade(fin, label_nc, nhidden));
  norm_1 = register_module("norm_1", Spade(fmiddle, label_nc, nhidden));
  if (learned_shortcut) norm_s = register_module("norm_s", Spade(fin, label_nc, nhidden));
}

std::vector<ConvParams> SpadeResnetBlockImpl::shared_params() const {
  std::vector<ConvParams> p{norm_0->shared_params(), norm_1->shared_params()};
  if (learned_shortcut) p.push_back(norm_s->shared_params());
  return p;
}

at::Tensor SpadeResnetBlockImpl::forward_actv(const at::Tensor& x, const at::Tensor& actv) {
  const int64_t nh0 = norm_0->mlp_gamma->weight.size(1), nh1 = norm_1->mlp_gamma->weight.size(1);
  const at::Tensor x_s =
      learned_shortcut ? conv_s->forward(norm_s->forward_actv(x, actv.narrow(1, nh0 + nh1, actv.size(1) - nh0 - nh1)))
                       : x;
  at::Tensor dx = norm_0->forward_actv(x, actv.narrow(1, 0, nh0));
  at::leaky_relu_(dx, 0.2);
  dx = fast_conv_0->forward(dx, {{conv_0->weight, conv_0->bias}});
  dx = norm_1->forward_actv(dx, actv.narrow(1, nh0, nh1));
  at::leaky_relu_(dx, 0.2);
  dx = fast_conv_1->forward(dx, {{conv_1->weight, conv_1->bias}});
  return dx.add_(x_s);
}

at::Tensor SpadeResnetBlockImpl::forward(const at::Tensor& x, const at::Tensor& segmap) {
  if (fast_conv_applicable(x, conv_0->weight) && segmap.size(2) > 0 && segmap.size(3) > 0) {
    const int64_t s = x.size(2) / segmap.size(2);
    if (s >= 1 && x.size(2) == s * segmap.size(2) && x.size(3) == s * segmap.size(3))
      return forward_actv(x, fast_shared->forward(segmap, s, shared_params(), /*relu=*/true));
  }
  // Resize the segmap once for the (up to) three SPADEs of the block.
  const at::Tensor seg = resize_nearest(segmap, x.size(2), x.size(3));
  const at::Tensor x_s = learned_shortcut ? conv_s->forward(norm_s->forward(x, seg)) : x;
  at::Tensor dx = conv_0->forward(at::leaky_relu(norm_0->forward(x, seg), 0.2));
  dx = conv_1->forward(at::leaky_relu(norm_1->forward(dx, seg), 0.2));
  return x_s + dx;
}

SpadeDecoderConfig SpadeDecoderConfig::from_json(const nlohmann::json& j) {
  SpadeDecoderConfig c;
  c.ic = j.value("ic", c.ic);
  c.oc = j.value("oc", c.oc);
  c.label_nc = j.value("label_nc", c.label_nc);
  c.nhidden = j.value("nhidden", c.nhidden);
  return c;
}

SpadeDecoderImpl::SpadeDecoderImpl(const SpadeDecoderConfig& config_) : config(config_) {
  const int64_t ic = config.ic, oc = config.oc, label_nc = config.label_nc, nh = config.nhidden;
  fc = register_module("fc", conv(ic, 2 * ic, 3));
  for (int i = 0; i < 6; ++i)
    G_middle.push_back(
        register_module("G_middle_" + std::to_string(i), SpadeResnetBlock(2 * ic, 2 * ic, label_nc, nh)));
  up_0 = register_module("up_0", SpadeResnetBlock(2 * ic, ic, label_nc, nh));
  up_1 = register_module("up_1", SpadeResnetBlock(ic, oc, label_nc, nh));
  conv_img = register_module("conv_img", conv(oc, 3, 3));
}

at::Tensor SpadeDecoderImpl::forward(const at::Tensor& feature) {
  const at::Tensor& seg = feature;
  if (fast_conv_applicable(feature, fc->weight)) {
    at::Tensor x = fast_fc->forward(feature, {{fc->weight, fc->bias}});
    // Every G_middle SPADE's mlp_shared reads the same seg at x's size: one conv.
    std::vector<ConvParams> shared;
    std::vector<int64_t> widths;
    for (auto& block : G_middle) {
      const std::vector<ConvParams> p = block->shared_params();
      int64_t width = 0;
      for (const ConvParams& c : p) width += c.weight.size(0);
      widths.push_back(width);
      shared.insert(shared.end(), p.begin(), p.end());
    }
    if (!shared.empty()) {
      const at::Tensor actv = fast_middle_shared->forward(seg, shared).relu_();
      int64_t offset = 0;
      for (size_t i = 0; i < G_middle.size(); ++i) {
        x = G_middle[i]->forward_actv(x, actv.narrow(1, offset, widths[i]));
        offset += widths[i];
      }
    }
    x = up_0->forward(at::upsample_nearest2d(x, {2 * x.size(2), 2 * x.size(3)}), seg);
    x = up_1->forward(at::upsample_nearest2d(x, {2 * x.size(2), 2 * x.size(3)}), seg);
    return at::sigmoid(conv_img->forward(at::leaky_relu(x, 0.2)));
  }
  at::Tensor x = fc->forward(feature);
  for (auto& block : G_middle) x = block->forward(x, seg);
  // nn.Upsample(scale_factor=2), nearest.
  x = up_0->forward(at::upsample_nearest2d(x, {2 * x.size(2), 2 * x.size(3)}), seg);
  x = up_1->forward(at::upsample_nearest2d(x, {2 * x.size(2), 2 * x.size(3)}), seg);
  return at::sigmoid(conv_img->forward(at::leaky_relu(x, 0.2)));
}

}  // namespace tavce::nn
