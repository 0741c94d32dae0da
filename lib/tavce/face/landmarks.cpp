#include "tavce/face/landmarks.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <opencv2/core/types_c.h>  // cvIplImage, used by dlib::cv_image
#include <dlib/opencv/cv_image.h>
#include <dlib/serialize.h>
#include <opencv2/imgproc.hpp>

#include "tavce/error.h"

namespace tavce::face {

struct LandmarkDetector::Impl {
  // dlib's object_detector keeps scratch state while scanning, so one detector
  // must not run on two threads at once: each call takes the lock. The shape
  // predictor is read-only after loading and runs outside the lock.
  mutable std::mutex detector_mutex;
  mutable dlib::frontal_face_detector detector = dlib::get_frontal_face_detector();
  dlib::shape_predictor predictor;
};

namespace {

std::string predictor_error(const std::string& path, const std::string& what) {
  return "dlib landmark model " + path + ": " + what +
         " (install the Debian package libdlib-data, which provides " + kDefaultPredictorPath +
         ", or point TAVCE_DLIB_PREDICTOR / the predictor path at a valid copy)";
}

dlib::matrix<dlib::rgb_pixel> to_dlib(const cv::Mat& rgb) {
  dlib::matrix<dlib::rgb_pixel> m(rgb.rows, rgb.cols);
  for (int r = 0; r < rgb.rows; ++r) {
    const auto* p = rgb.ptr<cv::Vec3b>(r);
    for (int c = 0; c < rgb.cols; ++c) m(r, c) = dlib::rgb_pixel(p[c][0], p[c][1], p[c][2]);
  }
  return m;
}

long box_area(const dlib::rectangle& r) { return long(r.width()) * long(r.height()); }

Landmarks to_landmarks(const dlib::full_object_detection& shape) {
  Landmarks points;
  points.reserve(shape.num_parts());
  for (unsigned long i = 0; i < shape.num_parts(); ++i)
    points.emplace_back(double(shape.part(i).x()), double(shape.part(i).y()));
  return points;
}

}  // namespace

LandmarkDetector::LandmarkDetector(std::string path, std::unique_ptr<Impl> impl)
    : path_(std::move(path)), impl_(std::move(impl)) {}
LandmarkDetector::~LandmarkDetector() = default;

std::string default_predictor_path() {
  const char* env = std::getenv("TAVCE_DLIB_PREDICTOR");
  return env && *env ? std::string(env) : std::string(kDefaultPredictorPath);
}

std::shared_ptr<LandmarkDetector> LandmarkDetector::shared(const std::string& predictor_path) {
  const std::string path = predictor_path.empty() ? default_predictor_path() : predictor_path;
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<LandmarkDetector>> loaded;
  // Loading takes about a second; holding the lock meanwhile makes concurrent
  // first users wait for the one load instead of reading the file twice.
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = loaded.find(path); it != loaded.end()) return it->second;

  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(predictor_error(path, "file not found"));
  auto impl = std::make_unique<Impl>();
  try {
    dlib::deserialize(path) >> impl->predictor;
  } catch (const std::exception& e) {
    throw Error(predictor_error(path, std::string("cannot be read as a dlib shape_predictor: ") + e.what()));
  }
  if (impl->predictor.num_parts() != 68)
    throw Error(predictor_error(path, "has " + std::to_string(impl->predictor.num_parts()) +
                                          " landmarks per face, expected 68"));
  auto det = std::make_shared<LandmarkDetector>(path, std::move(impl));
  loaded.emplace(path, det);
  return det;
}

std::vector<DetectedFace> LandmarkDetector::detect(const cv::Mat& rgb) const {
  if (rgb.empty() || rgb.type() != CV_8UC3) throw Error("landmark detection needs a non-empty RGB uint8 image");
  const dlib::matrix<dlib::rgb_pixel> img = to_dlib(rgb);

  std::vector<dlib::rectangle> boxes;
  {
    std::lock_guard<std::mutex> lock(impl_->detector_mutex);
    boxes = impl_->detector(img);
  }
  // Small or distant faces: one retry on a 2x upscale (what dlib's examples do
  // with pyramid_up), limited to moderate sizes to bound the cost. Boxes are
  // mapped back (x2 = 2x + 0.5 under INTER_LINEAR) and the landmarks are then
  // fitted on the original pixels.
  if (boxes.empty() && std::max(rgb.cols, rgb.rows) <= 1600) {
    cv::Mat up;
    cv::resize(rgb, up, cv::Size(rgb.cols * 2, rgb.rows * 2), 0, 0, cv::INTER_LINEAR);
    const dlib::matrix<dlib::rgb_pixel> img2 = to_dlib(up);
    std::vector<dlib::rectangle> up_boxes;
    {
      std::lock_guard<std::mutex> lock(impl_->detector_mutex);
      up_boxes = impl_->detector(img2);
    }
    for (const auto& b : up_boxes)
      boxes.emplace_back(std::lround((b.left() - 0.5) / 2), std::lround((b.top() - 0.5) / 2),
                         std::lround((b.right() - 0.5) / 2), std::lround((b.bottom() - 0.5) / 2));
  }
  // Largest first (stable, so equal boxes keep the detector's order).
  std::stable_sort(boxes.begin(), boxes.end(),
                   [](const dlib::rectangle& a, const dlib::rectangle& b) { return box_area(a) > box_area(b); });

  std::vector<DetectedFace> faces;
  for (const auto& b : boxes) {
    DetectedFace f;
    f.box = cv::Rect(int(b.left()), int(b.top()), int(b.width()), int(b.height()));
    f.points = to_landmarks(impl_->predictor(img, b));
    faces.push_back(std::move(f));
  }
  return faces;
}

std::optional<Landmarks> LandmarkDetector::largest(const cv::Mat& rgb) const {
  auto faces = detect(rgb);
  if (faces.empty()) return std::nullopt;
  return std::move(faces.front().points);
}

Landmarks LandmarkDetector::fit(const cv::Mat& rgb, const cv::Rect& box) const {
  if (rgb.empty() || rgb.type() != CV_8UC3) throw Error("landmark fitting needs a non-empty RGB uint8 image");
  if (box.width <= 0 || box.height <= 0) throw Error("landmark fitting needs a non-empty face box");
  // dlib reads pixels through its own image view; a cv_image over the Mat
  // avoids the copy that to_dlib makes for the detector.
  const dlib::cv_image<dlib::rgb_pixel> img(rgb);
  const dlib::rectangle r(box.x, box.y, box.x + box.width - 1, box.y + box.height - 1);
  return to_landmarks(impl_->predictor(img, r));
}

std::optional<Landmarks> detect_landmarks(const cv::Mat& rgb, const std::string& predictor_path) {
  return LandmarkDetector::shared(predictor_path)->largest(rgb);
}

}  // namespace tavce::face
