// The viewer side of the latency measurement: an rtspsrc client on loopback
// (TCP, a small jitter-buffer latency) that decodes the H.264 video to gray
// frames and the Opus audio to 48 kHz mono S16, and hands every frame and
// audio buffer to the caller with the moment it arrived (CLOCK_MONOTONIC,
// the clock GStreamer's system clock and g_get_monotonic_time() share) and
// its play-out time (when a synchronised sink of this client would present
// it: base time + running time + the client's latency).
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace serve_latency {

struct ClientFrame {
  int64_t arrival_us = 0;
  int64_t playout_us = 0;  // 0 when unknown
  int width = 0, height = 0;
  std::vector<uint8_t> gray;  // width * height, tightly packed
};

struct ClientAudio {
  int64_t arrival_us = 0;
  int64_t playout_us = 0;
  std::vector<int16_t> samples;  // 48 kHz mono
};

class RtspClient {
 public:
  using FrameFn = std::function<void(ClientFrame&&)>;
  using AudioFn = std::function<void(ClientAudio&&)>;

  // Called from GStreamer's streaming threads.
  RtspClient(std::string url, unsigned latency_ms, std::string buffer_mode, FrameFn on_frame, AudioFn on_audio);
  ~RtspClient();
  RtspClient(const RtspClient&) = delete;
  RtspClient& operator=(const RtspClient&) = delete;

  // Builds and plays the client; false with a message when it cannot.
  bool start(std::string& error);
  // The first error or EOS on the client's bus since start, if any (polls).
  std::string poll_error();
  // The client pipeline's own latency (what play-out adds to arrival), ms.
  double latency_ms() const;

 private:
  static GstFlowReturn on_video_sample(GstElement* sink, gpointer self);
  static GstFlowReturn on_audio_sample(GstElement* sink, gpointer self);
  int64_t playout_us(GstSample* sample) const;

  std::string url_;
  unsigned latency_ms_;
  std::string buffer_mode_;  // rtspsrc buffer-mode nick
  FrameFn on_frame_;
  AudioFn on_audio_;
  GstElement* pipeline_ = nullptr;
};

}  // namespace serve_latency
