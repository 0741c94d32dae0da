// The lite family's procedural motion, the part of a row the audio does not
// drive: eye blinks and a small head sway. Both are pure functions of the
// seed and the frame index, so a stream, an offline run and a resumed run
// give the same rows, and silence still shows a living face.
// Torch- and GStreamer-free.
#pragma once

#include <cstdint>
#include <vector>

#include "tavce/families/lite/motion_space.h"

namespace tavce::lite {

struct IdleMotionOptions {
  uint64_t seed = 0;
  bool blink = true;
  double sway = 1.0;  // scale of the head sway; 0 = a still head
};

class IdleMotion {
 public:
  explicit IdleMotion(const IdleMotionOptions& options);
  // Writes head pose, eyelids and brow of frame t into `row` (layout L).
  void fill(int64_t t, const RowLayout& layout, float* row);
  // Eyelid closure at frame t (0 open .. 1 shut).
  double blink(int64_t t);

 private:
  IdleMotionOptions options_;
  std::vector<int64_t> blink_starts_;  // drawn lazily, in order
  uint64_t rng_;
  double phase_[4][3];
};

}  // namespace tavce::lite
