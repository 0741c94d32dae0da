// The HTTP API (libsoup-3.0), on the default main context:
//
//   GET  /healthz                    200 while at least one avatar runs, else 503
//   GET  /avatars                    JSON status of every avatar and of the process
//   POST /avatars/NAME/speech        WAV body (any rate, channels, PCM/float), or raw S16LE
//                                    with ?rate=R&channels=C (or Content-Type audio/L16;rate=R;channels=C):
//                                    queued after what the avatar still has to say (202)
//   DELETE /avatars/NAME/speech      drops the queued speech (barge-in)
//   POST /avatars/NAME/say           text/plain, spoken with espeak-ng in the avatar's voice (202)
//   POST /avatars/NAME/portrait      PNG/JPEG: the avatar's new identity, checked first (200)
//   POST /avatars/NAME/restart       rebuilds the avatar's pipeline, as after an error (202)
//
// Publishing endpoints (the POSTs and DELETE) need `Authorization: Bearer
// TOKEN` when --token is set (401 otherwise). Bodies above --max-body are
// refused with 413 from Content-Length before they are read, or, without one
// (chunked), as soon as they pass the limit, and never held in memory beyond
// it. Decoding, text-to-speech and portrait checks run on worker threads; the
// main loop (RTSP, the other requests) never waits for them. Every error is a
// JSON body {"error": "..."} with a sentence saying what to change.
#pragma once

#include <libsoup/soup.h>

#include <string>

#include "avatar.h"
#include "config.h"

class HttpApi {
 public:
  HttpApi(AvatarSet& avatars, const ServeConfig& cfg);
  ~HttpApi();
  bool start(std::string& error);
  int port() const { return port_; }
  SoupServer* server() const { return server_; }
  // For the status page: where RTSP viewers connect.
  void set_rtsp_port(int port) { rtsp_port_ = port; }

  struct Impl;

 private:
  Impl* impl_;
  SoupServer* server_ = nullptr;
  int port_ = 0;
  int rtsp_port_ = 0;
};
