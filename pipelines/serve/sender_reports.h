// How tavce-serve's outputs time their RTCP sender reports, shared by the
// RTSP media (rtsp_out.cpp) and the WebRTC viewers (webrtc_viewer.cpp).
#pragma once

#include <gst/gst.h>

// Sender reports map RTP time to the clock from each packet's timestamp
// (capture time), not from when it was sent: under load the sending moment
// of a stream wanders by tens of ms, and a client (or browser) aligning audio
// and video from such reports moves one stream against the other by as much.
// Sets rtpbin's rtcp-sync-send-time to false; any other element is left as is.
inline void sender_reports_from_capture_time(GstElement* element) {
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(element), "rtcp-sync-send-time"))
    g_object_set(element, "rtcp-sync-send-time", FALSE, nullptr);
}
