// SPADE normalisation, the spectral-norm SPADE residual block and the
// SPADEDecoder of the SadTalker face renderer (reference-architecture §3.1,
// §3.9). Key names follow the reference (norm_0, conv_0, mlp_shared.0, ...).
//
// Spectral norm: the checkpoints store conv_0/conv_1/conv_s as weight_orig,
// weight_u, weight_v. fold_spectral_norm (state_dict.h) turns them into a
// plain `weight` at load time (the eval-mode W = weight_orig / sigma), so the
// convolutions here are ordinary Conv2d with a `weight` key.
#pragma once

#include <memory>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <nlohmann/json_fwd.hpp>

#include "tavce/nn/fast_conv.h"

namespace tavce::nn {

// out = InstanceNorm(x) * (1 + gamma(seg)) + beta(seg), seg resized (nearest)
// to x's spatial size. Keys: mlp_shared.0, mlp_gamma, mlp_beta.
struct SpadeImpl : torch::nn::Module {
  SpadeImpl(int64_t norm_nc, int64_t label_nc = 256, int64_t nhidden = 128);
  // segmap may already have x's spatial size (then it is used as is).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& segmap);
  // Inference fast path (fast_conv.h): actv = mlp_shared(seg) already at x's
  // size; mlp_gamma and mlp_beta run as one Winograd convolution.
  at::Tensor forward_actv(const at::Tensor& x, const at::Tensor& actv);
  ConvParams shared_params() const;  // mlp_shared.0
  torch::nn::Sequential mlp_shared{nullptr};
  torch::nn::Conv2d mlp_gamma{nullptr}, mlp_beta{nullptr};
  torch::nn::Conv2d mlp_shared_conv{nullptr};  // mlp_shared[0], not registered twice
  std::shared_ptr<WinogradConv3x3> fast_gamma_beta = std::make_shared<WinogradConv3x3>();
};
TORCH_MODULE(Spade);

// SPADEResnetBlock(fin, fout): learned 1x1 shortcut (no bias) iff fin != fout.
// out = shortcut + conv_1(lrelu0.2(norm_1(conv_0(lrelu0.2(norm_0(x)))))).
struct SpadeResnetBlockImpl : torch::nn::Module {
  SpadeResnetBlockImpl(int64_t fin, int64_t fout, int64_t label_nc = 256, int64_t nhidden = 128);
  // Takes the inference fast path (fast_conv.h) when fast_conv_applicable()
  // and x's size is an integer multiple of the segmap's.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& segmap);
  // Fast path with the mlp_shared outputs of norm_0, norm_1[, norm_s] given,
  // concatenated along the channels in that order, at x's size.
  at::Tensor forward_actv(const at::Tensor& x, const at::Tensor& actv);
  std::vector<ConvParams> shared_params() const;  // norm_0, norm_1[, norm_s] mlp_shared.0
  bool learned_shortcut;
  torch::nn::Conv2d conv_0{nullptr}, conv_1{nullptr}, conv_s{nullptr};
  Spade norm_0{nullptr}, norm_1{nullptr}, norm_s{nullptr};
  std::shared_ptr<WinogradConv3x3> fast_conv_0 = std::make_shared<WinogradConv3x3>();
  std::shared_ptr<WinogradConv3x3> fast_conv_1 = std::make_shared<WinogradConv3x3>();
  std::shared_ptr<UpsampledConv3x3> fast_shared = std::make_shared<UpsampledConv3x3>();
};
TORCH_MODULE(SpadeResnetBlock);

// The reference hard-codes these four widths (ic 256, oc 64, label_nc 256,
// SPADE nhidden 128); the reduced golden configs override them.
struct SpadeDecoderConfig {
  int64_t ic = 256;
  int64_t oc = 64;
  int64_t label_nc = 256;
  int64_t nhidden = 128;
  // Reads {"ic", "oc", "label_nc", "nhidden"}; absent keys keep the defaults.
  static SpadeDecoderConfig from_json(const nlohmann::json& j);
};

// fc (3x3, ic -> 2ic), G_middle_0..5 (2ic), up x2, up_0 (2ic -> ic), up x2,
// up_1 (ic -> oc), conv_img(lrelu0.2(x)) -> sigmoid. The input is also the
// segmap of every SPADE.
struct SpadeDecoderImpl : torch::nn::Module {
  explicit SpadeDecoderImpl(const SpadeDecoderConfig& config = {});
  at::Tensor forward(const at::Tensor& feature);
  SpadeDecoderConfig config;
  torch::nn::Conv2d fc{nullptr}, conv_img{nullptr};
  std::vector<SpadeResnetBlock> G_middle;
  SpadeResnetBlock up_0{nullptr}, up_1{nullptr};
  // Fast path: fc, and the mlp_shared convs of all G_middle SPADEs (same
  // input) as one Winograd convolution.
  std::shared_ptr<WinogradConv3x3> fast_fc = std::make_shared<WinogradConv3x3>();
  std::shared_ptr<WinogradConv3x3> fast_middle_shared = std::make_shared<WinogradConv3x3>();
};
TORCH_MODULE(SpadeDecoder);

}  // namespace tavce::nn
