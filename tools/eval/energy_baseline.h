// The "mouth opened by audio energy alone" baseline of tavce-eval render: lite
// coefficient rows whose mouth part is the clip's loudness times one fixed
// mouth shape, and nothing else moves. It shares the lite renderer, so a
// difference from the lite model is the audio network's, not the renderer's.
//
// The shape and its size come from the model's own motion space (so from its
// training data, never from the clip scored):
//   - direction: the unit vector in mouth-coefficient space along which the
//     inner lips part fastest (gradient of metrics::mouth_opening of the rest
//     template, by central differences);
//   - gain: twice the training frames' RMS coefficient along that direction,
//     so a clip's median loudness gives about the typical training opening.
// Loudness: the frame's RMS level in dB mapped linearly from the clip's 10th
// percentile (0, closed) to its 90th (1), clamped to [0, 1]: the baseline
// sees the clip's whole level range, an offline advantage the model lacks.
#pragma once

#include <vector>

#include "tavce/families/lite/motion_space.h"

namespace tavce::tools {

struct EnergyBaseline {
  std::vector<double> direction;  // unit, one value per mouth component
  double gain = 0.0;
};

// Throws tavce::Error when the space's rest template does not open along any component.
EnergyBaseline energy_baseline(const lite::MotionSpace& space);

// Per-frame loudness (dB) -> 0..1 as above.
std::vector<double> normalised_loudness(const std::vector<double>& level_db);

// One row (the space's layout, dims floats) per frame: mouth = loudness * gain * direction,
// head, eyelids and brow at rest.
std::vector<std::vector<float>> energy_rows(const EnergyBaseline& baseline, const lite::MotionSpace& space,
                                            const std::vector<double>& level_db);

}  // namespace tavce::tools
