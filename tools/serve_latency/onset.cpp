#include "serve_latency/onset.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace serve_latency {

std::optional<size_t> audio_onset(const int16_t* samples, size_t count, int rate, double threshold_dbfs) {
  const size_t window = std::max<size_t>(1, static_cast<size_t>(rate) / 100);
  const double threshold = 32768.0 * std::pow(10.0, threshold_dbfs / 20.0);
  for (size_t start = 0; start + window <= count; start += window) {
    double sum = 0;
    for (size_t i = start; i < start + window; ++i) sum += static_cast<double>(samples[i]) * samples[i];
    if (std::sqrt(sum / static_cast<double>(window)) >= threshold) return start;
  }
  return std::nullopt;
}

double patch_difference(const Patch& cur, const Patch& ref, int max_shift) {
  if (cur.width != ref.width || cur.height != ref.height || cur.px.size() != ref.px.size() || cur.px.empty())
    throw std::invalid_argument("patch_difference: patches of different sizes");
  const int s = std::max(0, max_shift), w = cur.width, h = cur.height;
  if (w <= 2 * s || h <= 2 * s) throw std::invalid_argument("patch_difference: patch smaller than the shifts");
  double best = 1e300;
  for (int dy = -s; dy <= s; ++dy)
    for (int dx = -s; dx <= s; ++dx) {
      long long sum = 0;
      for (int y = s; y < h - s; ++y) {
        const uint8_t* c = &cur.px[static_cast<size_t>(y) * w];
        const uint8_t* r = &ref.px[static_cast<size_t>(y + dy) * w + dx];
        for (int x = s; x < w - s; ++x) sum += std::abs(static_cast<int>(c[x]) - static_cast<int>(r[x]));
      }
      best = std::min(best, static_cast<double>(sum));
    }
  return best / (static_cast<double>(w - 2 * s) * (h - 2 * s));
}

IdleModel learn_idle(const std::vector<const Patch*>& idle, double margin, double floor, int max_shift) {
  if (idle.empty()) throw std::invalid_argument("learn_idle: no idle frames");
  IdleModel m;
  const Patch& first = *idle.front();
  std::vector<double> sum(first.px.size(), 0.0);
  for (const Patch* p : idle) {
    if (p->px.size() != sum.size()) throw std::invalid_argument("learn_idle: patches of different sizes");
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += p->px[i];
  }
  m.reference = first;
  for (size_t i = 0; i < sum.size(); ++i)
    m.reference.px[i] = static_cast<uint8_t>(std::lround(sum[i] / static_cast<double>(idle.size())));
  for (const Patch* p : idle) m.max_idle_difference = std::max(m.max_idle_difference, patch_difference(*p, m.reference, max_shift));
  m.threshold = std::max(m.max_idle_difference * margin, floor);
  return m;
}

}  // namespace serve_latency
