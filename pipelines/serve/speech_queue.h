// The speech waiting to be spoken by one avatar: 48 kHz mono S16 samples,
// bounded in time. Producers (HTTP uploads, text-to-speech, the RTP feed)
// append whole clips; the avatar's paced audio source takes fixed chunks in
// real time and fills what the queue lacks with silence, so the audio clock
// never stops. Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

class SpeechQueue {
 public:
  static constexpr int kRate = 48000;

  explicit SpeechQueue(double max_seconds) : max_samples_(static_cast<uint64_t>(max_seconds * kRate)) {}

  // Appends a clip after what is queued. Returns false (and queues nothing)
  // when the clip would take the queue past its bound.
  bool push(const std::vector<int16_t>& samples);
  // Like push(), but a feed that runs ahead drops its oldest queued samples
  // instead of being refused (continuous inputs cannot retry).
  void push_dropping(const std::vector<int16_t>& samples);
  // Fills out[0..n) with queued speech, then silence. Returns the number of
  // speech samples taken.
  size_t pop(int16_t* out, size_t n);
  void clear();

  uint64_t queued_samples() const;
  double queued_seconds() const { return static_cast<double>(queued_samples()) / kRate; }
  double max_seconds() const { return static_cast<double>(max_samples_) / kRate; }
  uint64_t dropped_samples() const;

 private:
  mutable std::mutex mu_;
  std::deque<int16_t> samples_;
  uint64_t max_samples_;
  uint64_t dropped_ = 0;
};
