#include "serve_latency/stats.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

namespace serve_latency {

namespace {
// Nearest rank: the smallest value with at least q of the values at or below it.
double percentile(const std::vector<double>& sorted, double q) {
  const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}
}  // namespace

nlohmann::json summarize(std::vector<double> values) {
  nlohmann::json j;
  j["count"] = values.size();
  if (values.empty()) {
    for (const char* k : {"p50", "p95", "max", "min", "mean"}) j[k] = nullptr;
    return j;
  }
  std::sort(values.begin(), values.end());
  j["p50"] = percentile(values, 0.50);
  j["p95"] = percentile(values, 0.95);
  j["max"] = values.back();
  j["min"] = values.front();
  j["mean"] = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  return j;
}

nlohmann::json split_whole_frames(const std::vector<double>& offsets_frames, double frame_ms) {
  std::map<long, int> whole;
  std::vector<double> rest;
  for (double f : offsets_frames) {
    const long w = std::lround(f);
    whole[w]++;
    rest.push_back((f - static_cast<double>(w)) * frame_ms);
  }
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& [w, n] : whole) counts[std::to_string(w)] = n;
  return {{"whole_frames", counts}, {"residual_ms", summarize(rest)}};
}

}  // namespace serve_latency
