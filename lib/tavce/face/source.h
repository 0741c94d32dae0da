// Source preparation (reference-architecture §1.1 steps 1-5, 16): one portrait
// becomes the renderer's size x size picture, its crop info for paste-back and
// the 224x224 image the 3DMM net reads, as SadTalker's CropAndExtract.generate.
// Torch-free: the network part is in recon.h.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include <opencv2/core.hpp>

#include "tavce/face/align_face.h"
#include "tavce/face/align_img.h"
#include "tavce/face/landmarks.h"
#include "tavce/face/preprocess_mode.h"

namespace tavce::face {

struct SourceOptions {
  Preprocess preprocess = Preprocess::Crop;
  int size = 256;              // the picture side: 256 for the official models, 128 for the reduced golden ones
  std::string predictor_path;  // dlib model; empty = default_predictor_path()
};

struct PreparedSource {
  std::string label;            // for messages (file name)
  std::string content_hash;     // image_content_hash() of the input image
  Preprocess preprocess = Preprocess::Crop;
  int size = 256;
  cv::Mat original;             // the input image (RGB uint8); the paste-back target in the full modes
  cv::Mat pic;                  // size x size RGB uint8 (SadTalker's pic.png)
  CropInfo crop_info;           // for paste-back (crop_info of the reference)
  std::optional<FaceAlignment> alignment;   // the crop geometry (not in resize mode)
  std::optional<Landmarks> source_landmarks;  // largest face of the original (not in resize mode)
  std::optional<Landmarks> pic_landmarks;   // detected again on the pic; nullopt: the lm3d_std fallback was used
  cv::Mat aligned;              // 224x224 RGB uint8 (align_img output)
  // (1, 3, 224, 224) CV_32F NCHW, aligned / 255 (divided in float64, then cast,
  // as the reference builds im_t): the nn::ReconNet input (recon.h wraps it).
  cv::Mat recon_input;
  // [w0, h0, s', tx, ty] in float32, as CropAndExtract stores them; s', tx, ty
  // are coeff_3dmm[70:73].
  std::array<float, 5> trans_params{};
};

// SHA-256 (hex) of an image's size, type and pixels: equal images give equal
// hashes whatever their row padding. The per-identity cache key.
std::string image_content_hash(const cv::Mat& image);

// The (1, 3, H, W) CV_32F NCHW ReconNet input of an aligned RGB uint8 image.
cv::Mat recon_input_from_aligned(const cv::Mat& aligned_u8);

// rgb: CV_8UC3 RGB. Throws tavce::Error: no face in a face-based mode (the
// message names `label` and suggests preprocess=resize), bad image, dlib model
// missing. Several faces: the largest is used.
PreparedSource prepare_source(const cv::Mat& rgb, const std::string& label, const SourceOptions& options = {});
inline PreparedSource prepare_source(const cv::Mat& rgb, const std::string& label, Preprocess mode, int size = 256) {
  return prepare_source(rgb, label, SourceOptions{mode, size, {}});
}

// Thread-safe cache of prepared sources keyed by (content hash, preprocess,
// size, predictor): the same portrait is prepared once even when several
// elements ask for it at the same time (the others wait for the first). A
// failed preparation is not cached. The oldest entries are dropped beyond
// `capacity`.
class SourceCache {
 public:
  explicit SourceCache(size_t capacity = 8);
  ~SourceCache();
  SourceCache(const SourceCache&) = delete;
  SourceCache& operator=(const SourceCache&) = delete;

  // The process-wide instance the elements share.
  static SourceCache& shared();

  std::shared_ptr<const PreparedSource> get(const cv::Mat& rgb, const std::string& label,
                                            const SourceOptions& options = {});
  size_t size() const;
  void clear();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace tavce::face
