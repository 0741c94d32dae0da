#include "tavce/render/windower.h"

#include <algorithm>
#include <string>

#include "tavce/error.h"

namespace tavce::render {

CoefficientWindower::CoefficientWindower(int64_t dims, int64_t radius) : dims_(dims), radius_(radius) {
  if (dims < 1) throw Error("CoefficientWindower: dims must be >= 1, got " + std::to_string(dims));
  if (radius < 0) throw Error("CoefficientWindower: radius must be >= 0, got " + std::to_string(radius));
}

void CoefficientWindower::push(const float* row) {
  if (finished_) throw Error("CoefficientWindower: push() after finish() (call reset() for a new stream)");
  if (row == nullptr) throw Error("CoefficientWindower: null row");
  rows_.emplace_back(row, row + dims_);
  ++pushed_;
}

const float* CoefficientWindower::row(int64_t index) const {
  // Edge clamp: the reference's min(max(j, 0), T-1). Before EOS only the
  // lower clamp can apply to a ready window; after it, pushed_ == T.
  const int64_t j = std::clamp<int64_t>(index, 0, pushed_ - 1);
  return rows_[static_cast<size_t>(j - first_row_)].data();
}

Window CoefficientWindower::make_window(int64_t frame) const {
  const int64_t len = window_length();
  Window w;
  w.frame_index = frame;
  w.window.resize(static_cast<size_t>(dims_ * len));
  // Transposed: element (d, k) = row(frame - radius + k)[d].
  for (int64_t k = 0; k < len; ++k) {
    const float* r = row(frame - radius_ + k);
    for (int64_t d = 0; d < dims_; ++d) w.window[static_cast<size_t>(d * len + k)] = r[d];
  }
  return w;
}

std::vector<Window> CoefficientWindower::pop_ready() {
  std::vector<Window> out;
  // Ready: row next_+radius has arrived, or the stream has ended.
  while (next_ < pushed_ && (finished_ || next_ + radius_ < pushed_)) {
    out.push_back(make_window(next_));
    ++next_;
  }
  // Drop rows no pending window reads: frame f >= next_ reads rows from
  // max(f - radius, 0), so keep rows >= max(next_ - radius, 0).
  const int64_t keep_from = std::max<int64_t>(next_ - radius_, 0);
  while (first_row_ < keep_from && !rows_.empty()) {
    rows_.pop_front();
    ++first_row_;
  }
  return out;
}

void CoefficientWindower::finish() { finished_ = true; }

void CoefficientWindower::reset() {
  rows_.clear();
  first_row_ = 0;
  pushed_ = 0;
  next_ = 0;
  finished_ = false;
}

}  // namespace tavce::render
