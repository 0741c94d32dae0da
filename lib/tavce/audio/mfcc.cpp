#include "tavce/audio/mfcc.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "tavce/audio/real_fft.h"
#include "tavce/error.h"

namespace tavce::audio {
namespace {

constexpr double kPi = 3.14159265358979323846;
// numpy.finfo(float).eps: the reference's replacement for zero energies before the log.
constexpr double kEps = std::numeric_limits<double>::epsilon();

// Round half up (the reference rounds through decimal.ROUND_HALF_UP).
int round_half_up(double x) {
  const double f = std::floor(x);
  return int(x - f >= 0.5 ? f + 1 : f);
}

double hz2mel(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }
double mel2hz(double mel) { return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0); }

double high_freq(const MfccConfig& cfg) { return cfg.highfreq > 0 ? cfg.highfreq : cfg.sample_rate / 2.0; }

void validate(const MfccConfig& cfg) {
  if (cfg.sample_rate <= 0 || cfg.nfft <= 0 || cfg.nfft % 2 != 0)
    throw Error("MFCC: sample_rate and an even nfft must be positive");
  if (cfg.frame_length() <= 0 || cfg.frame_step() <= 0)
    throw Error("MFCC: winlen and winstep must give at least one sample");
  if (cfg.nfilt <= 0 || cfg.numcep <= 0 || cfg.numcep > cfg.nfilt)
    throw Error("MFCC: need 0 < numcep <= nfilt");
  if (cfg.lowfreq < 0 || high_freq(cfg) > cfg.sample_rate / 2.0 || cfg.lowfreq >= high_freq(cfg))
    throw Error("MFCC: need 0 <= lowfreq < highfreq <= sample_rate / 2");
  if (cfg.ceplifter < 0) throw Error("MFCC: ceplifter must be >= 0");
}

}  // namespace

int MfccConfig::frame_length() const { return round_half_up(winlen * sample_rate); }
int MfccConfig::frame_step() const { return round_half_up(winstep * sample_rate); }

MfccConfig MfccConfig::from_json(const nlohmann::json& j) {
  MfccConfig c;
  if (!j.is_object()) return c;
  c.sample_rate = j.value("samplerate", c.sample_rate);
  c.winlen = j.value("winlen", c.winlen);
  c.winstep = j.value("winstep", c.winstep);
  c.numcep = j.value("numcep", c.numcep);
  c.nfilt = j.value("nfilt", c.nfilt);
  if (j.contains("nfft") && !j["nfft"].is_null()) c.nfft = j["nfft"].get<int>();
  c.lowfreq = j.value("lowfreq", c.lowfreq);
  if (j.contains("highfreq") && !j["highfreq"].is_null()) c.highfreq = j["highfreq"].get<double>();
  c.preemph = j.value("preemph", c.preemph);
  c.ceplifter = j.value("ceplifter", c.ceplifter);
  c.append_energy = j.value("appendEnergy", c.append_energy);
  if (j.contains("winfunc") && j["winfunc"].is_string() && j["winfunc"].get<std::string>().rfind("rectangular", 0) != 0)
    throw Error("MFCC: only the rectangular window is supported, got '" + j["winfunc"].get<std::string>() + "'");
  return c;
}

std::vector<double> mfcc_filterbank(const MfccConfig& cfg) {
  validate(cfg);
  const int nfilt = cfg.nfilt, nb = cfg.n_bins();
  // Equally spaced mel points (numpy.linspace: start + i * step, last = stop),
  // mapped back to Hz and then to an integer FFT bin with floor((nfft+1) f / sr).
  const double low = hz2mel(cfg.lowfreq), high = hz2mel(high_freq(cfg));
  const int points = nfilt + 2;
  const double step = (high - low) / (points - 1);
  std::vector<double> bin(points);
  for (int i = 0; i < points; ++i) {
    const double mel = i == points - 1 ? high : i * step + low;
    bin[i] = std::floor((cfg.nfft + 1) * mel2hz(mel) / cfg.sample_rate);
  }
  std::vector<double> fb(size_t(nfilt) * nb, 0.0);
  for (int j = 0; j < nfilt; ++j) {
    double* row = fb.data() + size_t(j) * nb;
    for (int i = int(bin[j]); i < int(bin[j + 1]); ++i) row[i] = (i - bin[j]) / (bin[j + 1] - bin[j]);
    for (int i = int(bin[j + 1]); i < int(bin[j + 2]); ++i) row[i] = (bin[j + 2] - i) / (bin[j + 2] - bin[j + 1]);
  }
  return fb;
}

MfccResult compute_mfcc(const double* samples, size_t n, const MfccConfig& cfg) {
  validate(cfg);
  if (n == 0) throw Error("MFCC: empty signal");
  const int flen = cfg.frame_length(), fstep = cfg.frame_step(), nfft = cfg.nfft, nb = cfg.n_bins();
  const int nfilt = cfg.nfilt, numcep = cfg.numcep;

  MfccResult r;
  r.frames = n <= size_t(flen) ? 1 : 1 + int64_t(std::ceil((double(n) - flen) / fstep));
  const int64_t M = r.frames;

  // Pre-emphasis with the first sample kept as is, then zero padding of the tail.
  const size_t padded = size_t(M - 1) * fstep + flen;
  std::vector<double> y(std::max(padded, n), 0.0);
  y[0] = samples[0];
  for (size_t i = 1; i < n; ++i) y[i] = samples[i] - cfg.preemph * samples[i - 1];

  const std::vector<double> fb = mfcc_filterbank(cfg);
  // Each filter's non-zero bin range, for the sparse product.
  std::vector<int> first(nfilt, nb), last(nfilt, 0);
  for (int j = 0; j < nfilt; ++j)
    for (int k = 0; k < nb; ++k)
      if (fb[size_t(j) * nb + k] != 0.0) {
        first[j] = std::min(first[j], k);
        last[j] = k + 1;
      }

  // Orthonormal DCT-II rows 0..numcep-1 (scipy.fftpack.dct norm='ortho') with
  // the lifter folded in.
  std::vector<double> dct(size_t(numcep) * nfilt);
  for (int k = 0; k < numcep; ++k) {
    const double scale = std::sqrt((k == 0 ? 1.0 : 2.0) / nfilt);
    const double lift = cfg.ceplifter > 0 ? 1.0 + (cfg.ceplifter / 2.0) * std::sin(kPi * k / cfg.ceplifter) : 1.0;
    for (int i = 0; i < nfilt; ++i)
      dct[size_t(k) * nfilt + i] = lift * scale * std::cos(kPi * k * (2 * i + 1) / (2.0 * nfilt));
  }

  RealFft fft(nfft);
  std::vector<double> frame(nfft, 0.0), power(nb), logfb(nfilt);
  std::vector<std::complex<double>> spectrum(nb);
  r.mfcc.assign(size_t(M) * numcep, 0.0);
  r.fbank_energies.assign(size_t(M) * nfilt, 0.0);
  r.frame_energy.assign(M, 0.0);
  const int copy = std::min(flen, nfft);  // rfft(frame, nfft) truncates a longer frame
  for (int64_t m = 0; m < M; ++m) {
    std::copy_n(y.data() + size_t(m) * fstep, copy, frame.data());  // rectangular window
    fft.forward(frame.data(), spectrum.data());
    double energy = 0.0;
    for (int k = 0; k < nb; ++k) {
      const double re = spectrum[k].real(), im = spectrum[k].imag();
      power[k] = (re * re + im * im) / nfft;
      energy += power[k];
    }
    if (energy == 0.0) energy = kEps;
    r.frame_energy[m] = energy;
    double* fe = r.fbank_energies.data() + size_t(m) * nfilt;
    for (int j = 0; j < nfilt; ++j) {
      double s = 0.0;
      const double* row = fb.data() + size_t(j) * nb;
      for (int k = first[j]; k < last[j]; ++k) s += power[k] * row[k];
      fe[j] = s == 0.0 ? kEps : s;
      logfb[j] = std::log(fe[j]);
    }
    double* c = r.mfcc.data() + size_t(m) * numcep;
    for (int k = 0; k < numcep; ++k) {
      double s = 0.0;
      const double* row = dct.data() + size_t(k) * nfilt;
      for (int i = 0; i < nfilt; ++i) s += row[i] * logfb[i];
      c[k] = s;
    }
    // appendEnergy: c0 becomes the log of the total frame power (after the lifter).
    if (cfg.append_energy) c[0] = std::log(energy);
  }
  return r;
}

MfccResult compute_mfcc(const int16_t* samples, size_t n, const MfccConfig& cfg) {
  std::vector<double> x(samples, samples + n);
  return compute_mfcc(x.data(), n, cfg);
}

int64_t syncnet_window_count(int64_t video_frames, int64_t audio_samples) {
  constexpr int64_t kSamplesPerFrame = 640;  // 16 kHz / 25 fps, as the reference hard-codes it
  return std::min(video_frames, audio_samples / kSamplesPerFrame) - 5;
}

std::vector<float> syncnet_mfcc_windows(const MfccResult& mfcc, int numcep, int64_t count) {
  if (count <= 0) return {};
  if (numcep <= 0 || mfcc.mfcc.size() != size_t(mfcc.frames) * numcep)
    throw Error("SyncNet MFCC windows: numcep does not match the MFCC");
  const int64_t needed = kSyncNetMfccPerFrame * (count - 1) + kSyncNetMfccWindow;
  if (mfcc.frames < needed)
    throw Error("SyncNet MFCC windows: " + std::to_string(count) + " windows need " + std::to_string(needed) +
                " MFCC frames, the audio gives " + std::to_string(mfcc.frames));
  std::vector<float> out(size_t(count) * numcep * kSyncNetMfccWindow);
  for (int64_t v = 0; v < count; ++v)
    for (int c = 0; c < numcep; ++c)
      for (int64_t t = 0; t < kSyncNetMfccWindow; ++t)
        out[(size_t(v) * numcep + c) * kSyncNetMfccWindow + t] =
            float(mfcc.mfcc[size_t(kSyncNetMfccPerFrame * v + t) * numcep + c]);
  return out;
}

}  // namespace tavce::audio
