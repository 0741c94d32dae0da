// TAVC on the lite motion space (TAVCE stage 1; the encoders are
// families/lite/tavc_net.h), trained contrastively on frame-to-frame changes.
//
// One sample is an adjacent frame pair (i, i+1) of one clip with a tracked
// face in both: Da = A(mel_{i+1}) - A(mel_i), Dv+ = V(c_{i+1}) - V(c_i).
// Its negative motion change comes, half the time each, from
//   - a far pair (i, j) of the same clip with |j - i| >= min_gap (TAVCE's
//     negative), Dv- = V(c_j) - V(c_i), or
//   - the adjacent pair shifted in time by 5..15 frames either way (audio
//     out of sync with the mouth), Dv- = V(c_{i+s+1}) - V(c_{i+s}).
// Loss = mean(1 - cos^2(Da, Dv+)) + negative_weight * mean(max(0, cos^2(Da, Dv-) - margin)),
// TAVCE's cosine of the two "covariances" written as cos^2 (tavc_net.h).
//
// Clips are drawn like the audio network's trainer (clip_sampling.h); the
// same checkpoint scheme gives exact resume.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tavce/families/lite/tavc_net.h"
#include "tavce/train/adam.h"
#include "tavce/train/clip_sampling.h"
#include "tavce/train/lite_training.h"

namespace tavce::train {

struct TavcTrainConfig {
  lite::TavcNetConfig net;
  int64_t steps = 3000;
  int64_t batch = 256;         // frame pairs per step
  double lr = 1e-3;            // Adam, cosine-decayed to lr * lr_final
  double lr_final = 0.05;
  int64_t min_gap = 3;         // TAVCE's tau
  int64_t shift_min = 5, shift_max = 15;
  double negative_weight = 1.0;
  double margin = 0.0;         // TAVCE's code uses 0
  std::string big_set = "grid_s1";
  double big_set_share = 0.3;
  uint64_t seed = 1;

  static TavcTrainConfig from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
};

struct TavcScores {
  double positive = 0;        // mean cos^2 over aligned adjacent pairs
  double negative_far = 0;    // ... against far pairs of the same clip
  double negative_shift = 0;  // ... against the pair 10 frames later (or earlier near the end)
  int64_t pairs = 0;
};

struct TavcTrainProgress {
  int64_t step = 0;
  double loss = 0, positive = 0, negative = 0;  // means over the last log period (cos^2)
  double lr = 0, seconds = 0;
};

class TavcTrainer {
 public:
  // data: clips as prepared for the audio network (windows, coefficients, valid).
  TavcTrainer(const TavcTrainConfig& config, const LiteTrainData& data, lite::TavcNet net);

  void run(int64_t until_step, int64_t log_every, const std::function<void(const TavcTrainProgress&)>& progress,
           int64_t checkpoint_every = 0, const std::function<void(int64_t)>& on_checkpoint = {});
  // Deterministic: every valid adjacent pair of every clip, one far and one shifted negative each.
  TavcScores evaluate(const std::vector<LiteTrainClip>& clips);

  void save_checkpoint(const std::string& path) const;  // atomic
  void load_checkpoint(const std::string& path);        // throws on a foreign or mismatched file
  int64_t step() const { return step_; }
  lite::TavcNet net() const { return net_; }

 private:
  double learning_rate(int64_t step) const;

  TavcTrainConfig cfg_;
  const LiteTrainData& data_;
  lite::TavcNet net_;
  Adam adam_;
  BalancedClipPicker picker_;
  int64_t step_ = 0;
  uint64_t rng_;
};

}  // namespace tavce::train
