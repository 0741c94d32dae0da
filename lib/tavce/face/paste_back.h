// Paste-back of generated frames into the original image for the full /
// extfull modes (reference-architecture §1.1 steps 20-21, §5.4; [ST]
// src/facerender/animate.py aspect resize, src/utils/paste_pic.py paste_pic).
#pragma once

#include <array>

#include <opencv2/core.hpp>

#include "tavce/face/align_face.h"

namespace tavce::face {

struct PasteDebug {
  cv::Size aspect;         // animate.py's (size, int(size * h / w)) resize
  cv::Mat patch;           // the frame resized to the box
  cv::Point location;      // the seamlessClone centre
};

// Low level, as the reference: frame (size x size) -> cv::resize to
// (size, int(size * original_size.h / original_size.w)) -> cv::resize to the
// box (x1, y1, x2, y2) -> cv::seamlessClone(NORMAL_CLONE, all-255 mask,
// centre ((x1+x2)//2, (y1+y2)//2)) into `full`. All images uint8 with the same
// channel order (seamlessClone works per channel). Returns a new image.
cv::Mat paste_back(const cv::Mat& full, const cv::Mat& frame, const std::array<int, 4>& box,
                   cv::Size original_size, PasteDebug* debug = nullptr);

// The same from the crop info of a prepared source (box = crop_info.paste_box).
// Resize mode has nothing to paste into: the frame is resized to the image.
cv::Mat paste_back(const cv::Mat& full, const cv::Mat& frame, const CropInfo& info, bool extended);

}  // namespace tavce::face
