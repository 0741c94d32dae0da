#include "soak/looped_speech.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace tavce::soak {

std::vector<int16_t> decode_speech(const std::string& path) {
  GError* err = nullptr;
  GstElement* pipe = gst_parse_launch(
      "filesrc name=file ! decodebin ! audioconvert ! audioresample ! "
      "audio/x-raw,format=S16LE,rate=16000,channels=1,layout=interleaved ! "
      "appsink name=out sync=false",
      &err);
  if (!pipe) {
    const std::string why = err ? err->message : "unknown error";
    g_clear_error(&err);
    throw std::runtime_error("cannot build the decoding pipeline: " + why);
  }
  GstElement* file = gst_bin_get_by_name(GST_BIN(pipe), "file");
  g_object_set(file, "location", path.c_str(), nullptr);
  gst_object_unref(file);
  GstElement* out = gst_bin_get_by_name(GST_BIN(pipe), "out");

  std::vector<int16_t> samples;
  std::string error;
  GstBus* bus = gst_element_get_bus(pipe);
  if (gst_element_set_state(pipe, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    error = "the file cannot be played";
    if (GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {  // why, when an element said so
      GError* e = nullptr;
      gst_message_parse_error(msg, &e, nullptr);
      if (e) error = e->message;
      g_clear_error(&e);
      gst_message_unref(msg);
    }
  }
  // The appsink blocks until EOS, so a pipeline error (a missing file, no
  // decoder) must be watched on the bus between short waits.
  while (error.empty()) {
    if (GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
      GError* e = nullptr;
      gst_message_parse_error(msg, &e, nullptr);
      error = e ? e->message : "unknown error";
      g_clear_error(&e);
      gst_message_unref(msg);
      break;
    }
    GstSample* sample = gst_app_sink_try_pull_sample(GST_APP_SINK(out), GST_SECOND / 10);
    if (!sample) {
      if (gst_app_sink_is_eos(GST_APP_SINK(out))) break;
      continue;
    }
    GstMapInfo map;
    GstBuffer* buf = gst_sample_get_buffer(sample);
    if (gst_buffer_map(buf, &map, GST_MAP_READ)) {
      const size_t n = map.size / sizeof(int16_t);
      const size_t at = samples.size();
      samples.resize(at + n);
      std::memcpy(samples.data() + at, map.data, n * sizeof(int16_t));
      gst_buffer_unmap(buf, &map);
    }
    gst_sample_unref(sample);
  }
  gst_object_unref(bus);
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(out);
  gst_object_unref(pipe);
  if (!error.empty()) throw std::runtime_error("cannot decode " + path + ": " + error);
  if (samples.empty()) throw std::runtime_error(path + " holds no audio");
  return samples;
}

LoopFeeder::LoopFeeder(GstAppSrc* src, const std::vector<int16_t>& speech, uint64_t total_samples)
    : src_(src), speech_(speech), total_(total_samples) {
  thread_ = std::thread([this] { run(); });
}

LoopFeeder::~LoopFeeder() {
  if (thread_.joinable()) thread_.join();
}

void LoopFeeder::stop() { stop_ = true; }

void LoopFeeder::run() {
  uint64_t at = 0;  // samples pushed so far = position on the stream timeline
  while (at < total_ && !stop_) {
    const size_t in_loop = static_cast<size_t>(at % speech_.size());
    // One second at most, and never across the loop point (one contiguous view).
    const uint64_t n = std::min<uint64_t>({static_cast<uint64_t>(kSampleRate), speech_.size() - in_loop, total_ - at});
    // The recording is read-only for the whole run: wrap it, no copy, no free.
    GstBuffer* buf = gst_buffer_new_wrapped_full(GST_MEMORY_FLAG_READONLY,
        const_cast<int16_t*>(speech_.data() + in_loop), n * sizeof(int16_t), 0, n * sizeof(int16_t), nullptr, nullptr);
    GST_BUFFER_PTS(buf) = gst_util_uint64_scale(at, GST_SECOND, kSampleRate);
    GST_BUFFER_DURATION(buf) = gst_util_uint64_scale(at + n, GST_SECOND, kSampleRate) - GST_BUFFER_PTS(buf);
    GST_BUFFER_OFFSET(buf) = at;
    GST_BUFFER_OFFSET_END(buf) = at + n;
    if (gst_app_src_push_buffer(src_, buf) != GST_FLOW_OK) return;  // flushing or an error: the bus tells
    at += n;
    pushed_ = at;
  }
  if (!stop_) gst_app_src_end_of_stream(src_);
}

}  // namespace tavce::soak
