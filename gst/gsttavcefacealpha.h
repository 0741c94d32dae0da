// tavcefacealpha: makes the face of a talking head opaque and the rest
// transparent, for laying the head over another video (picture in picture,
// pipelines/inject.sh).
//
// A GstVideoFilter: RGB or RGBA in, RGBA out with the colour unchanged and
// the alpha a feathered ellipse around the face (tavce::face::face_ellipse
// over the 68 landmarks of the GstTavceFaceMeta that tavcefacetrack attaches
// upstream). A frame without a face is fully transparent, so a lost track
// hides the head instead of covering the programme with a rectangle.
#pragma once

#include <gst/video/gstvideofilter.h>

G_BEGIN_DECLS

#define GST_TYPE_TAVCE_FACE_ALPHA (gst_tavce_face_alpha_get_type())
G_DECLARE_FINAL_TYPE(GstTavceFaceAlpha, gst_tavce_face_alpha, GST, TAVCE_FACE_ALPHA, GstVideoFilter)

struct _GstTavceFaceAlpha {
  GstVideoFilter parent;

  // Properties, guarded by the object lock.
  gdouble scale;
  gdouble forehead;
  gdouble feather;

  // Streaming thread only.
  gboolean warned_no_meta;
};

G_END_DECLS
