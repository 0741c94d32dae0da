// tavcefacetrack: the 68 dlib landmarks of the largest face, per video frame.
//
// A GstVideoFilter working in place: RGB video passes through unchanged and
// each buffer leaves with a GstTavceFaceMeta (tavcefacemeta.h) holding the
// points and the face box, or found = FALSE. The tracking is
// tavce::face::LandmarkTracker: the HOG detector every `redetect-every`
// frames, the shape predictor alone in between. Used by the dataset
// extraction (tavcedatasetsink) and read by tavcesyncscore, which then crops
// from these boxes instead of detecting again.
#pragma once

#include <gst/video/gstvideofilter.h>

G_BEGIN_DECLS

#define GST_TYPE_TAVCE_FACE_TRACK (gst_tavce_face_track_get_type())
G_DECLARE_FINAL_TYPE(GstTavceFaceTrack, gst_tavce_face_track, GST, TAVCE_FACE_TRACK, GstVideoFilter)

struct GstTavceFaceTrackState;

struct _GstTavceFaceTrack {
  GstVideoFilter parent;

  // Properties, guarded by the object lock.
  gchar* predictor;
  gint redetect_every;
  gint max_held_frames;

  GstTavceFaceTrackState* state;  // C++ state, created in init
};

G_END_DECLS
