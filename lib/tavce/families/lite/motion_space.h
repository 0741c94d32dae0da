// The lite motion space (`lite-v1`): what one coefficient row of a lite
// stream means, and the learned mouth/jaw basis behind it.
//
// Row layout (dims = K + 7, K = mouth components, 8 in the shipped bundle):
//   [0, K)       mouth/jaw coefficients: the displacement of the jaw and lip
//                points (face_shape.h mouth_jaw_indices) in the canonical
//                frame, from the face's closed-mouth rest shape, on an
//                orthonormal basis (uncentred PCA, so all zeros = at rest)
//   K + 0        head roll, radians, relative to the portrait
//   K + 1        head scale, natural log, relative to the portrait
//   K + 2, K + 3 head shift x, y, in inter-ocular distances
//   K + 4, K + 5 eyelid closure of the left / right eye: 0 = as the portrait, 1 = shut
//   K + 6        brow raise, inter-ocular distances (up is positive)
//
// The basis is fitted (PCA) on displacements measured from training videos
// with the project's own landmark tracking; it is stored in the bundle, so
// anyone can extract the same space from their own footage (motion_extract.h).
// Torch- and GStreamer-free.
#pragma once

#include <string>
#include <vector>

#include "tavce/families/lite/face_shape.h"

namespace tavce::lite {

inline constexpr const char* kLiteSpace = "lite-v1";

struct RowLayout {
  int mouth = 8;
  int roll() const { return mouth; }
  int log_scale() const { return mouth + 1; }
  int shift_x() const { return mouth + 2; }
  int shift_y() const { return mouth + 3; }
  int eye_closure(int eye) const { return mouth + 4 + eye; }
  int brow() const { return mouth + 6; }
  int dims() const { return mouth + 7; }
};

struct MotionSpace {
  int components = 0;
  std::vector<double> basis;    // components x kMouthJawValues, orthonormal rows
  std::vector<double> stddev;   // per component, over the training frames
  std::vector<double> lo, hi;   // per component, the 0.5th and 99.5th percentile: the trained range
  Points rest_template;         // 68 canonical points: the mean rest shape of the training faces

  RowLayout layout() const { return RowLayout{components}; }

  // displacement (kMouthJawValues) -> coefficients (components)
  std::vector<double> project(const double* displacement) const;
  // coefficients -> displacement (kMouthJawValues)
  std::vector<double> reconstruct(const double* coefficients) const;
  // Coefficients clamped to [lo, hi]: the mouth never leaves the trained range.
  void clamp(double* coefficients) const;

  // Uncentred PCA (principal axes of the second moments, so that zero
  // coefficients mean zero displacement) of displacement rows
  // (N x kMouthJawValues), keeping `components`.
  static MotionSpace fit(const std::vector<std::vector<double>>& displacements, int components,
                         const Points& rest_template);
  // Throws tavce::Error naming `label` when sizes disagree or values are not finite.
  void validate(const std::string& label) const;
};

// A face's closed-mouth rest shape from its canonical frames: the mean of the
// frames whose inner-lip gap is in the lowest fifth (a talking face closes
// its mouth often; at rest the lips meet).
Points rest_shape(const std::vector<Points>& canonical_frames);

// Mouth/jaw displacement of canonical points from a rest shape (kMouthJawValues).
std::vector<double> mouth_jaw_displacement(const Points& canonical, const Points& rest);
// Adds a displacement to the mouth/jaw points of canonical points.
void add_mouth_jaw(Points& canonical, const std::vector<double>& displacement, double weight = 1.0);

}  // namespace tavce::lite
