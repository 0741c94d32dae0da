#include "common/media_decode.h"

#include <algorithm>
#include <mutex>

#include <cstring>

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include "tavce/error.h"

namespace tavce::tools {
namespace {

// A jump between consecutive video timestamps larger than this is taken for a
// demuxer discontinuity, not for missing content (see media_decode.h).
constexpr GstClockTime kMaxFrameGap = 120 * GST_MSECOND;

struct Collect {
  std::function<void(const BgrFrame&)> on_frame;
  std::vector<float> audio;
  bool audio_started = false;
  std::mutex mutex;
  std::string error;    // an exception thrown by on_frame, reported after the pipeline stops
  int64_t frames = 0;   // 25 fps frames handed to on_frame

  // The previous source frame, held until the next one says how long it lasted.
  std::vector<uint8_t> held;
  int width = 0, height = 0;
  size_t stride = 0;
  GstClockTime held_time = GST_CLOCK_TIME_NONE;  // on the repaired timeline
  GstClockTime last_pts = GST_CLOCK_TIME_NONE, last_duration = 0, removed = 0;

  // Emits the held frame for every 25 fps slot k with k / 25 s < until.
  void emit_held(GstClockTime until) {
    if (held.empty()) return;
    while (gst_util_uint64_scale(static_cast<guint64>(frames), GST_SECOND, 25) < until) {
      on_frame(BgrFrame{held.data(), width, height, stride});
      std::lock_guard<std::mutex> lock(mutex);
      frames++;
    }
  }
};

GstFlowReturn on_video(GstAppSink* sink, gpointer data) {
  auto* c = static_cast<Collect*>(data);
  GstSample* sample = gst_app_sink_pull_sample(sink);
  if (!sample) return GST_FLOW_EOS;
  GstVideoInfo info;
  if (!gst_video_info_from_caps(&info, gst_sample_get_caps(sample))) {
    gst_sample_unref(sample);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  const int w = GST_VIDEO_INFO_WIDTH(&info), h = GST_VIDEO_INFO_HEIGHT(&info);
  int num = GST_VIDEO_INFO_FPS_N(&info), den = GST_VIDEO_INFO_FPS_D(&info);
  if (num <= 0 || den <= 0) num = 25, den = 1;
  GstBuffer* buf = gst_sample_get_buffer(sample);
  const GstClockTime nominal = gst_util_uint64_scale(GST_SECOND, static_cast<guint64>(den), static_cast<guint64>(num));
  // Presentation time is the running time: the segment applies the file's
  // edit list (MP4 video usually starts 2 frames into its media for B-frame
  // reordering), and frames before the segment start are not shown.
  const GstSegment* seg = gst_sample_get_segment(sample);
  GstClockTime pts = GST_CLOCK_TIME_NONE;
  if (GST_BUFFER_PTS_IS_VALID(buf))
    pts = seg ? gst_segment_to_running_time(seg, GST_FORMAT_TIME, GST_BUFFER_PTS(buf)) : GST_BUFFER_PTS(buf);
  else if (c->last_pts != GST_CLOCK_TIME_NONE)
    pts = c->last_pts + nominal;
  if (!GST_CLOCK_TIME_IS_VALID(pts)) {  // before the segment: not presented
    gst_sample_unref(sample);
    return GST_FLOW_OK;
  }
  // Repaired time: jumps over kMaxFrameGap shrink to one nominal frame.
  if (c->last_pts != GST_CLOCK_TIME_NONE && pts > c->last_pts + kMaxFrameGap) c->removed += pts - c->last_pts - nominal;
  const GstClockTime t = pts >= c->removed ? pts - c->removed : 0;
  c->last_pts = pts;
  c->last_duration = GST_BUFFER_DURATION_IS_VALID(buf) ? GST_BUFFER_DURATION(buf) : nominal;
  GstFlowReturn ret = GST_FLOW_OK;
  GstVideoFrame frame;
  if (gst_video_frame_map(&frame, &info, buf, GST_MAP_READ)) {
    try {
      c->emit_held(t);
      // Packed rows of the frame as mapped (its stride, not an assumed one).
      c->width = w;
      c->height = h;
      c->stride = static_cast<size_t>(w) * 3;
      c->held.resize(c->stride * static_cast<size_t>(h));
      const auto* src = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 0));
      const size_t src_stride = static_cast<size_t>(GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0));
      for (int y = 0; y < h; ++y)
        std::memcpy(c->held.data() + static_cast<size_t>(y) * c->stride, src + static_cast<size_t>(y) * src_stride,
                    c->stride);
      c->held_time = t;
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(c->mutex);
      c->error = e.what();
      ret = GST_FLOW_ERROR;
    }
    gst_video_frame_unmap(&frame);
  }
  gst_sample_unref(sample);
  return ret;
}

GstFlowReturn on_audio(GstAppSink* sink, gpointer data) {
  auto* c = static_cast<Collect*>(data);
  GstSample* sample = gst_app_sink_pull_sample(sink);
  if (!sample) return GST_FLOW_EOS;
  GstMapInfo map;
  GstBuffer* buf = gst_sample_get_buffer(sample);
  if (gst_buffer_map(buf, &map, GST_MAP_READ)) {
    const auto* f = reinterpret_cast<const float*>(map.data);
    size_t n = map.size / sizeof(float), skip = 0;
    // Running time, as for the video: samples before the segment start
    // (AAC encoder priming, cut by the edit list) are not presented.
    const GstSegment* seg = gst_sample_get_segment(sample);
    GstClockTime start = GST_CLOCK_TIME_NONE;
    if (GST_BUFFER_PTS_IS_VALID(buf) && seg) {
      const GstClockTime pts = GST_BUFFER_PTS(buf);
      if (pts < seg->start) {
        skip = std::min<size_t>(n, gst_util_uint64_scale(seg->start - pts, 16000, GST_SECOND));
        start = gst_segment_to_running_time(seg, GST_FORMAT_TIME, seg->start);
      } else {
        start = gst_segment_to_running_time(seg, GST_FORMAT_TIME, pts);
      }
    }
    std::lock_guard<std::mutex> lock(c->mutex);
    // Audio that starts late is padded with silence so that sample 0 is
    // time 0 like video frame 0; after that the samples are concatenated
    // (see media_decode.h).
    if (!c->audio_started && skip < n) {
      if (GST_CLOCK_TIME_IS_VALID(start)) c->audio.resize(gst_util_uint64_scale(start, 16000, GST_SECOND), 0.0f);
      c->audio_started = true;
    }
    for (size_t i = skip; i < n; ++i) c->audio.push_back(f[i] * 32768.0f);  // int16 scale
    gst_buffer_unmap(buf, &map);
  }
  gst_sample_unref(sample);
  return GST_FLOW_OK;
}

}  // namespace

std::vector<float> decode_talking_face(const std::string& path, const std::function<void(const BgrFrame&)>& on_frame) {
  if (!gst_is_initialized()) gst_init(nullptr, nullptr);
  gchar* uri = gst_filename_to_uri(path.c_str(), nullptr);
  if (!uri) throw Error("cannot make a URI of '" + path + "'");
  const std::string desc = std::string("uridecodebin uri=\"") + uri +
                           "\" name=d "
                           "d. ! queue ! videoconvert ! video/x-raw,format=BGR ! "
                           "appsink name=v sync=false "
                           "d. ! queue ! audioconvert ! audioresample ! "
                           "audio/x-raw,format=F32LE,channels=1,rate=16000,layout=interleaved ! appsink name=a sync=false";
  g_free(uri);
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch(desc.c_str(), &err);
  if (err) {
    const std::string msg = err->message;
    g_error_free(err);
    if (pipeline) gst_object_unref(pipeline);
    throw Error("cannot build the decoding pipeline: " + msg);
  }
  Collect collect;
  collect.on_frame = on_frame;
  GstAppSinkCallbacks vcb = {};
  vcb.new_sample = on_video;
  GstAppSinkCallbacks acb = {};
  acb.new_sample = on_audio;
  GstElement* v = gst_bin_get_by_name(GST_BIN(pipeline), "v");
  GstElement* a = gst_bin_get_by_name(GST_BIN(pipeline), "a");
  gst_app_sink_set_callbacks(GST_APP_SINK(v), &vcb, &collect, nullptr);
  gst_app_sink_set_callbacks(GST_APP_SINK(a), &acb, &collect, nullptr);
  gst_object_unref(v);
  gst_object_unref(a);

  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(pipeline);
  std::string failure;
  // A file without one of the two streams never reaches EOS on that branch:
  // give up when nothing has been decoded for kStallSeconds.
  constexpr int kStallSeconds = 30;
  GstMessage* msg = nullptr;
  size_t last_progress = 0;
  int idle = 0;
  while (!msg) {
    msg = gst_bus_timed_pop_filtered(bus, GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    if (msg) break;
    size_t now;
    {
      std::lock_guard<std::mutex> lock(collect.mutex);
      now = collect.audio.size() + static_cast<size_t>(collect.frames);
    }
    idle = now == last_progress ? idle + 1 : 0;
    last_progress = now;
    if (idle >= kStallSeconds) {
      failure = "decoding stalled for " + std::to_string(kStallSeconds) + " s";
      break;
    }
  }
  if (msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    GError* e = nullptr;
    gchar* dbg = nullptr;
    gst_message_parse_error(msg, &e, &dbg);
    failure = e ? e->message : "unknown error";
    if (e) g_error_free(e);
    g_free(dbg);
  }
  if (msg) gst_message_unref(msg);
  gst_object_unref(bus);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);

  if (collect.error.empty() && failure.empty()) {
    try {
      collect.emit_held(collect.held_time + collect.last_duration);  // the last frame lasts its duration
    } catch (const std::exception& e) {
      collect.error = e.what();
    }
  }
  if (!collect.error.empty()) throw Error(path + ": " + collect.error);
  if (!failure.empty())
    throw Error(path + ": " + failure + " (a talking-face file needs one video and one audio stream)");
  if (collect.frames == 0) throw Error(path + ": no video frames decoded");
  if (collect.audio.empty()) throw Error(path + ": no audio decoded");
  return std::move(collect.audio);
}

}  // namespace tavce::tools
