// tavce-soak: a long run of the element pipeline (issue 15). Speech, looped to
// the asked length, goes through
//   appsrc -> tavcemelspec -> tavceaudio2coeff -> tavcerenderer -> fakesink
// (sync=false: an hour of audio runs as fast as the elements go). Every
// --sample-every seconds of *stream* time (the rendered frames' timestamps)
// the process's resident memory, threads and open descriptors are sampled.
// The JSON report says how many frames came out against how many the audio
// makes (duration x 25, +-1: the mel stream knows the sample count only to
// within one hop, docs/elements/tavceaudio2coeff.md), how much memory grew
// after the first minute, and whether the run passed.
//
// GStreamer only (no LibTorch): the elements are loaded from the plugin like
// any application would, so this is the process an application would be.
//
// Exit status: 0 pass, 1 the run finished but failed a check, 2 it could not
// run (bad arguments, unreadable audio, a pipeline error, the time limit).

#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "soak/looped_speech.h"
#include "soak/process_stats.h"

namespace {

using tavce::soak::kSampleRate;
using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "usage: tavce-soak [--minutes M] [--audio FILE] [--portrait IMAGE] [--model BUNDLE]\n"
    "                  [--sample-every SECONDS] [--baseline SECONDS] [--max-growth PERCENT]\n"
    "                  [--timeout SECONDS] [--out REPORT.json]\n"
    "Streams M minutes (default 60) of FILE's speech, looped, through tavcemelspec ! tavceaudio2coeff !\n"
    "tavcerenderer ! fakesink and reports frames and resident memory per stream minute as JSON.\n"
    "Defaults: FILE $TAVCE_DATA_DIR/audio/news_eng_60s.wav, IMAGE $TAVCE_DATA_DIR/image/people_0.png\n"
    "($TAVCE_DATA_DIR defaults to ../shared/data), BUNDLE the default (lite) bundle, samples every 60 s,\n"
    "growth measured against the sample at 60 s and allowed up to 5 %, time limit 300 s + the stream length.\n";

struct Options {
  double minutes = 60;
  std::string audio, portrait, model, out;
  double sample_every = 60, baseline = 60, max_growth = 5, timeout = -1;
};

std::string data_dir() {
  const char* d = std::getenv("TAVCE_DATA_DIR");
  return d && *d ? d : "../shared/data";
}

double parse_number(const std::string& name, const std::string& text) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  throw std::invalid_argument("--" + name + " takes a number, not '" + text + "'");
}

Options parse_options(int argc, char** argv) {
  Options o;
  o.audio = data_dir() + "/audio/news_eng_60s.wav";
  o.portrait = data_dir() + "/image/people_0.png";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (arg.rfind("--", 0) != 0 || i + 1 >= argc) throw std::invalid_argument("unexpected argument '" + arg + "'");
    const std::string name = arg.substr(2), value = argv[++i];
    if (name == "minutes") o.minutes = parse_number(name, value);
    else if (name == "audio") o.audio = value;
    else if (name == "portrait") o.portrait = value;
    else if (name == "model") o.model = value;
    else if (name == "out") o.out = value;
    else if (name == "sample-every") o.sample_every = parse_number(name, value);
    else if (name == "baseline") o.baseline = parse_number(name, value);
    else if (name == "max-growth") o.max_growth = parse_number(name, value);
    else if (name == "timeout") o.timeout = parse_number(name, value);
    else throw std::invalid_argument("unknown option --" + name);
  }
  if (o.minutes <= 0 || o.minutes > 24 * 60) throw std::invalid_argument("--minutes must be in (0, 1440]");
  if (o.sample_every < 1) throw std::invalid_argument("--sample-every must be at least 1 second");
  if (o.baseline < 0) throw std::invalid_argument("--baseline must not be negative");
  if (o.max_growth < 0) throw std::invalid_argument("--max-growth must not be negative");
  if (o.timeout < 0) o.timeout = 300 + o.minutes * 60;
  return o;
}

struct Sample {
  double stream_s = 0, wall_s = 0;
  int64_t frames = 0;
  tavce::soak::ProcessStats stats;
};

// Counts rendered frames at the sink and samples the process every
// `every` seconds of stream time (frame end = PTS + duration).
struct Watch {
  GstClockTime every = 0;
  GstClockTime next = 0;
  Clock::time_point start = Clock::now();
  std::atomic<int64_t> frames{0};
  std::mutex mutex;
  std::vector<Sample> samples;

  void sample(double stream_s) {
    Sample s;
    s.stream_s = stream_s;
    s.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
    s.frames = frames.load();
    s.stats = tavce::soak::read_process_stats();
    std::lock_guard<std::mutex> lock(mutex);
    samples.push_back(s);
  }
};

GstPadProbeReturn on_frame(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* w = static_cast<Watch*>(data);
  GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
  w->frames++;
  if (GST_BUFFER_PTS_IS_VALID(buf) && GST_BUFFER_DURATION_IS_VALID(buf)) {
    const GstClockTime end = GST_BUFFER_PTS(buf) + GST_BUFFER_DURATION(buf);
    while (end >= w->next) {
      w->sample(static_cast<double>(w->next) / GST_SECOND);
      w->next += w->every;
    }
  }
  return GST_PAD_PROBE_OK;
}

GstElement* make(const char* factory, const char* name) {
  GstElement* e = gst_element_factory_make(factory, name);
  if (!e)
    throw std::runtime_error(std::string("element '") + factory +
                             "' not found (set GST_PLUGIN_PATH to the build's gst/ folder for the tavce elements)");
  return e;
}

// Runs the pipeline to EOS; returns the error text, empty on success.
std::string run_pipeline(const Options& o, const std::vector<int16_t>& speech, uint64_t total_samples, Watch& watch) {
  GstElement* pipe = gst_pipeline_new("soak");
  GstElement* src = make("appsrc", "speech");
  GstElement* mel = make("tavcemelspec", "mel");
  GstElement* a2c = make("tavceaudio2coeff", "a2c");
  GstElement* ren = make("tavcerenderer", "renderer");
  GstElement* sink = make("fakesink", "sink");
  GstCaps* caps = gst_caps_new_simple("audio/x-raw", "format", G_TYPE_STRING, "S16LE", "rate", G_TYPE_INT, kSampleRate,
                                      "channels", G_TYPE_INT, 1, "layout", G_TYPE_STRING, "interleaved", nullptr);
  // block + max-bytes: the feeder waits for the pipeline instead of queueing
  // the hour in memory (two seconds of audio at most).
  g_object_set(src, "caps", caps, "format", GST_FORMAT_TIME, "block", TRUE, "max-bytes",
               static_cast<guint64>(2 * kSampleRate * 2), nullptr);
  gst_caps_unref(caps);
  g_object_set(a2c, "model", o.model.c_str(), nullptr);
  g_object_set(ren, "model", o.model.c_str(), "source-image", o.portrait.c_str(), nullptr);
  g_object_set(sink, "sync", FALSE, nullptr);
  gst_bin_add_many(GST_BIN(pipe), src, mel, a2c, ren, sink, nullptr);
  if (!gst_element_link_many(src, mel, a2c, ren, sink, nullptr)) {
    gst_object_unref(pipe);
    return "could not link appsrc ! tavcemelspec ! tavceaudio2coeff ! tavcerenderer ! fakesink";
  }
  GstPad* sinkpad = gst_element_get_static_pad(sink, "sink");
  gst_pad_add_probe(sinkpad, GST_PAD_PROBE_TYPE_BUFFER, on_frame, &watch, nullptr);
  gst_object_unref(sinkpad);

  std::string error;
  watch.start = Clock::now();
  std::optional<tavce::soak::LoopFeeder> feeder;
  GstBus* bus = gst_element_get_bus(pipe);
  if (gst_element_set_state(pipe, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    error = "the pipeline did not start";
    if (GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {  // the element that refused says why
      GError* e = nullptr;
      gst_message_parse_error(msg, &e, nullptr);
      if (e) error += std::string(": ") + GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)) + ": " + e->message;
      g_clear_error(&e);
      gst_message_unref(msg);
    }
  } else {
    feeder.emplace(GST_APP_SRC(src), speech, total_samples);
  }

  const auto deadline = watch.start + std::chrono::duration<double>(o.timeout);
  while (error.empty()) {
    GstMessage* msg = gst_bus_timed_pop_filtered(bus, GST_SECOND,
        static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    if (!msg) {
      if (Clock::now() > deadline) {
        char text[160];
        std::snprintf(text, sizeof text, "time limit of %.0f s reached after %lld frames", o.timeout,
                      static_cast<long long>(watch.frames.load()));
        error = text;
      }
      continue;
    }
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
      GError* e = nullptr;
      gchar* dbg = nullptr;
      gst_message_parse_error(msg, &e, &dbg);
      error = std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(msg))) + ": " + (e ? e->message : "unknown error") +
              (dbg ? std::string(" (") + dbg + ")" : "");
      g_clear_error(&e);
      g_free(dbg);
    }
    const bool eos = GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS;
    gst_message_unref(msg);
    if (eos) {
      // A stream that ends short of its last boundary (the last frame may be
      // missing) still gets its final figure, taken before the teardown.
      const double end_s = static_cast<double>(total_samples) / kSampleRate;
      const double every_s = static_cast<double>(watch.every) / GST_SECOND;
      if (watch.samples.empty() || watch.samples.back().stream_s + every_s <= end_s + 1e-9) watch.sample(end_s);
      break;
    }
  }
  if (feeder) feeder->stop();
  gst_element_set_state(pipe, GST_STATE_NULL);  // unblocks the feeder's push (flushing)
  feeder.reset();
  gst_object_unref(bus);
  gst_object_unref(pipe);
  return error;
}

nlohmann::json report(const Options& o, uint64_t total_samples, size_t speech_samples, const Watch& w,
                      const std::string& error, double wall_s, bool* pass) {
  const double stream_s = static_cast<double>(total_samples) / kSampleRate;
  // 25 fps: one frame per 640 samples; the last may be missing (see the top).
  const int64_t expected = static_cast<int64_t>(total_samples / 640);
  const int64_t frames = w.frames.load();

  nlohmann::json samples = nlohmann::json::array();
  std::optional<Sample> base;
  double max_rss = 0, last_rss = 0;
  int max_threads_growth = 0, max_fds_growth = 0;
  for (const Sample& s : w.samples) {
    samples.push_back({{"stream_s", s.stream_s}, {"wall_s", std::round(s.wall_s * 10) / 10}, {"frames", s.frames},
                       {"rss_mib", std::round(s.stats.rss_mib * 10) / 10}, {"threads", s.stats.threads},
                       {"fds", s.stats.fds}});
    if (!base && s.stream_s >= o.baseline) {
      base = s;
      continue;
    }
    if (base) {
      max_rss = std::max(max_rss, s.stats.rss_mib);
      last_rss = s.stats.rss_mib;
      max_threads_growth = std::max(max_threads_growth, s.stats.threads - base->stats.threads);
      max_fds_growth = std::max(max_fds_growth, s.stats.fds - base->stats.fds);
    }
  }
  const bool have_growth = base && max_rss > 0;
  const double growth = have_growth ? (max_rss - base->stats.rss_mib) / base->stats.rss_mib * 100 : NAN;

  std::vector<std::string> failures;
  if (!error.empty()) failures.push_back(error);
  if (std::llabs(frames - expected) > 1)
    failures.push_back(std::to_string(frames) + " frames, expected " + std::to_string(expected) + " +- 1");
  if (!have_growth)
    failures.push_back("no memory sample after the baseline at " + std::to_string(o.baseline) +
                       " s: the run is too short for a growth figure");
  else if (growth >= o.max_growth)
    failures.push_back("resident memory grew " + std::to_string(growth) + " % after the baseline (limit " +
                       std::to_string(o.max_growth) + " %)");
  // Threads and descriptors are counts, not noisy sizes: any growth is a leak.
  if (max_threads_growth > 0) failures.push_back("threads grew by " + std::to_string(max_threads_growth));
  if (max_fds_growth > 0) failures.push_back("open file descriptors grew by " + std::to_string(max_fds_growth));
  *pass = failures.empty();

  nlohmann::json j;
  j["pipeline"] = "appsrc (looped speech) ! tavcemelspec ! tavceaudio2coeff ! tavcerenderer ! fakesink sync=false";
  j["audio"] = o.audio;
  j["audio_loop_s"] = static_cast<double>(speech_samples) / kSampleRate;
  j["portrait"] = o.portrait;
  j["model"] = o.model.empty() ? "default" : o.model;
  j["stream_s"] = stream_s;
  j["frames"] = frames;
  j["expected_frames"] = expected;
  j["wall_s"] = std::round(wall_s * 10) / 10;
  j["frames_per_s"] = wall_s > 0 ? std::round(frames / wall_s * 10) / 10 : 0.0;
  j["baseline_s"] = base ? base->stream_s : o.baseline;
  j["baseline_rss_mib"] = base ? std::round(base->stats.rss_mib * 10) / 10 : 0.0;
  j["max_rss_mib_after_baseline"] = std::round(max_rss * 10) / 10;
  j["last_rss_mib"] = std::round(last_rss * 10) / 10;
  j["rss_growth_pct"] = have_growth ? nlohmann::json(std::round(growth * 100) / 100) : nlohmann::json(nullptr);
  j["max_growth_pct_allowed"] = o.max_growth;
  j["threads_growth"] = max_threads_growth;
  j["fds_growth"] = max_fds_growth;
  j["samples"] = samples;
  j["pass"] = *pass;
  j["failures"] = failures;
  return j;
}

int run(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  const std::vector<int16_t> speech = tavce::soak::decode_speech(o.audio);
  const auto total_samples = static_cast<uint64_t>(std::llround(o.minutes * 60 * kSampleRate));

  Watch watch;
  watch.every = static_cast<GstClockTime>(std::llround(o.sample_every * GST_SECOND));
  watch.next = watch.every;
  const auto t0 = Clock::now();
  const std::string error = run_pipeline(o, speech, total_samples, watch);
  const double wall_s = std::chrono::duration<double>(Clock::now() - t0).count();

  bool pass = false;
  const nlohmann::json j = report(o, total_samples, speech.size(), watch, error, wall_s, &pass);
  if (!o.out.empty()) {
    std::ofstream f(o.out);
    f << j.dump(2) << "\n";
    if (!f) throw std::runtime_error("cannot write " + o.out);
  }
  std::cout << j.dump(2) << std::endl;
  if (!error.empty()) return 2;
  return pass ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  try {
    return run(argc, argv);
  } catch (const std::invalid_argument& e) {
    std::cerr << "tavce-soak: error: " << e.what() << "\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "tavce-soak: error: " << e.what() << "\n";
    return 2;
  }
}
