// Parity of the keypoint transformation (golden/keypoint_transform):
// bin logits -> degrees, rotation matrices, driving keypoints, the caller's t
// after the call, and the yaw/pitch/roll override. No weights.
#include <string>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "parity/case_runner.h"
#include "tavce/error.h"
#include "tavce/nn/keypoint_transform.h"

namespace tavce::parity {
namespace {

class KeypointTransformRunner : public CaseRunner {
 public:
  bool handles(const std::string& module) const override {
    return module.rfind("keypoint_transformation", 0) == 0;
  }

  void run(const CaseFolder& folder, const nlohmann::json& case_spec, Report& report) override {
    const std::string name = case_spec.at("name");
    const bool wo_exp = folder.spec().at("config").value("wo_exp", false);
    c10::InferenceMode guard;
    nn::HeadPose he;
    he.yaw = folder.io("he.yaw");
    he.pitch = folder.io("he.pitch");
    he.roll = folder.io("he.roll");
    he.t = folder.io("he.t");
    he.exp = folder.io("he.exp");
    for (const std::string in : case_spec.at("inputs")) {
      if (in == "yaw_in") he.yaw_in = folder.io(in);
      if (in == "pitch_in") he.pitch_in = folder.io(in);
      if (in == "roll_in") he.roll_in = folder.io(in);
    }
    const at::Tensor t_before = he.t.clone();
    const nn::TransformedKeypoints r = nn::keypoint_transformation(folder.io("kp_canonical"), he, wo_exp);
    if (!at::equal(he.t, t_before)) throw Error("keypoint_transformation modified its input t");

    const Tolerance tol = case_tolerance(case_spec);
    for (const std::string out : case_spec.at("outputs")) {
      at::Tensor actual;
      if (out == "yaw_deg") actual = r.yaw_deg;
      else if (out == "pitch_deg") actual = r.pitch_deg;
      else if (out == "roll_deg") actual = r.roll_deg;
      else if (out == "rot_mat" || out == "rot_mat_override") actual = r.rot_mat;
      else if (out == "kp_transformed" || out == "kp_transformed_override") actual = r.value;
      else if (out == "t_after_call") actual = r.t;
      else throw Error("keypoint_transform parity: unknown output '" + out + "'");
      report.compare(name, out, actual, folder.io(out), tol);
    }
  }
};

}  // namespace

std::unique_ptr<CaseRunner> make_keypoint_transform_runner() { return std::make_unique<KeypointTransformRunner>(); }

}  // namespace tavce::parity
