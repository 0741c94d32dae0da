#include "tavcefacemeta.h"

#include <gst/video/video.h>

#include <cstring>

namespace {

gboolean face_meta_init(GstMeta* meta, gpointer, GstBuffer*) {
  auto* m = reinterpret_cast<GstTavceFaceMeta*>(meta);
  m->found = FALSE;
  std::memset(m->points, 0, sizeof m->points);
  m->box_x0 = m->box_y0 = m->box_x1 = m->box_y1 = 0.0;
  return TRUE;
}

gboolean face_meta_transform(GstBuffer* dest, GstMeta* meta, GstBuffer*, GQuark type, gpointer data) {
  // Copies keep the points; a transform that changes the pixels' geometry
  // (scale, crop, flip) cannot be followed, so the meta is not carried.
  if (GST_META_TRANSFORM_IS_COPY(type)) {
    const auto* copy = static_cast<GstMetaTransformCopy*>(data);
    if (copy->region) return FALSE;
  } else {
    return FALSE;
  }
  const auto* src = reinterpret_cast<GstTavceFaceMeta*>(meta);
  GstTavceFaceMeta* dst = gst_tavce_face_meta_add(dest);
  if (!dst) return FALSE;
  dst->found = src->found;
  std::memcpy(dst->points, src->points, sizeof dst->points);
  dst->box_x0 = src->box_x0;
  dst->box_y0 = src->box_y0;
  dst->box_x1 = src->box_x1;
  dst->box_y1 = src->box_y1;
  return TRUE;
}

}  // namespace

GType gst_tavce_face_meta_api_get_type(void) {
  static GType type = 0;
  static const gchar* tags[] = {GST_META_TAG_VIDEO_STR, GST_META_TAG_VIDEO_SIZE_STR,
                                GST_META_TAG_VIDEO_ORIENTATION_STR, nullptr};
  if (g_once_init_enter(&type)) {
    const GType t = gst_meta_api_type_register(GST_TAVCE_FACE_META_API_NAME, tags);
    g_once_init_leave(&type, t);
  }
  return type;
}

const GstMetaInfo* gst_tavce_face_meta_get_info(void) {
  static const GstMetaInfo* info = nullptr;
  if (g_once_init_enter(&info)) {
    const GstMetaInfo* i = gst_meta_register(GST_TAVCE_FACE_META_API_TYPE, "GstTavceFaceMeta",
                                             sizeof(GstTavceFaceMeta), face_meta_init, nullptr, face_meta_transform);
    g_once_init_leave(&info, i);
  }
  return info;
}

GstTavceFaceMeta* gst_tavce_face_meta_add(GstBuffer* buffer) {
  return reinterpret_cast<GstTavceFaceMeta*>(gst_buffer_add_meta(buffer, gst_tavce_face_meta_get_info(), nullptr));
}

GstTavceFaceMeta* gst_tavce_face_meta_get(GstBuffer* buffer) {
  return reinterpret_cast<GstTavceFaceMeta*>(gst_buffer_get_meta(buffer, GST_TAVCE_FACE_META_API_TYPE));
}
