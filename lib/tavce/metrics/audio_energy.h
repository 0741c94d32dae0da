// Loudness per video frame, the audio side of the render evaluation's
// "mouth opening against audio energy" correlation and the input of its
// energy baseline. Torch-free.
#pragma once

#include <cstddef>
#include <vector>

namespace tavce::metrics {

// RMS level in dB (20 log10 RMS, full scale 1) of each run of
// samples_per_frame samples: frame t covers samples [t s, (t + 1) s); frames
// past the end of the audio (or `frames` of them when frames > 0) read the
// samples that exist, silence counting as floor_db. Levels never go below
// floor_db, so silence stays finite.
std::vector<double> frame_energy_db(const float* samples, size_t count, size_t samples_per_frame, size_t frames = 0,
                                    double floor_db = -80.0);

}  // namespace tavce::metrics
