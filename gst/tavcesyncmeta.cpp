#include "tavcesyncmeta.h"

#include <cmath>

namespace {

gboolean sync_meta_init(GstMeta* meta, gpointer, GstBuffer*) {
  auto* m = reinterpret_cast<GstTavceSyncMeta*>(meta);
  m->scored = FALSE;
  m->lse_d = m->lse_c = NAN;
  m->offset = 0;
  m->window_start = m->window_end = GST_CLOCK_TIME_NONE;
  m->frames = m->face_missing = 0;
  return TRUE;
}

gboolean sync_meta_transform(GstBuffer* dest, GstMeta* meta, GstBuffer*, GQuark, gpointer) {
  // Every transform keeps the score: it is about the window, not the pixels.
  const auto* src = reinterpret_cast<GstTavceSyncMeta*>(meta);
  GstTavceSyncMeta* dst = gst_tavce_sync_meta_add(dest);
  if (!dst) return FALSE;
  dst->scored = src->scored;
  dst->lse_d = src->lse_d;
  dst->lse_c = src->lse_c;
  dst->offset = src->offset;
  dst->window_start = src->window_start;
  dst->window_end = src->window_end;
  dst->frames = src->frames;
  dst->face_missing = src->face_missing;
  return TRUE;
}

}  // namespace

GType gst_tavce_sync_meta_api_get_type(void) {
  static GType type = 0;
  static const gchar* tags[] = {nullptr};
  if (g_once_init_enter(&type)) {
    const GType t = gst_meta_api_type_register(GST_TAVCE_SYNC_META_API_NAME, tags);
    g_once_init_leave(&type, t);
  }
  return type;
}

const GstMetaInfo* gst_tavce_sync_meta_get_info(void) {
  static const GstMetaInfo* info = nullptr;
  if (g_once_init_enter(&info)) {
    const GstMetaInfo* i = gst_meta_register(GST_TAVCE_SYNC_META_API_TYPE, "GstTavceSyncMeta",
                                             sizeof(GstTavceSyncMeta), sync_meta_init, nullptr, sync_meta_transform);
    g_once_init_leave(&info, i);
  }
  return info;
}

GstTavceSyncMeta* gst_tavce_sync_meta_add(GstBuffer* buffer) {
  return reinterpret_cast<GstTavceSyncMeta*>(gst_buffer_add_meta(buffer, gst_tavce_sync_meta_get_info(), nullptr));
}

GstTavceSyncMeta* gst_tavce_sync_meta_get(GstBuffer* buffer) {
  return reinterpret_cast<GstTavceSyncMeta*>(gst_buffer_get_meta(buffer, GST_TAVCE_SYNC_META_API_TYPE));
}
