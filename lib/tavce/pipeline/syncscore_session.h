// The lip-sync scoring stage as the tavcesyncscore element drives it: video
// frames and 16 kHz audio in, LSE-D / LSE-C / offset per window out, computed
// as syncnet_python's SyncNetInstance.evaluate does on a clip:
//
//   per frame: a face crop (SyncFaceTracker, sync_face_track.h);
//   per window of N frames and its audio (int16-scale samples, 640 per
//              frame): score_sync (sync_scoring.h), i.e. MFCC, five-frame
//              lip windows, SyncNet embeddings and the LSE over +-vshift.
//
// Each window is scored as if it were a clip of its own. Free of LibTorch,
// OpenCV and GStreamer in this header; construction loads the bundle's
// `syncnet` network and the dlib model, and every failure is a tavce::Error
// a user can act on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tavce/pipeline/sync_face_track.h"

namespace tavce::pipeline {

// The bundle shipped in models/syncnet: the project's own small SyncNet
// (docs/evaluation.md), used when no model is named.
constexpr const char* kDefaultSyncModel = "syncnet";

struct SyncScoreSettings {
  std::string model;             // bundle directory or name with a "syncnet" module; empty = kDefaultSyncModel
  std::string device = "auto";   // auto | cpu | cuda | cuda:N
  int vshift = 15;               // offsets searched: -vshift .. +vshift frames
  int batch_size = 20;           // 5-frame windows per network call (the reference's default)
  int threads = 0;               // intra-op threads; 0 = the cores this process may use
  std::string predictor_path;    // dlib 68-point model; empty = face::default_predictor_path()
  int max_held_frames = 25;      // a frame without a detection reuses the last box this many frames
                                 // (run_pipeline.py's num_failed_det)
};

struct SyncWindowResult {
  int64_t frames = 0;        // video frames in the window
  int64_t faces = 0;         // frames where a face was detected
  int64_t face_missing = 0;  // frames without a detection (frames - faces)
  int64_t embeddings = 0;    // five-frame windows that went into the distance curve
  bool scored = false;
  std::string reason;        // why the window was not scored (empty when scored)
  double lse_d = 0.0;        // min of the mean distance curve
  double lse_c = 0.0;        // median(curve) - min
  int64_t offset = 0;        // vshift - argmin: > 0 when the audio leads the video
  std::vector<double> mdist; // the mean distance curve (2 vshift + 1 values), when scored
};

class SyncScoreSession {
 public:
  static constexpr int kFps = 25;              // the reference's frame rate (640 samples, 4 MFCC steps per frame)
  static constexpr int kSampleRate = 16000;
  static constexpr int kSamplesPerFrame = 640;
  static constexpr int kFramesPerWindow = 5;   // frames per SyncNet lip window
  static constexpr int kCropSize = 224;

  explicit SyncScoreSession(const SyncScoreSettings& settings);
  ~SyncScoreSession();
  SyncScoreSession(const SyncScoreSession&) = delete;
  SyncScoreSession& operator=(const SyncScoreSession&) = delete;

  int vshift() const;
  // Fewest frames a window needs to be scored: 5 + 2 vshift (35), or
  // `window_frames` when the configured windows are shorter, never below 6
  // (one embedding). Windows and end-of-stream tails with fewer are skipped.
  int64_t min_frames(int64_t window_frames) const;

  // Detects the face of one frame and keeps its crop. Returns whether a face
  // was detected (a held box from an earlier frame does not count).
  bool push_frame(const SyncImageView& frame);
  // The same with the face box an upstream tracker found (nullopt: none in
  // this frame), without running the detector (SyncFaceTracker::push_known).
  bool push_frame_known(const SyncImageView& frame, const std::optional<SyncFaceBox>& box);
  int64_t frames() const;

  // Scores the frames pushed since the last call with their audio
  // (int16-scale samples at 16 kHz, ideally frames() * 640 of them: fewer
  // shorten the window as in the reference) and forgets them. `min_frames`:
  // see min_frames(). A window is skipped (scored = false, reason set) when it
  // has too few frames with audio, a frame with no face box at all, or faces
  // detected in fewer than half of its frames.
  SyncWindowResult score(const float* audio, size_t samples, int64_t min_frames);
  // Forgets the pushed frames and the last face box (flush, discontinuity).
  void reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tavce::pipeline
