// The speech waiting to be spoken by one avatar: 48 kHz mono S16 samples,
// bounded in time. Producers (HTTP uploads, text-to-speech, the RTP feed)
// append whole clips; the avatar's paced audio source takes fixed chunks in
// real time and fills what the queue lacks with silence, so the audio clock
// never stops. Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

class SpeechQueue {
 public:
  static constexpr int kRate = 48000;

  explicit SpeechQueue(double max_seconds) : max_samples_(static_cast<uint64_t>(max_seconds * kRate)) {}

  // Appends a clip after what is queued. Returns where its first sample
  // will be taken (a position: samples taken so far, speech and silence,
  // plus those queued before it), or nothing (and queues nothing) when the
  // clip would take the queue past its bound. A later clear() or dropping
  // push moves the clip earlier than that.
  std::optional<uint64_t> push(const std::vector<int16_t>& samples);
  // Like push(), but a feed that runs ahead drops its oldest queued samples
  // instead of being refused (continuous inputs cannot retry).
  void push_dropping(const std::vector<int16_t>& samples);
  // Fills out[0..n) with queued speech, then silence. Returns the number of
  // speech samples taken. stream_ns is the stream time the caller gives
  // out[0]; positions are mapped to stream time from the latest one.
  size_t pop(int16_t* out, size_t n, uint64_t stream_ns);
  // The stream time (seconds) a position from push() plays at, counted at
  // the queue's rate from the latest pop(): exact unless the caller's stream
  // time jumps (a restart, or a source that skipped ahead) before it plays.
  double stream_seconds_at(uint64_t position) const;
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
  uint64_t taken_ = 0;           // samples popped since construction, speech and silence
  uint64_t last_pop_ns_ = 0;     // stream time of the latest pop's first sample
  uint64_t last_pop_taken_ = 0;  // taken_ before the latest pop
};
