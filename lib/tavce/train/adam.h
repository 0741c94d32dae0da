// Adam over named parameters, with its moments written to and read from a
// training checkpoint so that a resumed run continues exactly (the trainers'
// resume tests depend on it). No weight decay, bias-corrected moments.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "tavce/nn/state_dict.h"

namespace tavce::train {

class Adam {
 public:
  Adam(std::vector<std::string> names, std::vector<at::Tensor> params, double beta1 = 0.9, double beta2 = 0.999,
       double eps = 1e-8);

  void zero_grad();
  // One update with learning rate lr; `step` counts updates from 1 (the bias correction).
  void update(double lr, int64_t step);

  // "param.NAME", "adam_m.NAME", "adam_v.NAME" for every parameter.
  void save(nn::TensorMap& out) const;
  // Throws tavce::Error naming `path` when a tensor is missing or mis-shaped.
  void load(const nn::TensorMap& in, const std::string& path);

 private:
  std::vector<std::string> names_;
  std::vector<at::Tensor> params_, m_, v_;
  double b1_, b2_, eps_;
};

}  // namespace tavce::train
