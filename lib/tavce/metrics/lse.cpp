#include "tavce/metrics/lse.h"

#include <algorithm>
#include <cmath>

#include "tavce/error.h"

namespace tavce::metrics {
namespace {

constexpr double kPairwiseEps = 1e-6;  // torch.nn.functional.pairwise_distance default eps

// torch.median: the lower of the two middle values for an even count.
double lower_median(std::vector<double> v) {
  const size_t mid = (v.size() - 1) / 2;
  std::nth_element(v.begin(), v.begin() + mid, v.end());
  return v[mid];
}

}  // namespace

std::vector<double> median_filter(const std::vector<double>& x, int64_t kernel) {
  if (kernel <= 0 || kernel % 2 == 0) throw Error("median filter: the kernel size must be odd and positive");
  const int64_t n = int64_t(x.size()), half = kernel / 2;
  std::vector<double> out(x.size()), win(kernel);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < kernel; ++k) {
      const int64_t j = i - half + k;
      win[k] = (j >= 0 && j < n) ? x[j] : 0.0;
    }
    std::nth_element(win.begin(), win.begin() + half, win.end());
    out[i] = win[half];
  }
  return out;
}

LseResult evaluate_lse(const float* im_feat, const float* cc_feat, int64_t frames, int64_t dim, int64_t vshift,
                       int64_t medfilt_kernel) {
  if (frames <= 0 || dim <= 0) throw Error("LSE: need at least one frame of non-empty embeddings");
  if (vshift < 0) throw Error("LSE: vshift must be >= 0");
  const int64_t win = 2 * vshift + 1;
  LseResult r;
  r.frames = frames;
  r.vshift = vshift;
  r.dists.assign(size_t(frames) * win, 0.0);
  for (int64_t i = 0; i < frames; ++i) {
    const float* a = im_feat + i * dim;
    for (int64_t k = 0; k < win; ++k) {
      const int64_t j = i + k - vshift;  // row of the unpadded cc_feat, zeros outside
      const float* b = (j >= 0 && j < frames) ? cc_feat + j * dim : nullptr;
      double s = 0.0;
      for (int64_t c = 0; c < dim; ++c) {
        const double d = double(a[c]) - (b ? double(b[c]) : 0.0) + kPairwiseEps;
        s += d * d;
      }
      r.dists[size_t(i) * win + k] = std::sqrt(s);
    }
  }
  r.mdist.assign(win, 0.0);
  for (int64_t k = 0; k < win; ++k) {
    double s = 0.0;
    for (int64_t i = 0; i < frames; ++i) s += r.dists[size_t(i) * win + k];
    r.mdist[k] = s / double(frames);
  }
  r.minidx = int64_t(std::min_element(r.mdist.begin(), r.mdist.end()) - r.mdist.begin());  // first minimum
  r.min_dist = r.mdist[r.minidx];
  r.offset = vshift - r.minidx;
  const double median = lower_median(r.mdist);
  r.conf = median - r.min_dist;
  r.fdist.resize(frames);
  r.fconf.resize(frames);
  for (int64_t i = 0; i < frames; ++i) {
    r.fdist[i] = r.dists[size_t(i) * win + r.minidx];
    r.fconf[i] = median - r.fdist[i];
  }
  r.fconfm = median_filter(r.fconf, medfilt_kernel);
  return r;
}

}  // namespace tavce::metrics
