#include "loss_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace tavce::tools {

void write_loss_plot(const std::string& path, const std::string& title, const std::vector<LossSeries>& series) {
  const int w = 800, h = 480, left = 70, right = 20, top = 40, bottom = 50;
  cv::Mat img(h, w, CV_8UC3, cv::Scalar(255, 255, 255));
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const auto& s : series)
    for (const auto& [x, y] : s.points) {
      if (!(y > 0)) continue;
      x0 = std::min(x0, x), x1 = std::max(x1, x);
      y0 = std::min(y0, std::log10(y)), y1 = std::max(y1, std::log10(y));
    }
  cv::putText(img, title, {left, 25}, cv::FONT_HERSHEY_SIMPLEX, 0.6, {0, 0, 0}, 1, cv::LINE_AA);
  cv::rectangle(img, {left, top}, {w - right, h - bottom}, {0, 0, 0});
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 - y0 < 1e-3) y0 -= 0.5, y1 += 0.5;
  auto px = [&](double x, double y) {
    return cv::Point(left + static_cast<int>((x - x0) / (x1 - x0) * (w - left - right)),
                     h - bottom - static_cast<int>((std::log10(y) - y0) / (y1 - y0) * (h - top - bottom)));
  };
  char buf[64];
  for (int k = 0; k <= 4; ++k) {
    const double ly = y0 + (y1 - y0) * k / 4;
    std::snprintf(buf, sizeof buf, "%.3g", std::pow(10.0, ly));
    const int yy = h - bottom - (h - top - bottom) * k / 4;
    cv::putText(img, buf, {5, yy + 4}, cv::FONT_HERSHEY_SIMPLEX, 0.4, {0, 0, 0}, 1, cv::LINE_AA);
    cv::line(img, {left, yy}, {w - right, yy}, {225, 225, 225});
    std::snprintf(buf, sizeof buf, "%.0f", x0 + (x1 - x0) * k / 4);
    cv::putText(img, buf, {left + (w - left - right) * k / 4 - 10, h - bottom + 18}, cv::FONT_HERSHEY_SIMPLEX, 0.4,
                {0, 0, 0}, 1, cv::LINE_AA);
  }
  cv::putText(img, "step", {w / 2, h - 10}, cv::FONT_HERSHEY_SIMPLEX, 0.45, {0, 0, 0}, 1, cv::LINE_AA);
  const cv::Scalar colours[] = {{200, 80, 30}, {30, 30, 200}, {40, 150, 40}, {150, 40, 150}};
  for (size_t i = 0; i < series.size(); ++i) {
    std::vector<cv::Point> line;
    for (const auto& [x, y] : series[i].points)
      if (y > 0) line.push_back(px(x, y));
    const cv::Scalar c = colours[i % 4];
    if (line.size() > 1) cv::polylines(img, line, false, c, 2, cv::LINE_AA);
    cv::putText(img, series[i].name, {w - right - 200, top + 20 + 18 * static_cast<int>(i)}, cv::FONT_HERSHEY_SIMPLEX,
                0.5, c, 1, cv::LINE_AA);
  }
  const std::string tmp = path + ".tmp.png";
  cv::imwrite(tmp, img);
  std::rename(tmp.c_str(), path.c_str());
}

}  // namespace tavce::tools
