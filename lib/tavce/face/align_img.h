// Alignment of the source picture for the Deep3DFaceRecon ResNet-50
// (reference-architecture §5.2; [ST] src/face3d/util/preprocess.py align_img,
// POS, extract_5p, resize_n_crop_img and the caller in
// src/utils/preprocess.py CropAndExtract.generate; identical in TAVCE).
#pragma once

#include <array>
#include <optional>

#include <opencv2/core.hpp>

#include "tavce/face/landmarks.h"

namespace tavce::face {

// The 5 standard 3-D landmarks (eye-L, eye-R, nose tip, mouth-L, mouth-R):
// SadTalker's load_lm3d reduction of src/config/similarity_Lm3D_all.mat 'lm'
// (68x3). Values copied from golden/crop_align io.safetensors
// "align_img.lm3d_std" (the reference's float64 numbers rounded to float32).
extern const std::array<cv::Point3d, 5> kLm3dStd;

// extract_5p: [mean(36,39), mean(42,45), 30, 48, 54] of 68 points.
std::array<cv::Point2d, 5> extract_5p(const Landmarks& lm68);

// POS: least-squares affine camera from 5 3-D points to 5 image points;
// returns the translation (tx, ty) and the mean norm s of the two rotation rows.
struct PosResult {
  cv::Point2d t;
  double s = 0.0;
};
PosResult pos(const std::array<cv::Point2d, 5>& image_pts, const std::array<cv::Point3d, 5>& model_pts);

struct AlignedImage {
  cv::Mat image;                         // target x target RGB uint8 (black outside the source)
  std::array<double, 5> trans_params{};  // [w0, h0, s', tx, ty] (float64; the reference then casts to float32)
  Landmarks lm_new;                      // the input landmarks in the aligned frame (y up)
  std::array<cv::Point2d, 5> lm5p{};     // the 5 points POS used
  PosResult pos;                         // before s' = rescale_factor / s
  cv::Size resize_wh;                    // the PIL resize size (w, h)
  cv::Point left_up;                     // the crop origin in the resized image
};

// align_img(img, lm, lm3D): lm are 68 (or 5) points with y already flipped to
// point up (y = H - 1 - y), as CropAndExtract passes them.
AlignedImage align_img(const cv::Mat& rgb, const Landmarks& lm, const std::array<cv::Point3d, 5>& lm3d = kLm3dStd,
                       int target_size = 224, double rescale_factor = 102.0);

// What CropAndExtract.generate does with the landmarks of the picture: flip y
// and align, or, with no landmarks, align the image to lm3d_std itself mapped
// into the image ((X + 1) / 2 * W, (Y + 1) / 2 * H, no flip).
AlignedImage align_for_recon(const cv::Mat& rgb, const std::optional<Landmarks>& lm68);

// CropAndExtract's landmark flip: y <- H - 1 - y.
Landmarks flip_y(const Landmarks& lm, int height);

}  // namespace tavce::face
