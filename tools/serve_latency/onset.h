// Onset detection for the serve latency measurement: where speech starts in
// an audio stream and where the mouth first leaves its idle look in a video
// stream. Pure functions over samples and pixels (no GStreamer), so the
// definitions in docs/serving.md ("Latency") can be read here in one place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace serve_latency {

// Audio: the first 10 ms window whose RMS reaches `threshold_dbfs` (full
// scale = 32768). Returns the index of the window's first sample, or nothing.
std::optional<size_t> audio_onset(const int16_t* samples, size_t count, int rate, double threshold_dbfs);

// Video: a gray patch (the mouth box of every frame, same size).
struct Patch {
  int width = 0, height = 0;
  std::vector<uint8_t> px;
};

// The mean absolute difference of two patches of the same size, in gray
// levels, after the best shift of up to `max_shift` pixels each way (over the
// pixels at least max_shift from the border): the idle head sways by a few
// pixels, which would otherwise look like a moving mouth.
double patch_difference(const Patch& current, const Patch& reference, int max_shift);

// What "the mouth left its idle look" means for one utterance, learnt from
// the frames just before the speech was pushed: the idle reference is their
// per-pixel mean; a frame shows speech when its (shift-aligned) difference to the reference
// exceeds the threshold: the largest idle difference times `margin`, and at
// least `floor` gray levels (so a perfectly still idle face does not make
// codec noise count as speech).
struct IdleModel {
  Patch reference;
  double max_idle_difference = 0;
  double threshold = 0;
};

// Needs at least one patch; all patches the same size.
IdleModel learn_idle(const std::vector<const Patch*>& idle, double margin, double floor, int max_shift);

}  // namespace serve_latency
