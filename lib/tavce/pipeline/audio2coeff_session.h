// The audio -> coefficient stage as the tavceaudio2coeff element drives it:
// normalised mel frames in (as tavcemelspec emits them), one row of
// coefficients per video frame out, as soon as the model's look-ahead allows.
//
// This header is free of LibTorch and GStreamer: the element stays a thin
// shell that compiles in seconds. Construction loads the bundle's networks
// (shared with other sessions of the same bundle and device) and prepares the
// reference coefficients from the portrait; every failure is a tavce::Error
// whose message a user can act on.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tavce::pipeline {

struct Audio2CoeffSettings {
  std::string model;            // bundle directory or name; empty = the default bundle
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  std::string source_image;     // portrait: reference expression and pose (via the bundle's recon net)
  std::string source_coeffs;    // or: a raw little-endian float32 file with 70 or 73 coefficients
  std::string preprocess = "crop";  // crop | extcrop | resize | full | extfull
  int pose_style = 0;           // PoseVAE style class, 0..45
  uint64_t seed = 0;            // every random draw (blinks, CVAE z) comes from it
  bool blink = true;            // random eye blinks
  // SadTalker's --ref_pose / --ref_eyeblink: a reference video or a .coeffs
  // file (reference_motion.h). ref_pose adds its head motion relative to its
  // first frame; ref_eyeblink takes its per-frame expression (blinks) and
  // turns the random blinks off. Both loop when shorter than the speech.
  std::string ref_pose;
  std::string ref_eyeblink;
  int threads = 0;              // intra-op threads; 0 = the cores this process may use
};

// What the produced stream means; the element turns it into caps.
struct CoeffStreamInfo {
  int dims = 70;                        // floats per row
  std::string space = "bfm-exp64-pose6";  // coefficient space (model.json coefficient_space)
  int fps_num = 25, fps_den = 1;
  int64_t latency_frames = 0;           // worst-case look-ahead in video frames
  // The mel front end the audio networks expect (checked against the mel caps).
  int sample_rate = 16000, n_mels = 80, hop = 200;
};

class Audio2CoeffSession {
 public:
  explicit Audio2CoeffSession(const Audio2CoeffSettings& settings);
  ~Audio2CoeffSession();
  Audio2CoeffSession(const Audio2CoeffSession&) = delete;
  Audio2CoeffSession& operator=(const Audio2CoeffSession&) = delete;

  const CoeffStreamInfo& info() const;

  // Appends n normalised mel frames (n x n_mels floats, frame-major).
  void push_mel(const float* frames, int64_t n);
  // Coefficient rows that are final, in frame order (info().dims floats each).
  std::vector<std::vector<float>> pop_ready();
  // End of the run: the tail becomes ready.
  void finish();
  // Forget the run (flush, discontinuity); the next push starts frame 0 again.
  void reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tavce::pipeline
