// Parity of PoseVAE (golden/audio2pose): the AudioEncoder wrapper (and its
// B>1 batch-scrambling quirk), the CVAE decoder with intermediates, and the
// whole Audio2Pose.test sequencing with the stored z draws.
#include <string>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "parity/case_runner.h"
#include "tavce/error.h"
#include "tavce/io/tensor_io.h"
#include "tavce/nn/pose_vae.h"
#include "tavce/nn/state_dict.h"

namespace tavce::parity {
namespace {

class Audio2PoseRunner : public CaseRunner {
 public:
  bool handles(const std::string& module) const override { return module.rfind("Audio2Pose", 0) == 0; }

  void run(const CaseFolder& folder, const nlohmann::json& case_spec, Report& report) override {
    nn::PoseVAEConfig cfg = nn::PoseVAEConfig::from_json(folder.spec().value("config", nlohmann::json::object()));
    // The golden file holds the inference keys only (no netG.encoder, no
    // netD_motion): build without the training parts and load strictly.
    cfg.training_parts = false;
    nn::PoseVAE net(cfg);
    folder.load_weights(*net);
    net->eval();
    c10::InferenceMode guard;

    const std::string name = case_spec.at("name");
    const Tolerance tol = case_tolerance(case_spec);
    const auto& in = case_spec.at("inputs");
    auto input = [&](size_t i) { return folder.io(in.at(i)); };
    auto check = [&](const std::string& out, const at::Tensor& actual) {
      report.compare(name, out, actual, folder.io(out), tol);
    };

    if (name == "audio_encoder") {
      check("enc_emb", net->audio_encoder->forward(input(0)));
    } else if (name == "decoder_chunk") {
      const nn::CVAEDecoderOutput o = net->netG->decoder->forward_debug(input(0), input(1), input(2), input(3));
      check("dec_x_in", o.x_in);
      check("dec_mlp_out", o.mlp_out);
      check("dec_resunet_out", o.resunet_out);
      check("dec_pose_motion", o.pose_motion);
    } else if (name == "decoder_b2") {
      check("b2_pose_motion", net->netG->test(input(0), input(1), input(2), input(3)));
    } else if (name == "test_t40" || name == "test_t20") {
      const std::string p = name.substr(5) + "_";  // "t40_"
      const at::Tensor ref = input(1);              // (1, 1, 70): only 64:70 is used
      const nn::PoseSequence seq =
          nn::pose_vae_generate(*net, input(0), ref.select(1, 0).slice(1, 64, 70), input(2), input(3));
      check(p + "pose_motion", seq.pose_motion);
      check(p + "pose", seq.pose);
    } else if (name == "audio_encoder_quirk_b2") {
      check("quirk_emb_reference", net->audio_encoder->forward(input(0), /*reference_batch_order=*/true));
      check("quirk_emb_batch_major", net->audio_encoder->forward(input(0), /*reference_batch_order=*/false));
    } else {
      throw Error("audio2pose parity: unknown case '" + name + "'");
    }
  }
};

}  // namespace

std::unique_ptr<CaseRunner> make_audio2pose_runner() { return std::make_unique<Audio2PoseRunner>(); }

}  // namespace tavce::parity
