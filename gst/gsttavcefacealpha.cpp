// tavcefacealpha: see gsttavcefacealpha.h and docs/elements/tavcefacealpha.md.
//
// The element is a shell: caps (RGB/RGBA -> RGBA), the meta, a warning when
// nobody tracks the face upstream. The matte is tavce::face::write_face_alpha
// (lib/, GStreamer-free).

#include "gsttavcefacealpha.h"

#include <gst/video/video.h>

#include <cstring>
#include <exception>
#include <vector>

#include "tavce/face/face_alpha.h"
#include "tavcefacemeta.h"

GST_DEBUG_CATEGORY_STATIC(gst_tavce_face_alpha_debug);
#define GST_CAT_DEFAULT gst_tavce_face_alpha_debug

namespace {

enum { PROP_0, PROP_SCALE, PROP_FOREHEAD, PROP_FEATHER };

const tavce::face::FaceAlphaParams kDefaults;

const char* kSinkCaps = "video/x-raw, format=(string){ RGB, RGBA }, width=(int)[1, 32767], height=(int)[1, 32767], "
                        "framerate=(fraction)[0/1, 2147483647/1]";
const char* kSrcCaps = "video/x-raw, format=(string)RGBA, width=(int)[1, 32767], height=(int)[1, 32767], "
                       "framerate=(fraction)[0/1, 2147483647/1]";

}  // namespace

G_DEFINE_TYPE(GstTavceFaceAlpha, gst_tavce_face_alpha, GST_TYPE_VIDEO_FILTER)

namespace {

// Same size and rate on both sides; the sink takes RGB or RGBA, the source
// gives RGBA.
GstCaps* gst_tavce_face_alpha_transform_caps(GstBaseTransform* trans, GstPadDirection direction, GstCaps* caps,
                                             GstCaps* filter) {
  GstCaps* out = gst_caps_copy(caps);
  for (guint i = 0; i < gst_caps_get_size(out); ++i) {
    GstStructure* s = gst_caps_get_structure(out, i);
    if (direction == GST_PAD_SINK) {
      gst_structure_set(s, "format", G_TYPE_STRING, "RGBA", nullptr);
    } else {
      GValue formats = G_VALUE_INIT, v = G_VALUE_INIT;
      gst_value_list_init(&formats, 2);
      g_value_init(&v, G_TYPE_STRING);
      g_value_set_static_string(&v, "RGBA");  // first: no conversion preferred
      gst_value_list_append_value(&formats, &v);
      g_value_set_static_string(&v, "RGB");
      gst_value_list_append_value(&formats, &v);
      g_value_unset(&v);
      gst_structure_take_value(s, "format", &formats);
    }
  }
  GST_DEBUG_OBJECT(trans, "%s %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT,
                   direction == GST_PAD_SINK ? "sink" : "src", caps, out);
  if (filter) {
    GstCaps* both = gst_caps_intersect_full(filter, out, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(out);
    out = both;
  }
  return out;
}

// The face meta describes these same pixels: keep it on the output.
gboolean gst_tavce_face_alpha_transform_meta(GstBaseTransform* trans, GstBuffer* outbuf, GstMeta* meta,
                                             GstBuffer* inbuf) {
  if (meta->info->api == GST_TAVCE_FACE_META_API_TYPE) return TRUE;
  return GST_BASE_TRANSFORM_CLASS(gst_tavce_face_alpha_parent_class)->transform_meta(trans, outbuf, meta, inbuf);
}

gboolean gst_tavce_face_alpha_start(GstBaseTransform* trans) {
  GST_TAVCE_FACE_ALPHA(trans)->warned_no_meta = FALSE;
  return TRUE;
}

GstFlowReturn gst_tavce_face_alpha_transform_frame(GstVideoFilter* filter, GstVideoFrame* in, GstVideoFrame* out) {
  auto* self = GST_TAVCE_FACE_ALPHA(filter);
  tavce::face::FaceAlphaParams params;
  GST_OBJECT_LOCK(self);
  params.scale = self->scale;
  params.forehead = self->forehead;
  params.feather = self->feather;
  GST_OBJECT_UNLOCK(self);

  const int width = GST_VIDEO_FRAME_WIDTH(in), height = GST_VIDEO_FRAME_HEIGHT(in);
  const int in_px = GST_VIDEO_FRAME_COMP_PSTRIDE(in, 0), in_stride = GST_VIDEO_FRAME_PLANE_STRIDE(in, 0);
  const int out_stride = GST_VIDEO_FRAME_PLANE_STRIDE(out, 0);
  const auto* src = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(in, 0));
  auto* dst = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(out, 0));
  for (int y = 0; y < height; ++y) {
    const uint8_t* s = src + static_cast<size_t>(y) * in_stride;
    uint8_t* d = dst + static_cast<size_t>(y) * out_stride;
    if (in_px == 4) {
      std::memcpy(d, s, static_cast<size_t>(width) * 4);
    } else {
      for (int x = 0; x < width; ++x) d[4 * x] = s[3 * x], d[4 * x + 1] = s[3 * x + 1], d[4 * x + 2] = s[3 * x + 2];
    }
  }

  const GstTavceFaceMeta* meta = gst_tavce_face_meta_get(in->buffer);
  if (!meta && !self->warned_no_meta) {
    self->warned_no_meta = TRUE;
    GST_ELEMENT_WARNING(self, STREAM, FORMAT, ("tavcefacealpha received a frame without face landmarks."),
        ("Put tavcefacetrack upstream (with nothing that scales, crops or flips in between): "
         "frames without a GstTavceFaceMeta are made fully transparent."));
  }
  if (!meta || !meta->found) {
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) dst[static_cast<size_t>(y) * out_stride + 4 * x + 3] = 0;
    return GST_FLOW_OK;
  }
  std::vector<cv::Point2d> points(GST_TAVCE_FACE_LANDMARKS);
  for (int i = 0; i < GST_TAVCE_FACE_LANDMARKS; ++i) points[i] = {meta->points[2 * i], meta->points[2 * i + 1]};
  try {
    const tavce::face::FaceEllipse e = tavce::face::face_ellipse(points, params);
    tavce::face::write_face_alpha(e, params.feather, dst, width, height, out_stride, 4, 3);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("tavcefacealpha could not build the face matte: %s", e.what()), (nullptr));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

void gst_tavce_face_alpha_set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  auto* self = GST_TAVCE_FACE_ALPHA(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_SCALE: self->scale = g_value_get_double(value); break;
    case PROP_FOREHEAD: self->forehead = g_value_get_double(value); break;
    case PROP_FEATHER: self->feather = g_value_get_double(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

void gst_tavce_face_alpha_get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  auto* self = GST_TAVCE_FACE_ALPHA(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_SCALE: g_value_set_double(value, self->scale); break;
    case PROP_FOREHEAD: g_value_set_double(value, self->forehead); break;
    case PROP_FEATHER: g_value_set_double(value, self->feather); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

constexpr GParamFlags kPlayingFlags =
    static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);

}  // namespace

static void gst_tavce_face_alpha_class_init(GstTavceFaceAlphaClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass* trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  GstVideoFilterClass* filter_class = GST_VIDEO_FILTER_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(gst_tavce_face_alpha_debug, "tavcefacealpha", 0, "TAVCE face matte (alpha)");

  gobject_class->set_property = gst_tavce_face_alpha_set_property;
  gobject_class->get_property = gst_tavce_face_alpha_get_property;

  g_object_class_install_property(gobject_class, PROP_SCALE,
      g_param_spec_double("scale", "Scale",
          "Size of the opaque ellipse: its half-axes are this many times half the width and height of the "
          "landmarks' box (raised by 'forehead'). Larger shows more hair and neck.",
          0.1, 10.0, kDefaults.scale, kPlayingFlags));
  g_object_class_install_property(gobject_class, PROP_FOREHEAD,
      g_param_spec_double("forehead", "Forehead",
          "The 68 landmarks stop at the eyebrows: the box's top is raised by this fraction of its height "
          "before the ellipse is fitted.",
          0.0, 2.0, kDefaults.forehead, kPlayingFlags));
  g_object_class_install_property(gobject_class, PROP_FEATHER,
      g_param_spec_double("feather", "Feather",
          "Width in pixels of the soft edge, inside the ellipse: alpha goes linearly from 255 to 0 over it. "
          "0: a hard edge.",
          0.0, 1000.0, kDefaults.feather, kPlayingFlags));

  GstCaps* sink_caps = gst_caps_from_string(kSinkCaps);
  GstCaps* src_caps = gst_caps_from_string(kSrcCaps);
  gst_element_class_add_pad_template(element_class, gst_pad_template_new("sink", GST_PAD_SINK, GST_PAD_ALWAYS, sink_caps));
  gst_element_class_add_pad_template(element_class, gst_pad_template_new("src", GST_PAD_SRC, GST_PAD_ALWAYS, src_caps));
  gst_caps_unref(sink_caps);
  gst_caps_unref(src_caps);

  gst_element_class_set_static_metadata(element_class, "TAVCE face matte", "Filter/Effect/Video",
      "Makes the tracked face opaque and the rest transparent (RGBA): a feathered ellipse around the 68 "
      "landmarks of tavcefacetrack's GstTavceFaceMeta; frames without a face become transparent",
      "tavce-gst developers");

  trans_class->transform_caps = gst_tavce_face_alpha_transform_caps;
  trans_class->transform_meta = gst_tavce_face_alpha_transform_meta;
  trans_class->start = gst_tavce_face_alpha_start;
  filter_class->transform_frame = gst_tavce_face_alpha_transform_frame;

  (void)gst_tavce_face_meta_get_info();
}

static void gst_tavce_face_alpha_init(GstTavceFaceAlpha* self) {
  self->scale = kDefaults.scale;
  self->forehead = kDefaults.forehead;
  self->feather = kDefaults.feather;
  self->warned_no_meta = FALSE;
}
