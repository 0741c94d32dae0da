// Parity of the source-preparation geometry (golden/crop_align): align_face
// boxes, the crop applied to pixels, align_img (POS + PIL bicubic resize +
// crop) with its no-landmark fallback, and paste-back with seamlessClone.
// Integer outputs must match exactly, uint8 images exactly (atol 0), floats
// within the case tolerance. Float outputs are rounded to float32 before the
// comparison, as the reference stored its float64 values.
#include <array>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <opencv2/imgproc.hpp>

#include "parity/case_runner.h"
#include "tavce/error.h"
#include "tavce/face/align_face.h"
#include "tavce/face/align_img.h"
#include "tavce/face/paste_back.h"
#include "tavce/face/recon.h"
#include "tavce/face/source.h"
#include "tavce/nn/recon_net.h"

namespace tavce::parity {
namespace {

face::Landmarks landmarks_of(const at::Tensor& t) {
  const at::Tensor d = t.to(at::kDouble).contiguous().reshape({-1, 2});
  face::Landmarks lm;
  const double* p = d.data_ptr<double>();
  for (int64_t i = 0; i < d.size(0); ++i) lm.emplace_back(p[2 * i], p[2 * i + 1]);
  return lm;
}

// Stored float 0..255 (H, W, 3) -> CV_8UC3.
cv::Mat image_of(const at::Tensor& t) {
  const at::Tensor u = t.round().clamp(0, 255).to(at::kByte).contiguous();
  cv::Mat m(int(u.size(0)), int(u.size(1)), CV_8UC3);
  std::memcpy(m.data, u.data_ptr<uint8_t>(), size_t(u.numel()));
  return m;
}

at::Tensor tensor_of(const cv::Mat& m) {
  const cv::Mat c = m.isContinuous() ? m : m.clone();
  return at::from_blob(c.data, {c.rows, c.cols, c.channels()}, at::kByte).to(at::kFloat);
}

at::Tensor ints(const std::vector<int64_t>& v) { return at::tensor(v, at::kLong); }

// float64 values as the reference stored them (float32).
at::Tensor floats(const std::vector<double>& v, std::vector<int64_t> shape = {}) {
  std::vector<float> f(v.begin(), v.end());
  at::Tensor t = at::tensor(f, at::kFloat);
  return shape.empty() ? t : t.reshape(shape);
}

at::Tensor points(const std::vector<cv::Point2d>& pts) {
  std::vector<double> v;
  for (const auto& p : pts) v.push_back(p.x), v.push_back(p.y);
  return floats(v, {int64_t(pts.size()), 2});
}

class CropAlignRunner : public CaseRunner {
 public:
  bool handles(const std::string& module) const override {
    return module.rfind("SadTalker crop / 3DMM alignment", 0) == 0;
  }

  void run(const CaseFolder& folder, const nlohmann::json& case_spec, Report& report) override {
    folder_ = &folder;
    report_ = &report;
    name_ = case_spec.at("name").get<std::string>();
    tol_ = case_tolerance(case_spec);
    if (name_.rfind("align_face_", 0) == 0)
      align_face_case(case_spec);
    else if (name_ == "crop_apply")
      crop_apply_case();
    else if (name_ == "align_img")
      align_img_case(case_spec);
    else if (name_ == "align_img_fallback_no_landmarks")
      fallback_case();
    else if (name_ == "paste_back")
      paste_case();
    else
      throw Error("crop_align parity: unknown case '" + name_ + "'");
  }

 private:
  // Integer references exactly, everything else within the case tolerance.
  void check(const std::string& output, const at::Tensor& actual) {
    const at::Tensor expected = folder_->io(output);
    if (at::isFloatingType(expected.scalar_type()))
      report_->compare(name_, output, actual, expected, tol_);
    else
      report_->compare_exact(name_, output, actual, expected);
  }

  void align_face_case(const nlohmann::json& spec) {
    const std::string lm_name = spec.at("inputs").at(0);
    const std::string p = lm_name.substr(0, lm_name.size() - std::string("lm68").size());  // "align_face.<sub>."
    const at::Tensor wh = folder_->io(p + "image_wh");
    const face::FaceAlignment a =
        face::align_face(landmarks_of(folder_->io(lm_name)),
                         cv::Size(int(wh[0].item<int64_t>()), int(wh[1].item<int64_t>())), 512);
    const auto qi = a.quad_int();
    const auto ob = a.orig_box();
    const face::CropInfo info = face::crop_info_of(a);
    check(p + "rsize", ints({a.rsize.width, a.rsize.height}));
    check(p + "crop", ints({a.crop[0], a.crop[1], a.crop[2], a.crop[3]}));
    check(p + "quad_box", floats({a.quad[0], a.quad[1], a.quad[2], a.quad[3]}));
    check(p + "quad_box_int", ints({qi[0], qi[1], qi[2], qi[3]}));
    check(p + "orig_box", ints({ob[0], ob[1], ob[2], ob[3]}));
    check(p + "original_size", ints({info.original_size().width, info.original_size().height}));
    check(p + "debug.x", floats({a.x.x, a.x.y}));
    check(p + "debug.y", floats({a.y.x, a.y.y}));
    check(p + "debug.c", floats({a.c.x, a.c.y}));
    check(p + "debug.qsize", floats({a.qsize}));
    check(p + "debug.shrink", ints({a.shrink}));
    check(p + "debug.border", ints({a.border}));
    check(p + "debug.quad_flat", floats(std::vector<double>(a.quad_flat.begin(), a.quad_flat.end())));
  }

  void crop_apply_case() {
    const cv::Mat image = image_of(folder_->io("crop_apply.image_u8"));
    const face::FaceAlignment a = face::align_face(landmarks_of(folder_->io("crop_apply.lm68")), image.size(), 512);
    for (const bool ext : {false, true}) {
      const std::string p = ext ? "crop_apply.extcrop." : "crop_apply.crop.";
      const cv::Mat cut = face::apply_crop(image, a, ext);
      check(p + "cropped_hw", ints({cut.rows, cut.cols}));
      cv::Mat pic;
      cv::resize(cut, pic, cv::Size(128, 128), 0, 0, cv::INTER_LINEAR);
      check(p + "pic128", tensor_of(pic));
    }
  }

  std::array<cv::Point3d, 5> lm3d() const {
    const face::Landmarks flat = landmarks_of(folder_->io("align_img.lm3d_std").slice(1, 0, 2));
    const at::Tensor z = folder_->io("align_img.lm3d_std").to(at::kDouble).contiguous();
    std::array<cv::Point3d, 5> r;
    for (int i = 0; i < 5; ++i) {
      r[i] = cv::Point3d(flat[i].x, flat[i].y, z[i][2].item<double>());
      // The embedded constant must be exactly the stored one.
      if (r[i] != face::kLm3dStd[i]) throw Error("crop_align parity: kLm3dStd differs from align_img.lm3d_std");
    }
    return r;
  }

  void align_img_case(const nlohmann::json& spec) {
    const cv::Mat image = image_of(folder_->io("align_img.image_u8"));
    const face::Landmarks lm = landmarks_of(folder_->io("align_img.lm68"));
    const face::Landmarks flipped = face::flip_y(lm, image.rows);
    const face::AlignedImage al = face::align_img(image, flipped, lm3d());
    check("align_img.lm68_yflipped", points(flipped));
    check("align_img.lm5p", points(std::vector<cv::Point2d>(al.lm5p.begin(), al.lm5p.end())));
    check("align_img.pos_t", floats({al.pos.t.x, al.pos.t.y}));
    check("align_img.pos_s", floats({al.pos.s}));
    check("align_img.trans_params", floats(std::vector<double>(al.trans_params.begin(), al.trans_params.end())));
    check("align_img.aligned_u8", tensor_of(al.image));
    check("align_img.lm_new", points(al.lm_new));
    if (spec.contains("debug_outputs")) {
      check("align_img.debug.resize_wh", ints({al.resize_wh.width, al.resize_wh.height}));
      check("align_img.debug.left_up", ints({al.left_up.x, al.left_up.y}));
    }
    // The library path (flip + align with the embedded lm3d_std) must agree.
    const face::AlignedImage lib = face::align_for_recon(image, lm);
    report_->compare(name_, "align_img.aligned_u8(align_for_recon)", tensor_of(lib.image),
                     folder_->io("align_img.aligned_u8"), Tolerance{0.0, 0.0});
    recon_chain(al);
  }

  // The sibling face3d_recon/ case was made from this aligned image: our
  // ReconNet input must equal its im_t bit for bit, and source_coeff_3dmm
  // (float32 trans_params appended) its coeff_3dmm73.
  void recon_chain(const face::AlignedImage& al) {
    const auto dir = folder_->dir().parent_path() / "face3d_recon";
    if (!std::filesystem::exists(dir / "case.json")) return;
    const CaseFolder recon(dir);
    face::PreparedSource src;
    src.label = "golden align_img";
    src.aligned = al.image;
    src.recon_input = face::recon_input_from_aligned(al.image);
    for (int i = 0; i < 5; ++i) src.trans_params[i] = float(al.trans_params[i]);
    report_->compare(name_, "face3d_recon.im_t(recon_input)", face::recon_input_tensor(src), recon.io("im_t"),
                     Tolerance{0.0, 0.0});
    report_->compare(name_, "face3d_recon.trans_params",
                     at::tensor(std::vector<float>(src.trans_params.begin(), src.trans_params.end())),
                     recon.io("trans_params").reshape({-1}), Tolerance{0.0, 0.0});
    nn::ReconNet net(nn::ReconNetConfig::from_json(recon.spec().value("config", nlohmann::json::object())));
    recon.load_weights(*net);
    const nlohmann::json& rc = recon.spec().at("cases").at(0);
    report_->compare(name_, "face3d_recon.coeff_3dmm73(source_coeff_3dmm)", face::source_coeff_3dmm(*net, src),
                     recon.io("coeff_3dmm73"), case_tolerance(rc));
  }

  void fallback_case() {
    const cv::Mat image = image_of(folder_->io("align_img.image_u8"));
    lm3d();  // checks the embedded constant
    const face::AlignedImage al = face::align_for_recon(image, std::nullopt);
    check("align_img_fallback.lm5", points(std::vector<cv::Point2d>(al.lm5p.begin(), al.lm5p.end())));
    check("align_img_fallback.trans_params",
          floats(std::vector<double>(al.trans_params.begin(), al.trans_params.end())));
    check("align_img_fallback.aligned_u8", tensor_of(al.image));
    check("align_img_fallback.lm_new", points(al.lm_new));
  }

  void paste_case() {
    const cv::Mat full = image_of(folder_->io("crop_apply.image_u8"));
    const cv::Mat generated = image_of(folder_->io("paste.generated_u8"));
    const at::Tensor ob = folder_->io("paste.orig_box"), os = folder_->io("paste.original_size");
    const std::array<int, 4> box = {int(ob[0].item<int64_t>()), int(ob[1].item<int64_t>()),
                                    int(ob[2].item<int64_t>()), int(ob[3].item<int64_t>())};
    face::PasteDebug dbg;
    const cv::Mat out = face::paste_back(full, generated, box,
                                         cv::Size(int(os[0].item<int64_t>()), int(os[1].item<int64_t>())), &dbg);
    check("paste.aspect_hw", ints({dbg.aspect.height, dbg.aspect.width}));
    check("paste.patch_u8", tensor_of(dbg.patch));
    check("paste.location", ints({dbg.location.x, dbg.location.y}));
    check("paste.seamless_u8", tensor_of(out));
  }

  const CaseFolder* folder_ = nullptr;
  Report* report_ = nullptr;
  std::string name_;
  Tolerance tol_;
};

}  // namespace

std::unique_ptr<CaseRunner> make_crop_align_runner() { return std::make_unique<CropAlignRunner>(); }

}  // namespace tavce::parity
