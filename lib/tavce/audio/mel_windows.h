// Per-video-frame mel windows (the reference's get_data loop).
#pragma once

#include <cstdint>
#include <vector>

#include "tavce/audio/mel_config.h"

namespace tavce::audio {

// Video frames covered by n_samples of audio: T = floor(n / (sample_rate / fps)).
int64_t video_frame_count(int64_t n_samples, const MelConfig& mel, const MelWindowing& w = {});
// Samples the reference keeps for T frames: the wav is cut or zero-padded to this.
int64_t samples_for_video_frames(int64_t frames, const MelConfig& mel, const MelWindowing& w = {});

// First (unclamped) mel index of video frame i's window: trunc(mel_rate*(i-lead)/fps).
int64_t window_start(int64_t video_frame, const MelConfig& mel, const MelWindowing& w = {});
// The last mel frame (exclusive) video frame i needs, before clamping: what a
// streaming consumer must wait for.
int64_t window_end(int64_t video_frame, const MelConfig& mel, const MelWindowing& w = {});

// Clamped mel row indices (window entries) of video frame i, given M mel frames.
std::vector<int64_t> window_indices(int64_t video_frame, int64_t mel_frames, const MelConfig& mel,
                                    const MelWindowing& w = {});

// Copy video frame i's window, transposed to (n_mels x window) like the reference,
// from a (mel_frames x n_mels) frame-major mel array.
void extract_window(const float* mel, int64_t mel_frames, int64_t video_frame, float* out,
                    const MelConfig& cfg, const MelWindowing& w = {});

}  // namespace tavce::audio
