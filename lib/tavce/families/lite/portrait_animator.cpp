#include "tavce/families/lite/portrait_animator.h"

#include <algorithm>
#include <cmath>

#include "tavce/error.h"

namespace tavce::lite {

namespace {

// Beyond this the inner lips count as apart in the portrait (IOD units).
constexpr double kOpenMouthGap = 0.07;

// The displacement that closes an open mouth: the lower lip and the chin
// move up by the gap (the jaw's sides less, the further from the chin).
std::vector<double> closing_displacement(const Points& c) {
  const double gap = inner_lip_gap(c);
  std::vector<double> d(kMouthJawValues, 0.0);
  const auto& idx = mouth_jaw_indices();
  for (size_t j = 0; j < idx.size(); ++j) {
    const int i = idx[j];
    double w = 0;
    if ((i >= 55 && i <= 59) || (i >= 65 && i <= 67)) w = 1.0;
    else if (i >= 3 && i <= 13) w = std::max(0.0, 1.0 - std::abs(i - 8) / 6.0);
    else if (i == 48 || i == 54 || i == 60 || i == 64) w = 0.5;
    d[2 * j + 1] = -w * gap;
  }
  return d;
}

// Profile faces: the nose tip far from the middle of the jaw line.
bool looks_profile(const Points& c) {
  const double left = cv::norm(c[30] - c[0]), right = cv::norm(c[30] - c[16]);
  return std::abs(left - right) / std::max(1e-9, left + right) > 0.3;
}

}  // namespace

LitePortrait prepare_portrait(const cv::Mat& canvas, const Points& landmarks, bool whole_canvas,
                              const std::string& label) {
  if (canvas.empty() || canvas.type() != CV_8UC3) throw Error(label + ": the portrait must be an RGB image");
  if (!plausible_face(landmarks)) throw Error(label + ": the face landmarks are not usable");
  LitePortrait p;
  p.label = label;
  p.canvas = canvas;
  p.landmarks = landmarks;
  p.to_canonical = canonical_frame(landmarks);
  p.canonical = transform(landmarks, p.to_canonical);
  p.iod_px = 1.0 / p.to_canonical.scale();
  p.mesh = build_face_mesh(landmarks, p.to_canonical, canvas.size(), whole_canvas);
  p.style = mouth_style(canvas, landmarks);
  p.open_mouth = inner_lip_gap(p.canonical) > kOpenMouthGap;
  p.own_interior = interior_visibility(inner_lip_gap(landmarks), inner_mouth_width(landmarks));
  if (p.open_mouth) p.closing = closing_displacement(p.canonical);
  if (looks_profile(p.canonical))
    p.warnings.push_back(label + ": the face is turned far to the side; the lite model animates frontal faces best");
  int outside = 0;
  for (const auto& q : landmarks)
    if (q.x < 0 || q.y < 0 || q.x >= canvas.cols || q.y >= canvas.rows) ++outside;
  if (outside > 0)
    p.warnings.push_back(label + ": " + std::to_string(outside) +
                         " face landmarks lie outside the picture (face at the edge); those parts cannot move");
  return p;
}

PortraitAnimator::PortraitAnimator(std::shared_ptr<const MotionSpace> space) : space_(std::move(space)) {
  if (!space_) throw Error("lite animator: no motion space");
}

Points PortraitAnimator::destination(const LitePortrait& p, const float* row, const AnimateOptions& o,
                                     bool guard) const {
  const MotionSpace& m = *space_;
  const RowLayout L = m.layout();
  // Mouth and jaw, inside the trained range.
  std::vector<double> c(static_cast<size_t>(m.components));
  for (int k = 0; k < m.components; ++k) c[k] = o.expression_scale * static_cast<double>(row[k]);
  m.clamp(c.data());
  // Tracking failures in the training clips widen the percentile range: no
  // component goes beyond 3 standard deviations either.
  for (int k = 0; k < m.components; ++k) c[k] = std::clamp(c[k], -3 * m.stddev[k], 3 * m.stddev[k]);
  std::vector<double> d = m.reconstruct(c.data());
  if (p.open_mouth)
    for (int j = 0; j < kMouthJawValues; ++j) d[j] += p.closing[j];

  Points face = p.canonical;
  add_mouth_jaw(face, d);
  // The lips may meet but never cross (more than the portrait's own landmarks do).
  for (auto [u, l] : {std::pair{61, 67}, std::pair{62, 66}, std::pair{63, 65}}) {
    const double allowed = std::min(0.0, p.canonical[l].y - p.canonical[u].y);
    if (face[l].y - face[u].y < allowed) {
      const double mid = 0.5 * (face[u].y + face[l].y);
      face[u].y = mid - 0.5 * allowed;
      face[l].y = mid + 0.5 * allowed;
    }
  }
  // Eyelids: the upper lid comes down to the lower one, which rises a little.
  for (int eye = 0; eye < 2; ++eye) {
    const double e = std::clamp(static_cast<double>(row[L.eye_closure(eye)]), 0.0, 0.95);
    if (e == 0) continue;
    const int o0 = eye == 0 ? 36 : 42;
    for (auto [u, l] : {std::pair{o0 + 1, o0 + 5}, std::pair{o0 + 2, o0 + 4}}) {
      const cv::Point2d up = face[u], lo = face[l];
      face[u] = up + (lo - up) * (0.85 * e);
      face[l] = lo + (up - lo) * (0.15 * e);
    }
  }
  const double brow = static_cast<double>(row[L.brow()]);
  if (brow != 0)
    for (int i = 17; i <= 26; ++i) face[i].y -= brow;

  // Head motion about a point between the eyes and the mouth.
  Similarity head;
  const bool moves = !o.still && (row[L.roll()] != 0 || row[L.log_scale()] != 0 || row[L.shift_x()] != 0 ||
                                  row[L.shift_y()] != 0);
  if (moves)
    head = Similarity::about({0.0, 0.5}, row[L.roll()], std::exp(static_cast<double>(row[L.log_scale()])),
                             {row[L.shift_x()], row[L.shift_y()]});

  // Back to canvas pixels as a change from the portrait, so that an unmoved
  // vertex keeps its exact position (a rest row renders the portrait itself).
  const Similarity back = p.to_canonical.inverse();
  auto moved = [&](const cv::Point2d& from_canvas, const cv::Point2d& from_can, const cv::Point2d& to_can) {
    const cv::Point2d delta = to_can - from_can;
    if (delta.x == 0 && delta.y == 0) return from_canvas;
    return from_canvas + cv::Point2d(back.a * delta.x - back.b * delta.y, back.b * delta.x + back.a * delta.y);
  };
  Points dst = p.mesh.vertices;
  for (int i = 0; i < kLandmarks; ++i)
    dst[i] = moved(p.landmarks[i], p.canonical[i], moves ? head.apply(face[i]) : face[i]);
  if (moves)
    for (int i = p.mesh.ring_begin; i < p.mesh.border_begin; ++i) {
      const cv::Point2d can = p.to_canonical.apply(p.mesh.vertices[i]);
      dst[i] = moved(p.mesh.vertices[i], can, head.apply(can));
    }
  // A guard, not the rule: rows inside the trained range never fold the mesh
  // (tested); anything that would is pulled back towards the portrait.
  for (int tries = 0; guard && tries < 6 && folded_triangles(p.mesh, dst) > 0; ++tries)
    for (size_t i = 0; i < dst.size(); ++i) dst[i] = p.mesh.vertices[i] + (dst[i] - p.mesh.vertices[i]) * 0.6;
  return dst;
}

void PortraitAnimator::render(const LitePortrait& p, const float* row, const AnimateOptions& o, cv::Mat& out) {
  const Points dst = destination(p, row, o);
  warp(p.canvas, p.mesh, dst, out, buffers_);
  if (!p.open_mouth) {
    const Points face(dst.begin(), dst.begin() + kLandmarks);
    const double own = p.own_interior;
    const double now = interior_visibility(inner_lip_gap(face), inner_mouth_width(face));
    if (now > own) paint_mouth_interior(out, face, p.style, p.iod_px, (now - own) / ((1 - own) * now));
  }
}

}  // namespace tavce::lite
