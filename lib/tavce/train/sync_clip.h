// Training and evaluation material for SyncNet: one talking-face clip as the
// metric sees it, i.e. a SyncNet face crop per 25 fps frame
// (pipeline::SyncFaceTracker) and its 16 kHz mono audio at int16 scale.
// Extraction (decoding, tracking) happens once, in tavce-train sync-data;
// the clips are then cached as safetensors files and reloaded by the trainer
// and the evaluation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace tavce::train {

struct SyncClip {
  std::string name;   // "<folder>/<file stem>", e.g. "grid/bbaf2n"; decides the fold
  at::Tensor crops;   // (T, 224, 224, 3) uint8 BGR; zeros where there was no face box
  at::Tensor has_face;  // (T) bool: the crop holds a face (detected or held box)
  at::Tensor audio;   // (N) float32, 16 kHz mono, int16 scale
  at::Tensor mfcc;    // (steps, 13) float32 at 100 Hz, filled by load_sync_clip / compute_clip_mfcc

  int64_t frames() const { return crops.defined() ? crops.size(0) : 0; }
};

// python_speech_features MFCC of the whole clip (the metric's front end). A
// step depends on its own 25 ms of audio and, through pre-emphasis, one sample
// before it, so windows cut from it match the scorer's per-window MFCC except
// at the very first step of a window and where the scorer zero-pads its end.
void compute_clip_mfcc(SyncClip& clip);

// Cache file <-> clip. Loading checks shapes and dtypes and fills mfcc;
// errors name the file.
void save_sync_clip(const std::string& path, const SyncClip& clip);
SyncClip load_sync_clip(const std::string& path);

// Every *.safetensors clip under `dir`, sorted by name.
std::vector<SyncClip> load_sync_clips(const std::string& dir);

// Deterministic, stratified k-fold split: within each folder (grid, hdtf,
// vox, ...) the clips sorted by name go round-robin into folds 0..folds-1.
// Returns the fold of each clip, in the order given.
std::vector<int> assign_folds(const std::vector<std::string>& names, int folds);

}  // namespace tavce::train
