#include "tavce/families/lite/face_mesh.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <opencv2/imgproc.hpp>

#include "tavce/error.h"

namespace tavce::lite {

namespace {

constexpr int kRingPoints = 20;

bool is_inner_lip(int v) { return v >= 60 && v <= 67; }

// The lips' own triangles, the same for every face: the upper lip band
// between the outer (48..54) and inner (60..64) upper contours, the lower lip
// band (54..59, 48 and 64..67, 60), and the mouth interior inside the inner
// contour. Fixed rather than Delaunay: no triangle ever joins the upper lip to
// the lower one, however the landmarks of a closed mouth lie.
constexpr std::array<std::array<int, 3>, 26> kLipTriangles = {{
    {48, 49, 60}, {49, 61, 60}, {49, 50, 61}, {50, 62, 61}, {50, 51, 62}, {51, 52, 62}, {52, 63, 62},
    {52, 53, 63}, {53, 64, 63}, {53, 54, 64},  // upper lip
    {54, 55, 64}, {55, 65, 64}, {55, 56, 65}, {56, 66, 65}, {56, 57, 66}, {57, 58, 66}, {58, 67, 66},
    {58, 59, 67}, {59, 60, 67}, {59, 48, 60},  // lower lip
    {60, 61, 67}, {61, 66, 67}, {61, 62, 66}, {62, 63, 66}, {63, 65, 66}, {63, 64, 65},  // interior
}};

double cross(const cv::Point2d& o, const cv::Point2d& a, const cv::Point2d& b) {
  return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

// Whether segments pq and rs cross at a point inside both (touching ends do not count).
bool segments_cross(const cv::Point2d& p, const cv::Point2d& q, const cv::Point2d& r, const cv::Point2d& s) {
  const double d1 = cross(p, q, r), d2 = cross(p, q, s), d3 = cross(r, s, p), d4 = cross(r, s, q);
  return ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0));
}

// Whether a triangle of the rest of the face overlaps the lips: its centre
// inside the outer lip contour, or one of its edges crossing the contour.
bool overlaps_lips(const Points& p, const std::array<int, 3>& v, const std::vector<cv::Point2f>& contour) {
  const cv::Point2d c = (p[v[0]] + p[v[1]] + p[v[2]]) / 3.0;
  if (cv::pointPolygonTest(contour, cv::Point2f(static_cast<float>(c.x), static_cast<float>(c.y)), false) > 0)
    return true;
  for (int e = 0; e < 3; ++e)
    for (size_t k = 0; k < contour.size(); ++k) {
      const cv::Point2d r = contour[k], s2 = contour[(k + 1) % contour.size()];
      if (segments_cross(p[v[e]], p[v[(e + 1) % 3]], r, s2)) return true;
    }
  return false;
}

}  // namespace

Points canonical_ring() {
  Points ring;
  // An ellipse around forehead, cheeks and chin: centre below the eyes, wide
  // enough to hold the jaw line, reaching down to the neck.
  const cv::Point2d centre(0.0, 0.7);
  const double rx = 1.4, ry = 1.85;
  for (int k = 0; k < kRingPoints; ++k) {
    const double a = 2 * M_PI * k / kRingPoints;
    ring.emplace_back(centre.x + rx * std::sin(a), centre.y - ry * std::cos(a));
  }
  return ring;
}

FaceMesh build_face_mesh(const Points& landmarks, const Similarity& to_canonical, cv::Size canvas, bool whole_canvas) {
  if (!plausible_face(landmarks)) throw Error("face mesh: the landmarks are not a usable face");
  FaceMesh mesh;
  const Similarity to_canvas = to_canonical.inverse();
  const Points ring = transform(canonical_ring(), to_canvas);

  cv::Rect region(0, 0, canvas.width, canvas.height);
  if (!whole_canvas) {
    double x0 = 1e18, y0 = 1e18, x1 = -1e18, y1 = -1e18;
    for (const auto* set : {&ring, &landmarks})
      for (const auto& p : *set) {
        x0 = std::min(x0, p.x), y0 = std::min(y0, p.y);
        x1 = std::max(x1, p.x), y1 = std::max(y1, p.y);
      }
    const double mx = 0.15 * (x1 - x0), my = 0.15 * (y1 - y0);
    const cv::Rect box(cv::Point(static_cast<int>(std::floor(x0 - mx)), static_cast<int>(std::floor(y0 - my))),
                       cv::Point(static_cast<int>(std::ceil(x1 + mx)), static_cast<int>(std::ceil(y1 + my))));
    region = box & region;
  }
  if (region.width < 8 || region.height < 8) throw Error("face mesh: the face lies outside the picture");
  mesh.region = region;

  mesh.vertices = landmarks;
  Points& topo = mesh.vertices;
  auto too_close = [&](const cv::Point2d& p) {
    for (const auto& q : topo)
      if (cv::norm(p - q) < 2.0) return true;
    return false;
  };
  const double rx0 = region.x, ry0 = region.y, rx1 = region.x + region.width - 1, ry1 = region.y + region.height - 1;
  auto inside = [&](const cv::Point2d& p, double margin) {
    return p.x > rx0 + margin && p.x < rx1 - margin && p.y > ry0 + margin && p.y < ry1 - margin;
  };
  mesh.ring_begin = static_cast<int>(mesh.vertices.size());
  for (const auto& p : ring) {
    if (!inside(p, 3.0) || too_close(p)) continue;
    mesh.vertices.push_back(p);
  }
  mesh.border_begin = static_cast<int>(mesh.vertices.size());
  for (int k = 0; k < 4; ++k) {  // 4 points per side, corners included once
    const double f = k / 4.0;
    for (const cv::Point2d& p : {cv::Point2d(rx0 + f * (rx1 - rx0), ry0), cv::Point2d(rx1, ry0 + f * (ry1 - ry0)),
                                 cv::Point2d(rx1 - f * (rx1 - rx0), ry1), cv::Point2d(rx0, ry1 - f * (ry1 - ry0))}) {
      if (too_close(p)) continue;
      mesh.vertices.push_back(p);
    }
  }

  // Delaunay over everything but the inner lips (landmarks may lie outside
  // the region when the face touches the picture's edge: the subdivision's
  // box holds them all); the lips get their fixed triangles afterwards.
  double bx0 = 1e18, by0 = 1e18, bx1 = -1e18, by1 = -1e18;
  for (const auto& p : topo) {
    bx0 = std::min(bx0, p.x), by0 = std::min(by0, p.y);
    bx1 = std::max(bx1, p.x), by1 = std::max(by1, p.y);
  }
  const cv::Rect bounds(static_cast<int>(std::floor(bx0)) - 2, static_cast<int>(std::floor(by0)) - 2,
                        static_cast<int>(std::ceil(bx1 - bx0)) + 5, static_cast<int>(std::ceil(by1 - by0)) + 5);
  cv::Subdiv2D subdiv(bounds);
  std::map<std::pair<float, float>, int> index;
  for (size_t i = 0; i < topo.size(); ++i) {
    if (is_inner_lip(static_cast<int>(i))) continue;
    const cv::Point2f p(static_cast<float>(topo[i].x), static_cast<float>(topo[i].y));
    if (index.count({p.x, p.y})) continue;  // a duplicate landmark: the first one is meshed
    index[{p.x, p.y}] = static_cast<int>(i);
    subdiv.insert(p);
  }
  std::vector<cv::Vec6f> tris;
  subdiv.getTriangleList(tris);
  std::vector<cv::Point2f> contour;  // the outer lip contour, 48..59
  for (int i = 48; i < 60; ++i) contour.emplace_back(static_cast<float>(topo[i].x), static_cast<float>(topo[i].y));
  // Counter-clockwise in the portrait, so orientation tests compare like with
  // like; a lip triangle that is flat in the portrait (closed lips) keeps
  // the fixed order.
  auto add = [&](std::array<int, 3> v, bool interior) {
    const double area2 = cross(topo[v[0]], topo[v[1]], topo[v[2]]);
    if (area2 < 0) std::swap(v[1], v[2]);
    mesh.triangles.push_back(v);
    mesh.interior.push_back(interior ? 1 : 0);
  };
  for (const auto& t : tris) {
    std::array<int, 3> v{};
    bool ok = true;
    for (int k = 0; k < 3; ++k) {
      const auto it = index.find({t[2 * k], t[2 * k + 1]});
      if (it == index.end()) {
        ok = false;
        break;
      }
      v[k] = it->second;
    }
    if (!ok || overlaps_lips(topo, v, contour)) continue;
    add(v, false);
  }
  for (const auto& v : kLipTriangles) add(v, is_inner_lip(v[0]) && is_inner_lip(v[1]) && is_inner_lip(v[2]));
  if (mesh.triangles.empty()) throw Error("face mesh: triangulation produced no triangles");
  return mesh;
}

double signed_area2(const FaceMesh& mesh, const Points& p, size_t t) {
  const auto& v = mesh.triangles[t];
  const cv::Point2d a = p[v[0]], b = p[v[1]], c = p[v[2]];
  return (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
}

int folded_triangles(const FaceMesh& mesh, const Points& vertices) {
  // A triangle folds when it turns over (or collapses) relative to the
  // portrait. Triangles already degenerate in the portrait (the seam of
  // closed lips) cover no pixels there and cannot fold.
  int n = 0;
  for (size_t t = 0; t < mesh.triangles.size(); ++t) {
    if (mesh.interior[t]) continue;
    const double before = signed_area2(mesh, mesh.vertices, t);
    if (std::abs(before) < 1e-6) continue;
    if (before * signed_area2(mesh, vertices, t) <= 0) ++n;
  }
  return n;
}

void warp(const cv::Mat& source, const FaceMesh& mesh, const Points& dst, cv::Mat& out, WarpBuffers& buf) {
  const cv::Rect r = mesh.region;
  if (buf.map_x.size() != r.size()) {
    buf.map_x.create(r.size(), CV_32F);
    buf.map_y.create(r.size(), CV_32F);
    buf.interior.create(r.size(), CV_8U);
  }
  // Pixels no triangle claims (none, in a well-formed mesh) read themselves.
  for (int y = 0; y < r.height; ++y) {
    float* mx = buf.map_x.ptr<float>(y);
    float* my = buf.map_y.ptr<float>(y);
    for (int x = 0; x < r.width; ++x) {
      mx[x] = static_cast<float>(x + r.x);
      my[x] = static_cast<float>(y + r.y);
    }
  }
  buf.interior.setTo(0);
  const Points& src = mesh.vertices;
  for (size_t t = 0; t < mesh.triangles.size(); ++t) {
    const auto& v = mesh.triangles[t];
    const cv::Point2d d0 = dst[v[0]], d1 = dst[v[1]], d2 = dst[v[2]];
    const double det = (d1.x - d0.x) * (d2.y - d0.y) - (d1.y - d0.y) * (d2.x - d0.x);
    if (std::abs(det) < 1e-12) continue;
    const bool identity = src[v[0]] == d0 && src[v[1]] == d1 && src[v[2]] == d2;
    if (identity && !mesh.interior[t]) continue;  // already reads itself
    // Destination -> barycentric -> source, as one affine map.
    const cv::Point2d s0 = src[v[0]], s1 = src[v[1]], s2 = src[v[2]];
    const int ymin = std::max(r.y, static_cast<int>(std::ceil(std::min({d0.y, d1.y, d2.y}) - 1e-9)));
    const int ymax = std::min(r.y + r.height - 1, static_cast<int>(std::floor(std::max({d0.y, d1.y, d2.y}) + 1e-9)));
    const int xmin = std::max(r.x, static_cast<int>(std::ceil(std::min({d0.x, d1.x, d2.x}) - 1e-9)));
    const int xmax = std::min(r.x + r.width - 1, static_cast<int>(std::floor(std::max({d0.x, d1.x, d2.x}) + 1e-9)));
    const double eps = -1e-9 * std::abs(det);
    const uint8_t mark = mesh.interior[t] ? 255 : 0;
    for (int y = ymin; y <= ymax; ++y) {
      float* mx = buf.map_x.ptr<float>(y - r.y);
      float* my = buf.map_y.ptr<float>(y - r.y);
      uint8_t* in = buf.interior.ptr<uint8_t>(y - r.y);
      for (int x = xmin; x <= xmax; ++x) {
        // Barycentric weights times det.
        const double w1 = (x - d0.x) * (d2.y - d0.y) - (y - d0.y) * (d2.x - d0.x);
        const double w2 = (d1.x - d0.x) * (y - d0.y) - (d1.y - d0.y) * (x - d0.x);
        const double w0 = det - w1 - w2;
        if (det > 0 ? (w0 < eps || w1 < eps || w2 < eps) : (w0 > -eps || w1 > -eps || w2 > -eps)) continue;
        const double l1 = w1 / det, l2 = w2 / det, l0 = 1.0 - l1 - l2;
        mx[x - r.x] = static_cast<float>(l0 * s0.x + l1 * s1.x + l2 * s2.x);
        my[x - r.x] = static_cast<float>(l0 * s0.y + l1 * s1.y + l2 * s2.y);
        in[x - r.x] = mark;
      }
    }
  }
  if (out.size() != source.size() || out.type() != source.type() || out.data == source.data) out = source.clone();
  else source.copyTo(out);  // outside the region the picture stays as it is
  cv::Mat roi = out(r);
  cv::remap(source, roi, buf.map_x, buf.map_y, cv::INTER_LINEAR, cv::BORDER_REPLICATE);
}

}  // namespace tavce::lite
