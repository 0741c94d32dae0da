#include "tavce/train/syncnet_training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>

#include <ATen/ATen.h>
#include <torch/optim/adam.h>

#include "tavce/error.h"
#include "tavce/nn/syncnet.h"

namespace tavce::train {
namespace {

constexpr int64_t kWindow = nn::SyncNetImpl::kFrames;     // frames per lip window
constexpr int64_t kMfccPerFrame = 4;                      // 100 Hz steps per 25 fps frame
constexpr int64_t kMfccSteps = nn::SyncNetImpl::kMfccSteps;

// Number of 20-step MFCC windows a clip has (window a starts at step 4 a).
int64_t audio_windows(const SyncClip& c) {
  const int64_t steps = c.mfcc.size(0);
  return steps < kMfccSteps ? 0 : (steps - kMfccSteps) / kMfccPerFrame + 1;
}

// Lip windows v whose five frames all hold a face and that have an aligned audio window.
std::vector<int64_t> usable_windows(const SyncClip& c) {
  std::vector<int64_t> out;
  const int64_t n = std::min(c.frames() - kWindow + 1, audio_windows(c));
  const at::Tensor face = c.has_face.to(at::kBool).contiguous();
  const bool* f = face.data_ptr<bool>();
  for (int64_t v = 0; v < n; ++v) {
    bool ok = true;
    for (int64_t k = 0; k < kWindow && ok; ++k) ok = f[v + k];
    if (ok) out.push_back(v);
  }
  return out;
}

// (W, 3, 5, 224, 224) float lip windows v0 .. v0+W-1 of a clip, raw 0..255 BGR.
at::Tensor lip_batch(const SyncClip& c, int64_t v0, int64_t count) {
  const at::Tensor frames = c.crops.slice(0, v0, v0 + count + kWindow - 1).permute({3, 0, 1, 2}).to(at::kFloat);
  std::vector<at::Tensor> items;
  for (int64_t i = 0; i < count; ++i) items.push_back(frames.slice(1, i, i + kWindow));
  return at::stack(items);
}

// (A, 1, 13, 20) MFCC windows a0 .. a0+A-1.
at::Tensor audio_batch(const SyncClip& c, int64_t a0, int64_t count) {
  std::vector<at::Tensor> items;
  for (int64_t a = a0; a < a0 + count; ++a)
    items.push_back(c.mfcc.slice(0, kMfccPerFrame * a, kMfccPerFrame * a + kMfccSteps).t().unsqueeze(0));
  return at::stack(items);
}

}  // namespace

std::pair<at::Tensor, double> sync_group_loss(const at::Tensor& lip, const at::Tensor& audio, int64_t v0, int64_t a0,
                                              int vshift) {
  const int64_t w = lip.size(0), a = audio.size(0), k = 2 * static_cast<int64_t>(vshift) + 1;
  // Candidate index of lip window i and offset o: audio window v0 + i + o - a0.
  at::Tensor idx = at::empty({w, k}, at::kLong);
  at::Tensor valid = at::empty({w, k}, at::kBool);
  auto ip = idx.accessor<int64_t, 2>();
  auto vp = valid.accessor<bool, 2>();
  for (int64_t i = 0; i < w; ++i)
    for (int64_t o = 0; o < k; ++o) {
      const int64_t j = v0 + i + o - vshift - a0;
      vp[i][o] = j >= 0 && j < a;
      ip[i][o] = std::clamp<int64_t>(j, 0, a - 1);
    }
  idx = idx.to(lip.device());
  valid = valid.to(lip.device());
  // Distances as the metric measures them (pairwise Euclidean); the small
  // epsilon keeps the square root differentiable at zero.
  const at::Tensor cand = audio.index_select(0, idx.reshape({-1})).reshape({w, k, -1});
  const at::Tensor dist = ((lip.unsqueeze(1) - cand).pow(2).sum(-1) + 1e-6).sqrt();
  // One more candidate, never the answer: the all-zero embedding the metric
  // pads the audio with at clip edges (its distance is the lip embedding's norm).
  const at::Tensor pad = (lip.pow(2).sum(-1, /*keepdim=*/true) + 1e-6).sqrt();
  const at::Tensor logits =
      at::cat({(-dist).masked_fill(valid.logical_not(), -std::numeric_limits<float>::infinity()), -pad}, 1);
  const at::Tensor target = at::full({w}, static_cast<int64_t>(vshift), at::TensorOptions().dtype(at::kLong).device(lip.device()));
  const at::Tensor loss = at::cross_entropy_loss(logits, target);
  const double acc = logits.argmax(1).eq(target).to(at::kFloat).mean().item<double>();
  return {loss, acc};
}

void train_syncnet(nn::SyncNetImpl& net, const std::vector<SyncClip>& clips, const SyncTrainOptions& o,
                   const std::function<void(const SyncTrainProgress&)>& progress) {
  if (o.steps < 1 || o.groups_per_step < 1 || o.windows_per_group < 1 || o.vshift < 1)
    throw Error("SyncNet training: steps, groups_per_step, windows_per_group and vshift must be positive");
  // Group starts: runs of windows_per_group consecutive usable windows.
  struct Start {
    size_t clip;
    int64_t v0;
  };
  std::vector<Start> starts;
  for (size_t c = 0; c < clips.size(); ++c) {
    if (!clips[c].mfcc.defined()) throw Error("SyncNet training: clip " + clips[c].name + " has no MFCC");
    const std::vector<int64_t> ok = usable_windows(clips[c]);
    for (size_t i = 0; i + o.windows_per_group <= ok.size(); ++i)
      if (ok[i + o.windows_per_group - 1] - ok[i] == o.windows_per_group - 1) starts.push_back({c, ok[i]});
  }
  if (starts.empty())
    throw Error("SyncNet training: no clip has " + std::to_string(o.windows_per_group) +
                " consecutive windows with a face");

  const c10::Device device = net.parameters().front().device();
  at::manual_seed(o.seed);
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<size_t> pick(0, starts.size() - 1);
  std::uniform_real_distribution<double> unit(0.0, 1.0);

  torch::optim::Adam opt(net.parameters(), torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
  net.train();
  // Back to eval mode however training ends (an exception from a step included).
  struct EvalOnExit {
    nn::SyncNetImpl& net;
    ~EvalOnExit() { net.eval(); }
  } eval_on_exit{net};
  const auto t0 = std::chrono::steady_clock::now();
  double loss_sum = 0.0, acc_sum = 0.0;
  int64_t seen = 0;
  for (int64_t step = 1; step <= o.steps; ++step) {
    // Linear warm-up, then cosine decay to lr / 20.
    const double warm = std::min(1.0, static_cast<double>(step) / std::max<int64_t>(1, o.warmup_steps));
    const double progress_frac = static_cast<double>(step - 1) / static_cast<double>(o.steps);
    const double lr = o.lr * warm * (0.05 + 0.95 * 0.5 * (1.0 + std::cos(M_PI * progress_frac)));
    for (auto& group : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);

    std::vector<at::Tensor> lips, auds;
    struct Layout {
      int64_t v0, a0, w, a;
    };
    std::vector<Layout> layouts;
    for (int64_t g = 0; g < o.groups_per_step; ++g) {
      const Start s = starts[pick(rng)];
      const SyncClip& c = clips[s.clip];
      const int64_t w = o.windows_per_group;
      const int64_t a0 = std::max<int64_t>(0, s.v0 - o.vshift);
      const int64_t a1 = std::min(audio_windows(c), s.v0 + w + o.vshift);
      at::Tensor lip = lip_batch(c, s.v0, w);
      if (o.augment) {
        // Per group: a mirror image and a global gain/offset; lips stay in sync with the audio.
        if (unit(rng) < 0.5) lip = lip.flip({4});
        const double gain = 0.8 + 0.4 * unit(rng), bias = -20.0 + 40.0 * unit(rng);
        lip = (lip * gain + bias).clamp(0.0, 255.0);
      }
      lips.push_back(lip);
      auds.push_back(audio_batch(c, a0, a1 - a0));
      layouts.push_back({s.v0, a0, w, a1 - a0});
    }
    // One forward per branch for all groups, so BatchNorm sees every clip of the step.
    const at::Tensor lip_emb = net.forward_lip(at::cat(lips).to(device));
    const at::Tensor aud_emb = net.forward_aud(at::cat(auds).to(device));
    at::Tensor loss = at::zeros({}, lip_emb.options());
    double acc = 0.0;
    int64_t lo = 0, ao = 0;
    for (const Layout& l : layouts) {
      auto [gl, ga] = sync_group_loss(lip_emb.slice(0, lo, lo + l.w), aud_emb.slice(0, ao, ao + l.a), l.v0, l.a0, o.vshift);
      loss = loss + gl / static_cast<double>(layouts.size());
      acc += ga / static_cast<double>(layouts.size());
      lo += l.w;
      ao += l.a;
    }
    opt.zero_grad();
    loss.backward();
    opt.step();

    loss_sum += loss.item<double>();
    acc_sum += acc;
    seen++;
    if (progress && (step % std::max<int64_t>(1, o.log_every) == 0 || step == o.steps)) {
      SyncTrainProgress p;
      p.step = step;
      p.loss = loss_sum / static_cast<double>(seen);
      p.accuracy = acc_sum / static_cast<double>(seen);
      p.lr = lr;
      p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      progress(p);
      loss_sum = acc_sum = 0.0;
      seen = 0;
    }
  }
}

}  // namespace tavce::train
