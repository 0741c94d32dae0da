// Parity of the SPADE generator with its dense-motion network (golden/generator)
// and of TAVCE's CERL generator (golden/generator_cerl), reduced configs.
// Outputs, the hooked intermediates, the spectral-norm sigmas, and the CERL
// gate: the closed form from the two audio features against the normalised
// diagonal of the stored covariance matrix and the stored debug gate.
#include <string>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "parity/case_runner.h"
#include "tavce/error.h"
#include "tavce/io/tensor_io.h"
#include "tavce/nn/cerl.h"
#include "tavce/nn/spade_generator.h"
#include "tavce/nn/state_dict.h"

namespace tavce::parity {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The closed-form gate must match the reference diag(normalize(cor)) to
// float32 rounding (the golden notes report 1.5e-8).
constexpr Tolerance kGateTol{1e-6, 0.0};

class GeneratorRunner : public CaseRunner {
 public:
  bool handles(const std::string& module) const override {
    return module.rfind("OcclusionAwareSPADEGenerator", 0) == 0;
  }

  void run(const CaseFolder& folder, const nlohmann::json& case_spec, Report& report) override {
    const std::string name = case_spec.at("name");
    const nlohmann::json& cfg_json =
        case_spec.contains("config") ? case_spec.at("config") : folder.spec().at("config");
    const std::string weights = folder.weights_file(case_spec);
    nn::OcclusionAwareSpadeGenerator gen(nn::SpadeGeneratorConfig::from_json(cfg_json));
    folder.load_weights(*gen, weights, nn::fold_spectral_norm);
    gen->eval();

    c10::InferenceMode guard;
    // Input names carry an optional case prefix ("d0.source_image").
    std::string prefix;
    for (const std::string in : case_spec.at("inputs"))
      if (ends_with(in, "source_image")) prefix = in.substr(0, in.size() - std::string("source_image").size());
    auto has_input = [&](const std::string& n) {
      for (const std::string in : case_spec.at("inputs"))
        if (in == prefix + n) return true;
      return false;
    };
    const at::Tensor source = folder.io(prefix + "source_image");
    const at::Tensor kp_source = folder.io(prefix + "kp_source");
    const at::Tensor kp_driving = folder.io(prefix + "kp_driving");

    nn::CerlInput cerl;
    if (has_input("cor")) {
      cerl.audio_prev = folder.io(prefix + "audio_feat_prev");
      cerl.audio_cur = folder.io(prefix + "audio_feat_cur");
      // The closed form against the reference's normalised diagonal of the matrix.
      report.compare(name, prefix + "cerl_gate(closed form) vs diag(normalize(cor))", cerl.resolve_gate(),
                     nn::cerl_gate_from_cov(folder.io(prefix + "cor")), kGateTol);
    }

    nn::GeneratorTrace trace;
    const nn::GeneratorOutput out = gen->forward(source, kp_source, kp_driving, cerl, &trace);

    const Tolerance tol = case_tolerance(case_spec);
    for (const std::string o : case_spec.at("outputs")) {
      at::Tensor actual;
      if (ends_with(o, "prediction")) actual = out.prediction;
      else if (ends_with(o, "occlusion_map")) actual = out.occlusion_map;
      else if (ends_with(o, "mask")) actual = out.mask;
      else throw Error("generator parity: unknown output '" + o + "'");
      report.compare(name, o, actual, folder.io(o), tol);
    }

    if (!case_spec.contains("debug_outputs")) return;
    const Tolerance debug_tol{case_spec.value("debug_atol", tol.atol), 0.0};
    for (const std::string o : case_spec.at("debug_outputs")) {
      const std::string key = o.substr(o.find("debug.") + 6);
      at::Tensor actual;
      Tolerance t = debug_tol;
      if (key.rfind("sn_sigma.", 0) == 0) {
        const std::string layer = key.substr(9);
        const io::SafeTensors& raw_file = folder.weights(weights);  // sigma from the stored u, v
        const auto raw = [&](const std::string& key) { return io::to_tensor(raw_file.at(key)).to(at::kFloat); };
        const at::Tensor w = raw(layer + ".weight_orig");
        actual = at::dot(raw(layer + ".weight_u"), at::mv(w.reshape({w.size(0), -1}), raw(layer + ".weight_v")))
                     .view({1});
      } else if (key == "second") actual = trace.second;
      else if (key == "feature_3d") actual = trace.feature_3d;
      else if (key == "deformation") actual = trace.deformation;
      else if (key == "warped") actual = trace.warped;
      else if (key == "seg") actual = trace.seg;
      else if (key == "cerl_out") actual = trace.cerl_out;
      else if (key == "cerl_gate") {
        actual = trace.cerl_gate;
        t = kGateTol;
      } else throw Error("generator parity: unknown debug output '" + o + "'");
      if (!actual.defined()) throw Error("generator parity: '" + o + "' was not produced");
      report.compare(name, o, actual, folder.io(o), t);
    }
  }
};

}  // namespace

std::unique_ptr<CaseRunner> make_generator_runner() { return std::make_unique<GeneratorRunner>(); }

}  // namespace tavce::parity
