// Streaming audio -> coefficient sequencing, for the tavceaudio2coeff element.
// Torch-free header (pimpl): the element includes this; whoever loads the
// networks includes tavce/coeffs/audio2coeff.h for Audio2CoeffNets.
//
// Input: normalised mel frames (80 floats each, frame-major) exactly as the
// mel element emits them for the whole audio. Output: one coefficient row per
// video frame, in order: exp (64) + pose (6) = 70 floats, followed by the
// 128-d CERL gate in the TAVCE flavour when a correlation encoder is given.
//
// Rows come out as soon as the reference's own chunking allows: a frame needs
// its mel window (16 mel frames from trunc(3.2 (t-2))), its blink ratio, its
// PoseVAE chunk (full 32-frame chunks as they complete; the tail chunk only at
// finish, because it decodes the LAST 32 windows of the clip) and, in the
// SadTalker flavour, the Savitzky-Golay neighbours (6 frames after it; the
// first 6 rows use the first 13 frames). Given the same draws, the rows equal
// audio2coeff_generate's coeffs (tested under random chunkings of the input).
//
// Where a stream must differ from the offline reference:
//   - T: the stream knows only the mel count M, giving T = floor((M-1)*200/640),
//     which can be one frame less than the reference's floor(samples/640)
//     (the mel count loses samples mod 200). finish(total_samples) restores
//     the reference's T when the caller knows the sample count.
//   - The last ~2 mel frames: the reference computes its mel on the audio cut
//     to T*640 samples (zero padding after the cut); the mel element saw the
//     real samples there. Window indices are clamped to the reference's
//     1 + floor(3.2 T) mel frames, so only those frames' values can differ.
//   - Blinks: with T unknown, starts are drawn from range(10, 70) (the
//     reference's range for T >= 140); see blink.h BlinkSchedule. For T >= 140
//     the sequence equals the offline one for the same seed.
// Memory: mel frames and per-frame embeddings are dropped as soon as no later
// step reads them; the per-frame result rows (about 0.8 kB per video frame,
// ~75 MB per hour) are kept until reset().
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "tavce/coeffs/sequencing.h"

namespace tavce::coeffs {

struct Audio2CoeffNets;  // tavce/coeffs/audio2coeff.h

struct StreamingOptions : Audio2CoeffOptions {
  uint64_t seed = 0;             // z: CPU generator(seed); blinks: mt19937_64(seed)
  std::vector<float> ref_coeff;  // the source's 70 or 73 coefficients (exp 0:64, pose 64:70)
  // TAVCE flavour with a correlation encoder: append the 128-d gate to each row.
  bool append_gate = true;
  // Injected draws instead of the seed's (golden parity, reproducing a stored
  // run): the blink ratio per frame (frames past its end get 0; ignored when
  // blinks are off or ref_eyeblink is set) and the CVAE z of each chunk in
  // draw order, 64 floats per chunk (running out is a tavce::Error).
  std::vector<float> injected_ratio;
  std::vector<float> injected_z;
};

class StreamingAudio2Coeff {
 public:
  // nets: loaded, eval mode; shared (the element may keep one copy for
  // several streams, used one at a time). Throws tavce::Error for bad options.
  StreamingAudio2Coeff(std::shared_ptr<Audio2CoeffNets> nets, StreamingOptions options);
  ~StreamingAudio2Coeff();
  StreamingAudio2Coeff(StreamingAudio2Coeff&&) noexcept;
  StreamingAudio2Coeff& operator=(StreamingAudio2Coeff&&) noexcept;

  // n_frames normalised mel frames, n x 80 floats, frame-major.
  void push_mel(const float* frames, int64_t n_frames);
  // The rows completed so far (row_size() floats each), in frame order.
  std::vector<std::vector<float>> pop_ready();
  // End of stream: computes every remaining row (tail chunk, edge smoothing).
  // total_samples >= 0: the number of audio samples (16 kHz) the mel came
  // from; T is then the reference's floor(samples / 640). Else T comes from
  // the mel count. After finish only pop_ready/reset are allowed.
  void finish(int64_t total_samples = -1);
  // Back to the initial state (same seed: the same draws again).
  void reset();

  // Upper bound of the look-ahead, in video frames: once the mel frames
  // pushed cover F video frames (F = floor((M-1)*200/640)), every frame
  // t < F - latency_frames() has been emitted. Mel window (3 frames) +
  // PoseVAE chunk (up to 31) + Savitzky-Golay half window (6, SadTalker).
  // Add the mel element's own delay (half an STFT window, 25 ms).
  int64_t latency_frames() const;
  int64_t row_size() const;          // 70, or 198 with the gate
  int64_t frames_emitted() const;    // rows handed out or ready so far
  int64_t frames_known() const;      // video frames the input implies so far (final T after finish)
  bool finished() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tavce::coeffs
