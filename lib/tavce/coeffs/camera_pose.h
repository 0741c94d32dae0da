// SadTalker's gen_camera_pose (src/generate_facerender_batch.py): the
// --input_yaw/--input_pitch/--input_roll degree lists turned into one degree
// per video frame (reference-architecture §1.2), which make_animation feeds to
// keypoint_transformation as yaw_in/pitch_in/roll_in. Torch-free.
//
// Reference behaviour reproduced on purpose (golden README renderer surprise 8):
//   - one value: that value for every frame;
//   - several: step = (sum_i |d_i - d_{i-1}|) / (frame_num - 1) degrees per
//     frame; each segment contributes np.arange(d_{i-1}, d_i, ±step) (end
//     point excluded, numpy's own stepping: first + k*(second - first)); the
//     concatenation is cut to frame_num or padded with its last value. So the
//     last listed angle is never reached ([0,20,-10] over 11 frames ends at
//     -5), and [-8,8] holds -1.8e-15 instead of 0.
// Values are computed in double like numpy.
//
// Corners where the reference fails and we do something sensible instead:
//   frame_num == 1 with several values (division by zero): the first value;
//   two equal consecutive values (ZeroDivisionError in the step sign):
//   that segment contributes nothing; an empty result: the first value.
#pragma once

#include <cstdint>
#include <vector>

namespace tavce::coeffs {

// Per-frame degrees, frame_num values. Throws tavce::Error for an empty list
// or frame_num < 0.
std::vector<double> camera_pose_sequence(const std::vector<double>& degrees, int64_t frame_num);

// What gen_camera_pose returns: the per-frame sequence padded with its last
// value to a multiple of batch_size and reshaped (batch_size, ceil(T/B))
// batch-major, i.e. row b holds frames b*ceil(T/B) ... (the renderer's batch
// layout, where step t renders frames t, ceil(T/B)+t, ...). Row-major output.
std::vector<double> camera_pose_batched(const std::vector<double>& degrees, int64_t frame_num,
                                        int64_t batch_size);

}  // namespace tavce::coeffs
