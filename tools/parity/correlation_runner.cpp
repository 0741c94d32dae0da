// Parity of TAVCE's stage-1 correlation model (golden/correlation): the
// correlation audio encoder, inference.py's per-frame covariance and CERL gate,
// and one stage-1 mini-batch (covariances, cosine-embedding losses, logged
// similarities) in eval and in train mode. The IResNet18 weights are not
// stored: its embeddings are inputs of the stage-1 cases.
#include <string>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "parity/case_runner.h"
#include "tavce/error.h"
#include "tavce/io/tensor_io.h"
#include "tavce/nn/cerl.h"
#include "tavce/nn/correlation.h"
#include "tavce/nn/state_dict.h"

namespace tavce::parity {
namespace {

class CorrelationRunner : public CaseRunner {
 public:
  bool handles(const std::string& module) const override {
    return module.rfind("TAVCE correlation model", 0) == 0;
  }

  void run(const CaseFolder& folder, const nlohmann::json& case_spec, Report& report) override {
    const nlohmann::json config = folder.spec().value("config", nlohmann::json::object());
    // A fresh module per case: the train-mode case moves the running statistics.
    nn::CorrelationAudioEncoder enc(
        nn::CorrelationAudioEncoderConfig::from_json(config.value("AudioEncoder", nlohmann::json::object())));
    folder.load_weights(*enc, "weights.safetensors", nn::strip_data_parallel);

    const std::string name = case_spec.at("name");
    const Tolerance tol = case_tolerance(case_spec);
    const auto& in = case_spec.at("inputs");
    if (name == "audio_encoder") {
      enc->eval();
      c10::InferenceMode guard;
      report.compare(name, "enc_feat", enc->forward(folder.io(in.at(0))), folder.io("enc_feat"), tol);
    } else if (name == "inference_cor") {
      enc->eval();
      c10::InferenceMode guard;
      const at::Tensor mels = folder.io(in.at(0));  // (1, T, 1, 80, 16)
      const nn::AudioCorrelationSequence seq = nn::audio_correlation_sequence(*enc, mels.select(0, 0));
      report.compare(name, "inf_feat_pairs", seq.feat_pairs, folder.io("inf_feat_pairs"), tol);
      report.compare(name, "inf_cor", seq.cor.unsqueeze(0), folder.io("inf_cor"), tol);
      const at::Tensor prev = seq.feat_pairs.select(1, 0), cur = seq.feat_pairs.select(1, 1);
      report.compare(name, "inf_cerl_gate", nn::cerl_gate(prev, cur), folder.io("inf_cerl_gate"), tol);
      report.compare(name, "inf_cerl_gate(from cov)", nn::cerl_gate_from_cov(seq.cor), folder.io("inf_cerl_gate"),
                     tol);
    } else if (name == "stage1_eval" || name == "stage1_train") {
      const std::string p = name == "stage1_eval" ? "s1e_" : "s1t_";
      const double alpha = config.value("train.py", nlohmann::json::object()).value("alpha", 1.0);
      const at::Tensor audios = folder.io(in.at(0)), image_emb = folder.io(in.at(1));
      // Train mode as train.py runs it: BatchNorm on the batch statistics of
      // all B*3 windows (with autograd, as in training).
      enc->train(name == "stage1_train");
      const at::Tensor audio_emb = nn::stage1_audio_embeddings(*enc, audios);
      const nn::Stage1CorrelationLoss l = nn::stage1_correlation_loss(audio_emb, image_emb, alpha);
      const auto scalar = [](const at::Tensor& t) { return t.detach().reshape({1}); };
      report.compare(name, p + "audio_emb", audio_emb.detach(), folder.io(p + "audio_emb"), tol);
      report.compare(name, p + "audio_cor", l.audio_cor.detach(), folder.io(p + "audio_cor"), tol);
      report.compare(name, p + "image_cor1", l.image_cor_pos.detach(), folder.io(p + "image_cor1"), tol);
      report.compare(name, p + "image_cor2", l.image_cor_neg.detach(), folder.io(p + "image_cor2"), tol);
      report.compare(name, p + "loss_pos", scalar(l.loss_pos), folder.io(p + "loss_pos"), tol);
      report.compare(name, p + "loss_neg", scalar(l.loss_neg), folder.io(p + "loss_neg"), tol);
      report.compare(name, p + "loss_corr", scalar(l.loss_corr), folder.io(p + "loss_corr"), tol);
      report.compare(name, p + "sim_pos", scalar(l.sim_pos), folder.io(p + "sim_pos"), tol);
      report.compare(name, p + "sim_neg", scalar(l.sim_neg), folder.io(p + "sim_neg"), tol);
    } else {
      throw Error("correlation parity: unknown case '" + name + "'");
    }
  }
};

}  // namespace

std::unique_ptr<CaseRunner> make_correlation_runner() { return std::make_unique<CorrelationRunner>(); }

}  // namespace tavce::parity
