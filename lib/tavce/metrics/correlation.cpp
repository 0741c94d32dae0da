#include "tavce/metrics/correlation.h"

#include <cmath>
#include <limits>
#include <string>

#include "tavce/error.h"

namespace tavce::metrics {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// r over pairs (a[i + a0], b[i + b0]), i < n.
double pearson_span(const std::vector<double>& a, size_t a0, const std::vector<double>& b, size_t b0, size_t n) {
  double sa = 0, sb = 0;
  size_t count = 0;
  for (size_t i = 0; i < n; ++i)
    if (std::isfinite(a[a0 + i]) && std::isfinite(b[b0 + i])) sa += a[a0 + i], sb += b[b0 + i], ++count;
  if (count < 3) return kNaN;
  const double ma = sa / count, mb = sb / count;
  double cab = 0, caa = 0, cbb = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(a[a0 + i]) || !std::isfinite(b[b0 + i])) continue;
    const double da = a[a0 + i] - ma, db = b[b0 + i] - mb;
    cab += da * db, caa += da * da, cbb += db * db;
  }
  // A constant side has no correlation to speak of (a static face, silence).
  if (caa <= 1e-18 * count || cbb <= 1e-18 * count) return kNaN;
  return cab / std::sqrt(caa * cbb);
}
}  // namespace

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size())
    throw Error("pearson: series of " + std::to_string(a.size()) + " and " + std::to_string(b.size()) + " frames");
  return pearson_span(a, 0, b, 0, a.size());
}

LaggedCorrelation lagged_correlation(const std::vector<double>& a, const std::vector<double>& b, int max_lag,
                                     size_t min_overlap) {
  if (a.size() != b.size())
    throw Error("lagged_correlation: series of " + std::to_string(a.size()) + " and " + std::to_string(b.size()) +
                " frames");
  LaggedCorrelation out{pearson(a, b), kNaN, 0};
  const long n = static_cast<long>(a.size());
  for (int lag = -max_lag; lag <= max_lag; ++lag) {
    const long overlap = n - std::abs(lag);
    if (overlap < static_cast<long>(min_overlap)) continue;
    // a[t] with b[t - lag]: for lag > 0, a starts at lag and b at 0.
    const double r = lag >= 0 ? pearson_span(a, lag, b, 0, overlap) : pearson_span(a, 0, b, -lag, overlap);
    if (std::isfinite(r) && (!std::isfinite(out.best) || r > out.best)) out.best = r, out.best_lag = lag;
  }
  return out;
}

}  // namespace tavce::metrics
