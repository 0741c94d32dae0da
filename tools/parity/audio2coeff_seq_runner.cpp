// Parity of the whole coefficient flow (golden/audio2coeff_seq): SadTalker's
// get_data + Audio2Coeff.generate from the raw wav (cut to T*640 samples, mel,
// windows, ExpNet, PoseVAE chunks, Savitzky-Golay, concatenation) for a
// 60-frame and a 12-frame clip, and TAVCE's flavour (one-frame lag, no
// smoothing) on the same mels. The stored blink ratio and z draws are injected.
// No weights of its own: ../audio2exp and ../audio2pose hold them.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "parity/case_runner.h"
#include "tavce/audio/mel_spectrogram.h"
#include "tavce/coeffs/audio2coeff.h"
#include "tavce/coeffs/streaming.h"
#include "tavce/error.h"

namespace tavce::parity {
namespace {

std::vector<float> floats(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// The same clip through StreamingAudio2Coeff (the element's path), mel frames
// pushed in uneven pieces, with the stored draws injected: (T, 70).
at::Tensor run_stream(const std::shared_ptr<coeffs::Audio2CoeffNets>& nets, const coeffs::Audio2CoeffOptions& opt,
                      const coeffs::Audio2CoeffInputs& args, const std::vector<float>& mel, int64_t samples) {
  coeffs::StreamingOptions so;
  static_cast<coeffs::Audio2CoeffOptions&>(so) = opt;
  so.ref_coeff = floats(args.ref_coeff);
  so.injected_ratio = floats(args.ratio);
  so.injected_z = floats(args.z);
  coeffs::StreamingAudio2Coeff stream(nets, so);
  const int64_t m = int64_t(mel.size()) / 80;
  std::vector<std::vector<float>> rows;
  for (int64_t at_frame = 0, step = 1; at_frame < m; at_frame += step, step = step % 13 + 4) {
    stream.push_mel(mel.data() + at_frame * 80, std::min(step, m - at_frame));
    for (auto& r : stream.pop_ready()) rows.push_back(std::move(r));
  }
  stream.finish(samples);
  for (auto& r : stream.pop_ready()) rows.push_back(std::move(r));
  at::Tensor out = at::empty({int64_t(rows.size()), coeffs::kCoeffDim});
  for (size_t t = 0; t < rows.size(); ++t) std::copy_n(rows[t].data(), coeffs::kCoeffDim, out[int64_t(t)].data_ptr<float>());
  return out;
}

class Audio2CoeffSeqRunner : public CaseRunner {
 public:
  bool handles(const std::string& module) const override { return module.rfind("Audio2Coeff.generate", 0) == 0; }

  void run(const CaseFolder& folder, const nlohmann::json& case_spec, Report& report) override {
    auto shared = std::make_shared<coeffs::Audio2CoeffNets>();
    coeffs::Audio2CoeffNets& nets = *shared;
    nets.expnet = nn::ExpNet(nn::ExpNetConfig{});
    folder.load_weights(*nets.expnet, "../audio2exp/weights.safetensors");
    nn::PoseVAEConfig pcfg;
    pcfg.training_parts = false;  // the golden file holds the inference keys only
    nets.pose_vae = nn::PoseVAE(pcfg);
    folder.load_weights(*nets.pose_vae, "../audio2pose/weights.safetensors");
    nets.expnet->eval();
    nets.pose_vae->eval();
    c10::InferenceMode guard;

    const std::string name = case_spec.at("name");
    const Tolerance tol = case_tolerance(case_spec);
    const auto& in = case_spec.at("inputs");
    auto input = [&](size_t i) { return folder.io(in.at(i)); };
    auto check = [&](const std::string& out, const at::Tensor& actual) {
      report.compare(name, out, actual, folder.io(out), tol);
    };

    coeffs::Audio2CoeffOptions opt;
    coeffs::Audio2CoeffInputs args;
    args.ref_coeff = input(1);
    args.ratio = input(2);
    args.z = input(3);
    opt.pose_style = input(4).item<int64_t>();

    if (name == "main" || name == "short") {
      const std::string p = name + "_";
      // get_data: T = floor(samples / 640), the wav cut (or zero-padded) to
      // T*640 samples, its mel, then one 80x16 window per frame.
      const at::Tensor wav = input(0).contiguous();
      const int64_t frames = coeffs::frames_for_samples(wav.numel());
      std::vector<float> cut(size_t(frames * 640), 0.0f);
      std::copy_n(wav.data_ptr<float>(), std::min<int64_t>(wav.numel(), frames * 640), cut.begin());
      const std::vector<float> mel = audio::melspectrogram(cut.data(), cut.size());
      args.mels = coeffs::mel_windows_from_mel(mel.data(), int64_t(mel.size()) / 80, frames);
      check(p + "mels", args.mels);

      opt.flavour = coeffs::Flavour::SadTalker;
      const coeffs::Audio2CoeffResult r = coeffs::audio2coeff_generate(nets, opt, args);
      check(p + "exp", r.exp);
      check(p + "pose_motion", r.pose_motion);
      check(p + "pose_raw", r.pose_raw);
      check(p + "pose_smooth", r.pose_smooth);
      report.compare_exact(name, p + "sg_window", at::full({1}, int64_t(r.sg_window), at::kLong),
                           folder.io(p + "sg_window"));
      check(p + "coeffs", r.coeffs);
      // The streaming path on the same (cut) audio's mel, told the sample count.
      report.compare(name, p + "coeffs[streaming]", run_stream(shared, opt, args, mel, frames * 640),
                     folder.io(p + "coeffs"), tol);
    } else if (name == "tavce_main") {
      args.mels = input(0);
      opt.flavour = coeffs::Flavour::Tavce;
      const coeffs::Audio2CoeffResult r = coeffs::audio2coeff_generate(nets, opt, args);
      check("tavce_pose_motion", r.pose_motion);
      check("tavce_pose", r.pose_raw);
      check("tavce_driving_coeffs", r.coeffs);
      // Streaming: the case stores mels only, so rebuild the mel of the main
      // clip's cut audio (the main case checks those windows against main_mels).
      const at::Tensor wav = folder.io("main_wav").contiguous();
      const int64_t frames = coeffs::frames_for_samples(wav.numel());
      std::vector<float> cut(size_t(frames * 640), 0.0f);
      std::copy_n(wav.data_ptr<float>(), std::min<int64_t>(wav.numel(), frames * 640), cut.begin());
      const std::vector<float> mel = audio::melspectrogram(cut.data(), cut.size());
      report.compare(name, "tavce_driving_coeffs[streaming]", run_stream(shared, opt, args, mel, frames * 640),
                     folder.io("tavce_driving_coeffs"), tol);
    } else {
      throw Error("audio2coeff_seq parity: unknown case '" + name + "'");
    }
  }
};

}  // namespace

std::unique_ptr<CaseRunner> make_audio2coeff_seq_runner() { return std::make_unique<Audio2CoeffSeqRunner>(); }

}  // namespace tavce::parity
