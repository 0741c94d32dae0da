// Driving-sequence preparation for the face renderer: SadTalker's
// get_facerender_data (src/generate_facerender_batch.py) and TAVCE's
// AnimateModel.test windows (reference-architecture §1.1 steps 15-16, §1.2,
// §1.3).
//
// The per-row transforms (expression scale, still mode, full-mode crop
// params) touch one frame at a time, so the streaming renderer and the
// offline path share prepare_driving_row(); the 27-frame windows are built
// offline by semantic_windows() and online by CoefficientWindower
// (windower.h), which must agree exactly.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "tavce/render/windower.h"

namespace tavce::render {

// Width of the 3DMM rows the renderer sees: exp 64 | angle 3 | trans 3 (70),
// plus the 3 crop params s', t0, t1 of the source in `full` mode (73).
constexpr int64_t kExpDims = 64;
constexpr int64_t kMotionDims = 70;
constexpr int64_t kFullDims = 73;
constexpr int64_t kSemanticRadius = 13;  // 27-frame windows
constexpr int64_t kWindowLength = 2 * kSemanticRadius + 1;

struct DrivingOptions {
  // Multiplies exp[0:64] of every driving frame (not of the source semantics).
  float expression_scale = 1.0f;
  // --still: the source's [64:] (pose, and the crop params in full mode)
  // replaces every driving frame's.
  bool still = false;
  // --preprocess full/extfull: MappingNet has coeff_nc 73 and every driving
  // frame gets the source's 3 crop params appended.
  bool full = false;
  int64_t dims() const { return full ? kFullDims : kMotionDims; }
};

// One driving row: `in` = generated coeffs [0:70] of one frame, `source` = the
// source coeff_3dmm row (73 values: exp, angle, trans, crop), `out` =
// options.dims() values. Same order of operations as the reference (scale,
// then the full-mode concat, then still), all in float32.
void prepare_driving_row(const float* in, const float* source73, float* out, const DrivingOptions& options);

// (T, >=70) generated coeffs (columns past 70 ignored, as [:, :70] does) and
// the source coeff (1, 73) or (73) -> (T, options.dims()) float32.
at::Tensor prepare_driving(const at::Tensor& generated, const at::Tensor& source_coeff, const DrivingOptions& options);

// The source semantics: source coeff [:70] ([:73] when full) repeated over the
// window -> (1, dims, 27) (transform_semantic_1).
at::Tensor source_semantics(const at::Tensor& source_coeff, bool full, int64_t radius = kSemanticRadius);

// The window of frame i (transform_semantic_target): rows i-radius..i+radius
// clamped to [0, T-1], transposed -> (D, 2*radius+1).
at::Tensor semantic_window(const at::Tensor& sequence, int64_t frame_index, int64_t radius = kSemanticRadius);
// All T windows -> (T, D, 2*radius+1).
at::Tensor semantic_windows(const at::Tensor& sequence, int64_t radius = kSemanticRadius);

// Streamed windows (CoefficientWindower::pop_ready) as a render batch
// (N, dims, L), copied in the given order.
at::Tensor windows_to_tensor(const std::vector<Window>& windows, int64_t dims);

// The reference's batch layout of the windows (T, D, L): padded with copies of
// the last window to a multiple of batch_size, reshaped to (batch_size, n, D,
// L) with n = ceil(T / batch_size), so that row b holds frames b*n .. b*n+n-1
// and step t renders frames {b*n + t}.
at::Tensor reference_target_semantics(const at::Tensor& windows, int64_t batch_size);

// A per-frame sequence (T, ...) (degrees, gates) in the same layout: padded
// with its last entry, reshaped to (batch_size, n, ...) (gen_camera_pose pads
// the same way).
at::Tensor reference_batch_layout(const at::Tensor& per_frame, int64_t batch_size);

}  // namespace tavce::render
