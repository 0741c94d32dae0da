#include "rtp_input.h"

#include <gst/app/gstappsink.h>

#include <vector>

bool RtpInput::start(std::string& error) {
  const RtpInputConfig& r = avatar_.config().rtp;
  std::string caps, decode;
  if (r.codec == "opus") {
    caps = "application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=96";
    decode = "rtpopusdepay ! opusdec plc=true";
  } else {
    caps = "application/x-rtp,media=audio,clock-rate=" + std::to_string(r.rate) +
           ",encoding-name=L16,channels=" + std::to_string(r.channels);
    decode = "rtpL16depay";
  }
  const std::string line = "udpsrc name=udp caps=\"" + caps + "\" ! rtpjitterbuffer latency=60 drop-on-latency=true ! " +
                           decode +
                           " ! audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=48000,channels=1"
                           " ! appsink name=sink sync=false emit-signals=true";
  GError* err = nullptr;
  pipeline_ = gst_parse_launch(line.c_str(), &err);
  if (!pipeline_) {
    error = std::string("avatar '") + avatar_.name() + "': cannot build the RTP input: " + (err ? err->message : "?");
    if (err) g_error_free(err);
    return false;
  }
  GstElement* udp = gst_bin_get_by_name(GST_BIN(pipeline_), "udp");
  g_object_set(udp, "address", bind_.c_str(), "port", r.port, nullptr);
  gst_object_unref(udp);
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline_), "sink");
  g_signal_connect(sink, "new-sample", G_CALLBACK(&RtpInput::on_sample), this);
  gst_object_unref(sink);
  if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    GstBus* bus = gst_element_get_bus(pipeline_);
    GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    std::string why = "the pipeline did not start";
    if (msg) {
      GError* e = nullptr;
      gst_message_parse_error(msg, &e, nullptr);
      why = e->message;
      g_error_free(e);
      gst_message_unref(msg);
    }
    gst_object_unref(bus);
    error = "avatar '" + avatar_.name() + "': cannot receive RTP on " + bind_ + ":" + std::to_string(r.port) + ": " + why;
    stop();
    return false;
  }
  GstBus* bus = gst_element_get_bus(pipeline_);
  bus_watch_ = gst_bus_add_watch(bus, &RtpInput::on_bus, this);
  gst_object_unref(bus);
  g_print("avatar %s: listening for RTP %s on %s:%d\n", avatar_.name().c_str(), r.codec.c_str(), bind_.c_str(), r.port);
  return true;
}

void RtpInput::stop() {
  if (!pipeline_) return;
  if (bus_watch_) g_source_remove(bus_watch_);
  bus_watch_ = 0;
  gst_element_set_state(pipeline_, GST_STATE_NULL);
  gst_object_unref(pipeline_);
  pipeline_ = nullptr;
}

GstFlowReturn RtpInput::on_sample(GstElement* sink, gpointer data) {
  auto* self = static_cast<RtpInput*>(data);
  GstSample* sample = gst_app_sink_pull_sample(GST_APP_SINK(sink));
  if (!sample) return GST_FLOW_OK;
  GstBuffer* buf = gst_sample_get_buffer(sample);
  GstMapInfo map;
  if (buf && gst_buffer_map(buf, &map, GST_MAP_READ)) {
    const auto* p = reinterpret_cast<const int16_t*>(map.data);
    self->avatar_.speech().push_dropping(std::vector<int16_t>(p, p + map.size / 2));
    gst_buffer_unmap(buf, &map);
  }
  gst_sample_unref(sample);
  return GST_FLOW_OK;
}

gboolean RtpInput::on_bus(GstBus*, GstMessage* msg, gpointer data) {
  auto* self = static_cast<RtpInput*>(data);
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR || GST_MESSAGE_TYPE(msg) == GST_MESSAGE_WARNING) {
    GError* e = nullptr;
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) gst_message_parse_error(msg, &e, nullptr);
    else gst_message_parse_warning(msg, &e, nullptr);
    // A malformed packet or a decoder hiccup: logged; the avatar keeps idling on silence.
    g_printerr("avatar %s: RTP input %s: %s\n", self->avatar_.name().c_str(),
               GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR ? "error" : "warning", e->message);
    g_error_free(e);
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR && !self->restart_) {
      // The feed's pipeline has stopped: listen again in a second.
      self->restart_ = g_timeout_add_seconds(1, [](gpointer p) -> gboolean {
        auto* in = static_cast<RtpInput*>(p);
        in->restart_ = 0;
        in->stop();
        std::string error;
        if (!in->start(error)) g_printerr("%s\n", error.c_str());
        return G_SOURCE_REMOVE;
      }, self);
    }
  }
  return G_SOURCE_CONTINUE;
}
