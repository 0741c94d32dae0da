// The geometry the lite family reads off dlib's 68 landmarks (iBUG order).
//
// Canonical frame: the similarity that puts the centre of the left eye's
// corners (points 36, 39) at (-0.5, 0) and the right eye's (42, 45) at
// (0.5, 0), x right and y down. Lengths there are in inter-ocular distances
// (IOD), whatever the image size. Eye corners do not move when the eyes
// blink or the jaw drops, so the frame follows the head, not the expression.
//
// Torch- and GStreamer-free.
#pragma once

#include <array>
#include <vector>

#include <opencv2/core.hpp>

namespace tavce::lite {

using Points = std::vector<cv::Point2d>;
inline constexpr int kLandmarks = 68;

// p' = [a -b; b a] p + t: rotation, uniform scale and translation.
struct Similarity {
  double a = 1, b = 0, tx = 0, ty = 0;

  cv::Point2d apply(const cv::Point2d& p) const { return {a * p.x - b * p.y + tx, b * p.x + a * p.y + ty}; }
  Similarity inverse() const;
  // The map "this, then next".
  Similarity then(const Similarity& next) const;
  double scale() const;
  double angle() const;  // radians
  // Rotation by `angle` and scaling by `scale` about `centre`, then a shift.
  static Similarity about(const cv::Point2d& centre, double angle, double scale, const cv::Point2d& shift);
};

// The similarity taking p0 -> q0 and p1 -> q1 exactly (p0 != p1).
Similarity similarity_from_pairs(const cv::Point2d& p0, const cv::Point2d& p1, const cv::Point2d& q0,
                                 const cv::Point2d& q1);
// Image -> canonical frame of a face's 68 points.
Similarity canonical_frame(const Points& image_points);
Points transform(const Points& points, const Similarity& s);

// The points the audio moves: jaw 3..13 and the lips 48..67 (31 points, so
// displacements have 62 values, x and y interleaved).
const std::vector<int>& mouth_jaw_indices();
inline constexpr int kMouthJawValues = 62;

// Mean vertical gap of the inner lips (61-67, 62-66, 63-65), in the units of
// `points` (IOD for canonical points).
double inner_lip_gap(const Points& points);
// Distance between the inner mouth corners 60 and 64.
double inner_mouth_width(const Points& points);
// Eye opening / eye width of the left (0) or right (1) eye: (|37-41| + |38-40|) / 2|36-39|.
double eye_opening(const Points& points, int eye);
// Mean y of the brows (17..26) minus mean y of the eye corners, in the units of `points`.
double brow_height(const Points& points);

// The 68 points are usable: finite, the face not collapsed (eye corners apart).
bool plausible_face(const Points& points);

}  // namespace tavce::lite
