// Coefficient rows of the lite space (motion_space.h) to frames: the
// portrait's own pixels moved by the face mesh (face_mesh.h), with the inside
// of the mouth painted where it opens (mouth_interior.h).
//
// A LitePortrait is prepared once per identity: the canvas to draw on (the
// face crop, or the whole picture for paste-back-free full-frame output),
// its landmarks, the mesh and the mouth colours. Rendering a row costs one
// mesh warp of the face region and one small painted patch.
// Torch- and GStreamer-free.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "tavce/families/lite/face_mesh.h"
#include "tavce/families/lite/motion_space.h"
#include "tavce/families/lite/mouth_interior.h"

namespace tavce::lite {

struct LitePortrait {
  std::string label;
  cv::Mat canvas;            // RGB uint8: what the frames are drawn from
  Points landmarks;          // on the canvas
  Similarity to_canonical;   // canvas -> canonical frame
  Points canonical;          // the landmarks in the canonical frame
  FaceMesh mesh;
  MouthStyle style;
  double iod_px = 0;         // inter-ocular distance on the canvas
  // An open-mouthed portrait: its own interior is warped (no painting), and
  // the mouth is closed by `closing` (a displacement) when the row says "rest".
  bool open_mouth = false;
  std::vector<double> closing;
  // interior_visibility of the portrait's own lips: only an opening beyond
  // it shows a painted interior, so a rest row leaves a parted mouth as it is.
  double own_interior = 0;
  std::vector<std::string> warnings;  // a user should know (profile face, face at the edge)
};

// whole_canvas: the canvas is a face crop (warp all of it); otherwise only a
// region around the face is touched. Throws tavce::Error naming `label` when
// the landmarks are unusable.
LitePortrait prepare_portrait(const cv::Mat& canvas_rgb, const Points& landmarks, bool whole_canvas,
                              const std::string& label);

struct AnimateOptions {
  double expression_scale = 1.0;  // scales the mouth/jaw motion
  bool still = false;             // ignore the rows' head motion
};

class PortraitAnimator {
 public:
  explicit PortraitAnimator(std::shared_ptr<const MotionSpace> space);

  int dims() const { return space_->layout().dims(); }
  const MotionSpace& space() const { return *space_; }

  // Every mesh vertex's destination (canvas pixels) for one row. With
  // `guard`, motion that would fold the mesh is pulled back towards the
  // portrait (rows outside the trained range); tests turn it off to show
  // that rows inside the range never need it.
  Points destination(const LitePortrait& portrait, const float* row, const AnimateOptions& options,
                     bool guard = true) const;
  // The frame for one row (RGB uint8, canvas-sized). `out` is reused.
  void render(const LitePortrait& portrait, const float* row, const AnimateOptions& options, cv::Mat& out);

 private:
  std::shared_ptr<const MotionSpace> space_;
  WarpBuffers buffers_;
};

}  // namespace tavce::lite
