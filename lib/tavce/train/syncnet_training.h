// Training SyncNet for the lip-sync metric on talking-face clips.
//
// The metric (metrics::evaluate_lse) asks one thing of the embeddings: for a
// five-frame lip window, the audio window at the same time must be nearer
// (Euclidean) than the audio windows up to vshift frames earlier or later.
// So training takes exactly that as a classification: a group is W
// consecutive lip windows of one clip and every audio window within +-vshift
// of them; the logits of lip window i are the negated distances to the audio
// windows at offsets -vshift..+vshift, and the target is offset 0 (the
// "multi-way matching" form of SyncNet training; negatives are the shifted
// pairs of the same speaker, the hard ones the offset search meets).
// Audio windows outside the clip are masked out. One extra candidate is the
// all-zero embedding: evaluate_lse pads the audio with zeros at the clip's
// edges, and a clip whose audio is shifted by s frames is scored with s of
// its windows against that padding, so its LSE-D exceeds the in-sync clip's
// only if a lip window lies farther from zero than from its own audio.
//
// Augmentation keeps sync intact: horizontal flips and brightness/contrast
// jitter of the lip windows. Everything is seeded: the same clips, options
// and seed give the same weights on the same build and thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "tavce/train/sync_clip.h"

namespace tavce::nn {
struct SyncNetImpl;
}

namespace tavce::train {

struct SyncTrainOptions {
  int64_t steps = 2000;
  int64_t groups_per_step = 2;     // clips sampled per step (one group each)
  int64_t windows_per_group = 32;  // consecutive lip windows per group
  int vshift = 15;                 // offsets of the classification (the metric's search range)
  double lr = 1e-3;                // Adam, cosine-decayed to lr / 20 after a linear warm-up
  int64_t warmup_steps = 100;
  double weight_decay = 1e-4;
  uint64_t seed = 1;
  bool augment = true;             // flips and brightness/contrast jitter
  int64_t log_every = 50;          // progress callback period (steps)
};

struct SyncTrainProgress {
  int64_t step = 0;           // 1-based
  double loss = 0.0;          // mean cross-entropy over the last log_every steps
  double accuracy = 0.0;      // fraction of lip windows whose nearest audio window is the aligned one
  double lr = 0.0;
  double seconds = 0.0;       // since training started
};

// Trains `net` (left in eval mode) on the windows of `clips` whose five frames
// all hold a face crop. Throws tavce::Error if no clip has a usable group.
void train_syncnet(nn::SyncNetImpl& net, const std::vector<SyncClip>& clips, const SyncTrainOptions& options,
                   const std::function<void(const SyncTrainProgress&)>& progress = {});

// The loss of one group, exposed for tests: lip (W, fc), audio (A, fc) with
// audio window a0 + j; lip window i is aligned with audio window v0 + i.
// Returns (mean cross-entropy, fraction of windows ranked first) over the
// offsets -vshift..+vshift that lie inside 0..A-1, plus the zero embedding.
std::pair<at::Tensor, double> sync_group_loss(const at::Tensor& lip, const at::Tensor& audio, int64_t v0, int64_t a0,
                                              int vshift);

}  // namespace tavce::train
