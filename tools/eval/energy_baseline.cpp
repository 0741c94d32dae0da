#include "energy_baseline.h"

#include <algorithm>
#include <cmath>

#include "tavce/error.h"
#include "tavce/metrics/mouth_landmarks.h"

namespace tavce::tools {

namespace {

double opening_of(const lite::MotionSpace& space, const std::vector<double>& coefficients) {
  lite::Points p = space.rest_template;
  lite::add_mouth_jaw(p, space.reconstruct(coefficients.data()));
  return metrics::mouth_opening(p);
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(std::lround(q * static_cast<double>(v.size() - 1)))];
}

}  // namespace

EnergyBaseline energy_baseline(const lite::MotionSpace& space) {
  const int k = space.components;
  EnergyBaseline b;
  b.direction.assign(k, 0.0);
  const double h = 1e-3;
  double norm2 = 0.0;
  for (int i = 0; i < k; ++i) {
    std::vector<double> plus(k, 0.0), minus(k, 0.0);
    plus[i] = h, minus[i] = -h;
    b.direction[i] = (opening_of(space, plus) - opening_of(space, minus)) / (2 * h);
    norm2 += b.direction[i] * b.direction[i];
  }
  if (!(norm2 > 1e-12)) throw Error("energy baseline: no mouth component of the model's motion space opens the lips");
  double rms2 = 0.0;
  for (int i = 0; i < k; ++i) {
    b.direction[i] /= std::sqrt(norm2);
    rms2 += b.direction[i] * b.direction[i] * space.stddev[i] * space.stddev[i];
  }
  b.gain = 2.0 * std::sqrt(rms2);
  return b;
}

std::vector<double> normalised_loudness(const std::vector<double>& level_db) {
  std::vector<double> out(level_db.size(), 0.0);
  if (level_db.empty()) return out;
  const double lo = percentile(level_db, 0.1), hi = percentile(level_db, 0.9);
  if (hi - lo < 1.0) return out;  // no level changes to speak of: keep the mouth closed
  for (size_t t = 0; t < level_db.size(); ++t) out[t] = std::clamp((level_db[t] - lo) / (hi - lo), 0.0, 1.0);
  return out;
}

std::vector<std::vector<float>> energy_rows(const EnergyBaseline& baseline, const lite::MotionSpace& space,
                                            const std::vector<double>& level_db) {
  const lite::RowLayout layout = space.layout();
  const std::vector<double> loud = normalised_loudness(level_db);
  std::vector<std::vector<float>> rows(loud.size(), std::vector<float>(layout.dims(), 0.0f));
  for (size_t t = 0; t < loud.size(); ++t)
    for (int i = 0; i < layout.mouth; ++i)
      rows[t][i] = static_cast<float>(loud[t] * baseline.gain * baseline.direction[i]);
  return rows;
}

}  // namespace tavce::tools
