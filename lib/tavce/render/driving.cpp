#include "tavce/render/driving.h"

#include <algorithm>
#include <string>

#include <ATen/ATen.h>

#include "tavce/error.h"
#include "tavce/render/shape_text.h"

namespace tavce::render {
namespace {

// The source coeff_3dmm row as 73 contiguous float32 values ((1,73) or (73)).
at::Tensor source_row(const at::Tensor& source_coeff, const char* who) {
  if (!source_coeff.defined() || source_coeff.numel() != kFullDims ||
      !(source_coeff.dim() == 1 || (source_coeff.dim() == 2 && source_coeff.size(0) == 1)))
    throw Error(std::string(who) + ": source coeff must be (1, 73) or (73) [exp 64 | angle 3 | trans 3 | crop 3], got " +
                shape_of(source_coeff));
  return source_coeff.reshape({kFullDims}).to(at::kFloat).contiguous();
}

void check_sequence(const at::Tensor& sequence, const char* who) {
  if (!sequence.defined() || sequence.dim() != 2 || sequence.size(0) < 1)
    throw Error(std::string(who) + ": driving sequence must be (T >= 1, D), got " + shape_of(sequence));
}

void check_radius(int64_t radius, const char* who) {
  if (radius < 0) throw Error(std::string(who) + ": negative window radius");
}

}  // namespace

void prepare_driving_row(const float* in, const float* source73, float* out, const DrivingOptions& options) {
  // generated_3dmm[:, :64] *= expression_scale (a float32 array times a
  // Python float stays float32 in numpy).
  for (int64_t d = 0; d < kExpDims; ++d) out[d] = in[d] * options.expression_scale;
  for (int64_t d = kExpDims; d < kMotionDims; ++d) out[d] = in[d];
  // full: concatenate the source crop params [70:73].
  if (options.full)
    for (int64_t d = kMotionDims; d < kFullDims; ++d) out[d] = source73[d];
  // still: generated_3dmm[:, 64:] = source[:, 64:] (pose, and crop when full);
  // applied after the scale, so only the pose part changes.
  if (options.still)
    for (int64_t d = kExpDims; d < options.dims(); ++d) out[d] = source73[d];
}

at::Tensor prepare_driving(const at::Tensor& generated, const at::Tensor& source_coeff, const DrivingOptions& options) {
  check_sequence(generated, "prepare_driving");
  if (generated.size(1) < kMotionDims)
    throw Error("prepare_driving: generated coeffs need at least 70 columns [exp 64 | angle 3 | trans 3], got " +
                shape_of(generated));
  const at::Tensor src = source_row(source_coeff, "prepare_driving");
  const at::Tensor in = generated.to(at::kFloat).contiguous();
  const int64_t t = in.size(0), stride = in.size(1), dims = options.dims();
  at::Tensor out = at::empty({t, dims}, in.options());
  // One implementation for the offline and the streaming path (bit-identical).
  const float* ip = in.data_ptr<float>();
  const float* sp = src.data_ptr<float>();
  float* op = out.data_ptr<float>();
  for (int64_t i = 0; i < t; ++i) prepare_driving_row(ip + i * stride, sp, op + i * dims, options);
  return out;
}

at::Tensor source_semantics(const at::Tensor& source_coeff, bool full, int64_t radius) {
  check_radius(radius, "source_semantics");
  const at::Tensor src = source_row(source_coeff, "source_semantics");
  const int64_t dims = full ? kFullDims : kMotionDims;
  // [semantic] * 27 concatenated then permuted: every column is the source row.
  return src.narrow(0, 0, dims).view({1, dims, 1}).expand({1, dims, 2 * radius + 1}).contiguous();
}

at::Tensor semantic_window(const at::Tensor& sequence, int64_t frame_index, int64_t radius) {
  check_sequence(sequence, "semantic_window");
  check_radius(radius, "semantic_window");
  const int64_t t = sequence.size(0);
  if (frame_index < 0 || frame_index >= t)
    throw Error("semantic_window: frame " + std::to_string(frame_index) + " outside [0, " + std::to_string(t) + ")");
  // Clamped indices, then a transpose: (D, 2r+1).
  const at::Tensor idx = at::arange(frame_index - radius, frame_index + radius + 1, at::kLong).clamp(0, t - 1);
  return sequence.index_select(0, idx).t().contiguous();
}

at::Tensor semantic_windows(const at::Tensor& sequence, int64_t radius) {
  check_sequence(sequence, "semantic_windows");
  check_radius(radius, "semantic_windows");
  const int64_t t = sequence.size(0), l = 2 * radius + 1;
  // idx[i, k] = clamp(i - radius + k, 0, T-1): one gather for the whole clip.
  const at::Tensor idx = (at::arange(t, at::kLong).unsqueeze(1) + at::arange(-radius, radius + 1, at::kLong).unsqueeze(0))
                             .clamp(0, t - 1);
  return sequence.index_select(0, idx.reshape({-1})).view({t, l, sequence.size(1)}).transpose(1, 2).contiguous();
}

at::Tensor windows_to_tensor(const std::vector<Window>& windows, int64_t dims) {
  if (windows.empty()) throw Error("windows_to_tensor: no windows");
  if (dims < 1) throw Error("windows_to_tensor: dims must be >= 1");
  const size_t size = windows.front().window.size();
  if (size == 0 || size % static_cast<size_t>(dims) != 0)
    throw Error("windows_to_tensor: a window of " + std::to_string(size) + " values is not dims (" +
                std::to_string(dims) + ") x length");
  const int64_t len = static_cast<int64_t>(size) / dims;
  at::Tensor out = at::empty({static_cast<int64_t>(windows.size()), dims, len}, at::kFloat);
  float* dst = out.data_ptr<float>();
  for (const Window& w : windows) {
    if (w.window.size() != size) throw Error("windows_to_tensor: windows of different sizes");
    std::copy(w.window.begin(), w.window.end(), dst);
    dst += size;
  }
  return out;
}

at::Tensor reference_batch_layout(const at::Tensor& per_frame, int64_t batch_size) {
  if (batch_size < 1) throw Error("reference batch layout: batch_size must be >= 1");
  if (!per_frame.defined() || per_frame.dim() < 1 || per_frame.size(0) < 1)
    throw Error("reference batch layout: need a non-empty (T, ...) sequence, got " + shape_of(per_frame));
  const int64_t t = per_frame.size(0);
  const int64_t n = (t + batch_size - 1) / batch_size;
  at::Tensor padded = per_frame;
  if (n * batch_size != t) {
    // The reference appends copies of the last window (the loop variable
    // left over from the window loop).
    const at::Tensor last = per_frame.narrow(0, t - 1, 1);
    std::vector<int64_t> rep(per_frame.dim(), 1);
    rep[0] = n * batch_size - t;
    padded = at::cat({per_frame, last.repeat(rep)}, 0);
  }
  std::vector<int64_t> shape{batch_size, n};
  for (int64_t d = 1; d < per_frame.dim(); ++d) shape.push_back(per_frame.size(d));
  return padded.reshape(shape);
}

at::Tensor reference_target_semantics(const at::Tensor& windows, int64_t batch_size) {
  if (!windows.defined() || windows.dim() != 3)
    throw Error("reference_target_semantics: windows must be (T, D, L), got " + shape_of(windows));
  return reference_batch_layout(windows, batch_size);
}

}  // namespace tavce::render
