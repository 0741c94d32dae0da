// Streaming 27-frame windows for the GStreamer renderer, which receives one
// (prepared, see driving.h) coefficient row per buffer. Frame i's window is
// rows i-radius..i+radius clamped to [0, T-1] (SadTalker
// transform_semantic_target). Before end of stream T is unknown, so a window
// is ready once row i+radius has arrived (its upper clamp cannot apply);
// finish() releases the rest with the clamp at the last row. The output is
// identical to semantic_windows() of driving.h on the whole sequence.
// Torch-free: the element can keep it in its streaming thread.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

namespace tavce::render {

struct Window {
  int64_t frame_index = 0;
  std::vector<float> window;  // dims x (2*radius+1), row-major: as the reference's (D, 27)
};

class CoefficientWindower {
 public:
  explicit CoefficientWindower(int64_t dims, int64_t radius = 13);

  // Appends the next frame's row (dims floats). Throws tavce::Error after finish().
  void push(const float* row);
  // Windows that became ready since the last call, in frame order.
  std::vector<Window> pop_ready();
  // End of stream: the remaining frames become ready (upper clamp at T-1).
  void finish();
  // Forget everything (new stream, or a flush).
  void reset();

  // Frames a window waits for after its own row arrived.
  int64_t latency_frames() const { return radius_; }
  int64_t dims() const { return dims_; }
  int64_t radius() const { return radius_; }
  int64_t window_length() const { return 2 * radius_ + 1; }
  int64_t frames_pushed() const { return pushed_; }
  int64_t frames_emitted() const { return next_; }
  bool finished() const { return finished_; }

 private:
  const float* row(int64_t index) const;  // clamped to the rows pushed so far
  Window make_window(int64_t frame) const;

  int64_t dims_, radius_;
  int64_t pushed_ = 0;  // rows received (T once finished)
  int64_t next_ = 0;    // next frame to emit
  bool finished_ = false;
  // Rows [first_row_, pushed_): only those a pending window can still read.
  std::deque<std::vector<float>> rows_;
  int64_t first_row_ = 0;
};

}  // namespace tavce::render
