#include "tavce/audio/mel_windows.h"

#include <algorithm>

#include "tavce/error.h"

namespace tavce::audio {
namespace {

int64_t samples_per_video_frame(const MelConfig& mel, const MelWindowing& w) {
  if (w.fps <= 0 || mel.sample_rate % w.fps != 0)
    throw Error("mel windows: sample_rate must be a multiple of fps");
  return mel.sample_rate / w.fps;
}

}  // namespace

int64_t video_frame_count(int64_t n_samples, const MelConfig& mel, const MelWindowing& w) {
  return n_samples / samples_per_video_frame(mel, w);
}

int64_t samples_for_video_frames(int64_t frames, const MelConfig& mel, const MelWindowing& w) {
  return frames * samples_per_video_frame(mel, w);
}

int64_t window_start(int64_t video_frame, const MelConfig& mel, const MelWindowing& w) {
  // The reference computes int(80.0 * ((i - 2) / 25.0)); the exact integer
  // form (mel frames per second * (i - lead)) / fps, truncated towards zero,
  // gives the same index for every frame and does not drift on long streams.
  if (mel.sample_rate % mel.hop != 0) throw Error("mel windows: hop must divide sample_rate");
  const int64_t mel_rate = mel.sample_rate / mel.hop;
  return (mel_rate * (video_frame - w.lead_frames)) / w.fps;  // C++ '/' truncates towards zero
}

int64_t window_end(int64_t video_frame, const MelConfig& mel, const MelWindowing& w) {
  return window_start(video_frame, mel, w) + w.window;
}

std::vector<int64_t> window_indices(int64_t video_frame, int64_t mel_frames, const MelConfig& mel,
                                    const MelWindowing& w) {
  if (mel_frames <= 0) throw Error("mel windows: no mel frames");
  std::vector<int64_t> idx(w.window);
  const int64_t start = window_start(video_frame, mel, w);
  for (int k = 0; k < w.window; ++k) idx[k] = std::clamp<int64_t>(start + k, 0, mel_frames - 1);
  return idx;
}

void extract_window(const float* mel, int64_t mel_frames, int64_t video_frame, float* out,
                    const MelConfig& cfg, const MelWindowing& w) {
  const std::vector<int64_t> idx = window_indices(video_frame, mel_frames, cfg, w);
  for (int c = 0; c < cfg.n_mels; ++c)
    for (int k = 0; k < w.window; ++k) out[c * w.window + k] = mel[idx[k] * cfg.n_mels + c];
}

}  // namespace tavce::audio
