#include "tavce/coeffs/blink.h"

#include <algorithm>
#include <limits>

namespace tavce::coeffs {

namespace {
constexpr int64_t kMinStart = 10;  // range(min(10, T), ...)
constexpr int64_t kMaxStart = 70;  // ... min(T//2, 70)), exclusive
constexpr int64_t kBlinkLen = 5;
}  // namespace

uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  // Accept u below the largest multiple of n that fits in 2^64, then u % n is
  // exactly uniform.
  const uint64_t limit = std::numeric_limits<uint64_t>::max() - (std::numeric_limits<uint64_t>::max() % n + 1) % n;
  uint64_t u;
  do {
    u = rng();
  } while (u > limit);
  return u % n;
}

std::vector<float> blink_ratio_sequence(int64_t frames, uint64_t seed) {
  std::vector<float> ratio(size_t(std::max<int64_t>(frames, 0)), 0.0f);
  if (frames <= kBlinkMinFrames) return ratio;
  const int64_t lo = std::min<int64_t>(kMinStart, frames);
  const int64_t hi = std::min<int64_t>(frames / 2, kMaxStart);
  if (hi <= lo) return ratio;  // T = 21: the reference's random.choice raises on an empty range
  std::mt19937_64 rng(seed);
  int64_t f = 0;
  while (f < frames) {
    const int64_t start = lo + int64_t(uniform_below(rng, uint64_t(hi - lo)));
    if (f + start + kBlinkLen > frames - 1) break;
    for (int64_t k = 0; k < kBlinkLen; ++k) ratio[size_t(f + start + k)] = kBlinkPattern[k];
    f += start + kBlinkLen;
  }
  return ratio;
}

BlinkSchedule::BlinkSchedule(uint64_t seed) : seed_(seed), rng_(seed) {}

void BlinkSchedule::reset() {
  rng_.seed(seed_);
  starts_.clear();
  next_free_ = 0;
}

void BlinkSchedule::draw_until(int64_t t) {
  // Draw blinks in the reference loop's order until the next one would start
  // after t (so every blink that could cover t is known).
  while (next_free_ <= t) {
    const int64_t start = kMinStart + int64_t(uniform_below(rng_, uint64_t(kMaxStart - kMinStart)));
    starts_.push_back(next_free_ + start);
    next_free_ += start + kBlinkLen;
  }
}

bool BlinkSchedule::ratio(int64_t t, int64_t frames_lower, bool final, float* ratio) {
  draw_until(t);
  // The blink covering t, if any: the last start <= t.
  auto it = std::upper_bound(starts_.begin(), starts_.end(), t);
  if (it == starts_.begin() || t >= *(it - 1) + kBlinkLen) {
    *ratio = 0.0f;
    return true;
  }
  const int64_t s = *(it - 1);
  // Kept iff T > 20 and s + 5 <= T - 1, i.e. T >= max(21, s + 6).
  const int64_t needed = std::max<int64_t>(kBlinkMinFrames + 1, s + kBlinkLen + 1);
  if (frames_lower >= needed) {
    *ratio = kBlinkPattern[t - s];
    return true;
  }
  if (final) {
    *ratio = 0.0f;
    return true;
  }
  return false;
}

std::vector<float> streaming_blink_ratio_sequence(int64_t frames, uint64_t seed) {
  BlinkSchedule s(seed);
  std::vector<float> r(size_t(std::max<int64_t>(frames, 0)), 0.0f);
  for (int64_t t = 0; t < frames; ++t) s.ratio(t, frames, true, &r[size_t(t)]);
  return r;
}

}  // namespace tavce::coeffs
