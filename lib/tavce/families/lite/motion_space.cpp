#include "tavce/families/lite/motion_space.h"

#include <algorithm>
#include <cmath>

#include <opencv2/core.hpp>

#include "tavce/error.h"

namespace tavce::lite {

std::vector<double> MotionSpace::project(const double* d) const {
  std::vector<double> c(static_cast<size_t>(components), 0.0);
  for (int k = 0; k < components; ++k) {
    const double* row = basis.data() + static_cast<size_t>(k) * kMouthJawValues;
    double s = 0;
    for (int j = 0; j < kMouthJawValues; ++j) s += row[j] * d[j];
    c[k] = s;
  }
  return c;
}

std::vector<double> MotionSpace::reconstruct(const double* c) const {
  std::vector<double> d(kMouthJawValues, 0.0);
  for (int k = 0; k < components; ++k) {
    const double* row = basis.data() + static_cast<size_t>(k) * kMouthJawValues;
    for (int j = 0; j < kMouthJawValues; ++j) d[j] += c[k] * row[j];
  }
  return d;
}

void MotionSpace::clamp(double* c) const {
  // The rest shape (all zeros) is always inside, whatever the data covered.
  for (int k = 0; k < components; ++k) c[k] = std::clamp(c[k], std::min(lo[k], 0.0), std::max(hi[k], 0.0));
}

MotionSpace MotionSpace::fit(const std::vector<std::vector<double>>& rows, int components, const Points& rest) {
  if (rows.size() < 2) throw Error("motion space: need at least two displacement rows to fit a basis");
  if (components < 1 || components > kMouthJawValues)
    throw Error("motion space: components must lie in 1.." + std::to_string(kMouthJawValues));
  cv::Mat data(static_cast<int>(rows.size()), kMouthJawValues, CV_64F);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].size() != static_cast<size_t>(kMouthJawValues)) throw Error("motion space: bad displacement row");
    std::copy(rows[i].begin(), rows[i].end(), data.ptr<double>(static_cast<int>(i)));
  }
  const cv::Mat zero_mean = cv::Mat::zeros(1, kMouthJawValues, CV_64F);
  cv::PCA pca(data, zero_mean, cv::PCA::DATA_AS_ROW, components);
  MotionSpace m;
  m.components = components;
  m.basis.resize(static_cast<size_t>(components) * kMouthJawValues);
  for (int k = 0; k < components; ++k) {
    const double* e = pca.eigenvectors.ptr<double>(k);
    // A sign convention, so that refits give the same basis: the component's
    // largest entry is positive.
    int arg = 0;
    for (int j = 1; j < kMouthJawValues; ++j)
      if (std::abs(e[j]) > std::abs(e[arg])) arg = j;
    const double sign = e[arg] < 0 ? -1.0 : 1.0;
    for (int j = 0; j < kMouthJawValues; ++j) m.basis[static_cast<size_t>(k) * kMouthJawValues + j] = sign * e[j];
  }
  // Coefficient statistics over the training rows.
  std::vector<std::vector<double>> per(static_cast<size_t>(components));
  for (const auto& r : rows) {
    const auto c = m.project(r.data());
    for (int k = 0; k < components; ++k) per[k].push_back(c[k]);
  }
  for (int k = 0; k < components; ++k) {
    auto& v = per[k];
    double s2 = 0;
    for (double x : v) s2 += x * x;
    m.stddev.push_back(std::sqrt(s2 / static_cast<double>(v.size())));
    std::sort(v.begin(), v.end());
    auto pct = [&](double q) { return v[static_cast<size_t>(std::lround(q * static_cast<double>(v.size() - 1)))]; };
    m.lo.push_back(pct(0.005));
    m.hi.push_back(pct(0.995));
  }
  m.rest_template = rest;
  return m;
}

void MotionSpace::validate(const std::string& label) const {
  const size_t k = static_cast<size_t>(components);
  if (components < 1 || basis.size() != k * kMouthJawValues || stddev.size() != k || lo.size() != k || hi.size() != k ||
      rest_template.size() != static_cast<size_t>(kLandmarks))
    throw Error(label + ": the lite motion space has inconsistent sizes (components " + std::to_string(components) +
                ", basis " + std::to_string(basis.size()) + ", template " +
                std::to_string(rest_template.size()) + " points)");
  auto finite = [](const std::vector<double>& v) {
    return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
  };
  if (!finite(basis) || !finite(stddev) || !finite(lo) || !finite(hi) || !plausible_face(rest_template))
    throw Error(label + ": the lite motion space holds non-finite values");
  for (size_t i = 0; i < k; ++i)
    if (lo[i] > hi[i]) throw Error(label + ": the lite motion space's range is empty for component " + std::to_string(i));
}

Points rest_shape(const std::vector<Points>& frames) {
  if (frames.empty()) throw Error("rest shape of an empty clip");
  std::vector<std::pair<double, size_t>> gaps;
  for (size_t i = 0; i < frames.size(); ++i) gaps.emplace_back(inner_lip_gap(frames[i]), i);
  std::sort(gaps.begin(), gaps.end());
  const size_t n = std::max<size_t>(1, gaps.size() / 5);
  Points rest(kLandmarks, cv::Point2d(0, 0));
  for (size_t j = 0; j < n; ++j)
    for (int p = 0; p < kLandmarks; ++p) rest[p] += frames[gaps[j].second][p];
  for (auto& p : rest) p *= 1.0 / static_cast<double>(n);
  return rest;
}

std::vector<double> mouth_jaw_displacement(const Points& canonical, const Points& rest) {
  std::vector<double> d;
  d.reserve(kMouthJawValues);
  for (int i : mouth_jaw_indices()) {
    d.push_back(canonical[i].x - rest[i].x);
    d.push_back(canonical[i].y - rest[i].y);
  }
  return d;
}

void add_mouth_jaw(Points& canonical, const std::vector<double>& d, double weight) {
  const auto& idx = mouth_jaw_indices();
  for (size_t j = 0; j < idx.size(); ++j) {
    canonical[idx[j]].x += weight * d[2 * j];
    canonical[idx[j]].y += weight * d[2 * j + 1];
  }
}

}  // namespace tavce::lite
