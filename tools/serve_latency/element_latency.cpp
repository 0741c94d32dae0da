#include "serve_latency/element_latency.h"

#include <gst/gst.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "serve_latency/stats.h"

namespace serve_latency {

namespace {

// The avatar's launch line (pipelines/serve/avatar.cpp), with a live test
// tone instead of the paced speech queue (the elements' cost does not depend
// on what is said) and names on every element measured. A 20 ms source
// buffer [T, T+20 ms) leaves at T+20 ms, as the server's pacer does.
std::string launch_line() {
  return "audiotestsrc name=src is-live=true wave=pink-noise volume=0.3 samplesperbuffer=960"
         " ! audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved"
         " ! tee name=speech_tee"
         " speech_tee. ! queue name=video_queue max-size-time=500000000 max-size-buffers=0 max-size-bytes=0"
         " ! audioresample name=resample ! audio/x-raw,rate=16000,channels=1 ! tavcemelspec name=mel"
         " ! tavceaudio2coeff name=a2c ! tavcerenderer name=renderer"
         " ! videoconvert name=convert ! video/x-raw,format=I420"
         " ! x264enc name=x264 tune=zerolatency speed-preset=ultrafast key-int-max=50 bitrate=800 threads=1"
         " ! video/x-h264,profile=constrained-baseline ! h264parse name=parse config-interval=-1"
         " ! queue leaky=downstream max-size-buffers=25 max-size-time=0 max-size-bytes=0"
         " ! fakesink name=video_sink sync=true async=false qos=false"
         " speech_tee. ! queue name=audio_queue max-size-time=500000000 max-size-buffers=0 max-size-bytes=0"
         " ! opusenc name=opus frame-size=20 bitrate=48000"
         " ! queue leaky=downstream max-size-buffers=50 max-size-time=0 max-size-bytes=0"
         " ! fakesink name=audio_sink sync=true async=false qos=false";
}

// The measured chain: each element's upstream neighbour in the chain (for
// the per-element share of the cumulative LATENCY answers).
struct Stage {
  const char* name;
  const char* upstream;  // nullptr: the source
};
const Stage kStages[] = {
    {"src", nullptr},         {"video_queue", "src"}, {"resample", "video_queue"}, {"mel", "resample"},
    {"a2c", "mel"},           {"renderer", "a2c"},    {"convert", "renderer"},     {"x264", "convert"},
    {"parse", "x264"},        {"audio_queue", "src"}, {"opus", "audio_queue"},
};

struct PadTrace {
  std::mutex mu;
  std::vector<double> lateness_ms;  // after the warm-up
};

struct ProbeContext {
  GstElement* pipeline;
  PadTrace* trace;
  GstClockTime warmup;
};

double lateness_ms(GstPad* pad, GstBuffer* buf, GstElement* pipeline) {
  if (!GST_BUFFER_PTS_IS_VALID(buf)) return NAN;
  GstEvent* ev = gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0);
  if (!ev) return NAN;
  const GstSegment* seg = nullptr;
  gst_event_parse_segment(ev, &seg);
  const guint64 rt = gst_segment_to_running_time(seg, GST_FORMAT_TIME, GST_BUFFER_PTS(buf));
  gst_event_unref(ev);
  if (rt == GST_CLOCK_TIME_NONE) return NAN;
  GstClock* clock = gst_element_get_clock(pipeline);
  if (!clock) return NAN;
  const GstClockTime now = gst_clock_get_time(clock);
  gst_object_unref(clock);
  const GstClockTime base = gst_element_get_base_time(pipeline);
  return (static_cast<double>(now) - static_cast<double>(base) - static_cast<double>(rt)) / 1e6;
}

GstPadProbeReturn on_buffer(GstPad* pad, GstPadProbeInfo* info, gpointer data) {
  auto* ctx = static_cast<ProbeContext*>(data);
  GstBuffer* buf = nullptr;
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER) buf = GST_PAD_PROBE_INFO_BUFFER(info);
  else if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER_LIST)
    buf = gst_buffer_list_get(GST_PAD_PROBE_INFO_BUFFER_LIST(info), 0);
  if (!buf) return GST_PAD_PROBE_OK;
  if (GST_BUFFER_PTS_IS_VALID(buf) && GST_BUFFER_PTS(buf) < ctx->warmup) return GST_PAD_PROBE_OK;
  const double l = lateness_ms(pad, buf, ctx->pipeline);
  if (std::isfinite(l)) {
    std::lock_guard<std::mutex> lock(ctx->trace->mu);
    ctx->trace->lateness_ms.push_back(l);
  }
  return GST_PAD_PROBE_OK;
}

double query_latency_ms(GstPad* src, bool& live) {
  GstQuery* q = gst_query_new_latency();
  double ms = NAN;
  if (gst_pad_query(src, q)) {
    gboolean is_live = FALSE;
    GstClockTime min = 0, max = 0;
    gst_query_parse_latency(q, &is_live, &min, &max);
    live = is_live;
    ms = static_cast<double>(min) / 1e6;
  }
  gst_query_unref(q);
  return ms;
}

double max_of(const std::vector<double>& v) { return v.empty() ? NAN : *std::max_element(v.begin(), v.end()); }

// Nearest-rank quantile; NaN when empty.
double quantile_of(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  const size_t rank = std::min(v.size() - 1, static_cast<size_t>(std::ceil(q * static_cast<double>(v.size()))) - (q > 0 ? 1 : 0));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(rank), v.end());
  return v[rank];
}

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(std::round(v * 10) / 10) : nlohmann::json(); }

}  // namespace

nlohmann::json measure_element_latency(const ElementLatencyOptions& opt) {
  if (opt.portrait.empty()) throw std::runtime_error("elements: --portrait is required");
  // Declared before the pipeline's guard, so that they outlive it: the probes
  // read them until the guard has stopped the streaming threads.
  std::map<std::string, std::pair<std::unique_ptr<PadTrace>, std::unique_ptr<PadTrace>>> traces;
  std::vector<std::unique_ptr<ProbeContext>> contexts;
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch_full(launch_line().c_str(), nullptr, GST_PARSE_FLAG_FATAL_ERRORS, &err);
  if (!pipeline) {
    const std::string why = err ? err->message : "unknown";
    g_clear_error(&err);
    throw std::runtime_error("elements: cannot build the avatar pipeline: " + why +
                             " (is the tavce plugin on GST_PLUGIN_PATH, and x264enc/opusenc installed?)");
  }
  std::unique_ptr<GstElement, void (*)(GstElement*)> guard(pipeline, [](GstElement* p) {
    gst_element_set_state(p, GST_STATE_NULL);
    gst_object_unref(p);
  });
  auto by_name = [&](const char* name) { return gst_bin_get_by_name(GST_BIN(pipeline), name); };
  for (const char* n : {"a2c", "renderer"}) {
    GstElement* e = by_name(n);
    g_object_set(e, "source-image", opt.portrait.c_str(), nullptr);
    if (!opt.model.empty()) g_object_set(e, "model", opt.model.c_str(), nullptr);
    gst_object_unref(e);
  }
  // The server's pacer declares one chunk plus its --latency-budget (appsrc
  // min-latency) to cover the compute time that the elements' answers (their
  // look-ahead) leave out; audiotestsrc declares the chunk only, so the sum
  // of what the elements add beyond their answers is the budget they need.
  const GstClockTime warmup = static_cast<GstClockTime>(opt.warmup_seconds * GST_SECOND);
  for (const Stage& s : kStages) {
    GstElement* e = by_name(s.name);
    auto& [in, out] = traces[s.name];
    in = std::make_unique<PadTrace>();
    out = std::make_unique<PadTrace>();
    const auto mask = static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST);
    if (GstPad* sink = gst_element_get_static_pad(e, "sink")) {
      contexts.push_back(std::make_unique<ProbeContext>(ProbeContext{pipeline, in.get(), warmup}));
      gst_pad_add_probe(sink, mask, on_buffer, contexts.back().get(), nullptr);
      gst_object_unref(sink);
    }
    GstPad* src = gst_element_get_static_pad(e, "src");
    contexts.push_back(std::make_unique<ProbeContext>(ProbeContext{pipeline, out.get(), warmup}));
    gst_pad_add_probe(src, mask, on_buffer, contexts.back().get(), nullptr);
    gst_object_unref(src);
    gst_object_unref(e);
  }

  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    throw std::runtime_error("elements: the pipeline does not start (portrait " + opt.portrait + ")");
  GstBus* bus = gst_element_get_bus(pipeline);
  const GstClockTime run = static_cast<GstClockTime>((opt.warmup_seconds + opt.seconds) * GST_SECOND);
  const gint64 deadline = g_get_monotonic_time() + static_cast<gint64>(run / 1000);
  std::string error;
  while (g_get_monotonic_time() < deadline && error.empty()) {
    GstMessage* m = gst_bus_timed_pop_filtered(bus, 100 * GST_MSECOND,
        static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_EOS));
    if (!m) continue;
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
      GError* e = nullptr;
      gst_message_parse_error(m, &e, nullptr);
      error = e ? e->message : "error";
      g_clear_error(&e);
    } else {
      error = "unexpected end of stream";
    }
    gst_message_unref(m);
  }
  gst_object_unref(bus);
  if (!error.empty()) throw std::runtime_error("elements: the avatar pipeline failed: " + error);

  nlohmann::json report;
  GstQuery* pq = gst_query_new_latency();
  if (gst_element_query(pipeline, pq)) {
    gboolean live;
    GstClockTime min, max;
    gst_query_parse_latency(pq, &live, &min, &max);
    report["pipeline_latency_ms"] = num(static_cast<double>(min) / 1e6);
  }
  gst_query_unref(pq);

  std::map<std::string, double> cumulative;
  nlohmann::json stages = nlohmann::json::array();
  for (const Stage& s : kStages) {
    GstElement* e = by_name(s.name);
    GstPad* src = gst_element_get_static_pad(e, "src");
    bool live = false;
    cumulative[s.name] = query_latency_ms(src, live);
    gst_object_unref(src);
    gst_object_unref(e);
    const double answered = s.upstream ? cumulative[s.name] - cumulative[s.upstream] : cumulative[s.name];
    auto& [in, out] = traces[s.name];
    std::lock_guard<std::mutex> l1(in->mu), l2(out->mu);
    // p50: the structural delay (look-ahead, buffering); p95: with the usual
    // compute time; max: with the worst stall of this machine (on a shared
    // CPU it lands on whichever element's thread was descheduled).
    auto q_in = [&](double q) { return s.upstream ? quantile_of(in->lateness_ms, q) : 0.0; };
    auto q_out = [&](double q) { return quantile_of(out->lateness_ms, q); };
    const double added_p50 = q_out(0.5) - q_in(0.5), added_p95 = q_out(0.95) - q_in(0.95);
    const double added_max = max_of(out->lateness_ms) - (s.upstream ? max_of(in->lateness_ms) : 0.0);
    nlohmann::json j = {{"element", s.name},
                        {"answer_ms", num(answered)},
                        {"cumulative_answer_ms", num(cumulative[s.name])},
                        {"buffers", out->lateness_ms.size()},
                        {"lateness_out_p50_ms", num(q_out(0.5))},
                        {"lateness_out_p95_ms", num(q_out(0.95))},
                        {"lateness_out_max_ms", num(max_of(out->lateness_ms))},
                        {"added_p50_ms", num(added_p50)},
                        {"added_p95_ms", num(added_p95)},
                        {"added_max_ms", num(added_max)}};
    const bool agrees = std::isfinite(answered) && std::isfinite(added_p95) && std::fabs(answered - added_p95) <= opt.tolerance_ms;
    j["agrees"] = agrees;
    if (!agrees && std::isfinite(answered) && std::isfinite(added_p95))
      j["mismatch"] = answered < added_p95 ? "answers less than it adds (frames reach live sinks late)"
                                           : "answers more than it adds (viewers wait for nothing)";
    stages.push_back(j);
  }
  report["stages"] = stages;
  // The end of the chain: is the pipeline's latency enough for what reaches the sinks?
  {
    auto& out = traces["parse"].second;
    std::lock_guard<std::mutex> l(out->mu);
    report["video_lateness_at_sink_ms"] = summarize(out->lateness_ms);
    const double configured = report.value("pipeline_latency_ms", nlohmann::json(0.0)).get<double>();
    // What a compute budget on top of the answers must cover (tavce-serve's --latency-budget).
    report["budget_needed_ms"] = num(max_of(out->lateness_ms) - configured);
    report["late_video_frames"] =
        std::count_if(out->lateness_ms.begin(), out->lateness_ms.end(), [&](double l) { return l > configured; });
  }
  report["tolerance_ms"] = opt.tolerance_ms;
  report["seconds"] = opt.seconds;
  return report;
}

}  // namespace serve_latency
