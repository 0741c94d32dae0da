// tavce-serve-latency: latency of tavce-serve as a viewer sees it, and of
// its elements; torch-free (GStreamer, libsoup, OpenCV for the plot).
//
//   tavce-serve-latency serve --avatar NAME [options]     speech in over HTTP, RTSP out: JSON
//   tavce-serve-latency elements --portrait FILE [...]    LATENCY answers vs what each element adds: JSON
//   tavce-serve-latency soak-report --samples S --latency L --out-dir D   report.json + soak.png
//
// Definitions: serve_session.h and docs/serving.md ("Latency").
#include <gst/gst.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>
#include <iostream>
#include <stdexcept>

#include "common/cli.h"
#include "serve_latency/element_latency.h"
#include "serve_latency/serve_session.h"
#include "serve_latency/soak_report.h"

namespace {

const char* kUsage =
    "usage: tavce-serve-latency serve --avatar NAME [--http URL] [--rtsp URL] [--token T]\n"
    "           [--speech a.wav,b.wav] [--utterances N | --minutes M] [--min-gap S] [--max-gap S] [--seed N]\n"
    "           [--client-latency MS] [--client-buffer-mode auto|none|slave|synced] [--audio-threshold DBFS] [--video-margin X] [--video-floor LEVELS]\n"
    "           [--max-shift PX] [--video-frames N] [--mouth-box x0,y0,x1,y1] [--trace FILE.jsonl]\n"
    "       tavce-serve-latency elements --portrait FILE [--model BUNDLE] [--seconds S] [--warmup S] [--tolerance MS]\n"
    "       tavce-serve-latency soak-report --samples FILE --latency FILE --out-dir DIR [--extra JSON]\n";

int serve(const tavce::tools::Args& a) {
  serve_latency::ServeOptions o;
  o.avatar = a.get("avatar", "");
  o.http = a.get("http", o.http);
  o.rtsp = a.get("rtsp", "");
  o.token = a.get("token", "");
  o.speech = tavce::tools::split_list(a.get("speech", ""));
  o.utterances = a.get_int("utterances", o.utterances);
  o.minutes = a.get_double("minutes", 0);
  o.min_gap = a.get_double("min-gap", o.min_gap);
  o.max_gap = a.get_double("max-gap", o.max_gap);
  o.seed = static_cast<unsigned>(a.get_int("seed", 1));
  o.client_latency_ms = static_cast<unsigned>(a.get_int("client-latency", 0));
  o.client_buffer_mode = a.get("client-buffer-mode", o.client_buffer_mode);
  o.audio_threshold_dbfs = a.get_double("audio-threshold", o.audio_threshold_dbfs);
  o.video_margin = a.get_double("video-margin", o.video_margin);
  o.video_floor = a.get_double("video-floor", o.video_floor);
  o.mouth_box = a.get("mouth-box", "");
  o.max_shift = a.get_int("max-shift", o.max_shift);
  o.video_frames = a.get_int("video-frames", o.video_frames);
  if (o.video_frames < 1 || o.video_frames > 10) throw std::runtime_error("--video-frames must be 1..10");
  if (o.max_shift < 0 || o.max_shift > 16) throw std::runtime_error("--max-shift must be 0..16 pixels");
  o.trace = a.get("trace", "");
  if (o.utterances < 1) throw std::runtime_error("--utterances must be >= 1");
  std::cout << serve_latency::run_serve_latency(o).dump(2) << std::endl;
  return 0;
}

int elements(const tavce::tools::Args& a) {
  serve_latency::ElementLatencyOptions o;
  o.portrait = a.get("portrait", "");
  o.model = a.get("model", "");
  o.seconds = a.get_double("seconds", o.seconds);
  o.warmup_seconds = a.get_double("warmup", o.warmup_seconds);
  o.tolerance_ms = a.get_double("tolerance", o.tolerance_ms);
  if (o.seconds <= 0 || o.warmup_seconds < 0) throw std::runtime_error("--seconds must be > 0 and --warmup >= 0");
  std::cout << serve_latency::measure_element_latency(o).dump(2) << std::endl;
  return 0;
}

int soak_report(const tavce::tools::Args& a) {
  nlohmann::json extra = nlohmann::json::object();
  if (a.has("extra")) extra = nlohmann::json::parse(a.get("extra", "{}"));
  const std::string samples = a.get("samples", ""), latency = a.get("latency", ""), out = a.get("out-dir", "");
  if (samples.empty() || latency.empty() || out.empty())
    throw std::runtime_error("soak-report needs --samples, --latency and --out-dir");
  std::cout << serve_latency::write_soak_report(samples, latency, out, extra).dump(2) << std::endl;
  return 0;
}

// Options a command knows; anything else is a typo the user should hear about.
void check_options(const tavce::tools::Args& a, const std::vector<std::string>& known) {
  for (const auto& [name, value] : a.options)
    if (std::find(known.begin(), known.end(), name) == known.end())
      throw std::runtime_error("unknown option --" + name + "\n" + kUsage);
  if (!a.positional.empty()) throw std::runtime_error("unexpected argument '" + a.positional.front() + "'\n" + kUsage);
}

}  // namespace

int main(int argc, char** argv) {
  return tavce::tools::run_tool("tavce-serve-latency", [&]() {
    if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
      std::fputs(kUsage, argc < 2 ? stderr : stdout);
      return argc < 2 ? 2 : 0;
    }
    gst_init(nullptr, nullptr);
    const std::string cmd = argv[1];
    const tavce::tools::Args a = tavce::tools::parse_args(argc - 1, argv + 1);
    if (cmd == "serve") {
      check_options(a, {"avatar", "http", "rtsp", "token", "speech", "utterances", "minutes", "min-gap", "max-gap", "seed",
                        "client-latency", "client-buffer-mode", "audio-threshold", "video-margin", "video-floor", "mouth-box", "max-shift", "video-frames", "trace"});
      return serve(a);
    }
    if (cmd == "elements") {
      check_options(a, {"portrait", "model", "seconds", "warmup", "tolerance"});
      return elements(a);
    }
    if (cmd == "soak-report") {
      check_options(a, {"samples", "latency", "out-dir", "extra"});
      return soak_report(a);
    }
    throw std::runtime_error("unknown command '" + cmd + "'\n" + kUsage);
  });
}
