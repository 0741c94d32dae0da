#include "tavce/face/paste_back.h"

#include <opencv2/imgproc.hpp>
#include <opencv2/photo.hpp>

#include "tavce/error.h"

namespace tavce::face {

cv::Mat paste_back(const cv::Mat& full, const cv::Mat& frame, const std::array<int, 4>& box, cv::Size original_size,
                   PasteDebug* debug) {
  if (full.empty() || frame.empty() || full.type() != frame.type() || full.depth() != CV_8U)
    throw Error("paste_back: needs two non-empty uint8 images of the same type");
  const int x1 = box[0], y1 = box[1], x2 = box[2], y2 = box[3];
  if (x2 - x1 < 3 || y2 - y1 < 3 || x1 < 0 || y1 < 0 || x2 > full.cols || y2 > full.rows)
    throw Error("paste_back: box outside the image or too small");
  if (original_size.width <= 0 || original_size.height <= 0) throw Error("paste_back: bad original size");

  // animate.py keeps the crop's aspect ratio: width = frame size, height scaled
  // (Python int() truncation); a no-op for a square box (cv2.resize to the same
  // size is a copy).
  const int size = frame.cols;
  const cv::Size aspect(size, int(size * double(original_size.height) / original_size.width));
  cv::Mat a = frame;
  if (aspect != frame.size()) cv::resize(frame, a, aspect, 0, 0, cv::INTER_LINEAR);

  cv::Mat patch = a;
  if (cv::Size(x2 - x1, y2 - y1) != a.size()) cv::resize(a, patch, cv::Size(x2 - x1, y2 - y1), 0, 0, cv::INTER_LINEAR);
  const cv::Mat mask(patch.size(), patch.type(), cv::Scalar::all(255));
  // Python // on non-negative ints.
  const cv::Point location((x1 + x2) / 2, (y1 + y2) / 2);
  cv::Mat out;
  cv::seamlessClone(patch, full, mask, location, out, cv::NORMAL_CLONE);
  if (debug) *debug = PasteDebug{aspect, patch, location};
  return out;
}

cv::Mat paste_back(const cv::Mat& full, const cv::Mat& frame, const CropInfo& info, bool extended) {
  if (full.size() != info.image_size) throw Error("paste_back: the image is not the one the crop info belongs to");
  if (!info.has_box) {
    cv::Mat out;
    cv::resize(frame, out, info.image_size, 0, 0, cv::INTER_LINEAR);
    return out;
  }
  return paste_back(full, frame, info.paste_box(extended), info.original_size());
}

}  // namespace tavce::face
