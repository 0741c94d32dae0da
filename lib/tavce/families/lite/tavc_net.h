// TAVC on the lite motion space (TAVCE stage 1 carried over to landmarks):
// two small encoders whose frame-to-frame CHANGES are compared.
//
//   audio_encoder   mel window (80 x 16, the windowing of audio_net.h) ->
//                   Conv1d 80->C k3, ReLU, Conv1d C->C k3 s2, ReLU,
//                   Conv1d C->2C k3 s2, ReLU, flatten, Linear 8C->D
//   motion_encoder  mouth coefficients (K) -> Linear K->H, Tanh,
//                   Linear H->H, Tanh, Linear H->D
//
// TAVCE compares the "covariances" 1/2 d d^T of two features (d = x - y, the
// difference of the embeddings of two frames) with a cosine. Because
// <a a^T, b b^T>_F = (a.b)^2 and ||a a^T||_F = ||a||^2, that cosine is the
// squared cosine of the two differences: squared_cosine() computes it
// without the D x D matrices. It ignores the sign and the size of a change,
// and asks only that audio and mouth change "in the same direction".
//
// The motion encoder reads coefficients rather than pixels so that CAR (the
// stage-2 regulariser in train/lite_training.h) can differentiate it with
// respect to the audio network's predictions.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "tavce/families/lite/motion_space.h"

namespace tavce::lite {

struct TavcNetConfig {
  int64_t n_mels = 80;
  int64_t window = 16;     // mel frames per video frame
  int64_t channels = 32;   // C
  int64_t components = 8;  // K, the motion space's mouth components
  int64_t hidden = 64;     // H
  int64_t dim = 64;        // D, the embedding
  // How two changes are compared: "cos", the signed cosine, or "cos2",
  // TAVCE's sign-invariant cos^2. On the lite space most mouth motion is one
  // open/close direction, which cos^2 cannot tell apart from its reverse:
  // held out, cos^2 scored aligned pairs 0.63 against 0.62 for shifted ones,
  // the signed cosine 0.28 against 0.03 (docs/training.md).
  std::string similarity = "cos";

  static TavcNetConfig from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
};

struct TavcNetImpl : torch::nn::Module {
  explicit TavcNetImpl(const TavcNetConfig& cfg = {});
  at::Tensor audio(const at::Tensor& windows);  // (N, 80, 16) -> (N, D)
  at::Tensor motion(const at::Tensor& coeffs);  // (N, K) -> (N, D)
  // Row-wise similarity of two sets of changes (N, D), by cfg.similarity.
  at::Tensor similarity(const at::Tensor& audio_change, const at::Tensor& motion_change) const;

  TavcNetConfig cfg;
  torch::nn::Sequential audio_encoder{nullptr};
  torch::nn::Sequential motion_encoder{nullptr};
};
TORCH_MODULE(TavcNet);

// Row-wise cosine and cos^2 of (N, D) tensors; 0 where either row is (nearly) zero.
at::Tensor cosine(const at::Tensor& a, const at::Tensor& b);
at::Tensor squared_cosine(const at::Tensor& a, const at::Tensor& b);

// Mean similarity of the audio and motion changes between adjacent frames of
// predicted coefficients pred (S, K, L) with the audio embeddings of their
// frames (S, L, D, from net->audio), over pairs whose frames both have mask
// (S, L) set. Differentiable in pred: CAR's alignment term.
at::Tensor tavc_alignment(TavcNet& net, const at::Tensor& pred, const at::Tensor& audio_embeddings,
                          const at::Tensor& mask);

inline constexpr const char* kTavcFormat = "tavce-lite-tavc-1";

// A trained TAVC model with the motion space its motion encoder reads: the
// audio network trained with CAR against it must predict in the same space.
struct TavcModel {
  TavcNet net{nullptr};
  MotionSpace space;
  nlohmann::json provenance;
};

// One safetensors file: the weights (audio_encoder.*, motion_encoder.*), the
// space (motion_space.*, as in lite bundles) and metadata format, config
// (JSON) and provenance (JSON). Atomic write.
void save_tavc(const std::string& path, const TavcModel& model);
// Throws tavce::Error naming the file when it is not a TAVC file or keys are missing.
TavcModel load_tavc(const std::string& path);

}  // namespace tavce::lite
