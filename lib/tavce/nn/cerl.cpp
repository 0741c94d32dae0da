#include "tavce/nn/cerl.h"

#include <ATen/ATen.h>

#include "tavce/error.h"

namespace tavce::nn {

at::Tensor cerl_gate(const at::Tensor& audio_prev, const at::Tensor& audio_cur) {
  if (audio_prev.dim() != 2 || audio_prev.sizes() != audio_cur.sizes())
    throw Error("CERL: the previous and current audio features must both be (B, C)");
  const at::Tensor d = audio_cur - audio_prev;
  const at::Tensor norm = d.norm(2, {1}, /*keepdim=*/true);
  // Row c of 1/2 d d^T has norm 1/2 |d_c| ||d||; its diagonal entry is 1/2 d_c^2.
  return (0.5 * d * d) / at::clamp_min(0.5 * d.abs() * norm, 1e-12);
}

at::Tensor cerl_gate_from_cov(const at::Tensor& cor) {
  if (cor.dim() != 3 || cor.size(1) != cor.size(2)) throw Error("CERL: cor must be (B, C, C)");
  const at::Tensor rows = at::clamp_min(cor.norm(2, {2}), 1e-12);  // (B, C)
  return cor.diagonal(0, 1, 2) / rows;
}

at::Tensor CerlInput::resolve_gate() const {
  if (gate.defined()) return gate;
  if (!audio_prev.defined() || !audio_cur.defined())
    throw Error("CERL: both the previous and the current audio feature are needed");
  return cerl_gate(audio_prev, audio_cur);
}

}  // namespace tavce::nn
