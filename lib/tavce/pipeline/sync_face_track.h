// Face crops for the SyncNet lip-sync metric, one per video frame, as
// syncnet_python's run_pipeline.py makes them: the largest face (dlib HOG
// detector, standing in for S3FD), cropped as crop_video does (box half-size
// bs = max(w, h) / 2, crop_scale 0.4, padding value 110, rows
// cy - bs .. cy + 1.8 bs, columns cx - 1.4 bs .. cx + 1.4 bs, resized to
// 224x224 bilinear), kept as raw 0..255 BGR. A frame without a detection
// reuses the last box for a while (run_pipeline.py's num_failed_det).
//
// The scorer (SyncScoreSession) and the training-data extraction
// (tavce-train sync-data) both crop through this class, so a model is trained
// on exactly the crops it is later scored on. LibTorch- and GStreamer-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cv {
class Mat;
}
namespace tavce::face {
class LandmarkDetector;
}

namespace tavce::pipeline {

// One 8-bit packed frame (RGB, BGR, RGBA, BGRx, ...): byte offsets of the
// three colour components inside a pixel of `pixel_stride` bytes.
struct SyncImageView {
  const uint8_t* data = nullptr;
  int width = 0, height = 0;
  size_t stride = 0;      // bytes per row
  int pixel_stride = 3;   // bytes per pixel
  int r = 0, g = 1, b = 2;
};

// A face box in image pixels (x0, y0) .. (x1, y1).
struct SyncFaceBox {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

class SyncFaceTracker {
 public:
  static constexpr int kCropSize = 224;

  // predictor_path: dlib 68-point model (empty = face::default_predictor_path());
  // max_held_frames: how many frames without a detection reuse the last box.
  explicit SyncFaceTracker(const std::string& predictor_path = "", int max_held_frames = 25);

  struct Frame {
    bool detected = false;      // a face was found in this frame (a held box does not count)
    std::vector<uint8_t> crop;  // 224x224 packed BGR; empty when there is no box at all
  };
  Frame push(const SyncImageView& frame);
  // The same for a frame whose face box an upstream tracker already found
  // (tavcefacetrack's dlib HOG box): no detection here. nullopt means that
  // tracker saw no face; the last box is then held as in push().
  Frame push_known(const SyncImageView& frame, const std::optional<SyncFaceBox>& box);
  // Forgets the last box (flush, discontinuity, next clip).
  void reset();

 private:
  // Updates the held box with this frame's detection (or its absence) and crops.
  Frame take(const cv::Mat& bgr, const std::optional<SyncFaceBox>& found);

  std::shared_ptr<face::LandmarkDetector> detector_;
  int max_held_frames_;
  std::optional<SyncFaceBox> last_box_;
  int64_t frames_since_box_ = 0;
};

// run_pipeline.py crop_video for one frame: packed BGR (3 bytes per pixel,
// `stride` bytes per row) -> size x size packed BGR.
std::vector<uint8_t> syncnet_face_crop(const uint8_t* bgr, int width, int height, size_t stride,
                                       const SyncFaceBox& box, double crop_scale = 0.4, int size = 224);

}  // namespace tavce::pipeline
