// Parity of the KPDetector (golden/kp_detector, reduced config): canonical
// keypoints, plus the anti-aliased input as a debug output.
#include <string>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "parity/case_runner.h"
#include "tavce/error.h"
#include "tavce/io/tensor_io.h"
#include "tavce/nn/kp_detector.h"
#include "tavce/nn/state_dict.h"

namespace tavce::parity {
namespace {

class KPDetectorRunner : public CaseRunner {
 public:
  bool handles(const std::string& module) const override { return module == "KPDetector"; }

  void run(const CaseFolder& folder, const nlohmann::json& case_spec, Report& report) override {
    const std::string name = case_spec.at("name");
    const nlohmann::json& cfg_json = case_spec.contains("config") ? case_spec.at("config") : folder.spec().at("config");
    const std::string weights = folder.weights_file(case_spec);
    nn::KPDetector det(nn::KPDetectorConfig::from_json(cfg_json));
    folder.load_weights(*det, weights);
    det->eval();

    c10::InferenceMode guard;
    const at::Tensor image = folder.io(case_spec.at("inputs").at(0));
    const Tolerance tol = case_tolerance(case_spec);
    for (const std::string out : case_spec.at("outputs")) {
      if (out != "value") throw Error("kp_detector parity: unknown output '" + out + "'");
      report.compare(name, out, det->forward(image), folder.io(out), tol);
    }
    if (case_spec.contains("debug_outputs")) {
      const Tolerance debug_tol{case_spec.value("debug_atol", tol.atol), 0.0};
      for (const std::string out : case_spec.at("debug_outputs")) {
        if (out != "debug.down") throw Error("kp_detector parity: unknown debug output '" + out + "'");
        if (!det->down) throw Error("kp_detector parity: debug.down needs scale_factor != 1");
        report.compare(name, out, det->down->forward(image), folder.io(out), debug_tol);
      }
    }
  }
};

}  // namespace

std::unique_ptr<CaseRunner> make_kp_detector_runner() { return std::make_unique<KPDetectorRunner>(); }

}  // namespace tavce::parity
