// The triangle mesh the lite renderer warps a portrait with: the 68
// landmarks, a ring of points around the face that moves with the head, and
// anchors on the border of the region being warped, which never move (so the
// picture outside it stays exactly as it was).
//
// The topology: the lips have fixed triangles (upper lip band, lower lip
// band, mouth interior between the inner lip points 60..67), so no triangle
// joins the upper lip to the lower one: the mesh is cut along the inner lip
// line. The rest is a Delaunay triangulation of the other points, without the
// triangles that overlap the outer lip contour. When the mouth opens the
// interior triangles grow and the renderer paints the inside of the mouth
// there, instead of stretching lip pixels over the hole.
//
// Warping is backward: each destination pixel of a triangle reads the source
// through the triangle's affine map (cv::remap, bilinear). With destination
// vertices equal to the source ones every pixel reads itself: the portrait
// comes out unchanged. Torch- and GStreamer-free.
#pragma once

#include <array>
#include <vector>

#include <opencv2/core.hpp>

#include "tavce/families/lite/face_shape.h"

namespace tavce::lite {

struct FaceMesh {
  Points vertices;                            // source positions (canvas pixels)
  std::vector<std::array<int, 3>> triangles;  // counter-clockwise in the source
  std::vector<uint8_t> interior;              // per triangle: 1 inside the inner lips
  int ring_begin = kLandmarks;                // vertices [ring_begin, border_begin) ride with the head
  int border_begin = kLandmarks;              // vertices [border_begin, end) are fixed
  cv::Rect region;                            // the warped part of the canvas; outside it nothing moves
};

// The ring around the face in canonical coordinates (face_shape.h).
Points canonical_ring();

// whole_canvas: warp the whole canvas (a face crop) or only a region around
// the face (a large picture with the face somewhere in it).
FaceMesh build_face_mesh(const Points& landmarks, const Similarity& to_canonical, cv::Size canvas,
                         bool whole_canvas);

// Twice the signed area of triangle t with the given vertex positions (> 0:
// same orientation as the source mesh's triangles).
double signed_area2(const FaceMesh& mesh, const Points& vertices, size_t t);
// Triangles (non-interior) whose orientation in `vertices` differs from the
// portrait's, or that collapse.
int folded_triangles(const FaceMesh& mesh, const Points& vertices);

// Reusable per-frame buffers of warp(): sized once per canvas.
struct WarpBuffers {
  cv::Mat map_x, map_y;   // CV_32F, region-sized
  cv::Mat interior;       // CV_8U, region-sized: 255 where an interior triangle was drawn
};

// Warps `source` (CV_8UC3) into `out` (same size; outside mesh.region it is a
// copy of source) with the mesh's vertices moved to `vertices`.
void warp(const cv::Mat& source, const FaceMesh& mesh, const Points& vertices, cv::Mat& out, WarpBuffers& buffers);

}  // namespace tavce::lite
