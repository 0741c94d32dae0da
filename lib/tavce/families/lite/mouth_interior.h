// The inside of an opening mouth, painted where the warped mesh leaves the
// hole between the inner lips (face_mesh.h). Back to front: a dark cavity,
// the tongue, lower teeth that ride on the lower lip (so they move with the
// jaw), upper teeth hanging from the upper lip, each faded in with the
// opening (nothing shows below about 2 % of the mouth width; lower teeth and
// tongue only when the mouth opens wide). Colours come from the portrait: the
// cavity from its lips, the teeth from its skin brightness, so the interior
// does not look pasted on; the layer is softened to the portrait's sharpness.
// Torch- and GStreamer-free.
#pragma once

#include <opencv2/core.hpp>

#include "tavce/families/lite/face_shape.h"

namespace tavce::lite {

struct MouthStyle {
  cv::Vec3f lip;     // mean lip colour (RGB, 0..255)
  cv::Vec3f cavity;  // the darkest part of the mouth
  cv::Vec3f teeth;
  cv::Vec3f tongue;
  double blur_px = 0.7;  // Gaussian sigma that matches the portrait's softness at the mouth
};

// Colours and softness sampled from a portrait (RGB uint8) and its 68 points.
MouthStyle mouth_style(const cv::Mat& rgb, const Points& landmarks);

// How much of the painted interior shows for an inner-lip gap and mouth width
// (any unit): 0 below 2 % of the width, 1 above 8 %.
double interior_visibility(double gap, double width);

// Paints the interior into `frame` (RGB uint8) inside the inner-lip polygon of
// `points` (destination landmarks, frame pixels), at `strength` (0..1)
// times interior_visibility. iod_px: inter-ocular distance in frame pixels,
// the unit of the teeth sizes.
void paint_mouth_interior(cv::Mat& frame, const Points& points, const MouthStyle& style, double iod_px,
                          double strength = 1.0);

}  // namespace tavce::lite
