#include "tavce/audio/mel_spectrogram.h"

#include <algorithm>
#include <cmath>

#include "tavce/error.h"

namespace tavce::audio {
namespace {

void validate(const MelConfig& cfg) {
  if (cfg.sample_rate <= 0 || cfg.hop <= 0 || cfg.n_fft <= 0 || cfg.n_fft % 2 != 0)
    throw Error("mel front end: sample_rate, hop and an even n_fft must be positive");
  // The reference uses win == n_fft; a shorter, zero-padded window is not needed.
  if (cfg.win != cfg.n_fft) throw Error("mel front end: win must equal n_fft");
  if (cfg.min_level_db >= 0 || cfg.max_abs_value <= 0)
    throw Error("mel front end: min_level_db must be negative and max_abs_value positive");
}

}  // namespace

MelFrameAnalyser::MelFrameAnalyser(const MelConfig& cfg)
    : cfg_((validate(cfg), cfg)),
      basis_(slaney_mel_basis(cfg)),
      sparse_(basis_, cfg.n_mels, cfg.n_freq()),
      window_(periodic_hann(cfg.win)),
      fft_(cfg.n_fft),
      // The reference's amplitude floor, written as it computes it.
      amp_floor_(std::exp(cfg.min_level_db / 20.0 * std::log(10.0))),
      windowed_(cfg.n_fft),
      magnitude_(cfg.n_freq()),
      mel_amp_(cfg.n_mels),
      spectrum_(cfg.n_freq()) {}

float MelFrameAnalyser::normalise(double mel_amplitude) const {
  const double db = 20.0 * std::log10(std::max(amp_floor_, mel_amplitude)) - cfg_.ref_level_db;
  const double m = cfg_.max_abs_value;
  const double scaled = (2 * m) * ((db - cfg_.min_level_db) / (-cfg_.min_level_db)) - m;
  return float(std::clamp(scaled, -m, m));
}

void MelFrameAnalyser::analyse(const double* frame, float* out, double* magnitude_out,
                               double* mel_amp_out) {
  const int n = cfg_.n_fft;
  for (int i = 0; i < n; ++i) windowed_[i] = frame[i] * window_[i];
  fft_.forward(windowed_.data(), spectrum_.data());
  double* magnitude = magnitude_out ? magnitude_out : magnitude_.data();
  // sqrt(re^2 + im^2) rather than std::abs (hypot): 3x cheaper, no overflow
  // risk at audio magnitudes, and within an ulp of it.
  for (int k = 0; k < cfg_.n_freq(); ++k) {
    const double re = spectrum_[k].real(), im = spectrum_[k].imag();
    magnitude[k] = std::sqrt(re * re + im * im);
  }
  double* mel_amp = mel_amp_out ? mel_amp_out : mel_amp_.data();
  sparse_.apply(magnitude, mel_amp);
  for (int i = 0; i < cfg_.n_mels; ++i) out[i] = normalise(mel_amp[i]);
}

MelSpectrogram::MelSpectrogram(const MelConfig& cfg) : analyser_(cfg) { reset(); }

void MelSpectrogram::reset() {
  // Centred STFT: the stream is preceded by n_fft/2 zeros.
  const int pad = config().n_fft / 2;
  pending_.assign(pad, 0.0);
  pending_start_ = -pad;
  samples_ = 0;
  next_frame_ = 0;
  previous_ = 0.0;
}

uint64_t MelSpectrogram::total_frames(uint64_t n_samples, const MelConfig& cfg) {
  return n_samples == 0 ? 0 : 1 + n_samples / cfg.hop;
}

void MelSpectrogram::append(double x) {
  // Pre-emphasis y[n] = x[n] - k x[n-1] with x[-1] = 0, carried across chunks.
  pending_.push_back(x - config().preemphasis * previous_);
  previous_ = x;
}

size_t MelSpectrogram::emit_ready(uint64_t available_end, std::vector<float>& out) {
  const MelConfig& cfg = config();
  const int64_t pad = cfg.n_fft / 2;
  size_t emitted = 0;
  for (;;) {
    const int64_t start = int64_t(next_frame_) * cfg.hop - pad;
    if (start + cfg.n_fft > int64_t(available_end)) break;
    const size_t at = out.size();
    out.resize(at + cfg.n_mels);
    analyser_.analyse(pending_.data() + (start - pending_start_), out.data() + at);
    ++next_frame_;
    ++emitted;
  }
  // Drop samples no future frame reads; compact in blocks to keep pushes O(1).
  const int64_t keep_from = int64_t(next_frame_) * cfg.hop - pad;
  const int64_t drop = keep_from - pending_start_;
  if (drop > 4 * cfg.n_fft) {
    pending_.erase(pending_.begin(), pending_.begin() + drop);
    pending_start_ = keep_from;
  }
  return emitted;
}

size_t MelSpectrogram::push(const float* samples, size_t n, std::vector<float>& out) {
  for (size_t i = 0; i < n; ++i) append(double(samples[i]));
  samples_ += n;
  return emit_ready(samples_, out);
}

size_t MelSpectrogram::push(const int16_t* samples, size_t n, std::vector<float>& out) {
  // The reference loader turns PCM16 into float32 as s * 2^-15.
  for (size_t i = 0; i < n; ++i) append(double(float(samples[i]) * (1.0f / 32768.0f)));
  samples_ += n;
  return emit_ready(samples_, out);
}

size_t MelSpectrogram::finish(std::vector<float>& out) {
  const MelConfig& cfg = config();
  size_t emitted = 0;
  if (samples_ > 0) {
    // The last frame starts at floor(N/hop)*hop - n_fft/2; the reference reads
    // zeros past the end of the signal.
    const int64_t last = int64_t(samples_ / cfg.hop);
    const int64_t needed_end = last * cfg.hop - cfg.n_fft / 2 + cfg.n_fft;
    const int64_t have_end = pending_start_ + int64_t(pending_.size());
    if (needed_end > have_end) pending_.resize(pending_.size() + (needed_end - have_end), 0.0);
    emitted = emit_ready(uint64_t(std::max<int64_t>(needed_end, 0)), out);
  }
  reset();
  return emitted;
}

MelStages compute_mel_stages(const float* samples, size_t n, const MelConfig& cfg) {
  MelFrameAnalyser analyser(cfg);
  MelStages st;
  st.preemphasised.resize(n);
  double previous = 0.0;
  for (size_t i = 0; i < n; ++i) {
    st.preemphasised[i] = double(samples[i]) - cfg.preemphasis * previous;
    previous = samples[i];
  }
  const int64_t pad = cfg.n_fft / 2;
  std::vector<double> padded(n + 2 * pad, 0.0);
  std::copy(st.preemphasised.begin(), st.preemphasised.end(), padded.begin() + pad);
  const int64_t m_frames = n == 0 ? 0 : int64_t(MelSpectrogram::total_frames(n, cfg));
  st.frames = m_frames;
  const int nf = cfg.n_freq();
  st.stft_magnitude.assign(size_t(nf) * m_frames, 0.0);
  st.mel_amplitude.assign(size_t(cfg.n_mels) * m_frames, 0.0);
  st.mel.assign(size_t(cfg.n_mels) * m_frames, 0.0f);
  std::vector<double> mag(nf), amp(cfg.n_mels);
  for (int64_t m = 0; m < m_frames; ++m) {
    analyser.analyse(padded.data() + m * cfg.hop, st.mel.data() + m * cfg.n_mels, mag.data(),
                     amp.data());
    for (int k = 0; k < nf; ++k) st.stft_magnitude[size_t(k) * m_frames + m] = mag[k];
    for (int i = 0; i < cfg.n_mels; ++i) st.mel_amplitude[size_t(i) * m_frames + m] = amp[i];
  }
  return st;
}

std::vector<float> melspectrogram(const float* samples, size_t n, const MelConfig& cfg) {
  MelSpectrogram stream(cfg);
  std::vector<float> out;
  out.reserve(MelSpectrogram::total_frames(n, cfg) * cfg.n_mels);
  stream.push(samples, n, out);
  stream.finish(out);
  return out;
}

}  // namespace tavce::audio
