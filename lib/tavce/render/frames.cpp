#include "tavce/render/frames.h"

#include <string>

#include <ATen/ATen.h>

#include "tavce/error.h"
#include "tavce/render/shape_text.h"

namespace tavce::render {

at::Tensor to_rgb8(const at::Tensor& predictions, ByteRounding rounding) {
  if (!predictions.defined() || predictions.dim() != 4 || predictions.size(1) != 3)
    throw Error("to_rgb8: predictions must be (B, 3, H, W), got " + shape_of(predictions));
  // The product is formed in float32 in both references (skimage picks a
  // float32 computation type for float32 input; TAVCE multiplies the float
  // tensor), so a value such as 0.5 -> 127.5 keeps its exact .5.
  at::Tensor x = predictions.to(at::kFloat) * 255.0f;
  if (rounding == ByteRounding::kRint) x = at::round(x);  // half to even, as np.rint
  // Clip (img_as_ubyte clips after rint; sigmoid outputs never leave [0,1],
  // and the clamp keeps the truncating cast defined for NaN-free inputs).
  x = x.clamp(0.0, 255.0);
  return x.to(at::kByte).permute({0, 2, 3, 1}).contiguous();
}

at::Tensor image_from_rgb8(const at::Tensor& hwc) {
  if (!hwc.defined() || hwc.dim() != 3 || hwc.size(2) != 3)
    throw Error("image_from_rgb8: expected (H, W, 3), got " + shape_of(hwc));
  // img_as_float32: np.multiply(image, 1. / 255, dtype=float32).
  return (hwc.to(at::kFloat) * (1.0f / 255.0f)).permute({2, 0, 1}).unsqueeze(0).contiguous();
}

at::Tensor image_from_rgb8(const uint8_t* data, int64_t height, int64_t width, int64_t stride) {
  if (data == nullptr || height < 1 || width < 1 || stride < width * 3)
    throw Error("image_from_rgb8: bad buffer (" + std::to_string(height) + "x" + std::to_string(width) +
                ", stride " + std::to_string(stride) + ")");
  const at::Tensor view = at::from_blob(const_cast<uint8_t*>(data), {height, width, 3}, {stride, 3, 1}, at::kByte);
  return image_from_rgb8(view);
}

}  // namespace tavce::render
