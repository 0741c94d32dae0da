#include "config.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep)) out.push_back(part);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

long parse_int(const std::string& text, const std::string& what, long lo, long hi) {
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < lo || v > hi)
    throw ConfigError(what + ": '" + text + "' is not a whole number in [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + "]");
  return v;
}

double parse_double(const std::string& text, const std::string& what, double lo, double hi) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v) || v < lo || v > hi)
    throw ConfigError(what + ": '" + text + "' is not a number in [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + "]");
  return v;
}

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  return true;
}

// One setting from the file or the command line (same keys, without "--").
void apply(ServeConfig& cfg, const std::string& key, const std::string& value) {
  if (key == "bind") {
    if (value.empty()) throw ConfigError("bind: an address is needed (e.g. 127.0.0.1 or 0.0.0.0)");
    cfg.bind = value;
  } else if (key == "http-port") {
    cfg.http_port = static_cast<int>(parse_int(value, "--http-port", 0, 65535));
  } else if (key == "rtsp-port") {
    cfg.rtsp_port = static_cast<int>(parse_int(value, "--rtsp-port", 0, 65535));
  } else if (key == "token") {
    cfg.token = value;
  } else if (key == "max-body") {
    cfg.max_body = parse_size(value, "--max-body");
    if (cfg.max_body < 1024) throw ConfigError("--max-body: at least 1k is needed for a WAV header and some speech");
  } else if (key == "max-queue") {
    cfg.max_queue_seconds = parse_double(value, "--max-queue (seconds)", 1.0, 3600.0);
  } else if (key == "latency-budget") {
    cfg.latency_budget_ms = static_cast<unsigned>(parse_int(value, "--latency-budget (ms)", 0, 5000));
  } else if (key == "max-restarts") {
    cfg.max_restarts = static_cast<int>(parse_int(value, "--max-restarts", 0, 1000));
  } else if (key == "max-webrtc-viewers") {
    cfg.max_webrtc_viewers = static_cast<unsigned>(parse_int(value, "--max-webrtc-viewers", 0, 1000));
  } else if (key == "viewer-token") {
    cfg.viewer_token = value;
  } else if (key == "webrtc-connect-timeout") {
    cfg.webrtc_connect_timeout_s = static_cast<unsigned>(parse_int(value, "--webrtc-connect-timeout (s)", 1, 600));
  } else if (key == "avatar") {
    AvatarConfig a = parse_avatar_spec(value);
    for (const auto& other : cfg.avatars)
      if (other.name == a.name) throw ConfigError("avatar '" + a.name + "' is given twice");
    cfg.avatars.push_back(a);
  } else if (key == "rtp") {
    apply_rtp_spec(cfg, value);
  } else {
    throw ConfigError("unknown setting '" + key + "' (see --help)");
  }
}

void read_file(ServeConfig& cfg, const std::string& path, std::vector<std::string>& deferred_rtp) {
  std::ifstream in(path);
  if (!in) throw ConfigError("--config: cannot read '" + path + "'");
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find('=');
    if (eq == std::string::npos)
      throw ConfigError(path + ":" + std::to_string(lineno) + ": expected KEY = VALUE, got '" + line + "'");
    const std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    try {
      if (key == "rtp")
        deferred_rtp.push_back(value);  // after every avatar of the file is known
      else
        apply(cfg, key, value);
    } catch (const ConfigError& e) {
      throw ConfigError(path + ":" + std::to_string(lineno) + ": " + e.what());
    }
  }
}

}  // namespace

uint64_t parse_size(const std::string& text, const std::string& what) {
  if (text.empty()) throw ConfigError(what + ": a size is needed (e.g. 16M)");
  uint64_t mult = 1;
  std::string digits = text;
  switch (text.back()) {
    case 'k': case 'K': mult = 1024; break;
    case 'm': case 'M': mult = 1024ull * 1024; break;
    case 'g': case 'G': mult = 1024ull * 1024 * 1024; break;
    default: break;
  }
  if (mult != 1) digits.pop_back();
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(digits.c_str(), &end, 10);
  if (digits.empty() || *end != '\0' || errno != 0 || digits[0] == '-' || v > (1ull << 40) / mult)
    throw ConfigError(what + ": '" + text + "' is not a size (a number of bytes, or with k, M or G)");
  return v * mult;
}

AvatarConfig parse_avatar_spec(const std::string& spec) {
  const auto parts = split(spec, ':');
  if (parts.size() < 2 || parts.size() > 4)
    throw ConfigError("--avatar '" + spec + "': expected NAME:PORTRAIT[:BUNDLE[:VOICE]]");
  AvatarConfig a;
  a.name = parts[0];
  a.portrait = parts[1];
  if (parts.size() > 2) a.bundle = parts[2];
  if (parts.size() > 3) a.voice = parts[3];
  if (!valid_name(a.name))
    throw ConfigError("--avatar '" + spec + "': the name '" + a.name +
                      "' must be 1-64 letters, digits, '-' or '_' (it is a URL path segment)");
  if (a.portrait.empty()) throw ConfigError("--avatar '" + spec + "': no portrait file");
  std::ifstream probe(a.portrait, std::ios::binary);
  if (!probe) throw ConfigError("avatar '" + a.name + "': cannot read the portrait '" + a.portrait + "'");
  return a;
}

void apply_rtp_spec(ServeConfig& cfg, const std::string& spec) {
  const auto parts = split(spec, ':');
  if (parts.size() < 2 || parts.size() > 5)
    throw ConfigError("--rtp '" + spec + "': expected NAME:PORT[:opus|l16[:RATE[:CHANNELS]]]");
  AvatarConfig* target = nullptr;
  for (auto& a : cfg.avatars)
    if (a.name == parts[0]) target = &a;
  if (!target) throw ConfigError("--rtp '" + spec + "': no avatar named '" + parts[0] + "' (give --avatar first)");
  RtpInputConfig r;
  r.port = static_cast<int>(parse_int(parts[1], "--rtp port", 1, 65535));
  if (parts.size() > 2) r.codec = parts[2];
  if (r.codec != "opus" && r.codec != "l16")
    throw ConfigError("--rtp '" + spec + "': codec '" + r.codec + "' is not opus or l16");
  if (parts.size() > 3) r.rate = static_cast<int>(parse_int(parts[3], "--rtp rate", 8000, 192000));
  if (parts.size() > 4) r.channels = static_cast<int>(parse_int(parts[4], "--rtp channels", 1, 2));
  if (r.codec == "opus" && parts.size() > 3) throw ConfigError("--rtp '" + spec + "': Opus is always 48000 Hz");
  target->rtp = r;
}

ServeConfig parse_serve_args(int argc, char** argv, bool& help) {
  ServeConfig cfg;
  help = false;
  // The file first, wherever --config appears, so the command line overrides it.
  std::vector<std::string> file_rtp;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config") {
      if (i + 1 >= argc) throw ConfigError("--config needs a file");
      read_file(cfg, argv[i + 1], file_rtp);
    } else if (arg.rfind("--config=", 0) == 0) {
      read_file(cfg, arg.substr(9), file_rtp);
    }
  }
  std::vector<std::string> cli_rtp;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      help = true;
      return cfg;
    }
    if (arg.rfind("--", 0) != 0) throw ConfigError("unexpected argument '" + arg + "' (see --help)");
    std::string key = arg.substr(2), value;
    const size_t eq = key.find('=');
    if (eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
    } else {
      if (i + 1 >= argc) throw ConfigError(arg + " needs a value");
      value = argv[++i];
    }
    if (key == "config") continue;
    if (key == "rtp") {
      cli_rtp.push_back(value);
      continue;
    }
    // Command-line settings replace the file's (avatars add to them).
    apply(cfg, key, value);
  }
  for (const auto& spec : file_rtp) apply_rtp_spec(cfg, spec);
  for (const auto& spec : cli_rtp) apply_rtp_spec(cfg, spec);
  if (cfg.avatars.empty()) throw ConfigError("no avatar to serve: give --avatar NAME:PORTRAIT (see --help)");
  std::set<int> ports;
  for (const auto& a : cfg.avatars) {
    if (a.rtp.port == 0) continue;
    if (!ports.insert(a.rtp.port).second)
      throw ConfigError("RTP port " + std::to_string(a.rtp.port) + " is given to two avatars");
  }
  return cfg;
}

const char* serve_usage() {
  return R"(tavce-serve: live talking-head avatars over RTSP (and WebRTC), driven by speech over HTTP.

Usage: tavce-serve --avatar NAME:PORTRAIT[:BUNDLE[:VOICE]] [--avatar ...] [options]

Options (each may also be a line KEY = VALUE of the --config file, without the dashes;
the command line overrides the file, and avatars of both are served):
  --avatar NAME:PORTRAIT[:BUNDLE[:VOICE]]  an avatar: URL name, portrait image, model bundle
                              (directory or name, default: the default bundle), espeak-ng voice
                              for /say (default en-us)
  --rtp NAME:PORT[:opus|l16[:RATE[:CHANNELS]]]  RTP/UDP audio input for avatar NAME
                              (opus: payload type any, 48 kHz; l16: RATE Hz, CHANNELS, default 48000 1)
  --bind ADDR                 address of the HTTP, RTSP and RTP sockets (default 127.0.0.1)
  --http-port N               HTTP API port (default 8080; 0 = any free port, printed at start)
  --rtsp-port N               RTSP port (default 8554; 0 = any free port, printed at start)
  --token SECRET              require 'Authorization: Bearer SECRET' on the publishing endpoints
  --max-body SIZE             largest request body (default 16M; k, M, G suffixes)
  --max-queue SECONDS         speech queued per avatar before POSTs get 429 (default 60)
  --latency-budget MS         compute time allowed per frame on top of the look-ahead (default 80)
  --max-restarts N            pipeline errors before an avatar is marked failed (default 3)
  --max-webrtc-viewers N      WebRTC viewers at once over all avatars; more get 503 (default 16)
  --viewer-token SECRET       require 'Authorization: Bearer SECRET' to open or close a WebRTC viewer
                              (the player page passes its ?token=SECRET on)
  --webrtc-connect-timeout S  drop a WebRTC viewer not connected S seconds after its answer (default 15)
  --config FILE               read settings from FILE
  -h, --help                  this text

HTTP: GET /healthz, GET /avatars, POST /avatars/NAME/speech (WAV, or raw S16LE with
?rate=R&channels=C), POST /avatars/NAME/say (text), POST /avatars/NAME/portrait (image),
DELETE /avatars/NAME/speech (drop the queued speech). RTSP: rtsp://ADDR:PORT/NAME.
WebRTC (WHEP): POST /avatars/NAME/whep (application/sdp offer), DELETE its Location;
a browser plays http://ADDR:PORT/avatars/NAME/player.
See docs/serving.md.
)";
}
