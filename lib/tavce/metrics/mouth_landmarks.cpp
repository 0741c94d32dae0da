#include "tavce/metrics/mouth_landmarks.h"

#include <cmath>

#include "tavce/error.h"

namespace tavce::metrics {

namespace {
cv::Point2d mid(const cv::Point2d& a, const cv::Point2d& b) { return (a + b) * 0.5; }
}  // namespace

FacePoints eye_frame(const FacePoints& points) {
  if (points.size() != 68) throw Error("mouth metrics need 68 landmarks, got " + std::to_string(points.size()));
  const cv::Point2d left = mid(points[36], points[39]), right = mid(points[42], points[45]);
  const cv::Point2d axis = right - left;
  const double iod2 = axis.dot(axis);
  if (!(iod2 > 1e-12)) throw Error("mouth metrics: the two eye centres coincide (no usable face)");
  // Rotation + scale taking `axis` to (1, 0), about the eyes' midpoint.
  const cv::Point2d centre = mid(left, right);
  const double c = axis.x / iod2, s = -axis.y / iod2;
  FacePoints out(points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    const cv::Point2d d = points[i] - centre;
    out[i] = {c * d.x - s * d.y, s * d.x + c * d.y};
  }
  return out;
}

double mouth_landmark_distance(const FacePoints& real, const FacePoints& generated) {
  const FacePoints a = eye_frame(real), b = eye_frame(generated);
  double sum = 0.0;
  for (int i = 48; i < 68; ++i) sum += cv::norm(a[i] - b[i]);
  return sum / 20.0;
}

double mouth_opening(const FacePoints& points) {
  const FacePoints p = eye_frame(points);
  return ((p[67].y - p[61].y) + (p[66].y - p[62].y) + (p[65].y - p[63].y)) / 3.0;
}

}  // namespace tavce::metrics
