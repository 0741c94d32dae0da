// GEnum types shared by the tavce elements, so that gst-inspect lists the
// same nicks everywhere and a property can be set with its nick
// (preprocess=full). The strings map one to one onto the lib's settings.
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

// How a portrait is cut before animation (SadTalker's --preprocess).
typedef enum {
  GST_TAVCE_PREPROCESS_CROP = 0,
  GST_TAVCE_PREPROCESS_EXTCROP,
  GST_TAVCE_PREPROCESS_RESIZE,
  GST_TAVCE_PREPROCESS_FULL,
  GST_TAVCE_PREPROCESS_EXTFULL,
} GstTavcePreprocess;

#define GST_TYPE_TAVCE_PREPROCESS (gst_tavce_preprocess_get_type())
GType gst_tavce_preprocess_get_type(void);

// Arithmetic precision of the renderer.
typedef enum {
  GST_TAVCE_PRECISION_FP32 = 0,
  GST_TAVCE_PRECISION_FP16,
  GST_TAVCE_PRECISION_BF16,
} GstTavcePrecision;

#define GST_TYPE_TAVCE_PRECISION (gst_tavce_precision_get_type())
GType gst_tavce_precision_get_type(void);

// The nick of a value ("crop", "fp16"), as the lib's settings spell it.
const gchar* gst_tavce_enum_nick(GType type, gint value);

G_END_DECLS
