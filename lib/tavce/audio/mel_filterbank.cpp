#include "tavce/audio/mel_filterbank.h"

#include <algorithm>
#include <cmath>

#include "tavce/error.h"

namespace tavce::audio {
namespace {

// Slaney's auditory mel scale as librosa 0.9.2 writes it: linear below 1 kHz,
// logarithmic above. The expressions keep librosa's operation order so the
// float64 results agree bit for bit.
constexpr double kFreqStep = 200.0 / 3;
constexpr double kMinLogHz = 1000.0;
const double kMinLogMel = (kMinLogHz - 0.0) / kFreqStep;
const double kLogStep = std::log(6.4) / 27.0;

double hz_to_mel(double hz) {
  double mel = (hz - 0.0) / kFreqStep;
  if (hz >= kMinLogHz) mel = kMinLogMel + std::log(hz / kMinLogHz) / kLogStep;
  return mel;
}

double mel_to_hz(double mel) {
  double hz = 0.0 + kFreqStep * mel;
  if (mel >= kMinLogMel) hz = kMinLogHz * std::exp(kLogStep * (mel - kMinLogMel));
  return hz;
}

// numpy.linspace(start, stop, num) with endpoint=True.
std::vector<double> linspace(double start, double stop, int num) {
  std::vector<double> y(num);
  const double step = (stop - start) / (num - 1);
  for (int i = 0; i < num; ++i) y[i] = i * step + start;
  if (num > 1) y[num - 1] = stop;
  return y;
}

}  // namespace

std::vector<float> slaney_mel_basis(const MelConfig& cfg) {
  const int n_mels = cfg.n_mels;
  const int n_freq = cfg.n_freq();
  if (n_mels < 1 || n_freq < 2) throw Error("mel filterbank: n_mels and n_fft must be positive");
  if (!(cfg.fmin >= 0 && cfg.fmin < cfg.fmax && cfg.fmax <= cfg.sample_rate / 2.0))
    throw Error("mel filterbank: need 0 <= fmin < fmax <= sample_rate/2");

  const std::vector<double> fft_freqs = linspace(0.0, cfg.sample_rate / 2.0, n_freq);
  std::vector<double> mel_f = linspace(hz_to_mel(cfg.fmin), hz_to_mel(cfg.fmax), n_mels + 2);
  for (double& f : mel_f) f = mel_to_hz(f);

  std::vector<float> basis(size_t(n_mels) * n_freq, 0.0f);
  for (int i = 0; i < n_mels; ++i) {
    const double lower_width = mel_f[i + 1] - mel_f[i];
    const double upper_width = mel_f[i + 2] - mel_f[i + 1];
    // Slaney area normalisation: each triangle integrates to a constant.
    const double enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
    for (int k = 0; k < n_freq; ++k) {
      const double lower = -(mel_f[i] - fft_freqs[k]) / lower_width;
      const double upper = (mel_f[i + 2] - fft_freqs[k]) / upper_width;
      // librosa stores the triangle in a float32 array first, then scales it
      // in float64 and rounds again: both roundings are kept.
      const float tri = float(std::max(0.0, std::min(lower, upper)));
      basis[size_t(i) * n_freq + k] = float(double(tri) * enorm);
    }
  }
  return basis;
}

std::vector<double> periodic_hann(int n) {
  std::vector<double> w(n);
  for (int i = 0; i < n; ++i) w[i] = 0.5 - 0.5 * std::cos(2.0 * M_PI * i / n);
  return w;
}

SparseMelBasis::SparseMelBasis(const std::vector<float>& dense, int n_mels, int n_freq) {
  filters.resize(n_mels);
  for (int i = 0; i < n_mels; ++i) {
    const float* row = dense.data() + size_t(i) * n_freq;
    int first = 0, last = n_freq - 1;
    while (first < n_freq && row[first] == 0.0f) ++first;
    while (last >= first && row[last] == 0.0f) --last;
    filters[i].first_bin = first;
    for (int k = first; k <= last; ++k) filters[i].weights.push_back(row[k]);
  }
}

void SparseMelBasis::apply(const double* magnitude, double* mel) const {
  for (size_t i = 0; i < filters.size(); ++i) {
    const Filter& f = filters[i];
    const double* m = magnitude + f.first_bin;
    double acc = 0.0;
    for (size_t k = 0; k < f.weights.size(); ++k) acc += f.weights[k] * m[k];
    mel[i] = acc;
  }
}

}  // namespace tavce::audio
