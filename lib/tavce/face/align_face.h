// SadTalker's FFHQ-style crop geometry (reference-architecture §5.1,
// [ST] src/utils/croper.py Preprocesser.align_face / crop and the crop_info of
// src/utils/preprocess.py CropAndExtract.generate). Pure geometry + OpenCV.
#pragma once

#include <array>

#include <opencv2/core.hpp>

#include "tavce/face/landmarks.h"

namespace tavce::face {

// What align_face returns plus the locals the golden data records.
struct FaceAlignment {
  cv::Size image_size;            // the input image (W, H)
  cv::Size rsize;                 // the image after the optional shrink
  int shrink = 0;                 // floor(qsize / output_size / 2); applied only when > 1
  std::array<int, 4> crop{};      // (clx, cly, crx, cry), clipped to rsize
  std::array<double, 4> quad{};   // (lx, ly, rx, ry) relative to the crop; ry clipped with the WIDTH
  // Reference locals (for parity checks): oriented half-axes, centre, size and
  // border after the shrink, and the quad after the crop shift and +0.5.
  cv::Point2d x, y, c;
  double qsize = 0.0;
  int border = 0;
  std::array<double, 8> quad_flat{};

  // int() truncation of quad, what Preprocesser.crop slices with.
  std::array<int, 4> quad_int() const;
  // (ox1, oy1, ox2, oy2) = crop origin + quad_int: the face box in the rsize frame.
  std::array<int, 4> orig_box() const;
};

// align_face(img, lm, output_size): lm are the 68 landmarks in image pixels.
// Everything in float64 with numpy's rounding (rint = half to even) so that the
// integer boxes match the reference exactly.
FaceAlignment align_face(const Landmarks& lm, cv::Size image_size, int output_size = 512);

// Preprocesser.crop on pixels: cv::resize (INTER_LINEAR) to rsize, slice the
// crop box, then (unless extended) the quad box, with numpy slice clamping.
// Returns a view into a (possibly resized) copy; throws if the cut is empty.
cv::Mat apply_crop(const cv::Mat& image, const FaceAlignment& a, bool extended);

// What paste-back needs to know about the source crop (SadTalker's
// crop_info = ((w, h), crop, quad)).
struct CropInfo {
  cv::Size image_size;           // the original image
  bool has_box = false;          // false for resize mode (crop_info = ((W,H), None, None))
  cv::Size rsize;                // frame of crop/quad (== image_size unless shrink > 1)
  std::array<int, 4> crop{};     // (clx, cly, crx, cry) in the rsize frame
  std::array<int, 4> quad{};     // int() of (lx, ly, rx, ry)

  // crop_info[0]: (ox2-ox1, oy2-oy1) of the quad box (also for the ext modes,
  // as the reference does); the whole image size in resize mode.
  cv::Size original_size() const;
  // The box the generated frame is pasted into, (x1, y1, x2, y2) in the
  // ORIGINAL image: the quad box, or the crop box for the extended modes.
  // Deviation: the reference keeps rsize-frame coordinates even when the
  // image was shrunk (qsize >= 2048 px) and so pastes to the wrong place; the
  // box is scaled back to the original frame here (a no-op without shrink).
  std::array<int, 4> paste_box(bool extended) const;
};

CropInfo crop_info_of(const FaceAlignment& a);
CropInfo crop_info_resize(cv::Size image_size);

}  // namespace tavce::face
