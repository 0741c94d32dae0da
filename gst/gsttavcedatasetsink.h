// tavcedatasetsink: writes one talking-face clip of the lite training data
// (docs/dataset.md) at end of stream.
//
// A GstBaseSink with two always pads: `sink` takes tavcefacetrack's output (RGB
// frames carrying GstTavceFaceMeta, and GstTavceSyncMeta on the frames where
// a tavcesyncscore window ends), `mel` takes tavcemelspec's output. When both
// have ended, the collected landmarks and mel become `location` (a
// tavce-lite-clip-1 safetensors file, written under a temporary name and
// renamed) and, with manifest-location, a one-line JSON manifest entry. A
// clip without audio, with too few frames or without a face in enough frames
// is not written: a warning and a "tavce-dataset-clip" element message name
// the reason. The decisions are tavce::lite's (clip_extraction.h).
#pragma once

#include <gst/base/gstbasesink.h>

G_BEGIN_DECLS

#define GST_TYPE_TAVCE_DATASET_SINK (gst_tavce_dataset_sink_get_type())
G_DECLARE_FINAL_TYPE(GstTavceDatasetSink, gst_tavce_dataset_sink, GST, TAVCE_DATASET_SINK, GstBaseSink)

struct GstTavceDatasetSinkState;

struct _GstTavceDatasetSink {
  GstBaseSink parent;  // its `sink` pad takes the video

  GstPad* melpad;

  // Properties, guarded by the object lock.
  gchar* location;
  gchar* manifest_location;
  gchar* clip_name;
  gchar* source;
  gchar* commit;
  gint min_frames;
  gdouble min_face;

  GstTavceDatasetSinkState* state;  // C++ streaming state, created in init
};

G_END_DECLS
