#include "tavce/face/landmark_tracker.h"

#include <cmath>

namespace tavce::face {

namespace {

cv::Point2d centroid(const Landmarks& pts) {
  cv::Point2d c(0, 0);
  for (const auto& p : pts) c += p;
  return c * (1.0 / static_cast<double>(pts.size()));
}

}  // namespace

LandmarkTracker::LandmarkTracker(const std::string& predictor_path, int redetect_every, int max_held_frames)
    : detector_(LandmarkDetector::shared(predictor_path)),
      redetect_every_(std::max(1, redetect_every)),
      max_held_frames_(std::max(0, max_held_frames)) {}

void LandmarkTracker::reset() {
  frame_ = 0;
  box_.reset();
  centroid_.reset();
  last_detection_ = -1;
  last_box_.reset();
}

std::optional<Landmarks> LandmarkTracker::push(const cv::Mat& rgb) {
  const int64_t t = frame_++;
  last_box_.reset();
  const bool due = !box_ || (t - last_detection_) >= redetect_every_;
  if (due) {
    auto faces = detector_->detect(rgb);
    if (!faces.empty()) {
      box_ = faces.front().box;
      last_detection_ = t;
      box_centroid_ = centroid(faces.front().points);
      centroid_ = box_centroid_;
      last_box_ = box_;
      return std::move(faces.front().points);
    }
    if (!box_ || t - last_detection_ > max_held_frames_) {
      box_.reset();
      centroid_.reset();
      return std::nullopt;
    }
  }
  // Between detections: the detector's box, shifted by how far the face moved.
  cv::Rect box = *box_;
  if (centroid_) {
    const cv::Point2d shift = *centroid_ - box_centroid_;
    box.x += static_cast<int>(std::lround(shift.x));
    box.y += static_cast<int>(std::lround(shift.y));
  }
  Landmarks pts = detector_->fit(rgb, box);
  centroid_ = centroid(pts);
  last_box_ = box;
  return pts;
}

}  // namespace tavce::face
