#include "tavce/nn/keypoint_transform.h"

#include <string>

#include <ATen/ATen.h>

#include "tavce/error.h"

namespace tavce::nn {
namespace {

constexpr int64_t kBins = 66;

std::string shape_of(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

void check_angles(const at::Tensor& a, const char* name) {
  if (!a.defined() || a.dim() != 1)
    throw Error(std::string("get_rotation_matrix: ") + name + " must be a (B,) tensor of degrees, got " +
                (a.defined() ? shape_of(a) : std::string("undefined")));
}

}  // namespace

at::Tensor headpose_pred_to_degree(const at::Tensor& logits) {
  // The reference's bin index table has exactly 66 entries (-99..+96 deg in 3 deg steps).
  if (!logits.defined() || logits.dim() != 2 || logits.size(1) != kBins)
    throw Error("headpose_pred_to_degree: expected (B, 66) bin logits, got " +
                (logits.defined() ? shape_of(logits) : std::string("undefined")));
  const at::Tensor prob = at::softmax(logits, 1);
  const at::Tensor idx = at::arange(kBins, logits.options());
  return (prob * idx).sum(1) * 3 - 99;
}

at::Tensor get_rotation_matrix(const at::Tensor& yaw_deg, const at::Tensor& pitch_deg, const at::Tensor& roll_deg) {
  check_angles(yaw_deg, "yaw");
  check_angles(pitch_deg, "pitch");
  check_angles(roll_deg, "roll");
  // 3.14, not pi: the reference's constant (reference-architecture §3.7, §8).
  const at::Tensor yaw = (yaw_deg / 180 * 3.14).unsqueeze(1);
  const at::Tensor pitch = (pitch_deg / 180 * 3.14).unsqueeze(1);
  const at::Tensor roll = (roll_deg / 180 * 3.14).unsqueeze(1);
  const int64_t b = yaw.size(0);
  auto mat = [b](std::initializer_list<at::Tensor> rows) { return at::cat(rows, 1).view({b, 3, 3}); };
  const at::Tensor one_p = at::ones_like(pitch), zero_p = at::zeros_like(pitch);
  const at::Tensor pitch_mat = mat({one_p, zero_p, zero_p,                           //
                                    zero_p, at::cos(pitch), -at::sin(pitch),         //
                                    zero_p, at::sin(pitch), at::cos(pitch)});
  const at::Tensor one_y = at::ones_like(yaw), zero_y = at::zeros_like(yaw);
  const at::Tensor yaw_mat = mat({at::cos(yaw), zero_y, at::sin(yaw),   //
                                  zero_y, one_y, zero_y,                //
                                  -at::sin(yaw), zero_y, at::cos(yaw)});
  const at::Tensor one_r = at::ones_like(roll), zero_r = at::zeros_like(roll);
  const at::Tensor roll_mat = mat({at::cos(roll), -at::sin(roll), zero_r,  //
                                   at::sin(roll), at::cos(roll), zero_r,   //
                                   zero_r, zero_r, one_r});
  return at::bmm(at::bmm(pitch_mat, yaw_mat), roll_mat);
}

TransformedKeypoints keypoint_transformation(const at::Tensor& kp_canonical, const HeadPose& he, bool wo_exp) {
  if (!kp_canonical.defined() || kp_canonical.dim() != 3 || kp_canonical.size(2) != 3)
    throw Error("keypoint_transformation: kp_canonical must be (B, K, 3), got " +
                (kp_canonical.defined() ? shape_of(kp_canonical) : std::string("undefined")));
  const int64_t b = kp_canonical.size(0), k = kp_canonical.size(1);
  if (!he.t.defined() || he.t.dim() != 2 || he.t.size(0) != b || he.t.size(1) != 3)
    throw Error("keypoint_transformation: he.t must be (" + std::to_string(b) + ", 3), got " +
                (he.t.defined() ? shape_of(he.t) : std::string("undefined")));
  if (!he.exp.defined() || he.exp.dim() != 2 || he.exp.size(0) != b || he.exp.size(1) != k * 3)
    throw Error("keypoint_transformation: he.exp must be (" + std::to_string(b) + ", " + std::to_string(k * 3) +
                "), got " + (he.exp.defined() ? shape_of(he.exp) : std::string("undefined")));

  TransformedKeypoints out;
  out.yaw_deg = he.yaw_in.defined() ? he.yaw_in : headpose_pred_to_degree(he.yaw);
  out.pitch_deg = he.pitch_in.defined() ? he.pitch_in : headpose_pred_to_degree(he.pitch);
  out.roll_deg = he.roll_in.defined() ? he.roll_in : headpose_pred_to_degree(he.roll);
  out.rot_mat = get_rotation_matrix(out.yaw_deg, out.pitch_deg, out.roll_deg);

  // kp_rotated[b,k,m] = sum_p R[b,m,p] kp[b,k,p]
  const at::Tensor kp_rotated = at::matmul(kp_canonical, out.rot_mat.transpose(1, 2));
  // The reference computes t[:, 0] = t[:, 0] * 0 (and the same for z) in place;
  // multiplying by a 0/1 mask gives the same values (NaN/inf stay NaN, as
  // x * 0 does) without touching the caller's tensor.
  const at::Tensor keep_y = at::tensor({0.0f, 1.0f, 0.0f}, he.t.options().requires_grad(false));
  out.t = he.t * keep_y;
  const at::Tensor exp = wo_exp ? he.exp * 0 : he.exp;
  out.value = kp_rotated + out.t.unsqueeze(1) + exp.view({b, -1, 3});
  return out;
}

}  // namespace tavce::nn
