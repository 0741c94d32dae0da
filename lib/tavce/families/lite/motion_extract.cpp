#include "tavce/families/lite/motion_extract.h"

#include "tavce/error.h"

namespace tavce::lite {

std::vector<Points> smooth_landmarks(const ClipData& clip) {
  const int64_t n = clip.frames();
  std::vector<Points> raw(static_cast<size_t>(n)), out(static_cast<size_t>(n));
  std::vector<uint8_t> ok(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t)
    if ((ok[t] = clip.has_face(t))) raw[t] = clip.points(t);
  constexpr double kWeights[5] = {1, 4, 6, 4, 1};
  for (int64_t t = 0; t < n; ++t) {
    if (!ok[t]) continue;
    Points acc(kLandmarks, cv::Point2d(0, 0));
    double wsum = 0;
    for (int k = -2; k <= 2; ++k) {
      const int64_t u = t + k;
      if (u < 0 || u >= n || !ok[u]) continue;
      for (int i = 0; i < kLandmarks; ++i) acc[i] += raw[u][i] * kWeights[k + 2];
      wsum += kWeights[k + 2];
    }
    for (auto& p : acc) p *= 1.0 / wsum;
    out[t] = std::move(acc);
  }
  return out;
}

ClipMotion extract_motion(const ClipData& clip) {
  ClipMotion m;
  const std::vector<Points> smooth = smooth_landmarks(clip);
  const size_t n = smooth.size();
  m.valid.assign(n, 0);
  m.canonical.resize(n);
  m.to_canonical.resize(n);
  m.displacement.resize(n);
  std::vector<Points> good;
  for (size_t t = 0; t < n; ++t) {
    if (smooth[t].empty() || !plausible_face(smooth[t])) continue;
    m.valid[t] = 1;
    m.to_canonical[t] = canonical_frame(smooth[t]);
    m.canonical[t] = transform(smooth[t], m.to_canonical[t]);
    good.push_back(m.canonical[t]);
  }
  if (good.size() < 5) throw Error("clip '" + clip.name + "': fewer than 5 frames with a face");
  m.rest = rest_shape(good);
  for (size_t t = 0; t < n; ++t)
    if (m.valid[t]) m.displacement[t] = mouth_jaw_displacement(m.canonical[t], m.rest);
  return m;
}

}  // namespace tavce::lite
