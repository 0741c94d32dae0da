#include "tavce/families/lite/mouth_interior.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

namespace tavce::lite {

namespace {

double smoothstep(double x, double a, double b) {
  const double t = std::clamp((x - a) / (b - a), 0.0, 1.0);
  return t * t * (3 - 2 * t);
}

// y of a polyline at x (the polyline runs left to right, or is reordered so);
// x outside its span takes the end value.
double polyline_y(const std::vector<cv::Point2d>& line, double x) {
  if (x <= line.front().x) return line.front().y;
  for (size_t i = 1; i < line.size(); ++i)
    if (x <= line[i].x) {
      const double dx = line[i].x - line[i - 1].x;
      const double f = dx > 1e-9 ? (x - line[i - 1].x) / dx : 0.0;
      return line[i - 1].y + f * (line[i].y - line[i - 1].y);
    }
  return line.back().y;
}

cv::Vec3f mean_in_polygon(const cv::Mat& rgb, const std::vector<cv::Point>& poly) {
  cv::Mat mask = cv::Mat::zeros(rgb.size(), CV_8U);
  cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{poly}, 255);
  if (cv::countNonZero(mask) == 0) return cv::Vec3f(150, 90, 90);
  const cv::Scalar m = cv::mean(rgb, mask);
  return cv::Vec3f(static_cast<float>(m[0]), static_cast<float>(m[1]), static_cast<float>(m[2]));
}

std::vector<cv::Point> to_int(const Points& p, std::initializer_list<int> idx) {
  std::vector<cv::Point> out;
  for (int i : idx) out.emplace_back(static_cast<int>(std::lround(p[i].x)), static_cast<int>(std::lround(p[i].y)));
  return out;
}

}  // namespace

MouthStyle mouth_style(const cv::Mat& rgb, const Points& p) {
  MouthStyle s;
  // Lips: between the outer and inner contours.
  const cv::Vec3f upper = mean_in_polygon(rgb, to_int(p, {48, 49, 50, 51, 52, 53, 54, 64, 63, 62, 61, 60}));
  const cv::Vec3f lower = mean_in_polygon(rgb, to_int(p, {48, 60, 67, 66, 65, 64, 54, 55, 56, 57, 58, 59}));
  s.lip = 0.5f * (upper + lower);
  // Skin: cheeks under the eyes, for the brightness of the teeth.
  const cv::Vec3f cheek_l = mean_in_polygon(rgb, to_int(p, {1, 2, 31, 39, 40, 41}));
  const cv::Vec3f cheek_r = mean_in_polygon(rgb, to_int(p, {15, 14, 35, 42, 47, 46}));
  const cv::Vec3f skin = 0.5f * (cheek_l + cheek_r);
  const float skin_luma = 0.299f * skin[0] + 0.587f * skin[1] + 0.114f * skin[2];
  // Teeth: warm off-white, as bright as the lit skin allows (a dark photo
  // gets dimmer teeth, so they do not glow).
  const float bright = std::clamp(skin_luma * 1.25f + 40.0f, 120.0f, 235.0f);
  s.teeth = cv::Vec3f(bright, bright * 0.96f, bright * 0.88f);
  s.cavity = s.lip * 0.18f;
  s.tongue = cv::Vec3f(s.lip[0] * 0.85f + 25.0f, s.lip[1] * 0.55f, s.lip[2] * 0.55f);
  // Softness: a photo downscaled into the crop is softer than line art; the
  // Laplacian variance around the mouth sets the blur of the painted layer.
  const cv::Rect box = cv::boundingRect(to_int(p, {48, 50, 52, 54, 56, 58})) & cv::Rect(0, 0, rgb.cols, rgb.rows);
  if (box.area() > 16) {
    cv::Mat grey, lap;
    cv::cvtColor(rgb(box), grey, cv::COLOR_RGB2GRAY);
    cv::Laplacian(grey, lap, CV_64F);
    cv::Scalar mean, sd;
    cv::meanStdDev(lap, mean, sd);
    s.blur_px = std::clamp(1.6 - sd[0] / 25.0, 0.5, 1.6);
  }
  return s;
}

double interior_visibility(double gap, double width) {
  if (width <= 0) return 0;
  return smoothstep(gap / width, 0.02, 0.08);
}

void paint_mouth_interior(cv::Mat& frame, const Points& p, const MouthStyle& style, double iod, double strength) {
  const double width = inner_mouth_width(p);
  const double gap = inner_lip_gap(p);
  const double vis = strength * interior_visibility(gap, width);
  if (vis <= 0 || iod <= 0) return;

  // Work in a patch around the inner lips, at 4x subpixel precision for the outline.
  std::vector<cv::Point2d> poly;
  for (int i = 60; i <= 67; ++i) poly.push_back(p[i]);
  cv::Rect box = cv::boundingRect(std::vector<cv::Point2f>(poly.begin(), poly.end()));
  box.x -= 3, box.y -= 3, box.width += 6, box.height += 6;
  box &= cv::Rect(0, 0, frame.cols, frame.rows);
  if (box.width < 2 || box.height < 2) return;

  constexpr int kShift = 2;
  std::vector<cv::Point> outline;
  for (const auto& q : poly)
    outline.emplace_back(static_cast<int>(std::lround((q.x - box.x) * (1 << kShift))),
                         static_cast<int>(std::lround((q.y - box.y) * (1 << kShift))));
  cv::Mat mask = cv::Mat::zeros(box.size(), CV_8U);
  cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{outline}, 255, cv::LINE_AA, kShift);

  // Lip lines inside the mouth, left to right.
  std::vector<cv::Point2d> upper = {p[60], p[61], p[62], p[63], p[64]};
  std::vector<cv::Point2d> lower = {p[60], p[67], p[66], p[65], p[64]};
  if (upper.front().x > upper.back().x) {
    std::reverse(upper.begin(), upper.end());
    std::reverse(lower.begin(), lower.end());
  }
  const double cx = 0.5 * (upper.front().x + upper.back().x);
  const double half = 0.5 * std::abs(upper.back().x - upper.front().x) + 1e-6;

  const double upper_teeth = 0.11 * iod;   // visible height of the upper incisors
  const double lower_teeth = 0.07 * iod;
  const double lower_show = smoothstep(gap / iod, 0.10, 0.22);
  const double tongue_show = smoothstep(gap / iod, 0.12, 0.30);
  const double tooth_w = 0.085 * iod;      // central incisor width

  cv::Mat layer(box.size(), CV_32FC3);
  for (int y = 0; y < box.height; ++y) {
    cv::Vec3f* row = layer.ptr<cv::Vec3f>(y);
    const double py = y + box.y;
    for (int x = 0; x < box.width; ++x) {
      const double px = x + box.x;
      const double u = std::clamp(std::abs(px - cx) / half, 0.0, 1.0);  // 0 centre .. 1 corner
      const double yu = polyline_y(upper, px), yl = polyline_y(lower, px);
      const double depth = std::clamp((py - yu) / std::max(1.0, yl - yu), 0.0, 1.0);
      // Cavity: darkest in the middle, a little lighter towards the lips.
      cv::Vec3f c = style.cavity * static_cast<float>(0.7 + 0.6 * std::abs(depth - 0.5) + 0.3 * u);
      // Tongue: a low dome resting on the lower lip, in the middle.
      const double tongue_top = yl - 0.45 * (yl - yu) * (1 - u * u);
      if (tongue_show > 0 && py > tongue_top) {
        const double a = tongue_show * smoothstep(py - tongue_top, 0.0, 2.0) * (1 - smoothstep(u, 0.55, 0.85));
        c = c * static_cast<float>(1 - a) + style.tongue * static_cast<float>(a * (0.75 + 0.25 * depth));
      }
      // Teeth fade into the dark towards the corners of the mouth.
      const double side_shade = 1.0 - 0.75 * smoothstep(u, 0.35, 0.9);
      const double gaps = std::abs(std::remainder(px - cx, tooth_w)) < 0.6 ? 0.82 : 1.0;
      if (lower_show > 0 && py > yl - lower_teeth && u < 0.85) {
        const double a = lower_show * (1 - smoothstep(u, 0.6, 0.85));
        const double shade = side_shade * 0.82 * gaps;
        c = c * static_cast<float>(1 - a) + style.teeth * static_cast<float>(a * shade);
      }
      if (py < yu + upper_teeth && u < 0.9) {
        const double a = 1 - smoothstep(u, 0.7, 0.9);
        // The upper lip shades the top of the teeth.
        const double shade = side_shade * gaps * (0.75 + 0.25 * smoothstep(py - yu, 0.0, 0.3 * upper_teeth));
        c = c * static_cast<float>(1 - a) + style.teeth * static_cast<float>(a * shade);
      }
      row[x] = c;
    }
  }
  if (style.blur_px > 0.3) cv::GaussianBlur(layer, layer, cv::Size(0, 0), style.blur_px);

  cv::Mat target = frame(box);
  for (int y = 0; y < box.height; ++y) {
    cv::Vec3b* out = target.ptr<cv::Vec3b>(y);
    const cv::Vec3f* in = layer.ptr<cv::Vec3f>(y);
    const uint8_t* m = mask.ptr<uint8_t>(y);
    for (int x = 0; x < box.width; ++x) {
      if (!m[x]) continue;
      const float a = static_cast<float>(vis * m[x] / 255.0);
      for (int k = 0; k < 3; ++k)
        out[x][k] = cv::saturate_cast<uint8_t>(out[x][k] * (1 - a) + in[x][k] * a);
    }
  }
}

}  // namespace tavce::lite
