// tavce-serve: live talking-head avatars. See docs/serving.md and --help.
//
// Start-up order: configuration, GStreamer, the avatars (each must render its
// first frame, so a bad portrait or bundle stops here with exit status 2),
// then RTSP, HTTP and the RTP inputs (a port in use is exit status 2 too).
// Everything then runs on the default main loop until SIGINT or SIGTERM,
// which stop the avatars cleanly (exit status 0).
#include <glib-unix.h>
#include <gst/gst.h>

#include <malloc.h>

#include <csignal>
#include <memory>
#include <vector>

#include "avatar.h"
#include "config.h"
#include "http_api.h"
#include "rtp_input.h"
#include "rtsp_out.h"
#include "whep_endpoint.h"

namespace {

int fail(const std::string& message) {
  g_printerr("tavce-serve: %s\n", message.c_str());
  return 2;
}

bool have_elements(std::string& missing) {
  for (const char* e : {"tavcemelspec", "tavceaudio2coeff", "tavcerenderer", "x264enc", "opusenc", "rtph264pay",
                        "rtpopuspay", "appsrc", "audioresample"}) {
    GstElementFactory* f = gst_element_factory_find(e);
    if (!f) {
      missing += std::string(missing.empty() ? "" : ", ") + e;
      continue;
    }
    gst_object_unref(f);
  }
  return missing.empty();
}

}  // namespace

int main(int argc, char** argv) {
  // One line at a time, also into a pipe: supervisors and tests read the ports from it.
  setvbuf(stdout, nullptr, _IOLBF, 0);
  // Every short-lived streaming thread (speech conversion, portrait checks,
  // RTSP media) would otherwise get a malloc arena of its own until glibc's
  // limit (8 per core) is reached: tens of MiB of resident memory that look
  // like a leak in the first minutes. Two arenas serve this process's few
  // busy threads.
  mallopt(M_ARENA_MAX, 2);
  ServeConfig cfg;
  try {
    bool help = false;
    cfg = parse_serve_args(argc, argv, help);
    if (help) {
      g_print("%s", serve_usage());
      return 0;
    }
  } catch (const ConfigError& e) {
    return fail(e.what());
  }
  gst_init(nullptr, nullptr);
  std::string missing;
  if (!have_elements(missing))
    return fail("GStreamer elements missing: " + missing +
                " (tools/setup.sh installs them; for a build tree export GST_PLUGIN_PATH=build/gst)");
  // A client that vanishes must not kill the server with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);

  AvatarSet avatars;
  for (const auto& a : cfg.avatars) {
    auto avatar = std::make_unique<Avatar>(a, cfg);
    std::string error;
    if (!avatar->start(error)) return fail(error);
    avatars.add(std::move(avatar));
  }
  avatars.start_ticking();

  RtspOutput rtsp(avatars, cfg);
  HttpApi http(avatars, cfg);
  std::string error;
  if (!rtsp.start(error)) return fail(error);
  http.set_rtsp_port(rtsp.port());
  if (!http.start(error)) return fail(error);
  WhepOptions whep;
  // ICE host candidates on the served address only; all interfaces for a wildcard bind.
  whep.viewer.ice_address = cfg.bind == "0.0.0.0" || cfg.bind == "::" ? "" : cfg.bind;
  whep.viewer.connect_timeout_ms = cfg.webrtc_connect_timeout_s * 1000;
  whep.max_viewers = cfg.max_webrtc_viewers;
  whep.token = cfg.viewer_token;
  add_whep_routes(http.server(), avatars, whep);
  std::vector<std::unique_ptr<RtpInput>> feeds;
  for (const auto& a : avatars.all()) {
    if (a->config().rtp.port == 0) continue;
    feeds.push_back(std::make_unique<RtpInput>(*a, cfg.bind));
    if (!feeds.back()->start(error)) return fail(error);
  }

  g_print("tavce-serve: HTTP http://%s:%d/avatars, RTSP rtsp://%s:%d/NAME for", cfg.bind.c_str(), http.port(),
          cfg.bind.c_str(), rtsp.port());
  for (const auto& a : avatars.all()) g_print(" %s", a->name().c_str());
  g_print("\n");

  GMainLoop* loop = g_main_loop_new(nullptr, FALSE);
  auto quit = [](gpointer l) -> gboolean {
    g_print("tavce-serve: stopping\n");
    g_main_loop_quit(static_cast<GMainLoop*>(l));
    return G_SOURCE_REMOVE;
  };
  g_unix_signal_add(SIGINT, quit, loop);
  g_unix_signal_add(SIGTERM, quit, loop);
  g_main_loop_run(loop);
  g_main_loop_unref(loop);

  feeds.clear();
  rtsp.stop();  // its bridges hold on to the avatars' tees
  avatars.stop_all();
  g_print("tavce-serve: stopped\n");
  return 0;
}
