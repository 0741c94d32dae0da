#include "tavce/metrics/image_similarity.h"

#include <cmath>
#include <limits>

#include <opencv2/imgproc.hpp>

#include "tavce/error.h"

namespace tavce::metrics {

namespace {

void check_pair(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask, const char* what) {
  if (a.type() != CV_8UC3 || b.type() != CV_8UC3 || mask.type() != CV_8UC1 || a.size() != b.size() ||
      a.size() != mask.size())
    throw Error(std::string(what) + ": needs two 8-bit 3-channel images and an 8-bit mask of one size");
  if (cv::countNonZero(mask) == 0) throw Error(std::string(what) + ": the mask is empty");
}

std::vector<cv::Point> hull_of(const std::vector<const FacePoints*>& faces, int from, int to) {
  std::vector<cv::Point> pts, hull;
  for (const auto* f : faces)
    for (int i = from; i <= to; ++i) pts.emplace_back(cvRound((*f)[i].x), cvRound((*f)[i].y));
  cv::convexHull(pts, hull);
  return hull;
}

double iod(const FacePoints& p) {
  return cv::norm((p[36] + p[39]) * 0.5 - (p[42] + p[45]) * 0.5);
}

}  // namespace

double masked_psnr(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask) {
  check_pair(a, b, mask, "masked_psnr");
  double sum = 0.0;
  int64_t count = 0;
  for (int y = 0; y < a.rows; ++y) {
    const uint8_t *pa = a.ptr<uint8_t>(y), *pb = b.ptr<uint8_t>(y), *m = mask.ptr<uint8_t>(y);
    for (int x = 0; x < a.cols; ++x) {
      if (!m[x]) continue;
      for (int c = 0; c < 3; ++c) {
        const double d = static_cast<double>(pa[3 * x + c]) - pb[3 * x + c];
        sum += d * d;
      }
      count += 3;
    }
  }
  const double mse = sum / static_cast<double>(count);
  if (mse == 0.0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

double masked_ssim(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask) {
  check_pair(a, b, mask, "masked_ssim");
  // Luma by the BT.601 weights, identical for RGB or BGR callers only if they agree: both images share an order.
  cv::Mat x, y;
  cv::Mat ga, gb;
  cv::transform(a, ga, cv::Matx13f(0.299f, 0.587f, 0.114f));
  cv::transform(b, gb, cv::Matx13f(0.299f, 0.587f, 0.114f));
  ga.convertTo(x, CV_64F);
  gb.convertTo(y, CV_64F);
  const double c1 = std::pow(0.01 * 255, 2), c2 = std::pow(0.03 * 255, 2);
  auto blur = [](const cv::Mat& m) {
    cv::Mat o;
    cv::GaussianBlur(m, o, cv::Size(11, 11), 1.5, 1.5, cv::BORDER_REFLECT);
    return o;
  };
  const cv::Mat mx = blur(x), my = blur(y);
  const cv::Mat sxx = blur(x.mul(x)) - mx.mul(mx), syy = blur(y.mul(y)) - my.mul(my), sxy = blur(x.mul(y)) - mx.mul(my);
  const cv::Mat num = (2 * mx.mul(my) + c1).mul(2 * sxy + c2);
  const cv::Mat den = (mx.mul(mx) + my.mul(my) + c1).mul(sxx + syy + c2);
  cv::Mat map;
  cv::divide(num, den, map);
  return cv::mean(map, mask)[0];
}

cv::Mat face_outside_mouth_mask(cv::Size size, const FacePoints& real, const FacePoints& generated, double margin) {
  if (real.size() != 68 || generated.size() != 68) throw Error("face_outside_mouth_mask: needs 68 landmarks per face");
  cv::Mat face = cv::Mat::zeros(size, CV_8UC1), speaking = cv::Mat::zeros(size, CV_8UC1);
  cv::fillConvexPoly(face, hull_of({&real}, 0, 26), cv::Scalar(255));
  cv::fillConvexPoly(speaking, hull_of({&real, &generated}, 2, 14), cv::Scalar(255));
  cv::fillConvexPoly(speaking, hull_of({&real, &generated}, 48, 67), cv::Scalar(255));
  const int grow = std::max(1, static_cast<int>(std::lround(margin * iod(real))));
  cv::dilate(speaking, speaking, cv::getStructuringElement(cv::MORPH_ELLIPSE, {2 * grow + 1, 2 * grow + 1}));
  cv::Mat out;
  cv::subtract(face, speaking, out);
  return out;
}

}  // namespace tavce::metrics
