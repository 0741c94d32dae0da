// Pillow's Image.resize(size, Image.BICUBIC) for 8-bit images, bit-exact.
// SadTalker's resize_n_crop_img (reference-architecture §5.2) resizes with PIL,
// whose resampler differs from OpenCV's INTER_CUBIC in three ways that all move
// pixels: (1) when downscaling, the cubic kernel (a = -0.5) is stretched by the
// scale factor (an antialiasing filter) instead of point-sampling; (2) the two
// passes (horizontal first, then vertical) each round to uint8; (3) the
// normalised weights are converted to fixed point with 22 fractional bits and
// accumulated in integers with a +0.5 rounding bias, then clipped.
#pragma once

#include <opencv2/core.hpp>

namespace tavce::face {

// image: CV_8UC1/3/4 (any channel order: channels are independent).
cv::Mat pil_resize_bicubic(const cv::Mat& image, cv::Size size);

}  // namespace tavce::face
