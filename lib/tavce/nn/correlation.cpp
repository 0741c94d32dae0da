#include "tavce/nn/correlation.h"

#include <string>

#include <ATen/ATen.h>
#include <ATen/core/Reduction.h>
#include <nlohmann/json.hpp>

#include "tavce/error.h"

namespace tavce::nn {
namespace {

std::string shape_of(const at::Tensor& t) { return std::string(c10::str(t.sizes())); }

// F.cosine_embedding_loss of the flattened (B, C, C) matrices with labels
// all +1 or all -1 and margin 0, mean over the batch.
at::Tensor cosine_embedding(const at::Tensor& a, const at::Tensor& b, double label) {
  const at::Tensor x = a.flatten(1), y = b.flatten(1);
  const at::Tensor target = at::full({x.size(0)}, label, x.options());
  return at::cosine_embedding_loss(x, y, target, /*margin=*/0.0, at::Reduction::Mean);
}

}  // namespace

CorrelationAudioEncoderConfig CorrelationAudioEncoderConfig::from_json(const nlohmann::json& j) {
  CorrelationAudioEncoderConfig c;
  c.dim = j.value("dim", c.dim);
  if (c.dim <= 0) throw Error("correlation AudioEncoder: dim must be positive");
  return c;
}

CorrelationAudioEncoderImpl::CorrelationAudioEncoderImpl(const CorrelationAudioEncoderConfig& config) : cfg(config) {
  audio_encoder = register_module("audio_encoder", Wav2LipAudioEncoder());
  fc = register_module("fc", torch::nn::Linear(Wav2LipAudioEncoderImpl::kEmbedding, cfg.dim));
}

at::Tensor CorrelationAudioEncoderImpl::forward(const at::Tensor& mels) {
  return fc->forward(audio_encoder->embed(mels));
}

at::Tensor cov_matrix(const at::Tensor& x, const at::Tensor& y) {
  if (x.dim() != 2 || x.sizes() != y.sizes())
    throw Error("cov_matrix: expected two (B, C) feature batches, got " + shape_of(x) + " and " + shape_of(y));
  const at::Tensor m = at::stack({x, y}, 1);              // (B, 2, C)
  const at::Tensor centred = m - m.mean(1, /*keepdim=*/true);
  return at::bmm(centred.transpose(1, 2), centred);       // (B, C, C)
}

AudioCorrelationSequence audio_correlation_sequence(CorrelationAudioEncoderImpl& encoder, const at::Tensor& mels) {
  if (mels.dim() != 4 || mels.size(0) < 1)
    throw Error("audio correlation: expected mel windows (T, 1, 80, 16), got " + shape_of(mels));
  const at::Tensor feats = encoder.forward(mels);  // (T, dim)
  const int64_t t = feats.size(0);
  // Frame j pairs window max(j-1, 0) with window j (frame 0 with itself).
  const at::Tensor prev_idx = (at::arange(t, at::kLong) - 1).clamp_min(0).to(feats.device());
  const at::Tensor prev = feats.index_select(0, prev_idx);
  AudioCorrelationSequence out;
  out.feat_pairs = at::stack({prev, feats}, 1);
  out.cor = cov_matrix(prev, feats);
  return out;
}

at::Tensor stage1_audio_embeddings(CorrelationAudioEncoderImpl& encoder, const at::Tensor& audios) {
  if (audios.dim() != 5) throw Error("stage-1 audio: expected (B, K, 1, 80, 16), got " + shape_of(audios));
  const int64_t b = audios.size(0), k = audios.size(1);
  return encoder.forward(audios.reshape({b * k, audios.size(2), audios.size(3), audios.size(4)})).view({b, k, -1});
}

at::Tensor stage1_image_embeddings(IResNetImpl& encoder, const at::Tensor& images) {
  if (images.dim() != 5) throw Error("stage-1 images: expected (B, K, 3, 112, 112), got " + shape_of(images));
  const int64_t b = images.size(0), k = images.size(1);
  return encoder.forward(images.reshape({b * k, images.size(2), images.size(3), images.size(4)})).view({b, k, -1});
}

Stage1CorrelationLoss stage1_correlation_loss(const at::Tensor& audio_emb, const at::Tensor& image_emb,
                                              double alpha) {
  if (audio_emb.dim() != 3 || audio_emb.size(1) < 2 || image_emb.dim() != 3 || image_emb.size(1) < 3 ||
      audio_emb.size(0) != image_emb.size(0) || audio_emb.size(2) != image_emb.size(2))
    throw Error("stage-1 loss: expected audio (B, >=2, C) and image (B, 3, C) embeddings of frames (i, i+1, j), got " +
                shape_of(audio_emb) + " and " + shape_of(image_emb));
  Stage1CorrelationLoss l;
  l.audio_cor = cov_matrix(audio_emb.select(1, 0), audio_emb.select(1, 1));
  l.image_cor_pos = cov_matrix(image_emb.select(1, 0), image_emb.select(1, 1));
  l.image_cor_neg = cov_matrix(image_emb.select(1, 0), image_emb.select(1, 2));
  l.loss_pos = cosine_embedding(l.audio_cor, l.image_cor_pos, 1.0);
  l.loss_neg = cosine_embedding(l.audio_cor, l.image_cor_neg, -1.0);
  l.loss_corr = l.loss_pos + alpha * l.loss_neg;
  // F.cosine_similarity default eps 1e-8.
  l.sim_pos = at::cosine_similarity(l.audio_cor, l.image_cor_pos, -1, 1e-8).mean();
  l.sim_neg = at::cosine_similarity(l.audio_cor, l.image_cor_neg, -1, 1e-8).mean();
  return l;
}

}  // namespace tavce::nn
