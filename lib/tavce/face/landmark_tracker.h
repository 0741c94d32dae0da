// 68 landmarks per frame of a video, cheaply: the face detector runs on the
// first frame and every `redetect_every` frames after it; in between, the
// shape predictor alone fits the points inside the last detector box, moved
// with the face (the centroid of the previous frame's points). dlib's HOG
// detector costs tens of milliseconds a frame, the predictor about one, so a
// 50-minute corpus is tracked in minutes instead of an hour.
//
// A frame where neither a detection nor a recent box exists has no landmarks.
// Torch- and GStreamer-free; used by the lite dataset extraction and evaluation.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <opencv2/core.hpp>

#include "tavce/face/landmarks.h"

namespace tavce::face {

class LandmarkTracker {
 public:
  // predictor_path: dlib 68-point model (empty: default_predictor_path()).
  // max_held_frames: frames a box is kept after the detector last saw a face.
  explicit LandmarkTracker(const std::string& predictor_path = "", int redetect_every = 10,
                           int max_held_frames = 25);

  // rgb: CV_8UC3 RGB. The landmarks of the tracked (largest) face, or nullopt.
  std::optional<Landmarks> push(const cv::Mat& rgb);
  // Next clip: forget the box.
  void reset();
  // The face box the last push() fitted its points in: the detector's box, or
  // between detections that box moved with the face; nullopt when push()
  // found no face. tavcefacetrack passes it on so that tavcesyncscore crops
  // from it instead of running the detector again.
  const std::optional<cv::Rect>& last_box() const { return last_box_; }

 private:
  std::shared_ptr<LandmarkDetector> detector_;
  int redetect_every_, max_held_frames_;
  int64_t frame_ = 0;
  std::optional<cv::Rect> box_;          // last detector box
  cv::Point2d box_centroid_;              // centroid of the points fitted when the box was detected
  std::optional<cv::Point2d> centroid_;   // centroid of the last fitted points
  int64_t last_detection_ = -1;
  std::optional<cv::Rect> last_box_;     // the box of the last push()
};

}  // namespace tavce::face
