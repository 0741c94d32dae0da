#include "tavce/pipeline/sync_face_track.h"

#include <algorithm>
#include <cstring>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "tavce/error.h"
#include "tavce/face/landmarks.h"

namespace tavce::pipeline {

namespace {

// Frames larger than this (longest side) are detected on a downscaled copy:
// dlib's HOG detector costs in proportion to the pixels, and talking-head
// faces stay well above its 80x80 minimum (the reference detects at 1/4 scale).
constexpr int kDetectMaxSide = 640;

// The frame as packed BGR (for the crop) and, when `rgb` is given, packed RGB
// (for the detector).
void unpack(const SyncImageView& v, cv::Mat& bgr, cv::Mat* rgb) {
  bgr.create(v.height, v.width, CV_8UC3);
  if (rgb) rgb->create(v.height, v.width, CV_8UC3);
  for (int y = 0; y < v.height; ++y) {
    const uint8_t* src = v.data + static_cast<size_t>(y) * v.stride;
    uint8_t* pbgr = bgr.ptr<uint8_t>(y);
    uint8_t* prgb = rgb ? rgb->ptr<uint8_t>(y) : nullptr;
    for (int x = 0; x < v.width; ++x) {
      const uint8_t* p = src + static_cast<size_t>(x) * v.pixel_stride;
      pbgr[3 * x + 2] = p[v.r];
      pbgr[3 * x + 1] = p[v.g];
      pbgr[3 * x] = p[v.b];
      if (prgb) {
        prgb[3 * x] = p[v.r];
        prgb[3 * x + 1] = p[v.g];
        prgb[3 * x + 2] = p[v.b];
      }
    }
  }
}

// Converts the frame to packed BGR (kept in `bgr` for the crop) and finds the
// largest face on a copy no larger than kDetectMaxSide.
std::optional<SyncFaceBox> detect_largest(face::LandmarkDetector& detector, const SyncImageView& v, cv::Mat& bgr) {
  cv::Mat rgb;
  unpack(v, bgr, &rgb);
  double scale = 1.0;
  cv::Mat small = rgb;
  const int side = std::max(v.width, v.height);
  if (side > kDetectMaxSide) {
    scale = static_cast<double>(kDetectMaxSide) / side;
    cv::resize(rgb, small, cv::Size(), scale, scale, cv::INTER_AREA);
  }
  const std::vector<face::DetectedFace> faces = detector.detect(small);
  if (faces.empty()) return std::nullopt;
  const cv::Rect& r = faces.front().box;  // largest first
  SyncFaceBox b;
  b.x0 = r.x / scale;
  b.y0 = r.y / scale;
  b.x1 = (r.x + r.width) / scale;
  b.y1 = (r.y + r.height) / scale;
  return b;
}

}  // namespace

std::vector<uint8_t> syncnet_face_crop(const uint8_t* bgr, int width, int height, size_t stride,
                                       const SyncFaceBox& box, double crop_scale, int size) {
  if (!bgr || width <= 0 || height <= 0) throw Error("syncnet_face_crop: empty image");
  const double cs = crop_scale;
  const double bs = std::max(box.y1 - box.y0, box.x1 - box.x0) / 2.0;  // detection box half-size
  if (!(bs > 0.0)) throw Error("syncnet_face_crop: empty face box");
  // The reference pads the frame by bsi pixels of value 110 on every side,
  // then slices the padded frame (numpy clamps slice ends to the array).
  const int64_t bsi = static_cast<int64_t>(bs * (1 + 2 * cs));
  const double my = (box.y0 + box.y1) / 2.0 + static_cast<double>(bsi);
  const double mx = (box.x0 + box.x1) / 2.0 + static_cast<double>(bsi);
  const int64_t ph = height + 2 * bsi, pw = width + 2 * bsi;
  auto clamp = [](int64_t v, int64_t hi) { return std::min<int64_t>(std::max<int64_t>(v, 0), hi); };
  const int64_t r0 = clamp(static_cast<int64_t>(my - bs), ph), r1 = clamp(static_cast<int64_t>(my + bs * (1 + 2 * cs)), ph);
  const int64_t c0 = clamp(static_cast<int64_t>(mx - bs * (1 + cs)), pw),
                c1 = clamp(static_cast<int64_t>(mx + bs * (1 + cs)), pw);
  if (r1 <= r0 || c1 <= c0) throw Error("syncnet_face_crop: the face box lies outside the frame");
  cv::Mat face(static_cast<int>(r1 - r0), static_cast<int>(c1 - c0), CV_8UC3, cv::Scalar(110, 110, 110));
  // Overlap of the crop with the image, in image coordinates.
  const int64_t ir0 = std::max<int64_t>(r0 - bsi, 0), ir1 = std::min<int64_t>(r1 - bsi, height);
  const int64_t ic0 = std::max<int64_t>(c0 - bsi, 0), ic1 = std::min<int64_t>(c1 - bsi, width);
  for (int64_t y = ir0; y < ir1; ++y) {
    const uint8_t* src = bgr + static_cast<size_t>(y) * stride + static_cast<size_t>(ic0) * 3;
    uint8_t* dst = face.ptr<uint8_t>(static_cast<int>(y + bsi - r0)) + (ic0 + bsi - c0) * 3;
    if (ic1 > ic0) std::memcpy(dst, src, static_cast<size_t>(ic1 - ic0) * 3);
  }
  cv::Mat out;
  cv::resize(face, out, cv::Size(size, size), 0, 0, cv::INTER_LINEAR);  // cv2.resize default
  return std::vector<uint8_t>(out.data, out.data + static_cast<size_t>(size) * size * 3);
}

SyncFaceTracker::SyncFaceTracker(const std::string& predictor_path, int max_held_frames)
    : detector_(face::LandmarkDetector::shared(predictor_path)), max_held_frames_(max_held_frames) {}

SyncFaceTracker::Frame SyncFaceTracker::push(const SyncImageView& frame) {
  if (!frame.data || frame.width <= 0 || frame.height <= 0) throw Error("sync score: empty video frame");
  cv::Mat bgr;
  const std::optional<SyncFaceBox> found = detect_largest(*detector_, frame, bgr);
  return take(bgr, found);
}

SyncFaceTracker::Frame SyncFaceTracker::push_known(const SyncImageView& frame, const std::optional<SyncFaceBox>& box) {
  if (!frame.data || frame.width <= 0 || frame.height <= 0) throw Error("sync score: empty video frame");
  cv::Mat bgr;
  unpack(frame, bgr, nullptr);
  return take(bgr, box);
}

SyncFaceTracker::Frame SyncFaceTracker::take(const cv::Mat& bgr, const std::optional<SyncFaceBox>& found) {
  Frame out;
  if (found) {
    last_box_ = found;
    frames_since_box_ = 0;
    out.detected = true;
  } else {
    frames_since_box_++;
    if (last_box_ && frames_since_box_ > max_held_frames_) last_box_.reset();
  }
  if (last_box_) out.crop = syncnet_face_crop(bgr.data, bgr.cols, bgr.rows, bgr.step[0], *last_box_, 0.4, kCropSize);
  return out;
}

void SyncFaceTracker::reset() {
  last_box_.reset();
  frames_since_box_ = 0;
}

}  // namespace tavce::pipeline
