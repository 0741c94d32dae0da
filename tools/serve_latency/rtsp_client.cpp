#include "serve_latency/rtsp_client.h"

#include <gst/app/gstappsink.h>
#include <gst/audio/audio.h>
#include <gst/video/video.h>

#include <cstring>

namespace serve_latency {

RtspClient::RtspClient(std::string url, unsigned latency_ms, std::string buffer_mode, FrameFn on_frame, AudioFn on_audio)
    : url_(std::move(url)),
      latency_ms_(latency_ms),
      buffer_mode_(std::move(buffer_mode)),
      on_frame_(std::move(on_frame)),
      on_audio_(std::move(on_audio)) {}

RtspClient::~RtspClient() {
  if (pipeline_) {
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    gst_object_unref(pipeline_);
  }
}

bool RtspClient::start(std::string& error) {
  // The appsinks do not wait for the clock (sync=false): a sample's arrival
  // is when it is decoded; its play-out time is computed from its timestamp.
  const std::string line =
      "rtspsrc name=src protocols=tcp latency=" + std::to_string(latency_ms_) +
      " src. ! application/x-rtp,media=video ! rtph264depay ! h264parse ! avdec_h264 ! videoconvert"
      " ! video/x-raw,format=GRAY8 ! appsink name=video sync=false emit-signals=true max-buffers=50 drop=false"
      " src. ! application/x-rtp,media=audio ! rtpopusdepay ! opusdec ! audioconvert ! audioresample"
      " ! audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved"
      " ! appsink name=audio sync=false emit-signals=true max-buffers=200 drop=false";
  GError* err = nullptr;
  pipeline_ = gst_parse_launch_full(line.c_str(), nullptr, GST_PARSE_FLAG_FATAL_ERRORS, &err);
  if (!pipeline_) {
    error = std::string("cannot build the RTSP client: ") + (err ? err->message : "unknown") +
            " (gstreamer1.0-rtsp, -libav and -plugins-good installed?)";
    g_clear_error(&err);
    return false;
  }
  GstElement* src = gst_bin_get_by_name(GST_BIN(pipeline_), "src");
  g_object_set(src, "location", url_.c_str(), nullptr);
  // gst_util_set_object_arg ignores a name it cannot parse: read it back.
  gst_util_set_object_arg(G_OBJECT(src), "buffer-mode", buffer_mode_.c_str());
  GParamSpec* spec = g_object_class_find_property(G_OBJECT_GET_CLASS(src), "buffer-mode");
  gint value = -1;
  g_object_get(src, "buffer-mode", &value, nullptr);
  const GEnumValue* mode = spec ? g_enum_get_value(G_PARAM_SPEC_ENUM(spec)->enum_class, value) : nullptr;
  gst_object_unref(src);
  if (!mode || buffer_mode_ != mode->value_nick) {
    error = "rtspsrc has no buffer-mode '" + buffer_mode_ + "' (auto, none, slave, buffer, synced)";
    return false;
  }
  GstElement* v = gst_bin_get_by_name(GST_BIN(pipeline_), "video");
  GstElement* a = gst_bin_get_by_name(GST_BIN(pipeline_), "audio");
  g_signal_connect(v, "new-sample", G_CALLBACK(on_video_sample), this);
  g_signal_connect(a, "new-sample", G_CALLBACK(on_audio_sample), this);
  gst_object_unref(v);
  gst_object_unref(a);
  if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    error = "the RTSP client does not start on " + url_ + ": " + poll_error();
    return false;
  }
  return true;
}

std::string RtspClient::poll_error() {
  if (!pipeline_) return "not started";
  GstBus* bus = gst_element_get_bus(pipeline_);
  std::string out;
  while (GstMessage* m = gst_bus_pop_filtered(bus, static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_EOS))) {
    if (out.empty()) {
      if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS) {
        out = "the stream ended (server stopped?)";
      } else {
        GError* e = nullptr;
        gchar* dbg = nullptr;
        gst_message_parse_error(m, &e, &dbg);
        out = std::string(e ? e->message : "error") + (dbg ? std::string(" (") + dbg + ")" : "");
        g_clear_error(&e);
        g_free(dbg);
      }
    }
    gst_message_unref(m);
  }
  gst_object_unref(bus);
  return out;
}

double RtspClient::latency_ms() const {
  if (!pipeline_) return 0;
  const GstClockTime l = gst_pipeline_get_latency(GST_PIPELINE(pipeline_));  // NONE until the first query
  return l == GST_CLOCK_TIME_NONE ? 0 : static_cast<double>(l) / 1e6;
}

int64_t RtspClient::playout_us(GstSample* sample) const {
  GstBuffer* buf = gst_sample_get_buffer(sample);
  const GstSegment* seg = gst_sample_get_segment(sample);
  if (!buf || !seg || !GST_BUFFER_PTS_IS_VALID(buf)) return 0;
  const guint64 rt = gst_segment_to_running_time(seg, GST_FORMAT_TIME, GST_BUFFER_PTS(buf));
  const GstClockTime base = gst_element_get_base_time(pipeline_);
  GstClockTime latency = gst_pipeline_get_latency(GST_PIPELINE(pipeline_));
  if (rt == GST_CLOCK_TIME_NONE || base == GST_CLOCK_TIME_NONE) return 0;
  if (latency == GST_CLOCK_TIME_NONE) latency = 0;
  return static_cast<int64_t>((base + rt + latency) / 1000);
}

GstFlowReturn RtspClient::on_video_sample(GstElement* sink, gpointer data) {
  auto* self = static_cast<RtspClient*>(data);
  GstSample* s = gst_app_sink_pull_sample(GST_APP_SINK(sink));
  if (!s) return GST_FLOW_EOS;
  ClientFrame f;
  f.arrival_us = g_get_monotonic_time();
  f.playout_us = self->playout_us(s);
  GstVideoInfo info;
  GstVideoFrame vf;
  if (gst_video_info_from_caps(&info, gst_sample_get_caps(s)) &&
      gst_video_frame_map(&vf, &info, gst_sample_get_buffer(s), GST_MAP_READ)) {
    f.width = GST_VIDEO_INFO_WIDTH(&info), f.height = GST_VIDEO_INFO_HEIGHT(&info);
    f.gray.resize(static_cast<size_t>(f.width) * f.height);
    for (int y = 0; y < f.height; ++y)
      std::memcpy(&f.gray[static_cast<size_t>(y) * f.width],
                  static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&vf, 0)) + y * GST_VIDEO_FRAME_PLANE_STRIDE(&vf, 0),
                  static_cast<size_t>(f.width));
    gst_video_frame_unmap(&vf);
    self->on_frame_(std::move(f));
  }
  gst_sample_unref(s);
  return GST_FLOW_OK;
}

GstFlowReturn RtspClient::on_audio_sample(GstElement* sink, gpointer data) {
  auto* self = static_cast<RtspClient*>(data);
  GstSample* s = gst_app_sink_pull_sample(GST_APP_SINK(sink));
  if (!s) return GST_FLOW_EOS;
  ClientAudio a;
  a.arrival_us = g_get_monotonic_time();
  a.playout_us = self->playout_us(s);
  GstMapInfo map;
  GstBuffer* buf = gst_sample_get_buffer(s);
  if (buf && gst_buffer_map(buf, &map, GST_MAP_READ)) {
    a.samples.resize(map.size / 2);
    std::memcpy(a.samples.data(), map.data, a.samples.size() * 2);
    gst_buffer_unmap(buf, &map);
    self->on_audio_(std::move(a));
  }
  gst_sample_unref(s);
  return GST_FLOW_OK;
}

}  // namespace serve_latency
