// GstTavceSyncMeta: the lip-sync score of one window, attached by
// tavcesyncscore to the video buffer that ends the window.
//
// The API type is registered under the name "GstTavceSyncMetaAPI" (no tags:
// it describes timing, not pixels, and survives any transform that copies
// metas). Code outside the plugin finds it with
// g_type_from_name("GstTavceSyncMetaAPI") once the plugin is loaded, and
// reads the fields through this struct layout (it is part of the element's
// interface, docs/elements/tavcesyncscore.md).
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct {
  GstMeta meta;
  gboolean scored;            // FALSE: the window was skipped (see face_missing, frames); lse_* are NaN
  gdouble lse_d;              // LSE-D: minimum of the mean distance curve
  gdouble lse_c;              // LSE-C: median of the curve minus its minimum
  gint offset;                // frames; > 0 when the audio leads the video
  GstClockTime window_start;  // PTS of the window's first frame
  GstClockTime window_end;    // PTS + duration of its last frame
  guint frames;               // video frames in the window
  guint face_missing;         // frames of the window without a detected face
} GstTavceSyncMeta;

#define GST_TAVCE_SYNC_META_API_NAME "GstTavceSyncMetaAPI"
#define GST_TAVCE_SYNC_META_API_TYPE (gst_tavce_sync_meta_api_get_type())

GType gst_tavce_sync_meta_api_get_type(void);
const GstMetaInfo* gst_tavce_sync_meta_get_info(void);

// Adds a zeroed meta to a writable buffer.
GstTavceSyncMeta* gst_tavce_sync_meta_add(GstBuffer* buffer);
GstTavceSyncMeta* gst_tavce_sync_meta_get(GstBuffer* buffer);

G_END_DECLS
