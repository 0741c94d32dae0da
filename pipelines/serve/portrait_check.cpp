#include "portrait_check.h"

#include <gst/gst.h>

std::string check_portrait(const std::string& path, const std::string& bundle) {
  GError* err = nullptr;
  // 0.5 s of silence: a dozen frames through the whole chain.
  GstElement* pipe = gst_parse_launch(
      "audiotestsrc wave=silence num-buffers=5 samplesperbuffer=1600 ! audio/x-raw,rate=16000,channels=1"
      " ! tavcemelspec ! tavceaudio2coeff name=a2c ! tavcerenderer name=renderer ! fakesink",
      &err);
  if (!pipe) {
    std::string why = std::string("cannot build the check pipeline: ") + (err ? err->message : "?");
    if (err) g_error_free(err);
    return why;
  }
  for (const char* name : {"a2c", "renderer"}) {
    GstElement* e = gst_bin_get_by_name(GST_BIN(pipe), name);
    g_object_set(e, "source-image", path.c_str(), nullptr);
    if (!bundle.empty()) g_object_set(e, "model", bundle.c_str(), nullptr);
    gst_object_unref(e);
  }
  gst_element_set_state(pipe, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(pipe);
  GstMessage* msg = gst_bus_timed_pop_filtered(bus, 30 * GST_SECOND,
                                               static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_EOS));
  std::string result;
  if (!msg) {
    result = "the portrait check did not finish within 30 s";
  } else if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    GError* e = nullptr;
    gst_message_parse_error(msg, &e, nullptr);
    result = e->message;
    g_error_free(e);
  }
  if (msg) gst_message_unref(msg);
  gst_object_unref(bus);
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(pipe);
  return result;
}
