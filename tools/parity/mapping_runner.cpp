// Parity of MappingNet (golden/mapping): per-case config and weight file
// (coeff 70 at full size, coeff 73 reduced); outputs yaw/pitch/roll logits, t, exp.
#include <string>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "parity/case_runner.h"
#include "tavce/error.h"
#include "tavce/io/tensor_io.h"
#include "tavce/nn/mapping_net.h"
#include "tavce/nn/state_dict.h"

namespace tavce::parity {
namespace {

class MappingRunner : public CaseRunner {
 public:
  bool handles(const std::string& module) const override { return module == "MappingNet"; }

  void run(const CaseFolder& folder, const nlohmann::json& case_spec, Report& report) override {
    const std::string name = case_spec.at("name");
    const nlohmann::json& cfg_json = case_spec.contains("config") ? case_spec.at("config") : folder.spec().at("config");
    const std::string weights = folder.weights_file(case_spec);
    nn::MappingNet net(nn::MappingNetConfig::from_json(cfg_json));
    folder.load_weights(*net, weights);
    net->eval();

    const Tolerance tol = case_tolerance(case_spec);
    c10::InferenceMode guard;
    const nn::HeadPose he = net->forward(folder.io(case_spec.at("inputs").at(0)));
    for (const std::string out : case_spec.at("outputs")) {
      const std::string field = out.substr(out.rfind('.') + 1);
      at::Tensor actual;
      if (field == "yaw") actual = he.yaw;
      else if (field == "pitch") actual = he.pitch;
      else if (field == "roll") actual = he.roll;
      else if (field == "t") actual = he.t;
      else if (field == "exp") actual = he.exp;
      else throw Error("mapping parity: unknown output '" + out + "'");
      report.compare(name, out, actual, folder.io(out), tol);
    }
  }
};

}  // namespace

std::unique_ptr<CaseRunner> make_mapping_runner() { return std::make_unique<MappingRunner>(); }

}  // namespace tavce::parity
