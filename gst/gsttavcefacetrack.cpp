// tavcefacetrack: see gsttavcefacetrack.h and docs/elements/tavcefacetrack.md.
//
// The element is a shell: caps, the meta, resets on flush and discontinuity,
// errors. The tracking is tavce::face::LandmarkTracker (lib/, GStreamer-free).

#include "gsttavcefacetrack.h"

#include <gst/video/video.h>

#include <exception>
#include <memory>
#include <string>

#include <opencv2/core.hpp>

#include "tavce/face/landmark_tracker.h"
#include "tavcefacemeta.h"

GST_DEBUG_CATEGORY_STATIC(gst_tavce_face_track_debug);
#define GST_CAT_DEFAULT gst_tavce_face_track_debug

namespace {

enum { PROP_0, PROP_PREDICTOR, PROP_REDETECT_EVERY, PROP_MAX_HELD_FRAMES };

constexpr gint kDefaultRedetectEvery = 10;
constexpr gint kDefaultMaxHeldFrames = 25;

// RGB only: the tracker reads packed RGB; videoconvert makes it from anything.
const char* kCaps = "video/x-raw, format=(string)RGB, width=(int)[1, 32767], height=(int)[1, 32767], "
                    "framerate=(fraction)[0/1, 2147483647/1]";

}  // namespace

struct GstTavceFaceTrackState {
  std::unique_ptr<tavce::face::LandmarkTracker> tracker;
  guint64 frames = 0, found = 0;  // since start, for the debug log
};

G_DEFINE_TYPE(GstTavceFaceTrack, gst_tavce_face_track, GST_TYPE_VIDEO_FILTER)

namespace {

GstTavceFaceTrackState& state_of(GstTavceFaceTrack* self) { return *self->state; }

gboolean gst_tavce_face_track_start(GstBaseTransform* trans) {
  auto* self = GST_TAVCE_FACE_TRACK(trans);
  GST_OBJECT_LOCK(self);
  const std::string predictor = self->predictor ? self->predictor : "";
  const int redetect = self->redetect_every, held = self->max_held_frames;
  GST_OBJECT_UNLOCK(self);
  try {
    state_of(self).tracker = std::make_unique<tavce::face::LandmarkTracker>(predictor, redetect, held);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND, ("tavcefacetrack could not load the dlib landmark model: %s", e.what()),
        ("predictor='%s'; install Debian's libdlib-data or set the 'predictor' property or $TAVCE_DLIB_PREDICTOR",
         predictor.c_str()));
    return FALSE;
  }
  state_of(self).frames = state_of(self).found = 0;
  return TRUE;
}

gboolean gst_tavce_face_track_stop(GstBaseTransform* trans) {
  auto* self = GST_TAVCE_FACE_TRACK(trans);
  GST_DEBUG_OBJECT(self, "face found in %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " frames", state_of(self).found,
                   state_of(self).frames);
  state_of(self).tracker.reset();
  return TRUE;
}

gboolean gst_tavce_face_track_sink_event(GstBaseTransform* trans, GstEvent* event) {
  auto* self = GST_TAVCE_FACE_TRACK(trans);
  // After a seek the face may be anywhere: track from a fresh detection.
  if (GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP && state_of(self).tracker) state_of(self).tracker->reset();
  return GST_BASE_TRANSFORM_CLASS(gst_tavce_face_track_parent_class)->sink_event(trans, event);
}

GstFlowReturn gst_tavce_face_track_transform_frame_ip(GstVideoFilter* filter, GstVideoFrame* frame) {
  auto* self = GST_TAVCE_FACE_TRACK(filter);
  GstTavceFaceTrackState& st = state_of(self);
  if (!st.tracker) {
    GST_ELEMENT_ERROR(self, CORE, STATE_CHANGE, ("tavcefacetrack received video while not started."), (nullptr));
    return GST_FLOW_ERROR;
  }
  if (GST_BUFFER_IS_DISCONT(frame->buffer) && st.frames > 0) st.tracker->reset();
  const cv::Mat rgb(GST_VIDEO_FRAME_HEIGHT(frame), GST_VIDEO_FRAME_WIDTH(frame), CV_8UC3,
                    GST_VIDEO_FRAME_PLANE_DATA(frame, 0), GST_VIDEO_FRAME_PLANE_STRIDE(frame, 0));
  std::optional<tavce::face::Landmarks> pts;
  try {
    pts = st.tracker->push(rgb);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Face tracking failed: %s", e.what()), (nullptr));
    return GST_FLOW_ERROR;
  }
  GstTavceFaceMeta* meta = gst_tavce_face_meta_add(frame->buffer);
  st.frames++;
  const auto& box = st.tracker->last_box();
  if (pts && box && static_cast<int>(pts->size()) == GST_TAVCE_FACE_LANDMARKS) {
    meta->found = TRUE;
    for (int i = 0; i < GST_TAVCE_FACE_LANDMARKS; ++i) {
      meta->points[2 * i] = static_cast<gfloat>((*pts)[i].x);
      meta->points[2 * i + 1] = static_cast<gfloat>((*pts)[i].y);
    }
    meta->box_x0 = box->x;
    meta->box_y0 = box->y;
    meta->box_x1 = box->x + box->width;
    meta->box_y1 = box->y + box->height;
    st.found++;
  } else {
    GST_LOG_OBJECT(self, "no face at %" GST_TIME_FORMAT, GST_TIME_ARGS(GST_BUFFER_PTS(frame->buffer)));
  }
  return GST_FLOW_OK;
}

void gst_tavce_face_track_set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  auto* self = GST_TAVCE_FACE_TRACK(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_PREDICTOR:
      g_free(self->predictor);
      self->predictor = g_value_dup_string(value);
      break;
    case PROP_REDETECT_EVERY: self->redetect_every = g_value_get_int(value); break;
    case PROP_MAX_HELD_FRAMES: self->max_held_frames = g_value_get_int(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

void gst_tavce_face_track_get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  auto* self = GST_TAVCE_FACE_TRACK(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_PREDICTOR: g_value_set_string(value, self->predictor); break;
    case PROP_REDETECT_EVERY: g_value_set_int(value, self->redetect_every); break;
    case PROP_MAX_HELD_FRAMES: g_value_set_int(value, self->max_held_frames); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

void gst_tavce_face_track_finalize(GObject* object) {
  auto* self = GST_TAVCE_FACE_TRACK(object);
  delete self->state;
  self->state = nullptr;
  g_free(self->predictor);
  G_OBJECT_CLASS(gst_tavce_face_track_parent_class)->finalize(object);
}

constexpr GParamFlags kReadyFlags =
    static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

}  // namespace

static void gst_tavce_face_track_class_init(GstTavceFaceTrackClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass* trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  GstVideoFilterClass* filter_class = GST_VIDEO_FILTER_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(gst_tavce_face_track_debug, "tavcefacetrack", 0, "TAVCE 68-point face landmark tracking");

  gobject_class->set_property = gst_tavce_face_track_set_property;
  gobject_class->get_property = gst_tavce_face_track_get_property;
  gobject_class->finalize = gst_tavce_face_track_finalize;

  g_object_class_install_property(gobject_class, PROP_PREDICTOR,
      g_param_spec_string("predictor", "Predictor",
          "dlib 68-point shape predictor file. Empty: $TAVCE_DLIB_PREDICTOR, else "
          "/usr/share/dlib/shape_predictor_68_face_landmarks.dat (Debian libdlib-data; iBUG 300-W, non-commercial).",
          nullptr, kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_REDETECT_EVERY,
      g_param_spec_int("redetect-every", "Redetect every",
          "Run the face detector (tens of ms a frame) on the first frame and every this many frames; in between "
          "only the shape predictor (about 1 ms) fits the points in the last box, moved with the face. 1 detects "
          "on every frame.",
          1, 10000, kDefaultRedetectEvery, kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_MAX_HELD_FRAMES,
      g_param_spec_int("max-held-frames", "Max held frames",
          "Frames the last box is still used after the detector stopped finding a face; after that the frames "
          "have no face (meta found = FALSE) until the next detection.",
          0, 10000, kDefaultMaxHeldFrames, kReadyFlags));

  GstCaps* caps = gst_caps_from_string(kCaps);
  gst_element_class_add_pad_template(element_class, gst_pad_template_new("sink", GST_PAD_SINK, GST_PAD_ALWAYS, caps));
  gst_element_class_add_pad_template(element_class, gst_pad_template_new("src", GST_PAD_SRC, GST_PAD_ALWAYS, caps));
  gst_caps_unref(caps);

  gst_element_class_set_static_metadata(element_class, "TAVCE face landmark tracker", "Filter/Analyzer/Video",
      "Tracks the largest face with dlib's 68 landmarks; passes the video through with the points and face box "
      "of each frame as GstTavceFaceMeta",
      "tavce-gst developers");

  trans_class->start = gst_tavce_face_track_start;
  trans_class->stop = gst_tavce_face_track_stop;
  trans_class->sink_event = gst_tavce_face_track_sink_event;
  filter_class->transform_frame_ip = gst_tavce_face_track_transform_frame_ip;

  (void)gst_tavce_face_meta_get_info();
}

static void gst_tavce_face_track_init(GstTavceFaceTrack* self) {
  self->state = new GstTavceFaceTrackState();
  self->redetect_every = kDefaultRedetectEvery;
  self->max_held_frames = kDefaultMaxHeldFrames;
  // In place: the pixels are only read, the meta is added to the same buffer.
  gst_base_transform_set_in_place(GST_BASE_TRANSFORM(self), TRUE);
}
