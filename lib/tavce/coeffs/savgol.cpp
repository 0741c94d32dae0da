#include "tavce/coeffs/savgol.h"

#include <cmath>
#include <string>

#include "tavce/error.h"

namespace tavce::coeffs {

int savgol_window_for(int64_t frames) {
  if (frames >= kSavgolMaxWindow) return kSavgolMaxWindow;
  // Python: int((T-1)/2)*2+1, with int() truncating towards zero.
  const double half = double(frames - 1) / 2.0;
  return int(std::trunc(half)) * 2 + 1;
}

std::vector<double> savgol_fit_weights(int window, int polyorder, double pos) {
  if (polyorder < 0 || window <= polyorder)
    throw Error("savgol: need 0 <= polyorder < window, got window " + std::to_string(window) +
                ", polyorder " + std::to_string(polyorder));
  // Least squares with the basis u^k, u = j - c centred on the window for
  // conditioning: coefficients a = G^{-1} V^T x, G = V^T V, and the fitted
  // value at pos is b(pos)^T a = sum_j [b(pos)^T G^{-1} b(j)] x_j.
  const int n = polyorder + 1;
  const double c = 0.5 * (window - 1);
  std::vector<double> g(n * n, 0.0);
  for (int j = 0; j < window; ++j) {
    const double u = j - c;
    for (int r = 0; r < n; ++r)
      for (int s = 0; s < n; ++s) g[r * n + s] += std::pow(u, r + s);
  }
  // Solve G y = b(pos) (G is symmetric positive definite): Gauss-Jordan with
  // partial pivoting on a copy.
  std::vector<double> y(n);
  for (int r = 0; r < n; ++r) y[r] = std::pow(pos - c, r);
  for (int col = 0; col < n; ++col) {
    int piv = col;
    for (int r = col + 1; r < n; ++r)
      if (std::fabs(g[r * n + col]) > std::fabs(g[piv * n + col])) piv = r;
    if (piv != col) {
      for (int s = 0; s < n; ++s) std::swap(g[col * n + s], g[piv * n + s]);
      std::swap(y[col], y[piv]);
    }
    const double d = g[col * n + col];
    for (int r = 0; r < n; ++r) {
      if (r == col) continue;
      const double f = g[r * n + col] / d;
      for (int s = col; s < n; ++s) g[r * n + s] -= f * g[col * n + s];
      y[r] -= f * y[col];
    }
  }
  for (int r = 0; r < n; ++r) y[r] /= g[r * n + r];
  // w_j = b(j)^T y.
  std::vector<double> w(window);
  for (int j = 0; j < window; ++j) {
    double acc = 0.0, p = 1.0;
    for (int r = 0; r < n; ++r, p *= (j - c)) acc += p * y[r];
    w[j] = acc;
  }
  return w;
}

namespace {

void apply(const float* rows, int64_t channels, const std::vector<double>& w, float* out) {
  for (int64_t ch = 0; ch < channels; ++ch) {
    double acc = 0.0;
    for (size_t j = 0; j < w.size(); ++j) acc += w[j] * double(rows[int64_t(j) * channels + ch]);
    out[ch] = float(acc);
  }
}

}  // namespace

void savgol_row(const float* x, int64_t frames, int64_t channels, int window, int64_t t, float* out,
                int polyorder) {
  if (t < 0 || t >= frames) throw Error("savgol: row " + std::to_string(t) + " outside 0.." + std::to_string(frames));
  if (window <= polyorder) {
    for (int64_t ch = 0; ch < channels; ++ch) out[ch] = x[t * channels + ch];
    return;
  }
  if (window % 2 == 0 || window > frames)
    throw Error("savgol: window " + std::to_string(window) + " must be odd and <= " + std::to_string(frames));
  const int h = window / 2;
  if (t < h) {
    apply(x, channels, savgol_fit_weights(window, polyorder, double(t)), out);
  } else if (t > frames - 1 - h) {
    const int64_t first = frames - window;
    apply(x + first * channels, channels, savgol_fit_weights(window, polyorder, double(t - first)), out);
  } else {
    apply(x + (t - h) * channels, channels, savgol_fit_weights(window, polyorder, double(h)), out);
  }
}

void savgol_filter(const float* x, int64_t frames, int64_t channels, int window, float* out, int polyorder) {
  if (window <= polyorder) {
    for (int64_t i = 0; i < frames * channels; ++i) out[i] = x[i];
    return;
  }
  if (window % 2 == 0 || window > frames)
    throw Error("savgol: window " + std::to_string(window) + " must be odd and <= " + std::to_string(frames));
  const int h = window / 2;
  // Precompute the 2h+1 distinct weight vectors once.
  std::vector<std::vector<double>> edge(window);
  for (int p = 0; p < window; ++p) edge[p] = savgol_fit_weights(window, polyorder, double(p));
  for (int64_t t = 0; t < frames; ++t) {
    float* o = out + t * channels;
    if (t < h) {
      apply(x, channels, edge[t], o);
    } else if (t > frames - 1 - h) {
      const int64_t first = frames - window;
      apply(x + first * channels, channels, edge[t - first], o);
    } else {
      apply(x + (t - h) * channels, channels, edge[h], o);
    }
  }
}

}  // namespace tavce::coeffs
