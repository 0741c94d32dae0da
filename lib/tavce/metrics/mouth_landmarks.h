// Mouth measures on dlib's 68 landmarks (iBUG order) for the render
// evaluation (tavce-eval render, docs/evaluation.md). Every length is in
// inter-ocular distances (IOD: between the centres of the two eyes' corner
// pairs, 36-39 and 42-45), so faces of any size and any head pose compare.
// Defined here, apart from the lite family's own geometry, so the measure
// stays independent of the model it scores. Torch- and GStreamer-free.
#pragma once

#include <vector>

#include <opencv2/core.hpp>

namespace tavce::metrics {

using FacePoints = std::vector<cv::Point2d>;  // 68 points

// The 68 points in the face's eye frame: the left eye centre at (-0.5, 0),
// the right at (0.5, 0) (rotation, uniform scale, shift). Throws tavce::Error
// when there are not 68 points or the eyes coincide.
FacePoints eye_frame(const FacePoints& points);

// LMD: mean Euclidean distance of the 20 mouth points (48..67) of two faces,
// each taken in its own eye frame (so head pose and size do not count), in IOD.
double mouth_landmark_distance(const FacePoints& real, const FacePoints& generated);

// Mouth opening: mean vertical gap of the inner lips (61-67, 62-66, 63-65),
// measured along the eye frame's vertical, in IOD. Negative when the lips overlap.
double mouth_opening(const FacePoints& points);

}  // namespace tavce::metrics
