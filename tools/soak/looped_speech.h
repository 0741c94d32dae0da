// Speech for long runs: a recording decoded once to 16 kHz mono S16 and fed
// to an appsrc over and over on one continuous timeline, so an hour of
// stream costs one recording's memory and never a file re-open.
#pragma once

#include <gst/app/gstappsrc.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace tavce::soak {

inline constexpr int kSampleRate = 16000;

// Decodes any file GStreamer can play (decodebin) to 16 kHz mono S16.
// Throws std::runtime_error with the pipeline's message when it cannot, or
// when the file holds no audio.
std::vector<int16_t> decode_speech(const std::string& path);

// Pushes `total_samples` samples of `speech`, looped, into `src` from a
// thread of its own (appsrc's block=true paces it to the pipeline), then
// end-of-stream. Buffers hold one second or less and point into `speech`
// (no copy), which must outlive the feeder.
class LoopFeeder {
 public:
  LoopFeeder(GstAppSrc* src, const std::vector<int16_t>& speech, uint64_t total_samples);
  ~LoopFeeder();  // joins; stop() first if the pipeline is not draining
  void stop();    // ends the loop at the next buffer (the pipeline is going down)
  uint64_t pushed_samples() const { return pushed_.load(); }

 private:
  void run();

  GstAppSrc* src_;
  const std::vector<int16_t>& speech_;
  uint64_t total_;
  std::atomic<uint64_t> pushed_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace tavce::soak
