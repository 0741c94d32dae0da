// tavcemelspec: 16 kHz mono audio in, log-mel frames (audio/x-tavce-mel) out.
// The maths lives in tavce::audio::MelSpectrogram; this element only maps
// buffers, timestamps, events, queries and errors onto it.
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_TAVCE_MEL_SPEC (gst_tavce_mel_spec_get_type())
G_DECLARE_FINAL_TYPE(GstTavceMelSpec, gst_tavce_mel_spec, GST, TAVCE_MEL_SPEC, GstElement)

// Streaming state owned by the element (C++ object, defined in the .cpp).
struct GstTavceMelSpecState;

struct _GstTavceMelSpec {
  GstElement parent;

  GstPad* sinkpad;
  GstPad* srcpad;

  // Property, guarded by the object lock (set from the application thread,
  // read from the streaming thread).
  guint frames_per_buffer;

  // Everything the streaming thread touches. GObject instances are plain C
  // structs, so the C++ state is created in init and deleted in finalize.
  GstTavceMelSpecState* state;
};

G_END_DECLS
