// The random eye-blink ratio of SadTalker's generate_blink_seq_randomly
// (src/generate_batch.py; reference-architecture §1.2), fed to ExpNet as the
// per-frame "ratio" input. Torch-free.
//
// Reference: ratio = zeros(T); if T > 20, starting at f = 0 repeat
//   start = random.choice(range(min(10, T), min(T//2, 70)))
//   if f + start + 5 <= T-1: ratio[f+start : f+start+5] = [0.5, 0.9, 1.0, 0.9, 0.5]; f += start + 5
//   else: stop.
// We draw `start` from a seeded std::mt19937_64 with our own (portable)
// uniform-integer mapping, so the same seed gives the same sequence on every
// platform. The numbers are NOT those of Python's `random`: golden parity
// injects the stored ratio instead.
//
// Corner the reference does not survive: T = 21 makes range(10, 10) empty and
// random.choice raises; we return no blinks there.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace tavce::coeffs {

// The blink shape written at a blink's 5 frames.
constexpr float kBlinkPattern[5] = {0.5f, 0.9f, 1.0f, 0.9f, 0.5f};
// Clips of at most this many frames get no blinks.
constexpr int64_t kBlinkMinFrames = 20;

// Uniform integer in [0, n) from the generator, by rejection (unbiased and
// independent of the standard library's distribution implementation).
uint64_t uniform_below(std::mt19937_64& rng, uint64_t n);

// The reference's distribution for a clip of known length T: (T) ratios.
std::vector<float> blink_ratio_sequence(int64_t frames, uint64_t seed);

// The blink process when T is not known in advance (streaming). Starts are
// drawn from range(10, 70), i.e. as the reference does for T >= 140, and a
// blink is kept iff it ends by frame T-2 (f + start + 5 <= T-1) and T > 20.
// Because blink positions only grow, that keeps exactly the prefix the
// reference keeps. So for T >= 140 this equals blink_ratio_sequence(T, seed)
// with the same seed; for shorter clips the reference draws from the narrower
// range(10, T//2), which a stream cannot know; this is a documented
// difference of the streaming path (statistically: somewhat sparser blinks).
class BlinkSchedule {
 public:
  explicit BlinkSchedule(uint64_t seed);
  // Ratio of frame t once the clip is known to have at least `frames_lower`
  // frames; `final` says that frames_lower is the final T. Returns false (and
  // leaves *ratio) while it still depends on frames not yet known.
  bool ratio(int64_t t, int64_t frames_lower, bool final, float* ratio);
  void reset();

 private:
  void draw_until(int64_t t);  // make sure blinks covering frames <= t are drawn
  uint64_t seed_;
  std::mt19937_64 rng_;
  std::vector<int64_t> starts_;  // first frame of each drawn blink
  int64_t next_free_ = 0;        // f of the reference loop after the last drawn blink
};

// The whole sequence BlinkSchedule gives for a clip of T frames.
std::vector<float> streaming_blink_ratio_sequence(int64_t frames, uint64_t seed);

}  // namespace tavce::coeffs
