#include "tavce/nn/mapping_net.h"

#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>

#include "tavce/error.h"

namespace tavce::nn {

MappingNetConfig MappingNetConfig::from_json(const nlohmann::json& j) {
  MappingNetConfig c;
  c.coeff_nc = j.value("coeff_nc", c.coeff_nc);
  c.descriptor_nc = j.value("descriptor_nc", c.descriptor_nc);
  c.layer = j.value("layer", c.layer);
  c.num_kp = j.value("num_kp", c.num_kp);
  c.num_bins = j.value("num_bins", c.num_bins);
  return c;
}

MappingNetImpl::MappingNetImpl(const MappingNetConfig& cfg) : config(cfg) {
  if (cfg.coeff_nc <= 0 || cfg.descriptor_nc <= 0 || cfg.layer < 0 || cfg.num_kp <= 0 || cfg.num_bins <= 0)
    throw Error("MappingNet: invalid config (coeff_nc, descriptor_nc, num_kp and num_bins must be > 0, layer >= 0)");
  const int64_t d = cfg.descriptor_nc;
  first = register_module("first", torch::nn::Sequential(torch::nn::Conv1d(
                                       torch::nn::Conv1dOptions(cfg.coeff_nc, d, 7).padding(0).bias(true))));
  for (int64_t i = 0; i < cfg.layer; ++i) {
    // Index 0 is the parameter-free LeakyReLU, so the conv's keys are encoder{i}.1.*.
    encoders.push_back(register_module(
        "encoder" + std::to_string(i),
        torch::nn::Sequential(torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.1)),
                              torch::nn::Conv1d(torch::nn::Conv1dOptions(d, d, 3).padding(0).dilation(3)))));
  }
  // Registration order as in the reference (roll, pitch, yaw, t, exp).
  fc_roll = register_module("fc_roll", torch::nn::Linear(d, cfg.num_bins));
  fc_pitch = register_module("fc_pitch", torch::nn::Linear(d, cfg.num_bins));
  fc_yaw = register_module("fc_yaw", torch::nn::Linear(d, cfg.num_bins));
  fc_t = register_module("fc_t", torch::nn::Linear(d, 3));
  fc_exp = register_module("fc_exp", torch::nn::Linear(d, 3 * cfg.num_kp));
}

HeadPose MappingNetImpl::forward(const at::Tensor& input_3dmm) {
  const int64_t min_len = 7 + 6 * config.layer;
  if (input_3dmm.dim() != 3 || input_3dmm.size(1) != config.coeff_nc || input_3dmm.size(2) < min_len)
    throw Error("MappingNet: expected input (B, " + std::to_string(config.coeff_nc) + ", T>=" +
                std::to_string(min_len) + ") (T = 27 in SadTalker), got dim " + std::to_string(input_3dmm.dim()) +
                (input_3dmm.dim() == 3 ? " with shape [" + std::to_string(input_3dmm.size(0)) + ", " +
                                             std::to_string(input_3dmm.size(1)) + ", " +
                                             std::to_string(input_3dmm.size(2)) + "]"
                                       : std::string()));
  using at::indexing::Slice;
  at::Tensor out = first->forward(input_3dmm);
  for (auto& enc : encoders) {
    // Residual over the centre: each dilated k3 conv trims 3 samples per side.
    const int64_t len = out.size(2);
    out = enc->forward(out) + out.index({Slice(), Slice(), Slice(3, len - 3)});
  }
  out = at::adaptive_avg_pool1d(out, {1}).flatten(1);  // AdaptiveAvgPool1d(1) + view(B, -1)
  HeadPose he;
  he.yaw = fc_yaw->forward(out);
  he.pitch = fc_pitch->forward(out);
  he.roll = fc_roll->forward(out);
  he.t = fc_t->forward(out);
  he.exp = fc_exp->forward(out);
  return he;
}

}  // namespace tavce::nn
