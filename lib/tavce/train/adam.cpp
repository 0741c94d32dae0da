#include "tavce/train/adam.h"

#include <cmath>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "tavce/error.h"

namespace tavce::train {

Adam::Adam(std::vector<std::string> names, std::vector<at::Tensor> params, double beta1, double beta2, double eps)
    : names_(std::move(names)), params_(std::move(params)), b1_(beta1), b2_(beta2), eps_(eps) {
  if (names_.size() != params_.size()) throw Error("Adam: one name per parameter is required");
  for (const auto& p : params_) {
    m_.push_back(at::zeros_like(p));
    v_.push_back(at::zeros_like(p));
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

}  // namespace tavce::train
