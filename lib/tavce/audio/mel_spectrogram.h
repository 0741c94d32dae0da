// Streaming log-mel spectrogram, bit-faithful to the reference front end:
// pre-emphasis -> centred |STFT| (zero padding) -> Slaney mel -> dB -> [-4, 4].
//
// The output depends only on the concatenated input, never on how it was cut
// into chunks: a mel frame is emitted as soon as the samples it covers have
// arrived, and finish() emits the zero-padded tail exactly as the reference
// does for a whole file (1 + floor(N / hop) frames for N > 0 samples).
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tavce/audio/mel_config.h"
#include "tavce/audio/mel_filterbank.h"
#include "tavce/audio/real_fft.h"

namespace tavce::audio {

// Per-frame analysis shared by the streaming and the whole-signal paths.
class MelFrameAnalyser {
 public:
  explicit MelFrameAnalyser(const MelConfig& cfg);
  const MelConfig& config() const { return cfg_; }
  const std::vector<float>& basis() const { return basis_; }
  const std::vector<double>& window() const { return window_; }

  // frame: n_fft pre-emphasised samples. Writes n_mels normalised values to out;
  // when not null, also |STFT| (n_freq) and the mel amplitude (n_mels).
  void analyse(const double* frame, float* out, double* magnitude_out = nullptr,
               double* mel_amp_out = nullptr);

  // dB conversion and symmetric normalisation of one mel amplitude.
  float normalise(double mel_amplitude) const;

 private:
  MelConfig cfg_;
  std::vector<float> basis_;
  SparseMelBasis sparse_;
  std::vector<double> window_;
  RealFft fft_;
  double amp_floor_;
  std::vector<double> windowed_, magnitude_, mel_amp_;
  std::vector<std::complex<double>> spectrum_;
};

class MelSpectrogram {
 public:
  explicit MelSpectrogram(const MelConfig& cfg = {});

  const MelConfig& config() const { return analyser_.config(); }
  int n_mels() const { return config().n_mels; }

  // Append the mel frames completed by these samples to out (n_mels floats per
  // frame, frame-major). Returns the number of frames appended.
  size_t push(const float* samples, size_t n, std::vector<float>& out);
  // int16 PCM, scaled by 1/32768 like the reference loader.
  size_t push(const int16_t* samples, size_t n, std::vector<float>& out);
  // End of stream: emit the remaining frames with the reference's zero padding,
  // then reset. An empty stream emits nothing.
  size_t finish(std::vector<float>& out);
  // Drop all state (flush).
  void reset();

  uint64_t samples_pushed() const { return samples_; }
  uint64_t frames_emitted() const { return next_frame_; }
  // Mel frames that finish() would emit for a stream of n samples in total.
  static uint64_t total_frames(uint64_t n_samples, const MelConfig& cfg);

 private:
  void append(double preemphasised);
  size_t emit_ready(uint64_t available_end, std::vector<float>& out);

  MelFrameAnalyser analyser_;
  std::vector<double> pending_;  // pre-emphasised samples from absolute index pending_start_
  int64_t pending_start_ = 0;
  uint64_t samples_ = 0;
  uint64_t next_frame_ = 0;
  double previous_ = 0.0;  // last raw input sample, for the pre-emphasis filter
};

// Whole-signal front end with every intermediate stage, for parity checks and tools.
struct MelStages {
  std::vector<double> preemphasised;  // N
  std::vector<double> stft_magnitude;  // (n_freq x M), row-major
  std::vector<double> mel_amplitude;  // (n_mels x M)
  std::vector<float> mel;             // (M x n_mels), normalised
  int64_t frames = 0;                 // M
};
MelStages compute_mel_stages(const float* samples, size_t n, const MelConfig& cfg = {});

// (M x n_mels) normalised mel of a whole signal, through the streaming path.
std::vector<float> melspectrogram(const float* samples, size_t n, const MelConfig& cfg = {});

}  // namespace tavce::audio
