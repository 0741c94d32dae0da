// tavcesyncscore: lip-sync quality of a talking-head stream (SyncNet LSE-D /
// LSE-C / offset, as syncnet_python's evaluation computes them) per window of
// `interval` seconds.
//
// A GstAggregator: the always `video` pad (video/x-raw, packed RGB-family, 25
// fps) is passed through to `src` unchanged; the always `audio` pad (mono 16
// kHz F32LE/S16LE) is consumed. Each window's score goes onto the video
// buffer that ends it (GstTavceSyncMeta, tavcesyncmeta.h), onto the bus (an
// element message named "tavce-sync") and, with report-location, into a JSON
// lines file. drop-below drops the video of badly synced windows. The work
// runs in tavce::pipeline::SyncScoreSession.
#pragma once

#include <gst/base/gstaggregator.h>

G_BEGIN_DECLS

#define GST_TYPE_TAVCE_SYNC_SCORE (gst_tavce_sync_score_get_type())
G_DECLARE_FINAL_TYPE(GstTavceSyncScore, gst_tavce_sync_score, GST, TAVCE_SYNC_SCORE, GstAggregator)

struct GstTavceSyncScoreState;

struct _GstTavceSyncScore {
  GstAggregator parent;

  GstAggregatorPad* videopad;  // always, passed through
  GstAggregatorPad* audiopad;  // always, consumed

  // Properties, guarded by the object lock.
  gchar* model;
  gchar* device;
  gdouble interval;
  gchar* report_location;
  gdouble drop_below;

  GstTavceSyncScoreState* state;  // C++ streaming state, created in init
};

G_END_DECLS
