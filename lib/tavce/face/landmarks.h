// 68-point facial landmarks with dlib (frontal_face_detector HOG detector +
// shape_predictor_68_face_landmarks), standing in for SadTalker's RetinaFace +
// AWing FAN (reference-architecture §5.1 step 2/4). The 68-point scheme is the
// same (iBUG 300-W), so align_face / extract_5p index it identically.
//
// Licence: shape_predictor_68_face_landmarks.dat (Debian libdlib-data) was
// trained on the iBUG 300-W data set, whose licence excludes commercial use.
// The model is loaded at run time from the system, never bundled.
//
// dlib is included only in landmarks.cpp (its headers are heavy).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace tavce::face {

// Image-pixel coordinates (x right, y down), 68 points in iBUG order.
using Landmarks = std::vector<cv::Point2d>;

// Debian's location of the model (package libdlib-data).
inline constexpr const char* kDefaultPredictorPath = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat";

// The predictor to use when none is given: $TAVCE_DLIB_PREDICTOR if set, else
// kDefaultPredictorPath.
std::string default_predictor_path();

struct DetectedFace {
  cv::Rect box;        // detector rectangle in image pixels
  Landmarks points;    // 68 points
};

class LandmarkDetector {
 public:
  // The process-wide detector for a predictor file (empty: default path). The
  // model (100 MB) is read once per path and shared; throws tavce::Error naming
  // the file and the Debian package when it is missing or cannot be parsed.
  static std::shared_ptr<LandmarkDetector> shared(const std::string& predictor_path = {});

  // All faces of an RGB (CV_8UC3) image, largest box first. Images where the
  // plain detector finds nothing are tried once more at twice the size when
  // small enough (dlib's HOG window is 80x80 px).
  std::vector<DetectedFace> detect(const cv::Mat& rgb) const;
  // The landmarks of the largest face, std::nullopt when there is none.
  std::optional<Landmarks> largest(const cv::Mat& rgb) const;
  // The 68 points inside a known face box (the shape predictor alone, without
  // the detector: about 1 ms instead of tens). Used to track a face from frame
  // to frame once it has been detected.
  Landmarks fit(const cv::Mat& rgb, const cv::Rect& box) const;

  const std::string& predictor_path() const { return path_; }

  struct Impl;
  LandmarkDetector(std::string path, std::unique_ptr<Impl> impl);
  ~LandmarkDetector();

 private:
  std::string path_;
  std::unique_ptr<Impl> impl_;
};

// Convenience: LandmarkDetector::shared(predictor_path)->largest(rgb).
std::optional<Landmarks> detect_landmarks(const cv::Mat& rgb, const std::string& predictor_path = {});

}  // namespace tavce::face
