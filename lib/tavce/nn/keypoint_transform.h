// Head pose -> driving keypoints (reference-architecture §3.7, SadTalker
// make_animation.py keypoint_transformation / headpose_pred_to_degree /
// get_rotation_matrix; identical in TAVCE). No weights.
#pragma once

#include <ATen/core/Tensor.h>

namespace tavce::nn {

// The head-pose prediction MappingNet produces ("he" in the reference):
// yaw/pitch/roll bin logits (B,66), translation t (B,3), expression exp
// (B, num_kp*3). The optional *_in angles (B,) in degrees replace the
// bin-derived angles when defined (make_animation's yaw_c_seq etc.).
struct HeadPose {
  at::Tensor yaw, pitch, roll, t, exp;
  at::Tensor yaw_in, pitch_in, roll_in;  // undefined unless overriding
};

// Expected angle in degrees of 66 bin logits (B,66) -> (B,):
// sum_k softmax(logits, dim 1)_k * k * 3 - 99.
at::Tensor headpose_pred_to_degree(const at::Tensor& logits);

// (B,) degrees -> (B,3,3) rotation R = P(pitch, about x) . Y(yaw, about y) . Rz(roll).
// Degrees are converted with deg / 180 * 3.14 (the reference's literal 3.14,
// not pi: keep it, the checkpoints were trained with it).
at::Tensor get_rotation_matrix(const at::Tensor& yaw, const at::Tensor& pitch, const at::Tensor& roll);

struct TransformedKeypoints {
  at::Tensor value;    // (B, K, 3) driving keypoints
  at::Tensor t;        // (B, 3) the caller's he.t as the reference leaves it (x and z zeroed)
  at::Tensor rot_mat;  // (B, 3, 3)
  at::Tensor yaw_deg, pitch_deg, roll_deg;  // (B,) angles used (override or bin-derived)
};

// kp = R . kp_canonical + t' + exp.view(B, K, 3) with t' = t with x and z
// zeroed. The reference zeroes he['t'][:, 0] and [:, 2] in the caller's
// tensor in place; here the inputs are left untouched (autograd-safe) and the
// modified translation is returned as `t` instead. wo_exp drops exp (exp * 0).
TransformedKeypoints keypoint_transformation(const at::Tensor& kp_canonical, const HeadPose& he,
                                             bool wo_exp = false);

}  // namespace tavce::nn
