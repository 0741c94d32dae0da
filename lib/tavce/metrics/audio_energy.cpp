#include "tavce/metrics/audio_energy.h"

#include <algorithm>
#include <cmath>

#include "tavce/error.h"

namespace tavce::metrics {

std::vector<double> frame_energy_db(const float* samples, size_t count, size_t samples_per_frame, size_t frames,
                                    double floor_db) {
  if (samples_per_frame == 0) throw Error("frame_energy_db: samples_per_frame must be > 0");
  if (frames == 0) frames = (count + samples_per_frame - 1) / samples_per_frame;
  std::vector<double> out(frames, floor_db);
  for (size_t t = 0; t < frames; ++t) {
    const size_t a = t * samples_per_frame, b = std::min(count, a + samples_per_frame);
    if (a >= b) continue;
    double sum = 0.0;
    for (size_t i = a; i < b; ++i) sum += static_cast<double>(samples[i]) * samples[i];
    // Mean over the whole frame: a frame cut short by the end of the audio is that much quieter.
    const double rms = std::sqrt(sum / static_cast<double>(samples_per_frame));
    if (rms > 0) out[t] = std::max(floor_db, 20.0 * std::log10(rms));
  }
  return out;
}

}  // namespace tavce::metrics
