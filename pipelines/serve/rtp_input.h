// A continuous speech feed over RTP/UDP for one avatar (--rtp NAME:PORT...):
//
//   udpsrc ! rtpjitterbuffer ! depayload (Opus or L16) ! decode ! audioconvert
//     ! audioresample ! 48 kHz mono S16 ! appsink  -> the avatar's speech queue
//
// Senders use payload type 96 (Opus) and any dynamic type for L16. A feed is real time, so the queue stays at about the jitter buffer's depth;
// one that runs ahead loses its oldest samples past --max-queue instead of
// being refused (it cannot retry). Its own pipeline: a broken feed never
// touches the avatar's render.
#pragma once

#include <gst/gst.h>

#include <string>

#include "avatar.h"

class RtpInput {
 public:
  RtpInput(Avatar& avatar, const std::string& bind) : avatar_(avatar), bind_(bind) {}
  ~RtpInput() {
    if (restart_) g_source_remove(restart_);
    stop();
  }
  RtpInput(const RtpInput&) = delete;
  RtpInput& operator=(const RtpInput&) = delete;
  // Binds the port; false with a message when it cannot.
  bool start(std::string& error);
  void stop();

 private:
  static GstFlowReturn on_sample(GstElement* sink, gpointer self);
  static gboolean on_bus(GstBus*, GstMessage* msg, gpointer self);

  Avatar& avatar_;
  std::string bind_;
  GstElement* pipeline_ = nullptr;
  guint bus_watch_ = 0;
  guint restart_ = 0;  // pending re-listen after an error
};
