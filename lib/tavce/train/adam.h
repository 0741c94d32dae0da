// Adam over named parameters, with its moments written to and read from a
// training checkpoint so that a resumed run continues exactly (the trainers'
// resume tests depend on it). No weight decay, bias-corrected moments.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "tavce/nn/state_dict.h"

namespace torch::nn {
class Module;
}

namespace tavce::train {

class Adam {
 public:
  // Over every parameter of `module`, by its full name.
  explicit Adam(torch::nn::Module& module, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8);

  void zero_grad();
  // One update with learning rate lr; `step` counts updates from 1 (the bias correction).
  void update(double lr, int64_t step);

  // "param.NAME", "adam_m.NAME", "adam_v.NAME" for every parameter.
  void save(nn::TensorMap& out) const;
  // Throws tavce::Error naming `path` when a tensor is missing or mis-shaped.
  void load(const nn::TensorMap& in, const std::string& path);

  // A trainer's checkpoint: these tensors plus metadata format, step, rng
  // (the sampler's state) and config, written atomically. Loading throws
  // tavce::Error naming `path` when it is not a `what` (format differs) or was
  // made with another config; it returns the step and the sampler state.
  void save_checkpoint(const std::string& path, const std::string& format, int64_t step, uint64_t rng,
                       const nlohmann::json& config) const;
  std::pair<int64_t, uint64_t> load_checkpoint(const std::string& path, const std::string& format,
                                               const std::string& what, const nlohmann::json& config);

 private:
  std::vector<std::string> names_;
  std::vector<at::Tensor> params_, m_, v_;
  double b1_, b2_, eps_;
};

}  // namespace tavce::train
