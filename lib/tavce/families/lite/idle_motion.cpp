#include "tavce/families/lite/idle_motion.h"

#include <cmath>

namespace tavce::lite {

namespace {

// splitmix64: a small, portable generator (the same numbers on every platform).
uint64_t next(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
double uniform(uint64_t& s) { return static_cast<double>(next(s) >> 11) * (1.0 / 9007199254740992.0); }

// Eyelid closure over a blink's frames at 25 fps (about 240 ms).
constexpr double kBlinkProfile[] = {0.35, 0.85, 1.0, 0.8, 0.45, 0.15};
constexpr int kBlinkFrames = 6;

// Head sway: three slow sinusoids per degree of freedom (periods 2.7 to 7.7 s).
constexpr double kSwayHz[3] = {0.13, 0.21, 0.37};
// roll (rad), log scale, shift x, shift y (IOD)
constexpr double kSwayAmplitude[4] = {0.02, 0.006, 0.012, 0.008};

}  // namespace

IdleMotion::IdleMotion(const IdleMotionOptions& o) : options_(o), rng_(o.seed ^ 0x6c697465ull) {
  uint64_t s = o.seed ^ 0x73776179ull;
  for (auto& dof : phase_)
    for (double& p : dof) p = 2 * M_PI * uniform(s);
}

double IdleMotion::blink(int64_t t) {
  if (!options_.blink || t < 0) return 0;
  // Blinks every 2 to 5 s, the first within the first 2 s.
  while (blink_starts_.empty() || blink_starts_.back() <= t) {
    const int64_t prev = blink_starts_.empty() ? 0 : blink_starts_.back();
    const int64_t gap = blink_starts_.empty() ? 10 + static_cast<int64_t>(40 * uniform(rng_))
                                              : 50 + static_cast<int64_t>(75 * uniform(rng_));
    blink_starts_.push_back(prev + gap);
  }
  for (auto it = blink_starts_.rbegin(); it != blink_starts_.rend(); ++it)
    if (*it <= t) return t - *it < kBlinkFrames ? kBlinkProfile[t - *it] : 0.0;
  return 0;
}

void IdleMotion::fill(int64_t t, const RowLayout& L, float* row) {
  const double time = static_cast<double>(t) / 25.0;
  double v[4];
  for (int d = 0; d < 4; ++d) {
    double s = 0;
    for (int k = 0; k < 3; ++k) s += std::sin(2 * M_PI * kSwayHz[k] * time + phase_[d][k]);
    v[d] = options_.sway * kSwayAmplitude[d] * s / 3.0;
  }
  row[L.roll()] = static_cast<float>(v[0]);
  row[L.log_scale()] = static_cast<float>(v[1]);
  row[L.shift_x()] = static_cast<float>(v[2]);
  row[L.shift_y()] = static_cast<float>(v[3]);
  const float b = static_cast<float>(blink(t));
  row[L.eye_closure(0)] = b;
  row[L.eye_closure(1)] = b;
  row[L.brow()] = 0.0f;
}

}  // namespace tavce::lite
