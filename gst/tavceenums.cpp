#include "tavceenums.h"

GType gst_tavce_preprocess_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_TAVCE_PREPROCESS_CROP, "Tight crop around the face (alignment quad box); the default", "crop"},
      {GST_TAVCE_PREPROCESS_EXTCROP, "Wider crop: the quad box plus a 10% border", "extcrop"},
      {GST_TAVCE_PREPROCESS_RESIZE, "No face crop: the whole image squashed to the model size", "resize"},
      {GST_TAVCE_PREPROCESS_FULL, "Crop, animate, and paste the face back into the full portrait", "full"},
      {GST_TAVCE_PREPROCESS_EXTFULL, "Wider crop, pasted back into the full portrait", "extfull"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstTavcePreprocess", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

GType gst_tavce_precision_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_TAVCE_PRECISION_FP32, "32-bit float (every device)", "fp32"},
      {GST_TAVCE_PRECISION_FP16, "16-bit float (CUDA only)", "fp16"},
      {GST_TAVCE_PRECISION_BF16, "bfloat16 (CUDA only)", "bf16"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("GstTavcePrecision", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

const gchar* gst_tavce_enum_nick(GType type, gint value) {
  GEnumClass* klass = static_cast<GEnumClass*>(g_type_class_ref(type));
  const GEnumValue* v = g_enum_get_value(klass, value);
  const gchar* nick = v ? v->value_nick : "";
  g_type_class_unref(klass);  // static types: the class (and nick) stay alive
  return nick;
}
