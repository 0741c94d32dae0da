// ExpNet = SadTalker's SimpleWrapperV2 (reference-architecture §3.3): per video
// frame, exp = mapping1(cat[wav2lip(mel window) (512), ref_exp (64), blink ratio (1)]).
// No temporal context and no residual (the reference's "+ ref" is commented out).
//
// Keys: audio_encoder.{0..12}.conv_block.*, mapping1.{weight,bias}; the same in
// SadTalker_V0.0.2_256.safetensors under "audio2exp." and in TAVCE ckpt['netG'].
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "tavce/nn/wav2lip_audio_encoder.h"

namespace tavce::nn {

struct ExpNetConfig {
  int64_t exp_dim = 64;    // 3DMM expression coefficients (input ref and output)
  int64_t ratio_dim = 1;   // eye-blink ratio
  // Reads the golden case.json "config" (SimpleWrapperV2 takes no arguments,
  // so every key is optional).
  static ExpNetConfig from_json(const nlohmann::json& j);
};

struct ExpNetImpl : torch::nn::Module {
  explicit ExpNetImpl(const ExpNetConfig& cfg = {});

  // mels (B, T, 1, 80, 16) or (B*T, 1, 80, 16); ref_exp (B, T, 64);
  // ratio (B, T, 1) -> exp (B, T, 64). Frames are independent, so the
  // reference's 10-frame chunking in Audio2Exp.test changes nothing.
  at::Tensor forward(const at::Tensor& mels, const at::Tensor& ref_exp, const at::Tensor& ratio);
  // The 512-d audio embedding per frame, (B, T, 512) for mels (B, T, 1, 80, 16).
  at::Tensor encode(const at::Tensor& mels);

  ExpNetConfig cfg;
  Wav2LipAudioEncoder audio_encoder{nullptr};
  torch::nn::Linear mapping1{nullptr};
};
TORCH_MODULE(ExpNet);

}  // namespace tavce::nn
