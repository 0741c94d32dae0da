// tavce-serve's configuration: command-line options and an optional
// key=value file (--config), with the avatars to serve. Parsing only checks
// syntax and ranges; whether a portrait has a face or a bundle loads is found
// out when the avatars start (main.cpp), with a message naming the avatar.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

// An RTP/UDP audio feed that speaks for one avatar (continuous input).
struct RtpInputConfig {
  int port = 0;                 // 0 = none
  std::string codec = "opus";   // opus | l16
  int rate = 48000;             // L16 only (Opus is always 48 kHz)
  int channels = 1;             // L16 only
};

struct AvatarConfig {
  std::string name;      // mount /NAME, URL path segment: [A-Za-z0-9_-]+
  std::string portrait;  // image file
  std::string bundle;    // model bundle directory or name; empty = the default bundle
  std::string voice;     // espeak-ng voice for POST .../say; empty = "en-us"
  RtpInputConfig rtp;
};

struct ServeConfig {
  std::string bind = "127.0.0.1";
  int http_port = 8080;
  int rtsp_port = 8554;
  std::string token;                          // bearer token for publishing endpoints; empty = open
  uint64_t max_body = 16ull * 1024 * 1024;    // bytes of one request body
  double max_queue_seconds = 60.0;            // speech queued per avatar
  unsigned latency_budget_ms = 80;            // compute budget added to the avatar pipeline's latency
  int max_restarts = 3;                       // pipeline errors before an avatar is marked failed
  unsigned max_webrtc_viewers = 16;           // WebRTC viewers over all avatars; the next POST gets 503
  std::string viewer_token;                   // bearer token for opening WebRTC viewers; empty = open
  unsigned webrtc_connect_timeout_s = 15;     // answered viewers that never connect are dropped after it
  std::vector<AvatarConfig> avatars;
};

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses argv (and the --config file it names, whose settings come first so
// that options given on the command line override them). Throws ConfigError
// with a message naming the option. Sets `help` for --help.
ServeConfig parse_serve_args(int argc, char** argv, bool& help);

// "NAME:PORTRAIT[:BUNDLE[:VOICE]]" (the --avatar form).
AvatarConfig parse_avatar_spec(const std::string& spec);
// "NAME:PORT[:CODEC[:RATE[:CHANNELS]]]" (the --rtp form); fills avatars[NAME].rtp.
void apply_rtp_spec(ServeConfig& cfg, const std::string& spec);
// "16M", "1048576", "64k" -> bytes.
uint64_t parse_size(const std::string& text, const std::string& what);

const char* serve_usage();
