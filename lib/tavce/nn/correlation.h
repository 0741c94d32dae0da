// TAVCE's stage-1 temporal audio-visual correlation model (reference-architecture
// §4.1): the correlation audio encoder, the "covariance" relationship between
// two feature vectors and the stage-1 cosine losses. The visual encoder is
// IResNet18 (tavce/nn/iresnet.h). The closed-form CERL gate |d|/||d|| that the
// renderer uses at inference is in tavce/nn/cerl.h.
#pragma once

#include <cstdint>

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "tavce/nn/iresnet.h"
#include "tavce/nn/wav2lip_audio_encoder.h"

namespace tavce::nn {

struct CorrelationAudioEncoderConfig {
  int64_t dim = 128;
  // Reads case.json config "AudioEncoder" ({"dim": 128}).
  static CorrelationAudioEncoderConfig from_json(const nlohmann::json& j);
};

// AudioEncoder(dim): the wav2lip encoder (keys audio_encoder.*) then fc Linear(512 -> dim).
// A DDP-trained checkpoint carries "module." in front of every key: strip it
// with strip_data_parallel before loading.
struct CorrelationAudioEncoderImpl : torch::nn::Module {
  explicit CorrelationAudioEncoderImpl(const CorrelationAudioEncoderConfig& config = {});
  // Mel windows (N, 1, 80, 16) -> (N, dim).
  at::Tensor forward(const at::Tensor& mels);

  CorrelationAudioEncoderConfig cfg;
  Wav2LipAudioEncoder audio_encoder{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(CorrelationAudioEncoder);

// The reference's cov_matrix(x, y) for (B, C) features: stack the two vectors,
// subtract their 2-sample mean, return M^T M (B, C, C). This is 1/2 d d^T with
// d = x - y (a rank-1 scatter matrix, not divided by N-1). Computed the
// reference's way (differentiable) for the training losses.
at::Tensor cov_matrix(const at::Tensor& x, const at::Tensor& y);

// inference.py's per-frame audio correlation: for frame j, the features of
// windows max(j-1, 0) and j. mels (T, 1, 80, 16). Each window is encoded once.
struct AudioCorrelationSequence {
  at::Tensor feat_pairs;  // (T, 2, dim): (f_prev, f_cur)
  at::Tensor cor;         // (T, dim, dim) = cov_matrix(f_prev, f_cur); frame 0 all zeros
};
AudioCorrelationSequence audio_correlation_sequence(CorrelationAudioEncoderImpl& encoder, const at::Tensor& mels);

// Stage-1 embeddings as train.py makes them: (B, K, 1, 80, 16) -> (B, K, dim)
// and (B, K, 3, 112, 112) -> (B, K, num_features), all B*K items in one batch
// (so train-mode BatchNorm uses the statistics of all of them).
at::Tensor stage1_audio_embeddings(CorrelationAudioEncoderImpl& encoder, const at::Tensor& audios);
at::Tensor stage1_image_embeddings(IResNetImpl& encoder, const at::Tensor& images);

// The stage-1 objective (without the auxiliary-generator LPIPS term) from the
// embeddings of frames (i, i+1, j): audio_emb, image_emb (B, 3, C).
struct Stage1CorrelationLoss {
  at::Tensor audio_cor;      // cov(a_i, a_{i+1})   (B, C, C)
  at::Tensor image_cor_pos;  // cov(v_i, v_{i+1})   (B, C, C)
  at::Tensor image_cor_neg;  // cov(v_i, v_j)       (B, C, C)
  // Cosine-embedding losses on the flattened matrices, margin 0 (train.py's
  // --margin is never used): mean_b(1 - cos) and mean_b(max(0, cos)).
  at::Tensor loss_pos, loss_neg;
  at::Tensor loss_corr;  // loss_pos + alpha * loss_neg
  // What train.py logs: row-wise cosines (dim -1) of the matrices averaged over
  // all B*C rows, NOT the flattened cosine the loss uses (golden README surprise 9).
  at::Tensor sim_pos, sim_neg;
};
Stage1CorrelationLoss stage1_correlation_loss(const at::Tensor& audio_emb, const at::Tensor& image_emb,
                                              double alpha = 1.0);

}  // namespace tavce::nn
