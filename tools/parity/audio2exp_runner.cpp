// Parity of ExpNet (golden/audio2exp): SimpleWrapperV2 through
// Audio2Exp.test's 10-frame chunking (B=1) and the plain net on B=2.
#include <algorithm>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "parity/case_runner.h"
#include "tavce/error.h"
#include "tavce/io/tensor_io.h"
#include "tavce/nn/expnet.h"
#include "tavce/nn/state_dict.h"

namespace tavce::parity {
namespace {

// Audio2Exp.test: netG over chunks of 10 frames, concatenated along T.
at::Tensor audio2exp_test(nn::ExpNetImpl& net, const at::Tensor& mels, const at::Tensor& ref_exp,
                          const at::Tensor& ratio) {
  constexpr int64_t kChunk = 10;
  const int64_t frames = mels.size(1);
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < frames; i += kChunk) {
    const int64_t end = std::min(frames, i + kChunk);
    parts.push_back(net.forward(mels.slice(1, i, end), ref_exp.slice(1, i, end), ratio.slice(1, i, end)));
  }
  return at::cat(parts, 1);
}

class Audio2ExpRunner : public CaseRunner {
 public:
  bool handles(const std::string& module) const override { return module.rfind("SimpleWrapperV2", 0) == 0; }

  void run(const CaseFolder& folder, const nlohmann::json& case_spec, Report& report) override {
    nn::ExpNet net(nn::ExpNetConfig::from_json(folder.spec().value("config", nlohmann::json::object())));
    folder.load_weights(*net);
    net->eval();
    c10::InferenceMode guard;

    const std::string name = case_spec.at("name");
    const Tolerance tol = case_tolerance(case_spec);
    const auto& in = case_spec.at("inputs");
    const at::Tensor mels = folder.io(in.at(0)), ref_exp = folder.io(in.at(1)), ratio = folder.io(in.at(2));
    if (name == "audio2exp_test_b1") {
      report.compare(name, "b1_exp", audio2exp_test(*net, mels, ref_exp, ratio), folder.io("b1_exp"), tol);
    } else if (name == "netG_b2") {
      report.compare(name, "audio_emb", net->encode(mels), folder.io("audio_emb"), tol);
      report.compare(name, "exp", net->forward(mels, ref_exp, ratio), folder.io("exp"), tol);
    } else {
      throw Error("audio2exp parity: unknown case '" + name + "'");
    }
  }
};

}  // namespace

std::unique_ptr<CaseRunner> make_audio2exp_runner() { return std::make_unique<Audio2ExpRunner>(); }

}  // namespace tavce::parity
