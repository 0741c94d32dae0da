// Conversions between the renderer's float images and 8-bit RGB.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace tavce::render {

// How a prediction in [0,1] becomes a byte.
enum class ByteRounding {
  // SadTalker: skimage img_as_ubyte = rint(x * 255) in float32 (round half to
  // even), then clip to [0, 255] (animate.py).
  kRint,
  // TAVCE: uint8(pred * 255), truncation toward zero (inference.py PNG frames).
  kTruncate,
};

// predictions (B, 3, H, W) float in [0,1] -> (B, H, W, 3) uint8 RGB,
// contiguous (HWC per frame, ready for a video buffer).
at::Tensor to_rgb8(const at::Tensor& predictions, ByteRounding rounding = ByteRounding::kRint);

// (H, W, 3) uint8 RGB (or float holding 0..255) -> (1, 3, H, W) float32 in
// [0,1] as skimage img_as_float32 does it: x * float32(1/255). (SadTalker then
// resizes to the render size; when the crop already has that size the resize
// changes values by at most ~6e-8.)
at::Tensor image_from_rgb8(const at::Tensor& hwc);
// The same from a packed RGB buffer (row stride in bytes).
at::Tensor image_from_rgb8(const uint8_t* data, int64_t height, int64_t width, int64_t stride);

}  // namespace tavce::render
