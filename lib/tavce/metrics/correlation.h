// Pearson correlation of two per-frame series, at lag 0 and at the best lag
// within +-max_lag frames, for the render evaluation (mouth opening against
// the real video's mouth opening, and against audio energy). Frames where
// either series is NaN (no face found) are left out. Torch-free.
#pragma once

#include <cstddef>
#include <vector>

namespace tavce::metrics {

// Pearson r of the pairs (a[i], b[i]) where both are finite; NaN when fewer
// than 3 such pairs exist or either side is constant over them.
double pearson(const std::vector<double>& a, const std::vector<double>& b);

struct LaggedCorrelation {
  double at_zero = 0.0;  // r at lag 0
  double best = 0.0;     // the highest r over the lags tried
  int best_lag = 0;      // its lag: a[t] is compared with b[t - lag], so lag > 0 means a follows b
};

// Lags -max_lag .. max_lag, each over the frames both series cover at that lag
// (a lag is skipped when fewer than min_overlap frames remain). Throws
// tavce::Error when the series differ in length. NaN fields when no lag has a value.
LaggedCorrelation lagged_correlation(const std::vector<double>& a, const std::vector<double>& b, int max_lag = 15,
                                     size_t min_overlap = 10);

}  // namespace tavce::metrics
