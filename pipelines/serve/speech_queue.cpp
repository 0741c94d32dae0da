#include "speech_queue.h"

#include <algorithm>

std::optional<uint64_t> SpeechQueue::push(const std::vector<int16_t>& samples) {
  std::lock_guard<std::mutex> lock(mu_);
  if (samples_.size() + samples.size() > max_samples_) return std::nullopt;
  const uint64_t position = taken_ + samples_.size();
  samples_.insert(samples_.end(), samples.begin(), samples.end());
  return position;
}

void SpeechQueue::push_dropping(const std::vector<int16_t>& samples) {
  std::lock_guard<std::mutex> lock(mu_);
  samples_.insert(samples_.end(), samples.begin(), samples.end());
  if (samples_.size() > max_samples_) {
    const size_t excess = samples_.size() - max_samples_;
    samples_.erase(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(excess));
    dropped_ += excess;
  }
}

size_t SpeechQueue::pop(int16_t* out, size_t n, uint64_t stream_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  last_pop_ns_ = stream_ns;
  last_pop_taken_ = taken_;
  taken_ += n;
  const size_t take = std::min(n, samples_.size());
  std::copy(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(take), out);
  samples_.erase(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(take));
  std::fill(out + take, out + n, int16_t{0});
  return take;
}

double SpeechQueue::stream_seconds_at(uint64_t position) const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<double>(last_pop_ns_) / 1e9 +
         (static_cast<double>(position) - static_cast<double>(last_pop_taken_)) / kRate;
}

void SpeechQueue::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  samples_.clear();
}

uint64_t SpeechQueue::queued_samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return samples_.size();
}

uint64_t SpeechQueue::dropped_samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}
