#include "tavce/face/align_face.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "tavce/error.h"

namespace tavce::face {
namespace {

// np.mean over consecutive rows: a sequential sum, then one division.
cv::Point2d mean_of(const Landmarks& lm, int begin, int end) {
  cv::Point2d s = lm[begin];
  for (int i = begin + 1; i < end; ++i) s += lm[i];
  return s / double(end - begin);
}

// numpy slicing a[b:e] of a length-n axis: negative-free here, clamped to n.
cv::Range slice(int b, int e, int n) {
  b = std::clamp(b, 0, n);
  e = std::clamp(e, 0, n);
  return cv::Range(b, std::max(b, e));
}

}  // namespace

std::array<int, 4> FaceAlignment::quad_int() const {
  // Python int() truncates toward zero; every value is >= 0 after the clipping.
  return {int(quad[0]), int(quad[1]), int(quad[2]), int(quad[3])};
}

std::array<int, 4> FaceAlignment::orig_box() const {
  const auto q = quad_int();
  return {crop[0] + q[0], crop[1] + q[1], crop[0] + q[2], crop[1] + q[3]};
}

FaceAlignment align_face(const Landmarks& lm, cv::Size image_size, int output_size) {
  if (lm.size() != 68) throw Error("align_face: expected 68 landmarks, got " + std::to_string(lm.size()));
  FaceAlignment a;
  a.image_size = image_size;

  const cv::Point2d eye_left = mean_of(lm, 36, 42), eye_right = mean_of(lm, 42, 48);
  const cv::Point2d eye_avg = (eye_left + eye_right) * 0.5;
  const cv::Point2d eye_to_eye = eye_right - eye_left;
  const cv::Point2d mouth_avg = (lm[48] + lm[54]) * 0.5;
  const cv::Point2d eye_to_mouth = mouth_avg - eye_avg;

  // x = eye_to_eye - flipud(eye_to_mouth) * [-1, 1]: the eye line turned by the
  // eye-mouth direction, normalised, scaled by the larger of the two distances.
  cv::Point2d x(eye_to_eye.x + eye_to_mouth.y, eye_to_eye.y - eye_to_mouth.x);
  x /= std::hypot(x.x, x.y);
  x *= std::max(std::hypot(eye_to_eye.x, eye_to_eye.y) * 2.0, std::hypot(eye_to_mouth.x, eye_to_mouth.y) * 1.8);
  const cv::Point2d y(-x.y, x.x);
  const cv::Point2d c = eye_avg + eye_to_mouth * 0.1;
  std::array<cv::Point2d, 4> quad = {c - x - y, c - x + y, c + x + y, c + x - y};
  double qsize = std::hypot(x.x, x.y) * 2;

  // Shrink: huge faces are located in an image downscaled by an integer factor.
  // Only shrink > 1 acts (shrink == 1 is a no-op in the reference too).
  a.shrink = int(std::floor(qsize / output_size * 0.5));
  int W = image_size.width, H = image_size.height;
  if (a.shrink > 1) {
    W = int(std::nearbyint(double(image_size.width) / a.shrink));
    H = int(std::nearbyint(double(image_size.height) / a.shrink));
    for (auto& q : quad) q /= double(a.shrink);
    qsize /= a.shrink;
  }
  a.rsize = cv::Size(W, H);

  // Crop: the quad's integer bounding box plus a 10 % border, clipped.
  a.border = std::max(int(std::nearbyint(qsize * 0.1)), 3);  // rint: half to even, as np.rint
  double minx = quad[0].x, miny = quad[0].y, maxx = quad[0].x, maxy = quad[0].y;
  for (const auto& q : quad) {
    minx = std::min(minx, q.x), miny = std::min(miny, q.y);
    maxx = std::max(maxx, q.x), maxy = std::max(maxy, q.y);
  }
  a.crop = {std::max(int(std::floor(minx)) - a.border, 0), std::max(int(std::floor(miny)) - a.border, 0),
            std::min(int(std::ceil(maxx)) + a.border, W), std::min(int(std::ceil(maxy)) + a.border, H)};
  if (a.crop[2] - a.crop[0] < W || a.crop[3] - a.crop[1] < H)
    for (auto& q : quad) q -= cv::Point2d(a.crop[0], a.crop[1]);

  for (int i = 0; i < 4; ++i) {
    a.quad_flat[2 * i] = quad[i].x + 0.5;
    a.quad_flat[2 * i + 1] = quad[i].y + 0.5;
  }
  const auto& q = a.quad_flat;
  a.quad[0] = std::max(std::min(q[0], q[2]), 0.0);
  a.quad[1] = std::max(std::min(q[1], q[7]), 0.0);
  a.quad[2] = std::min(std::max(q[4], q[6]), double(W));
  // Upstream bug kept for parity: ry is clipped with the image WIDTH.
  a.quad[3] = std::min(std::max(q[3], q[5]), double(W));

  a.x = x, a.y = y, a.c = c, a.qsize = qsize;
  return a;
}

cv::Mat apply_crop(const cv::Mat& image, const FaceAlignment& a, bool extended) {
  cv::Mat r = image;
  // cv2.resize to the same size is a plain copy, so skipping it is exact.
  if (image.size() != a.rsize) cv::resize(image, r, a.rsize, 0, 0, cv::INTER_LINEAR);
  const int cly = a.crop[1], cry = a.crop[3], clx = a.crop[0], crx = a.crop[2];
  r = r(slice(cly, cry, r.rows), slice(clx, crx, r.cols));
  if (!extended) {
    const auto q = a.quad_int();
    r = r(slice(q[1], q[3], r.rows), slice(q[0], q[2], r.cols));
  }
  if (r.empty()) throw Error("face crop is empty (degenerate landmarks)");
  return r;
}

cv::Size CropInfo::original_size() const {
  if (!has_box) return image_size;
  return cv::Size(quad[2] - quad[0], quad[3] - quad[1]);
}

std::array<int, 4> CropInfo::paste_box(bool extended) const {
  if (!has_box) return {0, 0, image_size.width, image_size.height};
  std::array<int, 4> b = extended ? crop
                                  : std::array<int, 4>{crop[0] + quad[0], crop[1] + quad[1], crop[0] + quad[2],
                                                       crop[1] + quad[3]};
  if (rsize != image_size) {
    const double sx = double(image_size.width) / rsize.width, sy = double(image_size.height) / rsize.height;
    b = {int(std::lround(b[0] * sx)), int(std::lround(b[1] * sy)), int(std::lround(b[2] * sx)),
         int(std::lround(b[3] * sy))};
    b[2] = std::min(b[2], image_size.width);
    b[3] = std::min(b[3], image_size.height);
  }
  return b;
}

CropInfo crop_info_of(const FaceAlignment& a) {
  CropInfo info;
  info.image_size = a.image_size;
  info.has_box = true;
  info.rsize = a.rsize;
  info.crop = a.crop;
  info.quad = a.quad_int();
  return info;
}

CropInfo crop_info_resize(cv::Size image_size) {
  CropInfo info;
  info.image_size = image_size;
  info.rsize = image_size;
  return info;
}

}  // namespace tavce::face
