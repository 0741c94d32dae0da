#include "tavce/coeffs/camera_pose.h"

#include <cmath>
#include <string>

#include "tavce/error.h"

namespace tavce::coeffs {

namespace {

// np.arange(start, stop, step) for float64: length ceil((stop - start) / step)
// (0 if not positive); element 0 = start, element 1 = start + step, element
// k >= 2 = start + k * (element1 - element0) (numpy's DOUBLE_fill).
void append_arange(double start, double stop, double step, std::vector<double>& out) {
  const double len_f = std::ceil((stop - start) / step);
  if (!(len_f > 0)) return;
  const int64_t len = int64_t(len_f);
  const double second = start + step;
  const double delta = second - start;
  out.push_back(start);
  if (len > 1) out.push_back(second);
  for (int64_t k = 2; k < len; ++k) out.push_back(start + double(k) * delta);
}

}  // namespace

std::vector<double> camera_pose_sequence(const std::vector<double>& degrees, int64_t frame_num) {
  if (degrees.empty()) throw Error("camera pose: empty degree list");
  if (frame_num < 0) throw Error("camera pose: negative frame count");
  if (degrees.size() == 1 || frame_num <= 1) return std::vector<double>(size_t(frame_num), degrees[0]);

  double degree_sum = 0.0;
  for (size_t i = 1; i < degrees.size(); ++i) degree_sum += std::fabs(degrees[i] - degrees[i - 1]);
  const double per_frame = degree_sum / double(frame_num - 1);

  std::vector<double> seq;
  for (size_t i = 1; i < degrees.size(); ++i) {
    const double last = degrees[i - 1], diff = degrees[i] - last;
    if (diff == 0.0) continue;  // the reference divides by zero here
    // Same operation order as the reference: per_frame * |diff| / diff.
    const double step = per_frame * std::fabs(diff) / diff;
    append_arange(last, degrees[i], step, seq);
  }
  if (seq.empty()) seq.push_back(degrees[0]);
  if (int64_t(seq.size()) > frame_num) seq.resize(size_t(frame_num));
  while (int64_t(seq.size()) < frame_num) seq.push_back(seq.back());
  return seq;
}

std::vector<double> camera_pose_batched(const std::vector<double>& degrees, int64_t frame_num,
                                        int64_t batch_size) {
  if (batch_size < 1) throw Error("camera pose: batch_size must be >= 1");
  std::vector<double> seq = camera_pose_sequence(degrees, frame_num);
  if (seq.empty()) return seq;
  // Pad to a multiple of batch_size with the last value; the flat list then
  // reads row-major as (batch_size, len / batch_size).
  while (int64_t(seq.size()) % batch_size != 0) seq.push_back(seq.back());
  return seq;
}

}  // namespace tavce::coeffs
