// PSNR and SSIM restricted to a mask, and the mask the render evaluation
// uses: the face outside the mouth and jaw, where a talking-head model should
// keep the portrait's identity untouched. Torch-free (OpenCV only).
#pragma once

#include <opencv2/core.hpp>

#include "tavce/metrics/mouth_landmarks.h"

namespace tavce::metrics {

// PSNR (dB, peak 255) over the pixels where mask != 0, all channels.
// a, b: CV_8UC3 of one size; mask: CV_8UC1 of that size. +inf when equal there.
// Throws tavce::Error on mismatched sizes or types or an empty mask.
double masked_psnr(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask);

// SSIM (Wang et al. 2004: Gaussian window 11x11, sigma 1.5, K1 0.01, K2 0.03,
// L 255) of the luma (BT.601) of a and b, its map averaged over mask != 0.
double masked_ssim(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask);

// The face without its speaking part: the convex hull of the jaw line and
// brows (points 0..26) of `real`, minus the convex hulls of the lower jaw and
// lips (points 2..14 and 48..67) of both faces, grown by `margin` IOD.
// CV_8UC1, 255 inside.
cv::Mat face_outside_mouth_mask(cv::Size size, const FacePoints& real, const FacePoints& generated,
                                double margin = 0.1);

}  // namespace tavce::metrics
