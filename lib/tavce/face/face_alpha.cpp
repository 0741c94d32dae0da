#include "tavce/face/face_alpha.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace tavce::face {

FaceEllipse face_ellipse(const std::vector<cv::Point2d>& points, const FaceAlphaParams& p) {
  if (!std::isfinite(p.scale) || p.scale <= 0) throw std::invalid_argument("face alpha: scale must be > 0");
  if (!std::isfinite(p.forehead) || p.forehead < 0) throw std::invalid_argument("face alpha: forehead must be >= 0");
  if (!std::isfinite(p.feather) || p.feather < 0) throw std::invalid_argument("face alpha: feather must be >= 0");
  if (points.size() < 2) throw std::invalid_argument("face alpha: needs at least 2 landmarks, got " +
                                                     std::to_string(points.size()));
  double x0 = std::numeric_limits<double>::infinity(), y0 = x0, x1 = -x0, y1 = -x0;
  for (const cv::Point2d& q : points) {
    if (!std::isfinite(q.x) || !std::isfinite(q.y)) throw std::invalid_argument("face alpha: a landmark is not finite");
    x0 = std::min(x0, q.x), x1 = std::max(x1, q.x), y0 = std::min(y0, q.y), y1 = std::max(y1, q.y);
  }
  if (x1 - x0 <= 0 || y1 - y0 <= 0) throw std::invalid_argument("face alpha: the landmarks span no area");
  y0 -= p.forehead * (y1 - y0);  // the 68 points stop at the brows
  FaceEllipse e;
  e.center = {(x0 + x1) / 2, (y0 + y1) / 2};
  e.half_width = p.scale * (x1 - x0) / 2;
  e.half_height = p.scale * (y1 - y0) / 2;
  return e;
}

uint8_t face_alpha_at(const FaceEllipse& e, double feather, int x, int y) {
  const double dx = (x + 0.5 - e.center.x) / e.half_width, dy = (y + 0.5 - e.center.y) / e.half_height;
  const double r = std::sqrt(dx * dx + dy * dy);  // 1 on the edge
  if (r >= 1) return 0;
  // Pixels from the edge along the ray through this pixel: (1 - r) times the
  // ray's length from the centre to the edge.
  const double px = dx * e.half_width, py = dy * e.half_height;
  const double ray = r > 0 ? std::sqrt(px * px + py * py) / r : std::min(e.half_width, e.half_height);
  const double inside = (1 - r) * ray;
  if (feather <= 0 || inside >= feather) return 255;
  return static_cast<uint8_t>(std::lround(255.0 * inside / feather));
}

void write_face_alpha(const FaceEllipse& e, double feather, uint8_t* pixels, int width, int height, int row_stride,
                      int pixel_stride, int alpha_offset) {
  // Rows and columns outside the ellipse's box are transparent without the
  // square roots.
  const int bx0 = std::max(0, static_cast<int>(std::floor(e.center.x - e.half_width)));
  const int bx1 = std::min(width, static_cast<int>(std::ceil(e.center.x + e.half_width)) + 1);
  const int by0 = std::max(0, static_cast<int>(std::floor(e.center.y - e.half_height)));
  const int by1 = std::min(height, static_cast<int>(std::ceil(e.center.y + e.half_height)) + 1);
  for (int y = 0; y < height; ++y) {
    uint8_t* row = pixels + static_cast<size_t>(y) * row_stride + alpha_offset;
    const bool in_rows = y >= by0 && y < by1;
    for (int x = 0; x < width; ++x)
      row[static_cast<size_t>(x) * pixel_stride] = in_rows && x >= bx0 && x < bx1 ? face_alpha_at(e, feather, x, y) : 0;
  }
}

}  // namespace tavce::face
