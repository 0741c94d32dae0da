// OcclusionAwareSPADEGenerator of the SadTalker face renderer, with TAVCE's
// optional CERL block (reference-architecture §3.9, §4.2).
//
// The forward is split for caching: encode_source() does the source-only
// work (first, down_blocks, second and, when no CERL is used, resblocks_3d),
// render() the per-frame work (CERL, resblocks_3d if not cached, dense motion,
// warp, third, fourth, SPADE decoder). forward() = both.
#pragma once

#include <functional>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <nlohmann/json_fwd.hpp>

#include "tavce/nn/blocks.h"
#include "tavce/nn/cerl.h"
#include "tavce/nn/dense_motion.h"
#include "tavce/nn/spade.h"

namespace tavce::nn {

// generator_params + common_params of facerender.yaml; defaults = full size.
struct SpadeGeneratorConfig {
  int64_t image_channel = 3;
  int64_t feature_channel = 32;
  int64_t num_kp = 15;
  int64_t block_expansion = 64;
  int64_t max_features = 512;
  int64_t num_down_blocks = 2;
  int64_t reshape_channel = 32;
  int64_t reshape_depth = 16;
  int64_t num_resblocks = 6;
  bool estimate_occlusion_map = true;
  DenseMotionConfig dense_motion;  // num_kp, feature_channel, occlusion copied from above
  SpadeDecoderConfig decoder;      // "spade_decoder_override" in the golden configs
  // TAVCE generator_params.fusion {feat_dim, cor_dim}: proj1/proj2/linear.
  bool fusion = false;
  int64_t fusion_feat_dim = 512;
  int64_t fusion_cor_dim = 128;

  // SadTalker facerender.yaml.
  static SpadeGeneratorConfig sadtalker();
  // TAVCE facerender.yaml (SadTalker + fusion {512, 128}).
  static SpadeGeneratorConfig tavce();
  // The golden case.json "config" (generator_params keys, common_params keys,
  // dense_motion_params, fusion, spade_decoder_override). Absent keys keep the
  // full-size defaults; estimate_jacobian=true is rejected (not supported).
  static SpadeGeneratorConfig from_json(const nlohmann::json& j);
};

// Source-only part of the generator, reusable for every driving frame.
struct SourceFeatures {
  at::Tensor feature;  // (B, max_features, h, w): output of `second`
  at::Tensor volume;   // (B, reshape_channel, reshape_depth, h, w) after resblocks_3d;
                       // undefined when not cached (CERL must come before it)
};

struct GeneratorOutput {
  at::Tensor prediction;     // (B, 3, H, W) in [0, 1]
  at::Tensor mask;           // (B, K+1, D, h, w), softmax before the 1e-3 cut
  at::Tensor occlusion_map;  // (B, 1, h, w) or undefined
};

// Intermediates for parity checks (filled only when asked for), and an
// optional hook called as each per-frame stage completes ("volume",
// "dense_motion", "warp", "decoder"), which benchmarks use for stage timings.
struct GeneratorTrace {
  at::Tensor second, cerl_out, feature_3d, deformation, warped, seg, cerl_gate;
  std::function<void(const char* stage)> on_stage;
};

struct OcclusionAwareSpadeGeneratorImpl : torch::nn::Module {
  explicit OcclusionAwareSpadeGeneratorImpl(const SpadeGeneratorConfig& config = {});

  // cache_volume: also run resblocks_3d (valid for every frame rendered
  // without CERL). Default: when the model has no fusion block.
  SourceFeatures encode_source(const at::Tensor& source_image, bool cache_volume) ;
  SourceFeatures encode_source(const at::Tensor& source_image) {
    return encode_source(source_image, !config.fusion);
  }
  // kp_source, kp_driving: (B, num_kp, 3). A batch-1 source serves a batch of
  // B frames. cerl: empty = no `cor` (the block is skipped, as in the
  // reference); otherwise the model must have been built with fusion.
  GeneratorOutput render(const SourceFeatures& source, const at::Tensor& kp_source, const at::Tensor& kp_driving,
                         const CerlInput& cerl = {}, GeneratorTrace* trace = nullptr);
  GeneratorOutput forward(const at::Tensor& source_image, const at::Tensor& kp_source, const at::Tensor& kp_driving,
                          const CerlInput& cerl = {}, GeneratorTrace* trace = nullptr);

  // CERL on the `second` output x (B, feat_dim, h, w) with gate (B, cor_dim):
  // linear(x + proj2(gate * proj1(x))).
  at::Tensor apply_cerl(const at::Tensor& x, const at::Tensor& gate);
  // resblocks_3d on x viewed as (B, reshape_channel, reshape_depth, h, w).
  at::Tensor to_volume(const at::Tensor& x);

  SpadeGeneratorConfig config;
  SameBlock2d first{nullptr};
  torch::nn::ModuleList down_blocks{nullptr};
  std::vector<DownBlock2d> down;
  torch::nn::Conv2d second{nullptr};
  torch::nn::Sequential resblocks_3d{nullptr};
  DenseMotionNetwork dense_motion_network{nullptr};
  SameBlock2d third{nullptr};
  torch::nn::Conv2d fourth{nullptr};
  SpadeDecoder decoder{nullptr};
  torch::nn::Conv2d proj1{nullptr}, proj2{nullptr}, linear{nullptr};  // fusion only
};
TORCH_MODULE(OcclusionAwareSpadeGenerator);

}  // namespace tavce::nn
