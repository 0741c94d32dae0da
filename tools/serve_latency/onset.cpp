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

double patch_difference(const Patch& a, const Patch& b) {
  if (a.width != b.width || a.height != b.height || a.px.size() != b.px.size() || a.px.empty())
    throw std::invalid_argument("patch_difference: patches of different sizes");
  long long sum = 0;
  for (size_t i = 0; i < a.px.size(); ++i) sum += std::abs(static_cast<int>(a.px[i]) - static_cast<int>(b.px[i]));
  return static_cast<double>(sum) / static_cast<double>(a.px.size());
}

IdleModel learn_idle(const std::vector<const Patch*>& idle, double margin, double floor) {
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
  for (const Patch* p : idle) m.max_idle_difference = std::max(m.max_idle_difference, patch_difference(*p, m.reference));
  m.threshold = std::max(m.max_idle_difference * margin, floor);
  return m;
}

}  // namespace serve_latency
