// Training the lite family's audio network (families/lite/audio_net.h) on
// tracked clips (families/lite/clip_data.h).
//
// Data: every clip's mouth/jaw motion (motion_extract.h) projected on a
// motion space fitted here (uncentred PCA) or given; mel windows per frame
// exactly as the stream builds them. Sampling is balanced: a fixed share of
// the segments comes from the one large single-speaker set (GRID speaker 1,
// 50 minutes) and the rest from all other clips, so that one voice does not
// drown the ~40 others.
//
// Loss per segment of consecutive frames: L1 of the coefficients plus a
// weighted L1 of their frame-to-frame change (the mouth's speed), over frames
// with a tracked face; with a TAVC net (tavc_training.h) and car_weight > 0,
// plus CAR, TAVCE's correlation-aware regulariser: car_weight * (1 - mean
// cos^2 of the frozen encoders' audio and predicted-motion changes).
//
// Sync correction: a clip whose metadata carries a measured audio-visual
// offset (av_offset_frames, from tavcesyncscore at extraction, > 0 when the
// audio leads the video) is trained with its mel windows moved by that many
// frames, when the measurement is confident enough (see the config).
//
// Reproducible and resumable: one seeded generator draws every sample; a
// checkpoint (safetensors) holds the weights, the Adam moments, the step and
// the generator state, so a run resumed from it continues exactly as if it
// had never stopped (tested).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "tavce/families/lite/audio_net.h"
#include "tavce/families/lite/clip_data.h"
#include "tavce/families/lite/motion_space.h"
#include "tavce/families/lite/tavc_net.h"
#include "tavce/train/adam.h"
#include "tavce/train/clip_sampling.h"

namespace tavce::train {

struct LiteTrainConfig {
  int components = 8;             // mouth components of the motion space
  lite::AudioNetConfig net;       // outputs = components
  int64_t steps = 4000;
  int64_t segments = 16;          // segments per step
  int64_t segment_frames = 32;    // consecutive frames per segment
  double lr = 2e-3;               // Adam, cosine-decayed to lr * lr_final after a linear warm-up
  double lr_final = 0.05;
  int64_t warmup_steps = 100;
  double velocity_weight = 1.0;
  double car_weight = 0.0;        // CAR; needs a TAVC net (tavce-train lite-tavc)
  bool sync_correct = true;       // apply av_offset_frames ...
  double sync_min_lse_c = 3.0;    // ... when the clip's mean LSE-C reaches this
  int64_t sync_max_offset = 6;    // ... and |offset| is at most this many frames
  std::string big_set = "grid_s1";
  double big_set_share = 0.3;     // share of segments drawn from big_set (when other clips exist)
  uint64_t seed = 1;

  static LiteTrainConfig from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
};

// One clip ready for training: windows (T, 80, 16), coefficients (T, K),
// valid (T) bool.
struct LiteTrainClip {
  std::string name, set;
  int64_t av_offset = 0;  // frames the mel windows were moved by (sync correction)
  at::Tensor windows, coeffs, valid;
  int64_t frames() const { return coeffs.size(0); }
};

struct LiteTrainData {
  std::shared_ptr<lite::MotionSpace> space;
  std::vector<LiteTrainClip> clips;
};

// space: fit one on these clips (config.components, balanced between
// config.big_set and the rest like the sampling) when null. Clips that fail
// motion extraction are skipped and named in *skipped.
LiteTrainData prepare_lite_data(const std::vector<lite::ClipData>& clips, const LiteTrainConfig& config,
                                std::shared_ptr<lite::MotionSpace> space = nullptr,
                                std::vector<std::string>* skipped = nullptr);

struct LiteTrainProgress {
  int64_t step = 0;       // steps done
  double loss = 0, coeff_l1 = 0, velocity_l1 = 0;  // means over the last log period
  double tavc = 0;        // mean cos^2 of audio and predicted-motion changes (with a TAVC net)
  double lr = 0;
  double seconds = 0;     // wall time of this process's steps
};

class LiteTrainer {
 public:
  // tavc: the frozen stage-1 encoders, required when config.car_weight > 0.
  LiteTrainer(const LiteTrainConfig& config, const LiteTrainData& data, lite::AudioNet net,
              lite::TavcNet tavc = nullptr);

  // Trains until `until_step` (at most config.steps), calling progress every
  // log_every steps and checkpoint(path) every checkpoint_every steps.
  void run(int64_t until_step, int64_t log_every, const std::function<void(const LiteTrainProgress&)>& progress,
           int64_t checkpoint_every = 0, const std::function<void(int64_t step)>& on_checkpoint = {});

  // Mean loss terms over `clips` (whole clips, no sampling): for validation.
  LiteTrainProgress evaluate(const std::vector<LiteTrainClip>& clips);

  void save_checkpoint(const std::string& path) const;  // atomic
  void load_checkpoint(const std::string& path);        // throws on a foreign or mismatched file
  int64_t step() const { return step_; }
  lite::AudioNet net() const { return net_; }

 private:
  struct Batch {
    at::Tensor windows;  // (S * (P + L + F), 80, 16)
    at::Tensor target;   // (S, K, L)
    at::Tensor mask;     // (S, L) float: 1 where the frame has a tracked face
    at::Tensor tavc_audio;  // (S, L, D): the frozen TAVC audio embeddings of the frames (with a TAVC net)
  };
  Batch sample_batch();
  at::Tensor predict(const at::Tensor& windows, int64_t segments, int64_t frames);
  double learning_rate(int64_t step) const;


  LiteTrainConfig cfg_;
  const LiteTrainData& data_;
  lite::AudioNet net_;
  lite::TavcNet tavc_;
  std::vector<at::Tensor> tavc_audio_;  // per clip (T, D), computed once: the encoder is frozen
  Adam adam_;
  BalancedClipPicker picker_;
  int64_t step_ = 0;
  uint64_t rng_;
};

// The balanced clip picker (clip_sampling.h) over prepared clips, as both lite trainers draw them.
BalancedClipPicker balanced_picker(const LiteTrainData& data, const std::string& big_set, double big_set_share);

// The loss terms for predictions and targets (S, K, L) and a mask (S, L).
std::pair<at::Tensor, at::Tensor> lite_losses(const at::Tensor& pred, const at::Tensor& target, const at::Tensor& mask);

}  // namespace tavce::train
