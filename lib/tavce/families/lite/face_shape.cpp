#include "tavce/families/lite/face_shape.h"

#include <cmath>

namespace tavce::lite {

Similarity Similarity::inverse() const {
  const double d = a * a + b * b;
  Similarity r;
  r.a = a / d;
  r.b = -b / d;
  // p = R^-1 (p' - t)
  r.tx = -(r.a * tx - r.b * ty);
  r.ty = -(r.b * tx + r.a * ty);
  return r;
}

Similarity Similarity::then(const Similarity& n) const {
  Similarity r;
  r.a = n.a * a - n.b * b;
  r.b = n.b * a + n.a * b;
  r.tx = n.a * tx - n.b * ty + n.tx;
  r.ty = n.b * tx + n.a * ty + n.ty;
  return r;
}

double Similarity::scale() const { return std::hypot(a, b); }
double Similarity::angle() const { return std::atan2(b, a); }

Similarity Similarity::about(const cv::Point2d& c, double angle, double scale, const cv::Point2d& shift) {
  Similarity s;
  s.a = scale * std::cos(angle);
  s.b = scale * std::sin(angle);
  // p' = R (p - c) + c + shift
  s.tx = c.x - (s.a * c.x - s.b * c.y) + shift.x;
  s.ty = c.y - (s.b * c.x + s.a * c.y) + shift.y;
  return s;
}

Similarity similarity_from_pairs(const cv::Point2d& p0, const cv::Point2d& p1, const cv::Point2d& q0,
                                 const cv::Point2d& q1) {
  // In complex numbers: q = z p + t with z = (q1 - q0) / (p1 - p0).
  const double px = p1.x - p0.x, py = p1.y - p0.y;
  const double qx = q1.x - q0.x, qy = q1.y - q0.y;
  const double d = px * px + py * py;
  Similarity s;
  s.a = (qx * px + qy * py) / d;
  s.b = (qy * px - qx * py) / d;
  s.tx = q0.x - (s.a * p0.x - s.b * p0.y);
  s.ty = q0.y - (s.b * p0.x + s.a * p0.y);
  return s;
}

Similarity canonical_frame(const Points& p) {
  const cv::Point2d left = (p[36] + p[39]) * 0.5;
  const cv::Point2d right = (p[42] + p[45]) * 0.5;
  return similarity_from_pairs(left, right, {-0.5, 0.0}, {0.5, 0.0});
}

Points transform(const Points& points, const Similarity& s) {
  Points out;
  out.reserve(points.size());
  for (const auto& p : points) out.push_back(s.apply(p));
  return out;
}

const std::vector<int>& mouth_jaw_indices() {
  static const std::vector<int> idx = [] {
    std::vector<int> v;
    for (int i = 3; i <= 13; ++i) v.push_back(i);
    for (int i = 48; i <= 67; ++i) v.push_back(i);
    return v;
  }();
  return idx;
}

double inner_lip_gap(const Points& p) {
  return (cv::norm(p[61] - p[67]) + cv::norm(p[62] - p[66]) + cv::norm(p[63] - p[65])) / 3.0;
}

double inner_mouth_width(const Points& p) { return cv::norm(p[64] - p[60]); }

double eye_opening(const Points& p, int eye) {
  const int o = eye == 0 ? 36 : 42;
  const double width = cv::norm(p[o + 3] - p[o]);
  if (width <= 0) return 0;
  return (cv::norm(p[o + 1] - p[o + 5]) + cv::norm(p[o + 2] - p[o + 4])) / (2 * width);
}

double brow_height(const Points& p) {
  double brow = 0;
  for (int i = 17; i <= 26; ++i) brow += p[i].y;
  const double eyes = (p[36].y + p[39].y + p[42].y + p[45].y) / 4;
  return brow / 10 - eyes;
}

bool plausible_face(const Points& p) {
  if (p.size() != kLandmarks) return false;
  for (const auto& q : p)
    if (!std::isfinite(q.x) || !std::isfinite(q.y)) return false;
  return cv::norm((p[42] + p[45]) * 0.5 - (p[36] + p[39]) * 0.5) > 1e-6;
}

}  // namespace tavce::lite
