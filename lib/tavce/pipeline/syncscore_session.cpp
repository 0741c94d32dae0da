#include "tavce/pipeline/syncscore_session.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <utility>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "tavce/error.h"
#include "tavce/metrics/lse.h"
#include "tavce/nn/syncnet.h"
#include "tavce/pipeline/model_store.h"
#include "tavce/pipeline/sync_scoring.h"
#include "tavce/runtime/threads.h"

namespace tavce::pipeline {

struct SyncScoreSession::Impl {
  SyncScoreSettings settings;
  std::shared_ptr<LoadedBundle> bundle;
  nn::SyncNet net{nullptr};
  std::unique_ptr<SyncFaceTracker> tracker;

  // The current window: one 224x224 BGR crop per frame (empty = no face box).
  std::vector<std::vector<uint8_t>> crops;
  int64_t detected = 0;
};

SyncScoreSession::SyncScoreSession(const SyncScoreSettings& settings) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.settings = settings;
  if (settings.vshift < 0 || settings.vshift > 100) throw Error("vshift must be in 0..100 frames");
  runtime::configure_threads(settings.threads);
  m.bundle = LoadedBundle::get(settings.model.empty() ? kDefaultSyncModel : settings.model, settings.device);
  m.net = m.bundle->syncnet();
  m.tracker = std::make_unique<SyncFaceTracker>(settings.predictor_path, settings.max_held_frames);
  // Warm-up: one window through both branches (allocations, kernel choice).
  c10::InferenceMode guard;
  const at::TensorOptions opt = at::TensorOptions().dtype(at::kFloat).device(m.bundle->device());
  (void)m.net->forward_lip(at::zeros({1, 3, kFramesPerWindow, kCropSize, kCropSize}, opt));
  (void)m.net->forward_aud(at::zeros({1, 1, nn::SyncNetImpl::kMfcc, nn::SyncNetImpl::kMfccSteps}, opt));
}

SyncScoreSession::~SyncScoreSession() = default;

int SyncScoreSession::vshift() const { return impl_->settings.vshift; }

int64_t SyncScoreSession::min_frames(int64_t window_frames) const {
  const int64_t full = kFramesPerWindow + 2 * static_cast<int64_t>(impl_->settings.vshift);
  return std::max<int64_t>(kFramesPerWindow + 1, std::min(full, window_frames));
}

bool SyncScoreSession::push_frame(const SyncImageView& frame) {
  Impl& m = *impl_;
  SyncFaceTracker::Frame f = m.tracker->push(frame);
  if (f.detected) m.detected++;
  m.crops.push_back(std::move(f.crop));
  return f.detected;
}

bool SyncScoreSession::push_frame_known(const SyncImageView& frame, const std::optional<SyncFaceBox>& box) {
  Impl& m = *impl_;
  SyncFaceTracker::Frame f = m.tracker->push_known(frame, box);
  if (f.detected) m.detected++;
  m.crops.push_back(std::move(f.crop));
  return f.detected;
}

int64_t SyncScoreSession::frames() const { return static_cast<int64_t>(impl_->crops.size()); }

SyncWindowResult SyncScoreSession::score(const float* audio, size_t samples, int64_t min_frames) {
  Impl& m = *impl_;
  SyncWindowResult r;
  r.frames = static_cast<int64_t>(m.crops.size());
  r.faces = m.detected;
  r.face_missing = r.frames - r.faces;
  r.lse_d = r.lse_c = std::nan("");
  auto done = [&](std::string reason) {
    r.reason = std::move(reason);
    m.crops.clear();
    m.detected = 0;
    return r;
  };
  const int64_t usable = std::min<int64_t>(r.frames, static_cast<int64_t>(samples) / kSamplesPerFrame);
  if (usable < min_frames)
    return done("too short: " + std::to_string(usable) + " frame(s) with audio, " + std::to_string(min_frames) +
                " needed");
  const int64_t boxless = std::count_if(m.crops.begin(), m.crops.begin() + usable, [](const auto& c) { return c.empty(); });
  if (boxless > 0) return done("no face in " + std::to_string(boxless) + " frame(s)");
  if (2 * r.faces < r.frames)
    return done("face detected in only " + std::to_string(r.faces) + " of " + std::to_string(r.frames) + " frames");

  const int64_t side = kCropSize;
  at::Tensor crops = at::empty({usable, side, side, 3}, at::kByte);
  for (int64_t t = 0; t < usable; ++t)
    std::memcpy(crops[t].data_ptr<uint8_t>(), m.crops[static_cast<size_t>(t)].data(), side * side * 3);
  const SyncScore s = score_sync(*m.net, crops, audio, samples, m.settings.vshift, m.settings.batch_size, m.bundle->device());
  const metrics::LseResult& lse = s.lse;
  r.embeddings = s.embeddings;
  r.scored = true;
  r.lse_d = lse.min_dist;
  r.lse_c = lse.conf;
  r.offset = lse.offset;
  r.mdist = lse.mdist;
  return done("");
}

void SyncScoreSession::reset() {
  impl_->crops.clear();
  impl_->detected = 0;
  impl_->tracker->reset();
}

}  // namespace tavce::pipeline
