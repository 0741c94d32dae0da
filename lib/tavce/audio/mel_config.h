// Parameters of the SadTalker / TAVCE audio front end (reference-architecture §2).
#pragma once

namespace tavce::audio {

struct MelConfig {
  int sample_rate = 16000;
  int n_fft = 800;
  int hop = 200;
  int win = 800;
  int n_mels = 80;
  double fmin = 55.0;
  double fmax = 7600.0;
  double preemphasis = 0.97;
  double min_level_db = -100.0;  // floor of 20*log10(amplitude) before normalisation
  double ref_level_db = 20.0;
  double max_abs_value = 4.0;    // symmetric normalisation range [-4, 4], clipped

  int n_freq() const { return n_fft / 2 + 1; }
  // Mel frames per second (80 for the reference parameters).
  double frame_rate() const { return double(sample_rate) / hop; }
};

// How video frame i picks its window of mel frames (the reference's get_data):
// start = trunc(mel_rate * (i - lead_frames) / fps), `window` consecutive mel
// frames from there, each index clamped to the valid range.
struct MelWindowing {
  int fps = 25;
  int window = 16;
  int lead_frames = 2;
};

}  // namespace tavce::audio
