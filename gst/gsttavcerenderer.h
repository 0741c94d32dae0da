// tavcerenderer: coefficient rows (application/x-tavce-coeffs) + a portrait in,
// talking-head video frames (video/x-raw RGB/RGBA) out.
//
// A GstAggregator: the always `sink` pad carries the coefficients and drives
// timing; the optional request pad `image` supplies portraits (the latest one
// is kept, a new one switches identity, its EOS does not end the stream).
// The networks run in tavce::pipeline::RendererSession; this element maps
// buffers, timestamps, caps, latency and QoS onto it.
#pragma once

#include <gst/base/gstaggregator.h>

G_BEGIN_DECLS

#define GST_TYPE_TAVCE_RENDERER (gst_tavce_renderer_get_type())
G_DECLARE_FINAL_TYPE(GstTavceRenderer, gst_tavce_renderer, GST, TAVCE_RENDERER, GstAggregator)

struct GstTavceRendererState;

struct _GstTavceRenderer {
  GstAggregator parent;

  GstAggregatorPad* sinkpad;   // coefficients (always)
  GstAggregatorPad* imagepad;  // portraits (request; null until requested)

  // Properties, guarded by the object lock.
  gchar* model;
  gchar* device;
  gint precision;   // GstTavcePrecision
  guint batch_size;
  gint preprocess;  // GstTavcePreprocess
  gchar* source_image;
  gchar* source_coeffs;
  gdouble expression_scale;
  gboolean still;
  guint threads;
  gchar* yaw;              // head-pose overrides: comma-separated degrees, empty = MappingNet's pose
  gchar* pitch;
  gchar* roll;
  guint64 camera_frames;   // clip length the yaw/pitch/roll lists are interpolated over
  gboolean source_image_changed;  // set by the property, consumed by the streaming thread

  GstTavceRendererState* state;  // C++ streaming state, created in init
};

G_END_DECLS
