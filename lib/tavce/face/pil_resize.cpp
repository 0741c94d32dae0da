#include "tavce/face/pil_resize.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "tavce/error.h"

namespace tavce::face {
namespace {

// Pillow's fixed-point precision for 8-bit images: 32 - 8 - 2 bits, leaving
// headroom for 255 * (sum of |weights|) in an int32.
constexpr int kPrecisionBits = 32 - 8 - 2;

// Keys' cubic convolution kernel with a = -0.5, support 2.
double bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Per output position: the first input index, the tap count and the fixed-point
// weights (ksize per output, zero-padded).
struct Coeffs {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> k;
};

Coeffs precompute(int in_size, int out_size) {
  constexpr double kSupport = 2.0;
  // The whole image is the source box: in0 = 0, in1 = in_size.
  const double scale = double(in_size) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = kSupport * filterscale;
  Coeffs c;
  c.ksize = int(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.k.assign(size_t(out_size) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    // C casts truncate toward zero ("round the value" in Pillow's comment).
    int xmin = int(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[x] = bicubic((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double v = ww != 0.0 ? w[x] / ww : w[x];
      // Round half away from zero into fixed point.
      c.k[size_t(xx) * c.ksize + x] =
          v < 0 ? int32_t(-0.5 + v * (1 << kPrecisionBits)) : int32_t(0.5 + v * (1 << kPrecisionBits));
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

inline uint8_t clip8(int32_t v) {
  if (v >= (1 << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return uint8_t(v >> kPrecisionBits);
}

}  // namespace

cv::Mat pil_resize_bicubic(const cv::Mat& image, cv::Size size) {
  if (image.empty() || image.depth() != CV_8U) throw Error("pil_resize_bicubic: needs a non-empty uint8 image");
  if (size.width <= 0 || size.height <= 0) throw Error("pil_resize_bicubic: bad output size");
  const int ch = image.channels();
  if (size == image.size()) return image.clone();  // Pillow returns a copy

  const Coeffs hc = precompute(image.cols, size.width);
  const Coeffs vc = precompute(image.rows, size.height);
  // Only the input rows the vertical pass reads are resampled horizontally.
  const int y_first = vc.first.front();
  const int y_last = vc.first.back() + vc.count.back();

  // Pillow skips a pass whose size does not change; with the full box that pass
  // would be an exact identity anyway (weights 0,1,0,0 at integer centres).
  cv::Mat tmp;
  if (size.width != image.cols) {
    tmp.create(y_last - y_first, size.width, image.type());
    for (int y = 0; y < tmp.rows; ++y) {
      const uint8_t* in = image.ptr<uint8_t>(y + y_first);
      uint8_t* out = tmp.ptr<uint8_t>(y);
      for (int xx = 0; xx < size.width; ++xx) {
        const int32_t* k = &hc.k[size_t(xx) * hc.ksize];
        const int xmin = hc.first[xx], n = hc.count[xx];
        for (int c = 0; c < ch; ++c) {
          int32_t ss = 1 << (kPrecisionBits - 1);
          for (int x = 0; x < n; ++x) ss += int32_t(in[(x + xmin) * ch + c]) * k[x];
          out[xx * ch + c] = clip8(ss);
        }
      }
    }
  } else {
    tmp = image.rowRange(y_first, y_last);
  }
  if (size.height == image.rows) return tmp.clone();

  cv::Mat out(size, image.type());
  for (int yy = 0; yy < size.height; ++yy) {
    const int32_t* k = &vc.k[size_t(yy) * vc.ksize];
    const int ymin = vc.first[yy] - y_first, n = vc.count[yy];
    uint8_t* o = out.ptr<uint8_t>(yy);
    for (int xc = 0; xc < size.width * ch; ++xc) {
      int32_t ss = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < n; ++y) ss += int32_t(tmp.ptr<uint8_t>(ymin + y)[xc]) * k[y];
      o[xc] = clip8(ss);
    }
  }
  return out;
}

}  // namespace tavce::face
