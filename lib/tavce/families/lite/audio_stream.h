// Streaming audio -> lite coefficient rows, for tavceaudio2coeff: normalised
// mel frames in (tavcemelspec's), one row per 25 fps video frame out, as soon
// as the audio network's look-ahead allows. A row's mouth part comes from the
// network, its head, eyelid and brow parts from IdleMotion (seeded).
//
// The rows depend only on the mel frames and the seed, never on how the mel
// was cut into buffers: the whole clip pushed at once gives the same rows
// (tested). Frame count T = floor((M - 1) * 200 / 640) for M mel frames, as
// the SadTalker stream. Memory stays flat on endless streams: mel frames and
// embeddings no later frame reads are dropped.
// Torch-free header (pimpl).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "tavce/families/lite/idle_motion.h"
#include "tavce/families/lite/motion_space.h"

namespace tavce::lite {

struct AudioNetImpl;

class AudioStream {
 public:
  // net: a loaded lite::AudioNet (eval mode), shared; its outputs must equal
  // the space's components.
  AudioStream(std::shared_ptr<AudioNetImpl> net, std::shared_ptr<const MotionSpace> space,
              const IdleMotionOptions& idle);
  ~AudioStream();
  AudioStream(const AudioStream&) = delete;
  AudioStream& operator=(const AudioStream&) = delete;

  int row_size() const;
  // Video frames a row waits for beyond its own: the mel window's reach plus
  // the network's future context.
  int64_t latency_frames() const;

  void push_mel(const float* frames, int64_t n);
  std::vector<std::vector<float>> pop_ready();
  void finish();
  void reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tavce::lite
