#include "tavce/train/adam.h"

#include <cmath>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <torch/nn/module.h>

#include "tavce/error.h"
#include "tavce/io/safetensors.h"
#include "tavce/io/tensor_io.h"
#include "tavce/models/bundle_weights.h"

namespace tavce::train {

Adam::Adam(torch::nn::Module& module, double beta1, double beta2, double eps) : b1_(beta1), b2_(beta2), eps_(eps) {
  for (const auto& item : module.named_parameters()) {
    names_.push_back(item.key());
    params_.push_back(item.value());
    m_.push_back(at::zeros_like(item.value()));
    v_.push_back(at::zeros_like(item.value()));
  }
}

void Adam::zero_grad() {
  for (auto& p : params_) p.mutable_grad() = at::Tensor();
}

void Adam::update(double lr, int64_t step) {
  at::NoGradGuard no_grad;
  const double c1 = 1 - std::pow(b1_, static_cast<double>(step));
  const double c2 = 1 - std::pow(b2_, static_cast<double>(step));
  for (size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor& g = params_[i].grad();
    if (!g.defined()) continue;
    m_[i].mul_(b1_).add_(g, 1 - b1_);
    v_[i].mul_(b2_).addcmul_(g, g, 1 - b2_);
    params_[i].addcdiv_(m_[i] / c1, (v_[i] / c2).sqrt_().add_(eps_), -lr);
  }
}

void Adam::save(nn::TensorMap& out) const {
  for (size_t i = 0; i < params_.size(); ++i) {
    out["param." + names_[i]] = params_[i].detach().contiguous();
    out["adam_m." + names_[i]] = m_[i].contiguous();
    out["adam_v." + names_[i]] = v_[i].contiguous();
  }
}

void Adam::load(const nn::TensorMap& in, const std::string& path) {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    for (auto [prefix, dst] :
         {std::pair<const char*, at::Tensor*>{"param.", &params_[i]}, {"adam_m.", &m_[i]}, {"adam_v.", &v_[i]}}) {
      const auto it = in.find(prefix + names_[i]);
      if (it == in.end() || it->second.sizes() != dst->sizes())
        throw Error(path + ": missing or mis-shaped '" + prefix + names_[i] + "'");
      dst->copy_(it->second);
    }
  }
}

void Adam::save_checkpoint(const std::string& path, const std::string& format, int64_t step, uint64_t rng,
                           const nlohmann::json& config) const {
  nn::TensorMap t;
  save(t);
  models::save_tensors(path, t,
                       {{"format", format},
                        {"step", std::to_string(step)},
                        {"rng", std::to_string(rng)},
                        {"config", config.dump()}});
}

std::pair<int64_t, uint64_t> Adam::load_checkpoint(const std::string& path, const std::string& format,
                                                   const std::string& what, const nlohmann::json& config) {
  const io::SafeTensors f = io::SafeTensors::open(path);
  const auto& meta = f.metadata();
  if (!meta.count("format") || meta.at("format") != format) throw Error(path + ": not a " + what);
  if (meta.count("config") && nlohmann::json::parse(meta.at("config")) != config)
    throw Error(path + ": the checkpoint was made with another training config; resume with the same config");
  load(io::load_tensors(f), path);
  return {std::stoll(meta.at("step")), std::stoull(meta.at("rng"))};
}

}  // namespace tavce::train
