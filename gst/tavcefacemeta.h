// GstTavceFaceMeta: the tracked face of one video frame, attached by
// tavcefacetrack to every buffer it passes: whether a face was found, its
// 68 dlib landmarks (iBUG 300-W order) and the face box the points were
// fitted in, all in the buffer's image pixels (x right, y down).
//
// The API type is registered as "GstTavceFaceMetaAPI" with the tags "video",
// "size" and "orientation": the coordinates belong to these pixels, so
// elements that scale, crop or flip the frame drop the meta rather than carry
// wrong points. Code outside the plugin finds it with
// g_type_from_name("GstTavceFaceMetaAPI") and reads it through this struct
// (docs/elements/tavcefacetrack.md).
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TAVCE_FACE_LANDMARKS 68

typedef struct {
  GstMeta meta;
  gboolean found;                              // FALSE: no face in this frame; the rest is zero
  gfloat points[GST_TAVCE_FACE_LANDMARKS * 2]; // x0, y0, x1, y1, ... in image pixels
  gdouble box_x0, box_y0, box_x1, box_y1;      // the dlib detector box the points were fitted in
} GstTavceFaceMeta;

#define GST_TAVCE_FACE_META_API_NAME "GstTavceFaceMetaAPI"
#define GST_TAVCE_FACE_META_API_TYPE (gst_tavce_face_meta_api_get_type())

GType gst_tavce_face_meta_api_get_type(void);
const GstMetaInfo* gst_tavce_face_meta_get_info(void);

// Adds a meta with found = FALSE to a writable buffer.
GstTavceFaceMeta* gst_tavce_face_meta_add(GstBuffer* buffer);
GstTavceFaceMeta* gst_tavce_face_meta_get(GstBuffer* buffer);

G_END_DECLS
