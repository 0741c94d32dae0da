// TAVCE's CERL (correlation-enhanced channel attention, reference-architecture
// §4.2), in closed form.
//
// The reference builds cor = cov(f_prev, f_cur) = 1/2 d d^T (d = f_cur -
// f_prev, the stage-1 audio-encoder features of mel windows j-1 and j),
// row-normalises it and, through einsum('bcc,bchw->bchw'), uses only its
// diagonal: a per-channel gate w_c = |d_c| / ||d|| on proj1's output. We
// compute that gate directly from the two 128-d features.
#pragma once

#include <ATen/core/Tensor.h>

namespace tavce::nn {

// Gate (B, C) from the previous and current audio features (B, C):
// (1/2 d_c^2) / max(1/2 |d_c| ||d||, 1e-12), i.e. diag(F.normalize(cor, dim=-1))
// with the same 1e-12 floor; exactly 0 when d = 0 (frame 0).
at::Tensor cerl_gate(const at::Tensor& audio_prev, const at::Tensor& audio_cur);

// The reference's diag(F.normalize(cor, p=2, dim=-1)) of a given (B, C, C)
// matrix; for checking the closed form, or for a cor that is not 1/2 d d^T.
at::Tensor cerl_gate_from_cov(const at::Tensor& cor);

// What the generator gets per frame for CERL. Empty (no tensor set) means no
// `cor`: the reference then skips the block entirely.
struct CerlInput {
  at::Tensor audio_prev, audio_cur;  // (B, 128) each, or
  at::Tensor gate;                   // (B, 128) precomputed (takes precedence)
  bool enabled() const { return gate.defined() || audio_cur.defined(); }
  // The gate, from `gate` or from the two features.
  at::Tensor resolve_gate() const;
};

}  // namespace tavce::nn
