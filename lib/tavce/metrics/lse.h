// LSE-D / LSE-C: the arithmetic of syncnet_python's SyncNetInstance.evaluate
// (and Wav2Lip's SyncNetInstance_calc_scores.py) after feature extraction.
//
// For N frame-aligned embeddings im (video) and cc (audio), cc is zero-padded
// by vshift rows at both ends and frame i is compared with padded rows
// i .. i + 2 vshift:
//   dists[i][k] = || im[i] - ccpad[i + k] + 1e-6 ||_2   (torch pairwise_distance
//                 adds its eps to the difference, per element)
// Offsets past either end compare against zero vectors; those distances are
// part of the mean curve, as in the reference.
//   mdist[k] = mean_i dists[i][k];  LSE-D = min_k mdist (first minimum at minidx);
//   offset = vshift - minidx;       LSE-C = median(mdist) - min (lower median);
//   fdist[i] = dists[i][minidx];    fconf = median(mdist) - fdist;
//   fconfm = zero-padded running median of fconf over 9 frames (scipy medfilt).
// Computed in float64 from float32 embeddings (the reference works in float32).
#pragma once

#include <cstdint>
#include <vector>

namespace tavce::metrics {

struct LseResult {
  int64_t frames = 0;           // N
  int64_t vshift = 0;
  std::vector<double> dists;    // (N x (2 vshift + 1)), row-major
  std::vector<double> mdist;    // (2 vshift + 1)
  double min_dist = 0.0;        // LSE-D
  int64_t minidx = 0;
  int64_t offset = 0;           // vshift - minidx: > 0 when the audio leads the video
  double conf = 0.0;            // LSE-C
  std::vector<double> fdist;    // (N)
  std::vector<double> fconf;    // (N)
  std::vector<double> fconfm;   // (N)
};

// im_feat, cc_feat: (frames x dim) row-major. frames > 0, vshift >= 0.
LseResult evaluate_lse(const float* im_feat, const float* cc_feat, int64_t frames, int64_t dim, int64_t vshift = 15,
                       int64_t medfilt_kernel = 9);

// scipy.signal.medfilt for 1-D input: median of the odd-sized window centred on
// each element, with zeros outside the signal.
std::vector<double> median_filter(const std::vector<double>& x, int64_t kernel);

}  // namespace tavce::metrics
