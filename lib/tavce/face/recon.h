// The 3DMM coefficients of a prepared source (reference-architecture §1.1
// steps 6-7, §5.2): nn::ReconNet on the aligned 224x224 image, then the 73-d
// coeff_3dmm = [exp(64) | angle(3) | trans(3) | s', tx, ty]. The only torch
// code of face/ (kept out of source.h so the rest stays torch-free).
#pragma once

#include <ATen/core/Tensor.h>

#include "tavce/face/source.h"

namespace tavce::nn {
struct ReconNetImpl;
}

namespace tavce::face {

// src.recon_input as a (1, 3, 224, 224) float32 CPU tensor (a copy).
at::Tensor recon_input_tensor(const PreparedSource& src);

// Runs the net (in eval mode, no grad, on the device of its parameters) and
// returns the (1, 73) float32 CPU coeff_3dmm; coeff257 (1, 257) too when asked.
at::Tensor source_coeff_3dmm(nn::ReconNetImpl& net, const PreparedSource& src, at::Tensor* coeff257 = nullptr);

}  // namespace tavce::face
