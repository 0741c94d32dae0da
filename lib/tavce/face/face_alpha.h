// A soft face matte from 68 landmarks: an ellipse around the face, opaque
// inside, transparent outside, with a linear ramp of `feather` pixels just
// inside its edge. Used to lay a talking head over another video
// (tavcefacealpha, pipelines/inject.sh) so that only the face covers it.
//
// The ellipse: the landmarks' bounding box (jaw, brows, nose, eyes, mouth),
// raised by `forehead` of its height at the top (the 68 points stop at the
// brows), centred on that box and scaled by `scale` on both axes. torch-free.
#pragma once

#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

namespace tavce::face {

struct FaceAlphaParams {
  double scale = 1.15;     // ellipse half-axes = scale x half the (raised) landmark box
  double forehead = 0.3;   // the box's top moves up by this fraction of its height
  double feather = 12.0;   // pixels of linear ramp inside the ellipse's edge (0: hard edge)
};

struct FaceEllipse {
  cv::Point2d center;
  double half_width = 0, half_height = 0;  // semi-axes in pixels, > 0
};

// The ellipse for a set of points (at least 2, all finite, not all on one
// line); throws std::invalid_argument otherwise or on parameters out of range
// (scale <= 0, forehead < 0, feather < 0, non-finite values).
FaceEllipse face_ellipse(const std::vector<cv::Point2d>& points, const FaceAlphaParams& params);

// The alpha of one pixel centre (x + 0.5, y + 0.5) for that ellipse: 255 at
// least `feather` pixels inside the edge, 0 on and outside it, linear in
// between (the distance to the edge is approximated along the ray from the
// centre, exact on circles).
uint8_t face_alpha_at(const FaceEllipse& e, double feather, int x, int y);

// Writes the alpha of every pixel into the byte at `alpha_offset` of each
// `pixel_stride`-byte pixel of a width x height image with rows `row_stride`
// bytes apart (RGBA: offset 3, stride 4).
void write_face_alpha(const FaceEllipse& e, double feather, uint8_t* pixels, int width, int height,
                      int row_stride, int pixel_stride, int alpha_offset);

}  // namespace tavce::face
