#include "tavce/face/align_img.h"

#include <cmath>
#include <cstdint>

#include <opencv2/core.hpp>

#include "tavce/error.h"
#include "tavce/face/pil_resize.h"

namespace tavce::face {

const std::array<cv::Point3d, 5> kLm3dStd = {{
    {-0.3114865720272064, 0.29036077857017517, 0.13377952575683594},
    {0.30979886651039124, 0.289720356464386, 0.1317952573299408},
    {0.003253498813137412, -0.04617932438850403, 0.5524424314498901},
    {-0.25216928124427795, -0.3813391625881195, 0.22405731678009033},
    {0.24846619367599487, -0.38128235936164856, 0.22235769033432007},
}};

std::array<cv::Point2d, 5> extract_5p(const Landmarks& lm) {
  if (lm.size() != 68) throw Error("extract_5p: expected 68 landmarks, got " + std::to_string(lm.size()));
  // np.mean of two rows = (a + b) / 2.
  return {(lm[36] + lm[39]) / 2.0, (lm[42] + lm[45]) / 2.0, lm[30], lm[48], lm[54]};
}

PosResult pos(const std::array<cv::Point2d, 5>& xp, const std::array<cv::Point3d, 5>& x) {
  // The reference solves one 10x8 system A k = b with np.linalg.lstsq; its
  // x rows only involve k[0:4] and its y rows only k[4:8], so it splits into two
  // independent 5x4 problems with the same matrix [X Y Z 1]. SVD-based least
  // squares in float64 like lstsq (agreement to ~1e-12).
  cv::Mat A(5, 4, CV_64F), bx(5, 1, CV_64F), by(5, 1, CV_64F);
  for (int i = 0; i < 5; ++i) {
    A.at<double>(i, 0) = x[i].x;
    A.at<double>(i, 1) = x[i].y;
    A.at<double>(i, 2) = x[i].z;
    A.at<double>(i, 3) = 1.0;
    bx.at<double>(i) = xp[i].x;
    by.at<double>(i) = xp[i].y;
  }
  cv::Mat k1, k2;
  cv::solve(A, bx, k1, cv::DECOMP_SVD);
  cv::solve(A, by, k2, cv::DECOMP_SVD);
  const auto norm3 = [](const cv::Mat& k) {
    return std::sqrt(k.at<double>(0) * k.at<double>(0) + k.at<double>(1) * k.at<double>(1) +
                     k.at<double>(2) * k.at<double>(2));
  };
  PosResult r;
  r.s = (norm3(k1) + norm3(k2)) / 2;
  r.t = cv::Point2d(k1.at<double>(3), k2.at<double>(3));
  return r;
}

AlignedImage align_img(const cv::Mat& rgb, const Landmarks& lm, const std::array<cv::Point3d, 5>& lm3d,
                       int target_size, double rescale_factor) {
  if (rgb.empty() || rgb.type() != CV_8UC3) throw Error("align_img: needs a non-empty RGB uint8 image");
  AlignedImage out;
  const int w0 = rgb.cols, h0 = rgb.rows;
  if (lm.size() == 5)
    for (int i = 0; i < 5; ++i) out.lm5p[i] = lm[i];
  else
    out.lm5p = extract_5p(lm);

  out.pos = pos(out.lm5p, lm3d);
  const double s = rescale_factor / out.pos.s;
  const cv::Point2d t = out.pos.t;

  // resize_n_crop_img: numpy astype(int32) truncates toward zero.
  const int w = int(int32_t(w0 * s)), h = int(int32_t(h0 * s));
  const double half = target_size / 2.0;
  const int left = int(int32_t(w / 2.0 - half + (t.x - w0 / 2.0) * s));
  const int up = int(int32_t(h / 2.0 - half + (h0 / 2.0 - t.y) * s));
  if (w <= 0 || h <= 0) throw Error("align_img: degenerate landmarks (scale " + std::to_string(s) + ")");
  out.resize_wh = cv::Size(w, h);
  out.left_up = cv::Point(left, up);

  const cv::Mat resized = pil_resize_bicubic(rgb, cv::Size(w, h));
  // PIL crop: the part of the box outside the image is black.
  out.image = cv::Mat::zeros(target_size, target_size, CV_8UC3);
  const cv::Rect box(left, up, target_size, target_size);
  const cv::Rect inside = box & cv::Rect(0, 0, w, h);
  if (inside.area() > 0) resized(inside).copyTo(out.image(inside - box.tl()));

  // The landmarks move with the float centre (w/2 - 112), not the int crop origin.
  out.lm_new.reserve(lm.size());
  for (const auto& p : lm)
    out.lm_new.emplace_back((p.x - t.x + w0 / 2.0) * s - (w / 2.0 - half), (p.y - t.y + h0 / 2.0) * s - (h / 2.0 - half));
  out.trans_params = {double(w0), double(h0), s, t.x, t.y};
  return out;
}

Landmarks flip_y(const Landmarks& lm, int height) {
  Landmarks r = lm;
  for (auto& p : r) p.y = height - 1 - p.y;
  return r;
}

AlignedImage align_for_recon(const cv::Mat& rgb, const std::optional<Landmarks>& lm68) {
  if (lm68) return align_img(rgb, flip_y(*lm68, rgb.rows));
  Landmarks lm5;
  for (const auto& p : kLm3dStd) lm5.emplace_back((p.x + 1) / 2 * rgb.cols, (p.y + 1) / 2 * rgb.rows);
  return align_img(rgb, lm5);
}

}  // namespace tavce::face
