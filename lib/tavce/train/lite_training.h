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
// with a tracked face.
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
  double lr = 0;
  double seconds = 0;     // wall time of this process's steps
};

class LiteTrainer {
 public:
  LiteTrainer(const LiteTrainConfig& config, const LiteTrainData& data, lite::AudioNet net);

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
  };
  Batch sample_batch();
  at::Tensor predict(const at::Tensor& windows, int64_t segments, int64_t frames);
  double learning_rate(int64_t step) const;

  LiteTrainConfig cfg_;
  const LiteTrainData& data_;
  lite::AudioNet net_;
  std::vector<at::Tensor> params_, m_, v_;
  std::vector<std::string> names_;
  int64_t step_ = 0;
  uint64_t rng_;
  std::vector<size_t> big_, other_;  // clip indices by sampling group
};

// The loss terms for predictions and targets (S, K, L) and a mask (S, L).
std::pair<at::Tensor, at::Tensor> lite_losses(const at::Tensor& pred, const at::Tensor& target, const at::Tensor& mask);

}  // namespace tavce::train
