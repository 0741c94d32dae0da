#include "tavce/nn/expnet.h"

#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "tavce/error.h"

namespace tavce::nn {

ExpNetConfig ExpNetConfig::from_json(const nlohmann::json& j) {
  ExpNetConfig c;
  if (!j.is_object()) return c;
  c.exp_dim = j.value("exp_dim", c.exp_dim);
  c.ratio_dim = j.value("ratio_dim", c.ratio_dim);
  return c;
}

ExpNetImpl::ExpNetImpl(const ExpNetConfig& cfg_) : cfg(cfg_) {
  audio_encoder = register_module("audio_encoder", Wav2LipAudioEncoder());
  mapping1 = register_module(
      "mapping1", torch::nn::Linear(Wav2LipAudioEncoderImpl::kEmbedding + cfg.exp_dim + cfg.ratio_dim, cfg.exp_dim));
}

at::Tensor ExpNetImpl::encode(const at::Tensor& mels) {
  if (mels.dim() == 5) {
    const int64_t b = mels.size(0), t = mels.size(1);
    return audio_encoder->embed(mels.reshape({b * t, mels.size(2), mels.size(3), mels.size(4)}))
        .reshape({b, t, Wav2LipAudioEncoderImpl::kEmbedding});
  }
  return audio_encoder->embed(mels);
}

at::Tensor ExpNetImpl::forward(const at::Tensor& mels, const at::Tensor& ref_exp, const at::Tensor& ratio) {
  if (ref_exp.dim() != 3 || ref_exp.size(2) != cfg.exp_dim)
    throw Error("ExpNet: ref_exp must be (B, T, " + std::to_string(cfg.exp_dim) + "), got " +
                std::string(c10::str(ref_exp.sizes())));
  const int64_t b = ref_exp.size(0), t = ref_exp.size(1);
  const at::Tensor windows = mels.dim() == 5 ? mels.reshape({-1, mels.size(2), mels.size(3), mels.size(4)}) : mels;
  if (windows.size(0) != b * t || ratio.numel() != b * t * cfg.ratio_dim)
    throw Error("ExpNet: mels " + std::string(c10::str(mels.sizes())) + ", ref_exp " +
                std::string(c10::str(ref_exp.sizes())) + " and ratio " + std::string(c10::str(ratio.sizes())) +
                " do not describe the same B x T frames");
  // Rows are frames in batch-major order (b*T + t), as in the reference.
  const at::Tensor emb = audio_encoder->embed(windows);
  const at::Tensor x = at::cat({emb, ref_exp.reshape({b * t, cfg.exp_dim}), ratio.reshape({b * t, cfg.ratio_dim})}, 1);
  return mapping1->forward(x).reshape({b, t, cfg.exp_dim});
}

}  // namespace tavce::nn
