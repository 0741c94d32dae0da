// Parity of the whole SadTalker per-clip rendering loop (golden/animation):
// get_facerender_data (expression scale, still mode, 27-frame edge-clamped
// windows, padding to a multiple of batch_size, batch-major reshape),
// make_animation and AnimateFromCoeff.generate's reorder + [:frame_num],
// through tavce::render. The networks come from the kp_detector/, generator/
// and mapping/ golden folders (case.json "weights_from"), with their configs.
// The loop is rendered in the reference order and, for the default case,
// also in our consecutive batching (batch 3), which must give the same frames.
// camera_pose_seq checks gen_camera_pose (lib/tavce/coeffs) and our batch
// layout of its per-frame values.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include "parity/case_runner.h"
#include "tavce/coeffs/camera_pose.h"
#include "tavce/error.h"
#include "tavce/nn/state_dict.h"
#include "tavce/render/animator.h"
#include "tavce/render/driving.h"
#include "tavce/render/frames.h"

namespace tavce::parity {
namespace {

namespace fs = std::filesystem;

// The config a weights file was made with: the entry of the sibling folder's
// case.json whose "weights" names that file, else the folder's "config".
nlohmann::json sibling_config(const CaseFolder& folder, const std::string& weights_rel) {
  const fs::path weights_path = folder.dir() / weights_rel;
  const CaseFolder sibling(weights_path.parent_path());
  const std::string file = weights_path.filename().string();
  for (const auto& c : sibling.spec().at("cases"))
    if (c.contains("config") && sibling.weights_file(c) == file) return c.at("config");
  return sibling.spec().at("config");
}

at::Tensor repeat_rows(const at::Tensor& x, int64_t b) {
  std::vector<int64_t> sizes(x.sizes().begin(), x.sizes().end());
  sizes[0] = b;
  return x.expand(sizes);
}

class AnimationRunner : public CaseRunner {
 public:
  bool handles(const std::string& module) const override {
    return module.rfind("SadTalker per-clip rendering loop", 0) == 0;
  }

  void run(const CaseFolder& folder, const nlohmann::json& case_spec, Report& report) override {
    const std::string name = case_spec.at("name");
    if (name == "camera_pose_seq") {
      run_camera_pose(folder, case_spec, report);
      return;
    }
    const nlohmann::json& opts = case_spec.at("options");
    const int64_t batch_size = opts.value("batch_size", int64_t(2));
    render::DrivingOptions driving;
    driving.expression_scale = opts.value("expression_scale", 1.0f);
    driving.still = opts.value("still_mode", false);
    driving.full = opts.value("preprocess", std::string("crop")).find("full") != std::string::npos;

    ensure_models(folder, driving.full);
    const Tolerance tol = case_tolerance(case_spec);
    c10::InferenceMode guard;

    // Batch preparation.
    const at::Tensor source_coeff = folder.io("source_coeff73");
    const at::Tensor sequence = render::prepare_driving(folder.io("driving_coeff70"), source_coeff, driving);
    const at::Tensor windows = render::semantic_windows(sequence);
    const at::Tensor source_sem = render::source_semantics(source_coeff, driving.full);
    // The stored source_image went through skimage's same-size resize, which
    // is not bit-exact (README surprise 9), so the loop below renders from it;
    // ours (u8 * float32(1/255)) is compared on its own.
    const at::Tensor source_image = folder.io("source_image").narrow(0, 0, 1);

    // Every case of the folder has the same source image and (crop-mode)
    // source semantics: the identity is prepared once, as a stream would.
    if (!state_) state_ = std::make_unique<render::SourceState>(animator_->prepare_source(source_image, source_sem));
    render::ClipOptions ref_order;
    ref_order.batch_size = batch_size;
    ref_order.order = render::ClipOrder::kReference;
    const render::ClipResult clip = animator_->render_clip(*state_, windows, ref_order);

    for (const std::string out : case_spec.at("outputs")) {
      const std::string field = out.substr(out.find('.') == std::string::npos ? 0 : out.find('.') + 1);
      at::Tensor actual;
      Tolerance t = tol;
      if (out == "source_image") {
        actual = repeat_rows(render::image_from_rgb8(folder.io("source_pic_u8")), batch_size);
        t = Tolerance{1e-6, 0.0};  // the resize's ~6e-8
      } else if (out == "source_semantics") actual = repeat_rows(source_sem, batch_size);
      else if (out == "kp_canonical") actual = repeat_rows(state_->kp_canonical, batch_size);
      else if (out == "kp_source") actual = repeat_rows(state_->kp_source, batch_size);
      else if (field == "target_semantics") {
        actual = render::reference_target_semantics(windows, batch_size);
        t = Tolerance{0.0, 0.0};  // pure data movement and one float32 multiply
      } else if (field == "kp_driving") actual = clip.kp_driving;
      else if (field == "frames") actual = clip.frames;
      else throw Error("animation parity: unknown output '" + out + "'");
      report.compare(name, out, actual, folder.io(out), t);
    }

    if (name == "default") {
      // Our streaming-friendly order (consecutive frames, batch 3, a short
      // last batch) against the reference's frames.
      render::ClipOptions consecutive;
      consecutive.batch_size = 3;
      consecutive.order = render::ClipOrder::kConsecutive;
      const render::ClipResult c = animator_->render_clip(*state_, windows, consecutive);
      report.compare(name, "default.frames[consecutive batch 3]", c.frames, folder.io("default.frames"), tol);
      report.compare(name, "default.kp_driving[consecutive batch 3]", c.kp_driving,
                     folder.io("default.kp_driving"), tol);
      // The uint8 video frames: img_as_ubyte = rint(x * 255), stored frames vs ours.
      const at::Tensor ours = render::to_rgb8(clip.frames, render::ByteRounding::kRint);
      const at::Tensor ref = render::to_rgb8(folder.io("default.frames"), render::ByteRounding::kRint);
      report.compare(name, "default.frames_u8 (rint, levels)", ours.to(at::kFloat), ref.to(at::kFloat),
                     Tolerance{1.0, 0.0});
    }
  }

 private:
  void ensure_models(const CaseFolder& folder, bool full) {
    if (animator_) return;
    const nlohmann::json& from = folder.spec().at("weights_from");
    const std::string kp_file = from.at("kp_detector"), gen_file = from.at("generator"),
                      map_file = from.at("mapping");
    nn::KPDetector kp(nn::KPDetectorConfig::from_json(sibling_config(folder, kp_file)));
    folder.load_weights(*kp, kp_file);
    nn::OcclusionAwareSpadeGenerator gen(nn::SpadeGeneratorConfig::from_json(sibling_config(folder, gen_file)));
    folder.load_weights(*gen, gen_file, nn::fold_spectral_norm);
    nn::MappingNet map(nn::MappingNetConfig::from_json(sibling_config(folder, map_file)));
    folder.load_weights(*map, map_file);
    kp->eval();
    gen->eval();
    map->eval();
    if (map->config.coeff_nc != (full ? render::kFullDims : render::kMotionDims))
      throw Error("animation parity: mapping coeff_nc does not match the preprocess mode");
    animator_ = std::make_unique<render::Animator>(kp, gen, map);
  }

  // gen_camera_pose (lib/tavce/coeffs/camera_pose.h) for the three degree
  // lists, in the reference's (batch_size, n) layout; and the per-frame
  // sequence put in that layout by render::reference_batch_layout, which is
  // what render_clip does with per-frame yaw/pitch/roll in reference order.
  void run_camera_pose(const CaseFolder& folder, const nlohmann::json& case_spec, Report& report) {
    const std::string name = case_spec.at("name");
    const nlohmann::json& opts = case_spec.at("options");
    const int64_t frame_num = opts.at("frame_num"), batch_size = opts.at("batch_size");
    const Tolerance tol = case_tolerance(case_spec);
    for (const char* axis : {"yaw", "pitch", "roll"}) {
      const at::Tensor list = folder.io(std::string("camera.") + axis + "_list").to(at::kDouble).contiguous();
      const std::vector<double> degrees(list.data_ptr<double>(), list.data_ptr<double>() + list.numel());
      const std::string out = std::string("camera.") + axis + "_c_seq";
      const at::Tensor expected = folder.io(out);
      const std::vector<double> batched = coeffs::camera_pose_batched(degrees, frame_num, batch_size);
      const at::Tensor actual =
          at::tensor(batched, at::kDouble).view({batch_size, -1}).to(at::kFloat);
      report.compare(name, out, actual, expected, tol);
      const std::vector<double> per_frame = coeffs::camera_pose_sequence(degrees, frame_num);
      const at::Tensor layout =
          render::reference_batch_layout(at::tensor(per_frame, at::kDouble).to(at::kFloat), batch_size);
      report.compare(name, out + "[per-frame + render::reference_batch_layout]", layout, expected, tol);
    }
  }

  std::unique_ptr<render::Animator> animator_;
  std::unique_ptr<render::SourceState> state_;
};

}  // namespace

std::unique_ptr<CaseRunner> make_animation_runner() { return std::make_unique<AnimationRunner>(); }

}  // namespace tavce::parity
