// The lite motion of a tracked clip: its landmarks lightly smoothed in time,
// mapped to the canonical frame, its closed-mouth rest shape, and each
// frame's mouth/jaw displacement from it (what the motion space encodes).
// Used by training, evaluation and anyone extracting the space from footage.
// Torch- and GStreamer-free.
#pragma once

#include <vector>

#include "tavce/families/lite/clip_data.h"
#include "tavce/families/lite/motion_space.h"

namespace tavce::lite {

struct ClipMotion {
  std::vector<uint8_t> valid;         // per frame: a face was tracked
  std::vector<Points> canonical;      // per frame (empty where not valid)
  std::vector<Similarity> to_canonical;  // per frame, image -> canonical
  Points rest;                        // closed-mouth rest shape (canonical)
  std::vector<std::vector<double>> displacement;  // per frame, kMouthJawValues (empty where not valid)
};

// Throws tavce::Error when fewer than 5 frames hold a face.
ClipMotion extract_motion(const ClipData& clip);

// Landmarks smoothed over time with weights 1 4 6 4 1 (frames without a face
// left out of each average): dlib's per-frame jitter is about a pixel.
std::vector<Points> smooth_landmarks(const ClipData& clip);

}  // namespace tavce::lite
