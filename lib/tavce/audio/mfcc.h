// MFCC front end of the SyncNet lip-sync metric: python_speech_features.mfcc
// with its defaults as syncnet_python calls it, in float64, bit-faithful up to
// FFT rounding:
//   int16-scale samples (not divided by 32768) -> pre-emphasis y[0] = x[0],
//   y[n] = x[n] - 0.97 x[n-1] -> 400-sample frames every 160 samples, the last
//   one zero-padded, RECTANGULAR window -> power |rfft(frame, 512)|^2 / 512 ->
//   26 triangular filters on integer FFT bins -> log (zeros -> float64 eps) ->
//   orthonormal DCT-II, first 13 -> lifter 1 + 11 sin(pi n / 22) ->
//   c0 replaced by log(total frame power).
// At 16 kHz that is 100 MFCC frames per second, 4 per 25 fps video frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tavce::audio {

struct MfccConfig {
  int sample_rate = 16000;
  double winlen = 0.025;   // seconds (400 samples)
  double winstep = 0.01;   // seconds (160 samples)
  int numcep = 13;
  int nfilt = 26;
  int nfft = 512;
  double lowfreq = 0.0;
  double highfreq = 0.0;   // 0: sample_rate / 2 (the reference's `highfreq or samplerate/2`)
  double preemph = 0.97;
  int ceplifter = 22;      // 0: no lifter
  bool append_energy = true;

  int n_bins() const { return nfft / 2 + 1; }
  // Frame length and step in samples (round half up, as the reference rounds them).
  int frame_length() const;
  int frame_step() const;
  // Reads the golden case.json "config"."mfcc" object (keys as in
  // python_speech_features; "highfreq": null means sample_rate / 2). Only the
  // rectangular window is supported.
  static MfccConfig from_json(const nlohmann::json& j);
};

// The (nfilt x n_bins) triangular filterbank, row-major.
std::vector<double> mfcc_filterbank(const MfccConfig& cfg);

struct MfccResult {
  int64_t frames = 0;                  // M = 1 + ceil((N - frame_length) / frame_step), 1 when N <= frame_length
  std::vector<double> mfcc;            // (M x numcep)
  std::vector<double> fbank_energies;  // (M x nfilt), before the log (zeros replaced by eps)
  std::vector<double> frame_energy;    // (M), total power per frame (zeros replaced by eps)
};

// MFCC of a whole signal of int16-scale samples (n > 0).
MfccResult compute_mfcc(const double* samples, size_t n, const MfccConfig& cfg = {});
MfccResult compute_mfcc(const int16_t* samples, size_t n, const MfccConfig& cfg = {});

// --- SyncNetInstance.evaluate's audio windows ----------------------------------

// MFCC steps per SyncNet window (5 video frames) and per video frame (25 fps, 100 Hz).
constexpr int64_t kSyncNetMfccWindow = 20;
constexpr int64_t kSyncNetMfccPerFrame = 4;

// Number of 5-frame windows the reference scores:
// min(video_frames, floor(audio_samples / 640)) - 5 (640 = 16 kHz / 25 fps,
// hard-coded by the reference). Can be <= 0 for short clips (nothing to score).
int64_t syncnet_window_count(int64_t video_frames, int64_t audio_samples);

// Windows v = 0..count-1 of the transposed MFCC: out[v][c][t] = mfcc[4 v + t][c]
// for t < 20, as float32 (the reference casts to float), (count x numcep x 20)
// row-major. Throws when the MFCC has fewer than 4 (count - 1) + 20 frames.
std::vector<float> syncnet_mfcc_windows(const MfccResult& mfcc, int numcep, int64_t count);

}  // namespace tavce::audio
