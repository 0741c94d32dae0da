#include "tavce/nn/spade_generator.h"

#include <algorithm>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "tavce/error.h"

namespace tavce::nn {

namespace {

torch::nn::Conv2d conv1x1(int64_t cin, int64_t cout) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(cin, cout, 1));
}

std::string shape_of(const at::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}

// A batch-1 tensor broadcast to batch b (one source, several frames).
at::Tensor to_batch(const at::Tensor& x, int64_t b) {
  if (x.size(0) == b) return x;
  if (x.size(0) != 1)
    throw Error("generator: source batch " + std::to_string(x.size(0)) + " does not match keypoint batch " +
                std::to_string(b));
  std::vector<int64_t> sizes(x.sizes().begin(), x.sizes().end());
  sizes[0] = b;
  return x.expand(sizes);
}

}  // namespace

SpadeGeneratorConfig SpadeGeneratorConfig::sadtalker() { return {}; }

SpadeGeneratorConfig SpadeGeneratorConfig::tavce() {
  SpadeGeneratorConfig c;
  c.fusion = true;
  return c;
}

SpadeGeneratorConfig SpadeGeneratorConfig::from_json(const nlohmann::json& j) {
  SpadeGeneratorConfig c;
  c.image_channel = j.value("image_channel", c.image_channel);
  c.feature_channel = j.value("feature_channel", c.feature_channel);
  c.num_kp = j.value("num_kp", c.num_kp);
  c.block_expansion = j.value("block_expansion", c.block_expansion);
  c.max_features = j.value("max_features", c.max_features);
  c.num_down_blocks = j.value("num_down_blocks", c.num_down_blocks);
  c.reshape_channel = j.value("reshape_channel", c.reshape_channel);
  c.reshape_depth = j.value("reshape_depth", c.reshape_depth);
  c.num_resblocks = j.value("num_resblocks", c.num_resblocks);
  c.estimate_occlusion_map = j.value("estimate_occlusion_map", c.estimate_occlusion_map);
  if (j.value("estimate_jacobian", false))
    throw Error("generator config: estimate_jacobian=true is not supported (SadTalker/TAVCE use false)");
  if (j.contains("dense_motion_params")) c.dense_motion = DenseMotionConfig::from_json(j.at("dense_motion_params"));
  if (j.contains("spade_decoder_override")) c.decoder = SpadeDecoderConfig::from_json(j.at("spade_decoder_override"));
  if (j.contains("fusion") && !j.at("fusion").is_null()) {
    c.fusion = true;
    c.fusion_feat_dim = j.at("fusion").value("feat_dim", c.fusion_feat_dim);
    c.fusion_cor_dim = j.at("fusion").value("cor_dim", c.fusion_cor_dim);
  }
  return c;
}

OcclusionAwareSpadeGeneratorImpl::OcclusionAwareSpadeGeneratorImpl(const SpadeGeneratorConfig& config_)
    : config(config_) {
  const SpadeGeneratorConfig& c = config;
  if (c.reshape_channel * c.reshape_depth != c.max_features)
    throw Error("generator config: reshape_channel * reshape_depth must equal max_features");
  if (c.fusion && c.fusion_feat_dim != c.max_features)
    throw Error("generator config: fusion feat_dim must equal max_features");
  config.dense_motion.num_kp = c.num_kp;
  config.dense_motion.feature_channel = c.feature_channel;
  config.dense_motion.estimate_occlusion_map = c.estimate_occlusion_map;

  // Registration order as in the reference (only matters to order-based tools).
  dense_motion_network = register_module("dense_motion_network", DenseMotionNetwork(config.dense_motion));
  first = register_module("first", SameBlock2d(c.image_channel, c.block_expansion, 3, 1));
  down_blocks = register_module("down_blocks", torch::nn::ModuleList());
  int64_t out_features = c.block_expansion;
  for (int64_t i = 0; i < c.num_down_blocks; ++i) {
    const int64_t cin = std::min(c.max_features, c.block_expansion * (int64_t(1) << i));
    out_features = std::min(c.max_features, c.block_expansion * (int64_t(1) << (i + 1)));
    down.emplace_back(cin, out_features, 3, 1);
    down_blocks->push_back(down.back());
  }
  second = register_module("second", conv1x1(out_features, c.max_features));
  resblocks_3d = register_module("resblocks_3d", torch::nn::Sequential());
  for (int64_t i = 0; i < c.num_resblocks; ++i)
    resblocks_3d->push_back("3dr" + std::to_string(i), ResBlock3d(c.reshape_channel, 3, 1));
  // The reference recomputes out_features = block_expansion * 2^num_down_blocks
  // here (no max_features cap).
  const int64_t mid = c.block_expansion * (int64_t(1) << c.num_down_blocks);
  third = register_module("third", SameBlock2d(c.max_features, mid, 3, 1, /*lrelu=*/true));
  fourth = register_module("fourth", conv1x1(mid, mid));
  decoder = register_module("decoder", SpadeDecoder(c.decoder));
  if (c.fusion) {
    proj1 = register_module("proj1", conv1x1(c.fusion_feat_dim, c.fusion_cor_dim));
    proj2 = register_module("proj2", conv1x1(c.fusion_cor_dim, c.fusion_feat_dim));
    linear = register_module("linear", conv1x1(c.fusion_feat_dim, c.fusion_feat_dim));
  }
}

SourceFeatures OcclusionAwareSpadeGeneratorImpl::encode_source(const at::Tensor& source_image, bool cache_volume) {
  if (source_image.dim() != 4 || source_image.size(1) != config.image_channel)
    throw Error("generator: source image must be (B, " + std::to_string(config.image_channel) +
                ", H, W), got " + shape_of(source_image));
  at::Tensor out = first->forward(source_image);
  for (auto& block : down) out = block->forward(out);
  SourceFeatures s;
  s.feature = second->forward(out);
  if (cache_volume) s.volume = to_volume(s.feature);
  return s;
}

at::Tensor OcclusionAwareSpadeGeneratorImpl::to_volume(const at::Tensor& x) {
  const at::Tensor v = x.view({x.size(0), config.reshape_channel, config.reshape_depth, x.size(2), x.size(3)});
  return resblocks_3d->forward(v);
}

at::Tensor OcclusionAwareSpadeGeneratorImpl::apply_cerl(const at::Tensor& x, const at::Tensor& gate) {
  if (!config.fusion) throw Error("generator: CERL input given but the model has no fusion block");
  if (gate.dim() != 2 || gate.size(0) != x.size(0) || gate.size(1) != config.fusion_cor_dim)
    throw Error("generator: CERL gate must be (" + std::to_string(x.size(0)) + ", " +
                std::to_string(config.fusion_cor_dim) + "), got " + shape_of(gate));
  // einsum('bcc,bchw->bchw', C, proj1(x)) = diag(C)_c * proj1(x)_c.
  const at::Tensor y = gate.view({gate.size(0), gate.size(1), 1, 1}) * proj1->forward(x);
  return linear->forward(x + proj2->forward(y));
}

GeneratorOutput OcclusionAwareSpadeGeneratorImpl::render(const SourceFeatures& source, const at::Tensor& kp_source,
                                                         const at::Tensor& kp_driving, const CerlInput& cerl,
                                                         GeneratorTrace* trace) {
  if (kp_driving.dim() != 3) throw Error("generator: kp_driving must be (B, num_kp, 3), got " + shape_of(kp_driving));
  const int64_t b = kp_driving.size(0);
  const at::Tensor kp_src = to_batch(kp_source, b);

  at::Tensor volume;
  if (cerl.enabled()) {
    const at::Tensor feature = to_batch(source.feature, b);
    const at::Tensor gate = cerl.resolve_gate();
    const at::Tensor fused = apply_cerl(feature, gate);
    if (trace) {
      trace->cerl_gate = gate;
      trace->cerl_out = fused;
    }
    volume = to_volume(fused);
  } else {
    // No `cor`: the reference skips proj1/proj2/linear entirely.
    volume = to_batch(source.volume.defined() ? source.volume : to_volume(source.feature), b);
  }
  auto stage_done = [trace](const char* stage) {
    if (trace && trace->on_stage) trace->on_stage(stage);
  };
  if (trace) {
    trace->second = source.feature;
    trace->feature_3d = volume;
  }
  stage_done("volume");

  DenseMotion motion = dense_motion_network->forward(volume, kp_driving, kp_src);
  stage_done("dense_motion");
  GeneratorOutput out;
  out.mask = motion.mask;
  out.occlusion_map = motion.occlusion_map;

  // deform_input: the deformation is resized (trilinear) to the volume if
  // their sizes differ; they never do with the stock configs.
  at::Tensor deformation = motion.deformation;
  const int64_t d = volume.size(2), h = volume.size(3), w = volume.size(4);
  if (deformation.size(1) != d || deformation.size(2) != h || deformation.size(3) != w)
    deformation = at::upsample_trilinear3d(deformation.permute({0, 4, 1, 2, 3}), {d, h, w}, false)
                      .permute({0, 2, 3, 4, 1});
  const at::Tensor warped = at::grid_sampler(volume, deformation, /*bilinear*/ 0, /*zeros*/ 0,
                                             /*align_corners=*/false);
  at::Tensor x = fourth->forward(third->forward(warped.reshape({b, -1, h, w})));
  if (out.occlusion_map.defined()) {
    at::Tensor occ = out.occlusion_map;
    if (occ.size(2) != x.size(2) || occ.size(3) != x.size(3))
      occ = at::upsample_bilinear2d(occ, {x.size(2), x.size(3)}, false);
    x = x * occ;
  }
  if (trace) {
    trace->deformation = deformation;
    trace->warped = warped;
    trace->seg = x;
  }
  stage_done("warp");
  out.prediction = decoder->forward(x);
  stage_done("decoder");
  return out;
}

GeneratorOutput OcclusionAwareSpadeGeneratorImpl::forward(const at::Tensor& source_image, const at::Tensor& kp_source,
                                                          const at::Tensor& kp_driving, const CerlInput& cerl,
                                                          GeneratorTrace* trace) {
  return render(encode_source(source_image, !cerl.enabled()), kp_source, kp_driving, cerl, trace);
}

}  // namespace tavce::nn
