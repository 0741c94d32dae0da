// Parity of the audio front end (golden/mel): filterbank, window, every stage
// of the mel spectrogram and the per-video-frame windowing.
#include <algorithm>

#include <ATen/ATen.h>

#include "parity/case_runner.h"
#include "tavce/audio/mel_spectrogram.h"
#include "tavce/audio/mel_windows.h"
#include "tavce/error.h"

namespace tavce::parity {
namespace {

using audio::MelConfig;

// The issue asks for 1e-4 on the normalised mel, stricter than the cases'
// 1e-3 (which allows a float32 STFT); intermediates use the golden README's.
constexpr Tolerance kMelTol{1e-4, 0.0};
constexpr Tolerance kPreemphTol{1e-6, 0.0};
constexpr Tolerance kSpectrumTol{1e-5, 1e-4};

at::Tensor from_doubles(const std::vector<double>& v, std::vector<int64_t> shape) {
  return at::from_blob(const_cast<double*>(v.data()), shape, at::kDouble).clone();
}

at::Tensor from_floats(const std::vector<float>& v, std::vector<int64_t> shape) {
  return at::from_blob(const_cast<float*>(v.data()), shape, at::kFloat).clone();
}

MelConfig config_from(const nlohmann::json& c) {
  MelConfig cfg;
  cfg.sample_rate = c.value("sample_rate", cfg.sample_rate);
  cfg.n_fft = c.value("n_fft", cfg.n_fft);
  cfg.hop = c.value("hop_size", cfg.hop);
  cfg.win = c.value("win_size", cfg.win);
  cfg.n_mels = c.value("num_mels", cfg.n_mels);
  cfg.fmin = c.value("fmin", cfg.fmin);
  cfg.fmax = c.value("fmax", cfg.fmax);
  cfg.preemphasis = c.value("preemphasis", cfg.preemphasis);
  cfg.min_level_db = c.value("min_level_db", cfg.min_level_db);
  cfg.ref_level_db = c.value("ref_level_db", cfg.ref_level_db);
  cfg.max_abs_value = c.value("max_abs_value", cfg.max_abs_value);
  return cfg;
}

class MelRunner : public CaseRunner {
 public:
  bool handles(const std::string& module) const override {
    return module.rfind("audio front end", 0) == 0;
  }

  void run(const CaseFolder& folder, const nlohmann::json& case_spec, Report& report) override {
    const MelConfig cfg = config_from(folder.spec().at("config"));
    audio::MelWindowing windowing;
    windowing.fps = folder.spec().at("config").value("fps", windowing.fps);
    windowing.window = folder.spec().at("config").value("syncnet_mel_step_size", windowing.window);
    const std::string name = case_spec.at("name");
    if (name == "mel_basis") {
      const Tolerance tol = case_tolerance(case_spec);
      const std::vector<float> basis = audio::slaney_mel_basis(cfg);
      report.compare(name, "mel_basis", from_floats(basis, {cfg.n_mels, cfg.n_freq()}),
                     folder.io("mel_basis"), tol);
      report.compare(name, "hann_window", from_doubles(audio::periodic_hann(cfg.win), {cfg.win}),
                     folder.io("hann_window"), tol);
      return;
    }
    // Signal cases: inputs ["x_wav"], outputs "x_<stage>".
    const std::string input = case_spec.at("inputs").at(0);
    const std::string prefix = input.substr(0, input.find('_') + 1);
    at::Tensor wav = folder.io(input).contiguous();
    const float* x = wav.data_ptr<float>();
    const size_t n = size_t(wav.numel());

    const audio::MelStages stages = audio::compute_mel_stages(x, n, cfg);
    const std::vector<float> mel = audio::melspectrogram(x, n, cfg);  // the streaming path
    const int64_t m = stages.frames;

    // get_data: cut or zero-pad to T whole video frames, mel of that, windows.
    const int64_t frames = audio::video_frame_count(int64_t(n), cfg, windowing);
    const int64_t cut = audio::samples_for_video_frames(frames, cfg, windowing);
    std::vector<float> cut_wav(x, x + std::min<int64_t>(cut, int64_t(n)));
    cut_wav.resize(size_t(cut), 0.0f);
    const std::vector<float> cut_mel = audio::melspectrogram(cut_wav.data(), cut_wav.size(), cfg);
    const int64_t cut_m = int64_t(cut_mel.size()) / cfg.n_mels;
    std::vector<float> windows(size_t(frames) * cfg.n_mels * windowing.window);
    std::vector<int64_t> indices;
    for (int64_t i = 0; i < frames; ++i) {
      audio::extract_window(cut_mel.data(), cut_m, i,
                            windows.data() + i * cfg.n_mels * windowing.window, cfg, windowing);
      const auto idx = audio::window_indices(i, cut_m, cfg, windowing);
      indices.insert(indices.end(), idx.begin(), idx.end());
    }

    for (const auto& out_name_json : case_spec.at("outputs")) {
      const std::string out = out_name_json;
      const std::string stage = out.substr(prefix.size());
      const at::Tensor expected = folder.io(out);
      if (stage == "preemph") {
        report.compare(name, out, from_doubles(stages.preemphasised, {int64_t(n)}), expected, kPreemphTol);
      } else if (stage == "stft_mag") {
        report.compare(name, out, from_doubles(stages.stft_magnitude, {cfg.n_freq(), m}), expected,
                       kSpectrumTol);
      } else if (stage == "mel_amp") {
        report.compare(name, out, from_doubles(stages.mel_amplitude, {cfg.n_mels, m}), expected,
                       kSpectrumTol);
      } else if (stage == "mel") {
        report.compare(name, out, from_floats(mel, {int64_t(mel.size()) / cfg.n_mels, cfg.n_mels}),
                       expected, kMelTol);
      } else if (stage == "getdata_wav_len") {
        report.compare_exact(name, out, at::tensor(std::vector<int64_t>{cut, frames}, at::kLong), expected);
      } else if (stage == "getdata_mel") {
        report.compare(name, out, from_floats(cut_mel, {cut_m, cfg.n_mels}), expected, kMelTol);
      } else if (stage == "windows") {
        report.compare(name, out, from_floats(windows, {frames, cfg.n_mels, windowing.window}),
                       expected, kMelTol);
      } else if (stage == "window_idx") {
        report.compare_exact(name, out,
                             at::from_blob(indices.data(), {frames, windowing.window}, at::kLong).clone(),
                             expected);
      } else {
        throw Error("mel parity: unknown output '" + out + "'");
      }
    }
  }
};

}  // namespace

std::unique_ptr<CaseRunner> make_mel_runner() { return std::make_unique<MelRunner>(); }

}  // namespace tavce::parity
