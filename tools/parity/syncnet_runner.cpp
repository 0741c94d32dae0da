// Parity of the SyncNet lip-sync metric (golden/syncnet): the S network's
// embeddings, the python_speech_features MFCC front end with the evaluate()
// windowing, and the LSE arithmetic (distances over +-vshift, LSE-D, LSE-C,
// offset, frame-wise confidence).
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "parity/case_runner.h"
#include "tavce/audio/mfcc.h"
#include "tavce/error.h"
#include "tavce/io/tensor_io.h"
#include "tavce/metrics/lse.h"
#include "tavce/nn/state_dict.h"
#include "tavce/nn/syncnet.h"

namespace tavce::parity {
namespace {

at::Tensor from_doubles(const std::vector<double>& v, std::vector<int64_t> shape) {
  return at::from_blob(const_cast<double*>(v.data()), shape, at::kDouble).clone();
}

at::Tensor from_floats(const std::vector<float>& v, std::vector<int64_t> shape) {
  return at::from_blob(const_cast<float*>(v.data()), shape, at::kFloat).clone();
}

at::Tensor scalar1(double v) { return at::full({1}, v, at::kDouble); }
at::Tensor index1(int64_t v) { return at::full({1}, v, at::kLong); }

class SyncNetRunner : public CaseRunner {
 public:
  bool handles(const std::string& module) const override { return module.rfind("SyncNet", 0) == 0; }

  void run(const CaseFolder& folder, const nlohmann::json& case_spec, Report& report) override {
    const nlohmann::json config = folder.spec().value("config", nlohmann::json::object());
    const std::string name = case_spec.at("name");
    const Tolerance tol = case_tolerance(case_spec);
    if (name == "network") {
      run_network(folder, config, name, tol, report);
    } else if (name == "mfcc") {
      run_mfcc(folder, config, name, tol, report);
    } else if (name == "lse") {
      run_lse(folder, config, name, tol, report);
    } else {
      throw Error("syncnet parity: unknown case '" + name + "'");
    }
  }

 private:
  static void run_network(const CaseFolder& folder, const nlohmann::json& config, const std::string& name,
                          Tolerance tol, Report& report) {
    nn::SyncNet net(nn::SyncNetConfig::from_json(config));
    folder.load_weights(*net);
    net->eval();
    c10::InferenceMode guard;
    const at::Tensor video = folder.io("video"), mfcc = folder.io("mfcc_in");
    report.compare(name, "lip_emb", net->forward_lip(video), folder.io("lip_emb"), tol);
    report.compare(name, "aud_emb", net->forward_aud(mfcc), folder.io("aud_emb"), tol);
    report.compare(name, "lip_feat", net->forward_lipfeat(video), folder.io("lip_feat"), tol);
  }

  static void run_mfcc(const CaseFolder& folder, const nlohmann::json& config, const std::string& name,
                       Tolerance tol, Report& report) {
    const audio::MfccConfig cfg = audio::MfccConfig::from_json(config.value("mfcc", nlohmann::json::object()));
    // int16 values stored as float32: exact, passed on as int16-scale doubles.
    const at::Tensor pcm = folder.io("audio_int16").to(at::kDouble).contiguous();
    const size_t n = size_t(pcm.numel());
    const audio::MfccResult r = audio::compute_mfcc(pcm.data_ptr<double>(), n, cfg);
    report.compare(name, "mfcc", from_doubles(r.mfcc, {r.frames, cfg.numcep}), folder.io("mfcc"), tol);
    report.compare(name, "fbank_energies", from_doubles(r.fbank_energies, {r.frames, cfg.nfilt}),
                   folder.io("fbank_energies"), tol);
    report.compare(name, "frame_energy", from_doubles(r.frame_energy, {r.frames}), folder.io("frame_energy"), tol);
    report.compare(name, "mfcc_filterbank", from_doubles(audio::mfcc_filterbank(cfg), {cfg.nfilt, cfg.n_bins()}),
                   folder.io("mfcc_filterbank"), tol);
    // evaluate() windows for a 50-frame video (case notes).
    constexpr int64_t kVideoFrames = 50;
    const int64_t count = audio::syncnet_window_count(kVideoFrames, int64_t(n));
    const std::vector<float> windows = audio::syncnet_mfcc_windows(r, cfg.numcep, count);
    report.compare(name, "mfcc_windows",
                   from_floats(windows, {count, 1, cfg.numcep, audio::kSyncNetMfccWindow}),
                   folder.io("mfcc_windows"), tol);
  }

  static void run_lse(const CaseFolder& folder, const nlohmann::json& config, const std::string& name,
                      Tolerance tol, Report& report) {
    const at::Tensor im = folder.io("lse_im_feat").contiguous(), cc = folder.io("lse_cc_feat").contiguous();
    if (im.sizes() != cc.sizes() || im.dim() != 2) throw Error("syncnet parity: LSE features differ in shape");
    const int64_t vshift = config.value("vshift", int64_t(15));
    const metrics::LseResult r =
        metrics::evaluate_lse(im.data_ptr<float>(), cc.data_ptr<float>(), im.size(0), im.size(1), vshift);
    const int64_t win = 2 * vshift + 1;
    report.compare(name, "lse_dists", from_doubles(r.dists, {r.frames, win}), folder.io("lse_dists"), tol);
    report.compare(name, "lse_mdist", from_doubles(r.mdist, {win}), folder.io("lse_mdist"), tol);
    report.compare(name, "lse_min_dist", scalar1(r.min_dist), folder.io("lse_min_dist"), tol);
    report.compare_exact(name, "lse_minidx", index1(r.minidx), folder.io("lse_minidx"));
    report.compare_exact(name, "lse_offset", index1(r.offset), folder.io("lse_offset"));
    report.compare(name, "lse_conf", scalar1(r.conf), folder.io("lse_conf"), tol);
    report.compare(name, "lse_fdist", from_doubles(r.fdist, {r.frames}), folder.io("lse_fdist"), tol);
    report.compare(name, "lse_fconf", from_doubles(r.fconf, {r.frames}), folder.io("lse_fconf"), tol);
    report.compare(name, "lse_fconfm", from_doubles(r.fconfm, {r.frames}), folder.io("lse_fconfm"), tol);
  }
};

}  // namespace

std::unique_ptr<CaseRunner> make_syncnet_runner() { return std::make_unique<SyncNetRunner>(); }

}  // namespace tavce::parity
