// RTSP output: rtsp://BIND:PORT/NAME for every avatar (gst-rtsp-server).
//
// Each mount is a *shared* media factory whose media is only payloaders fed by
// appsrcs:  ( appsrc ! rtph264pay name=pay0   appsrc ! rtpopuspay name=pay1 ).
// While at least one client watches an avatar, one media exists for it, and
// one TeeBranch per stream bridges the avatar's tees into it; every further
// client joins that media. So viewers never add a render, and the clients of
// one avatar cost one pair of payloaders together.
//
// Timing: the media pipeline runs on the system clock with base time 0 (its
// running time is the clock's time), and a sample leaves the avatar pipeline
// at base + running time + latency, which is exactly the time it gets in the
// media. Audio and video keep the one timeline of the avatar, and the RTCP
// sender reports give clients the lip-sync mapping.
#pragma once

#include <gst/rtsp-server/rtsp-server.h>

#include <memory>
#include <string>

#include "avatar.h"
#include "config.h"

class RtspOutput {
 public:
  RtspOutput(AvatarSet& avatars, const ServeConfig& cfg);
  ~RtspOutput();
  // Mounts every avatar and listens on the default main context.
  bool start(std::string& error);
  // Stops listening and ends every bridge into the avatars (before they stop).
  void stop();

  struct Bridges;
  int port() const { return port_; }

 private:
  AvatarSet& avatars_;
  const ServeConfig& cfg_;
  GstRTSPServer* server_ = nullptr;
  guint source_ = 0;
  guint cleanup_timer_ = 0;
  int port_ = 0;
  // Shared with every mount's and media's signal context: a media that
  // unprepares after this output is gone (a session ending late) still finds it.
  std::shared_ptr<Bridges> bridges_;
};
