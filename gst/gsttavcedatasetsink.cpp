// tavcedatasetsink: see gsttavcedatasetsink.h and docs/elements/tavcedatasetsink.md.
//
// A GstBaseSink on the video (its `sink` pad: preroll, EOS and state handling
// as every sink's) plus an always `mel` pad with its own chain function. Both
// run in their own streaming threads (the queues in front of them);
// everything they collect is guarded by one mutex. The clip is decided and
// written at the second of the two EOS events; then GstBaseSink handles the
// video EOS (and posts the EOS message). When the video ends first, its EOS
// is kept, never waited on: the thread that pushed it may be the one that
// feeds the audio on (tavcesyncscore's), so blocking it would starve the mel
// branch. Not synchronised to the clock: it only collects.

#include "gsttavcedatasetsink.h"

#include <gst/video/video.h>

#include <cmath>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tavce/families/lite/clip_extraction.h"
#include "tavcefacemeta.h"
#include "tavcemelcaps.h"
#include "tavcesyncmeta.h"

GST_DEBUG_CATEGORY_STATIC(gst_tavce_dataset_sink_debug);
#define GST_CAT_DEFAULT gst_tavce_dataset_sink_debug

namespace {

enum { PROP_0, PROP_LOCATION, PROP_MANIFEST_LOCATION, PROP_CLIP_NAME, PROP_SOURCE, PROP_COMMIT, PROP_MIN_FRAMES,
       PROP_MIN_FACE };

constexpr gint kDefaultMinFrames = 10;
constexpr gdouble kDefaultMinFace = 0.8;

const char* kVideoCaps = "video/x-raw, format=(string)RGB, width=(int)[1, 32767], height=(int)[1, 32767], "
                         "framerate=(fraction)[1/1, 2147483647/1]";

namespace lite = tavce::lite;

}  // namespace

struct GstTavceDatasetSinkState {
  std::mutex lock;
  GstEvent* pending_eos = nullptr;  // the video's EOS, kept until the mel ends
  // Settings copied at READY -> PAUSED.
  std::string location, manifest, name, source, commit;
  lite::SkipRule rule;

  int width = 0, height = 0, fps_n = 0, fps_d = 1;
  GstSegment video_segment, mel_segment;
  GstClockTime video_start = GST_CLOCK_TIME_NONE, mel_start = GST_CLOCK_TIME_NONE;  // running times
  std::vector<float> landmarks;                      // frames x 68 x 2, NaN without a face
  std::vector<std::optional<lite::FaceBox>> boxes;  // per frame
  std::vector<lite::SyncWindowScore> windows;       // tavcesyncscore's, in order
  bool sync_meta_seen = false;
  int n_mels = 80;
  int mel_sample_rate = 16000, mel_hop = 200;  // mel frames per second = sample rate / hop (80)
  float mel_floor = -4.0f;  // the normalised mel of silence
  std::vector<float> mel;
  bool mel_eos = false, finished = false;

  // Everything, the negotiated video format included (start, stop).
  void reset() {
    width = height = fps_n = 0;
    fps_d = 1;
    reset_video();
    reset_mel();
  }
  // A flushing seek reaches each pad on its own thread; each drops what it
  // collected (the clip restarts at the new position) and keeps the caps:
  // they are sticky and upstream does not send them again after FLUSH_STOP.
  void reset_mel() {
    gst_segment_init(&mel_segment, GST_FORMAT_TIME);
    mel_start = GST_CLOCK_TIME_NONE;
    mel.clear();
    mel_eos = false;
  }
  void reset_video() {
    gst_segment_init(&video_segment, GST_FORMAT_TIME);
    video_start = GST_CLOCK_TIME_NONE;
    landmarks.clear();
    boxes.clear();
    windows.clear();
    sync_meta_seen = false;
    finished = false;
    if (pending_eos) gst_event_unref(pending_eos);
    pending_eos = nullptr;
  }
};

G_DEFINE_TYPE(GstTavceDatasetSink, gst_tavce_dataset_sink, GST_TYPE_BASE_SINK)

namespace {

GstTavceDatasetSinkState& state_of(GstTavceDatasetSink* self) { return *self->state; }

GstClockTime running_time(const GstSegment& seg, GstBuffer* buf) {
  if (!GST_BUFFER_PTS_IS_VALID(buf)) return GST_CLOCK_TIME_NONE;
  return gst_segment_to_running_time(&seg, GST_FORMAT_TIME, GST_BUFFER_PTS(buf));
}

void post_clip_message(GstTavceDatasetSink* self, const GstTavceDatasetSinkState& st, bool written,
                       const std::string& reason, int64_t frames, int64_t mel_frames, int64_t face_frames,
                       const lite::AvOffset& off) {
  GstStructure* s = gst_structure_new("tavce-dataset-clip",
      "name", G_TYPE_STRING, st.name.c_str(),
      "location", G_TYPE_STRING, st.location.c_str(),
      "written", G_TYPE_BOOLEAN, written ? TRUE : FALSE,
      "frames", G_TYPE_INT64, static_cast<gint64>(frames),
      "mel-frames", G_TYPE_INT64, static_cast<gint64>(mel_frames),
      "face-frames", G_TYPE_INT64, static_cast<gint64>(face_frames),
      "av-offset-frames", G_TYPE_INT, off.frames,
      "av-offset-windows", G_TYPE_INT, off.windows,
      "av-lse-c", G_TYPE_DOUBLE, off.lse_c,
      nullptr);
  if (!written) gst_structure_set(s, "reason", G_TYPE_STRING, reason.c_str(), nullptr);
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

// Both pads have ended: decide and write (or skip). Called with st.lock held;
// GstBaseSink posts EOS afterwards.
bool finish_clip(GstTavceDatasetSink* self) {
  GstTavceDatasetSinkState& st = state_of(self);
  st.finished = true;
  const int64_t frames = static_cast<int64_t>(st.boxes.size());
  int64_t face_frames = 0;
  for (const auto& b : st.boxes) face_frames += b ? 1 : 0;
  // Mel frame 0 belongs at video frame 0's running time.
  int64_t lead = 0;
  if (GST_CLOCK_TIME_IS_VALID(st.mel_start) && GST_CLOCK_TIME_IS_VALID(st.video_start)) {
    const bool late = st.mel_start >= st.video_start;
    const GstClockTime d = late ? st.mel_start - st.video_start : st.video_start - st.mel_start;
    const int64_t n = static_cast<int64_t>(
        gst_util_uint64_scale_round(d, st.mel_sample_rate, static_cast<guint64>(st.mel_hop) * GST_SECOND));
    lead = late ? n : -n;
  }
  // Audio past the video is cut: how much of it arrives depends on when the
  // branches upstream stop, and no frame needs it. 1 + 80 T / fps frames is
  // what the reference front end gives for audio exactly as long as the video.
  if (st.fps_n > 0 && frames > 0) {
    const int64_t mel_per_video = static_cast<int64_t>(gst_util_uint64_scale(
        static_cast<guint64>(frames), static_cast<guint64>(st.mel_sample_rate) * st.fps_d,
        static_cast<guint64>(st.mel_hop) * st.fps_n));
    const int64_t keep = 1 + mel_per_video - lead;
    if (keep >= 0 && static_cast<int64_t>(st.mel.size()) > keep * st.n_mels) st.mel.resize(keep * st.n_mels);
  }
  const int64_t mel_in = static_cast<int64_t>(st.mel.size()) / st.n_mels;
  const lite::AvOffset off = lite::median_av_offset(st.windows);
  const std::string why = lite::skip_reason(frames, face_frames, mel_in, st.rule);
  if (!st.sync_meta_seen && why.empty())
    GST_WARNING_OBJECT(self, "no GstTavceSyncMeta on the video: the offset is recorded as 0 from 0 windows "
                       "(put tavcesyncscore before the video pad to measure it)");
  if (!why.empty()) {
    GST_ELEMENT_WARNING(self, STREAM, FAILED,
        ("Skipped clip '%s': %s. No file was written.", st.name.c_str(), why.c_str()),
        ("%" G_GINT64_FORMAT " frames, face in %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT " mel frames", frames,
         face_frames, mel_in));
    post_clip_message(self, st, false, why, frames, mel_in, face_frames, off);
  } else {
    lite::ClipData clip;
    clip.name = st.name;
    clip.source = st.source;
    clip.width = st.width;
    clip.height = st.height;
    clip.fps = static_cast<double>(st.fps_n) / st.fps_d;
    clip.landmarks = st.landmarks;
    try {
      clip.mel = lite::align_mel(st.mel, lead, st.n_mels, st.mel_floor);
      clip.extra["mel_shift_frames"] = std::to_string(lead);
      clip.extra["extractor"] = std::string("tavce-gst ") + VERSION +
                                " (tavcefacetrack dlib 68, tavcemelspec, tavcesyncscore, tavcedatasetsink)";
      if (!st.commit.empty()) clip.extra["commit"] = st.commit;
      lite::add_extraction_metadata(clip, off, lite::summarize_face_boxes(st.boxes));
      lite::save_clip(st.location, clip);
      if (!st.manifest.empty()) {
        const std::filesystem::path loc(st.location);
        lite::write_file_atomic(st.manifest, lite::manifest_entry(clip, loc.parent_path().filename() / loc.filename()) +
                                                 "\n");
      }
    } catch (const std::exception& e) {
      GST_ELEMENT_ERROR(self, RESOURCE, WRITE, ("Could not write the clip '%s': %s", st.location.c_str(), e.what()),
          (nullptr));
      return false;
    }
    GST_INFO_OBJECT(self, "wrote %s: %" G_GINT64_FORMAT " frames, %" G_GINT64_FORMAT " mel frames, offset %d "
                    "(%d windows)", st.location.c_str(), frames, clip.mel_frames(), off.frames, off.windows);
    post_clip_message(self, st, true, "", frames, clip.mel_frames(), face_frames, off);
  }
  return true;
}

GstFlowReturn video_render(GstBaseSink* sink, GstBuffer* buf) {
  auto* self = GST_TAVCE_DATASET_SINK(sink);
  GstTavceDatasetSinkState& st = state_of(self);
  std::lock_guard<std::mutex> guard(st.lock);
  if (st.width == 0) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("tavcedatasetsink received video before its caps."), (nullptr));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  const GstTavceFaceMeta* face = gst_tavce_face_meta_get(buf);
  if (!face) {
    GST_ELEMENT_ERROR(self, STREAM, FORMAT,
        ("tavcedatasetsink needs the landmarks of every frame: put tavcefacetrack before its video pad "
         "(and no element that scales or crops the frames after it)."),
        ("a video buffer without GstTavceFaceMeta"));
    return GST_FLOW_ERROR;
  }
  if (!GST_CLOCK_TIME_IS_VALID(st.video_start)) st.video_start = running_time(st.video_segment, buf);
  for (int i = 0; i < GST_TAVCE_FACE_LANDMARKS * 2; ++i) st.landmarks.push_back(face->found ? face->points[i] : NAN);
  if (face->found) st.boxes.push_back(lite::FaceBox{face->box_x0, face->box_y0, face->box_x1, face->box_y1});
  else st.boxes.push_back(std::nullopt);
  if (const GstTavceSyncMeta* sync = gst_tavce_sync_meta_get(buf)) {
    st.sync_meta_seen = true;
    st.windows.push_back({sync->scored != FALSE, sync->offset, sync->lse_c});
  }
  return GST_FLOW_OK;
}

GstFlowReturn mel_chain(GstPad*, GstObject* parent, GstBuffer* buf) {
  auto* self = GST_TAVCE_DATASET_SINK(parent);
  GstTavceDatasetSinkState& st = state_of(self);
  std::lock_guard<std::mutex> guard(st.lock);
  if (!GST_CLOCK_TIME_IS_VALID(st.mel_start)) st.mel_start = running_time(st.mel_segment, buf);
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) {
    gst_buffer_unref(buf);
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("tavcedatasetsink could not read a mel buffer."), (nullptr));
    return GST_FLOW_ERROR;
  }
  const size_t n = map.size / sizeof(float);
  const size_t at = st.mel.size();
  st.mel.resize(at + n);
  for (size_t i = 0; i < n; ++i) st.mel[at + i] = GST_READ_FLOAT_LE(map.data + 4 * i);
  gst_buffer_unmap(buf, &map);
  gst_buffer_unref(buf);
  if (st.mel.size() % static_cast<size_t>(st.n_mels) != 0) {
    GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("tavcedatasetsink received a mel buffer that is not whole frames."),
        ("%" G_GSIZE_FORMAT " floats so far, %d per frame", st.mel.size(), st.n_mels));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

bool video_caps(GstTavceDatasetSinkState& st, GstCaps* caps) {
  GstVideoInfo info;
  if (!gst_video_info_from_caps(&info, caps) || GST_VIDEO_INFO_FPS_N(&info) <= 0) return false;
  st.width = GST_VIDEO_INFO_WIDTH(&info);
  st.height = GST_VIDEO_INFO_HEIGHT(&info);
  st.fps_n = GST_VIDEO_INFO_FPS_N(&info);
  st.fps_d = GST_VIDEO_INFO_FPS_D(&info);
  return true;
}

gboolean video_set_caps(GstBaseSink* sink, GstCaps* caps) {
  auto* self = GST_TAVCE_DATASET_SINK(sink);
  std::lock_guard<std::mutex> guard(state_of(self).lock);
  return video_caps(state_of(self), caps);
}

gboolean video_event(GstBaseSink* sink, GstEvent* event) {
  auto* self = GST_TAVCE_DATASET_SINK(sink);
  GstTavceDatasetSinkState& st = state_of(self);
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_SEGMENT: {
      const GstSegment* seg = nullptr;
      gst_event_parse_segment(event, &seg);
      std::lock_guard<std::mutex> guard(st.lock);
      if (seg->format == GST_FORMAT_TIME) gst_segment_copy_into(seg, &st.video_segment);
      break;
    }
    case GST_EVENT_FLUSH_STOP: {
      // A seek restarts the clip: what was collected belongs to another stretch.
      std::lock_guard<std::mutex> guard(st.lock);
      st.reset_video();
      break;
    }
    case GST_EVENT_EOS: {
      std::lock_guard<std::mutex> guard(st.lock);
      if (!st.mel_eos) {  // finished by mel_event
        if (st.pending_eos) gst_event_unref(st.pending_eos);
        st.pending_eos = event;
        return TRUE;
      }
      if (!st.finished && !finish_clip(self)) {
        gst_event_unref(event);
        return FALSE;
      }
      break;
    }
    default:
      break;
  }
  return GST_BASE_SINK_CLASS(gst_tavce_dataset_sink_parent_class)->event(sink, event);
}

gboolean mel_event(GstPad* pad, GstObject* parent, GstEvent* event) {
  auto* self = GST_TAVCE_DATASET_SINK(parent);
  GstTavceDatasetSinkState& st = state_of(self);
  gboolean ok = TRUE;
  GstEvent* video_eos = nullptr;  // to hand to GstBaseSink once the clip is done
  {
    std::lock_guard<std::mutex> guard(st.lock);
    switch (GST_EVENT_TYPE(event)) {
      case GST_EVENT_CAPS: {
        GstCaps* caps = nullptr;
        gst_event_parse_caps(event, &caps);
        tavce::audio::MelConfig cfg;
        std::string why;
        ok = tavce::gst::mel_caps_to_config(caps, &cfg, &why);
        if (ok) {
          st.n_mels = cfg.n_mels;
          st.mel_sample_rate = cfg.sample_rate;
          st.mel_hop = cfg.hop;
          st.mel_floor = static_cast<float>(-cfg.max_abs_value);
        } else {
          GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("tavcedatasetsink's mel pad needs tavcemelspec's output: %s",
              why.c_str()), (nullptr));
        }
        break;
      }
      case GST_EVENT_SEGMENT: {
        const GstSegment* seg = nullptr;
        gst_event_parse_segment(event, &seg);
        if (seg->format != GST_FORMAT_TIME) {
          GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("tavcedatasetsink needs TIME segments on its mel pad."), (nullptr));
          ok = FALSE;
        } else {
          gst_segment_copy_into(seg, &st.mel_segment);
        }
        break;
      }
      case GST_EVENT_FLUSH_STOP:
        st.reset_mel();
        break;
      case GST_EVENT_EOS:
        st.mel_eos = true;
        if (st.pending_eos && !st.finished) {
          video_eos = st.pending_eos;
          st.pending_eos = nullptr;
          if (!finish_clip(self)) {
            gst_event_unref(video_eos);
            video_eos = nullptr;
          }
        }
        break;
      default:
        break;
    }
  }
  (void)pad;
  gst_event_unref(event);
  // Outside the lock: GstBaseSink marks itself EOS and posts the message.
  if (video_eos) GST_BASE_SINK_CLASS(gst_tavce_dataset_sink_parent_class)->event(GST_BASE_SINK(self), video_eos);
  return ok;
}

gboolean stop(GstBaseSink* sink) {
  GstTavceDatasetSinkState& st = state_of(GST_TAVCE_DATASET_SINK(sink));
  std::lock_guard<std::mutex> guard(st.lock);
  st.reset();
  return TRUE;
}

// A seek sent to the sink must move both branches. GstBaseSink sends it
// upstream of the video pad only; the mel branch would go on from where it
// was (mixing two stretches in one clip, or, already at EOS, leaving the clip
// waiting for a mel EOS that never comes again). Same event, same seqnum.
gboolean send_event(GstElement* element, GstEvent* event) {
  auto* self = GST_TAVCE_DATASET_SINK(element);
  if (GST_EVENT_TYPE(event) == GST_EVENT_SEEK && !gst_pad_push_event(self->melpad, gst_event_ref(event)))
    GST_WARNING_OBJECT(self, "the mel branch refused the seek");
  return GST_ELEMENT_CLASS(gst_tavce_dataset_sink_parent_class)->send_event(element, event);
}

gboolean start(GstBaseSink* sink) {
  auto* self = GST_TAVCE_DATASET_SINK(sink);
  GstTavceDatasetSinkState& st = state_of(self);
  std::lock_guard<std::mutex> guard(st.lock);
  GST_OBJECT_LOCK(self);
  st.location = self->location ? self->location : "";
  st.manifest = self->manifest_location ? self->manifest_location : "";
  st.source = self->source ? self->source : "";
  st.commit = self->commit ? self->commit : "";
  st.name = self->clip_name && *self->clip_name ? self->clip_name
                                                : std::filesystem::path(st.location).stem().string();
  st.rule.min_frames = self->min_frames;
  st.rule.min_face = self->min_face;
  GST_OBJECT_UNLOCK(self);
  if (st.location.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND, ("tavcedatasetsink has no 'location': set it to the clip file "
        "to write (OUT_DIR/<set>/<clip>.safetensors)."), (nullptr));
    return FALSE;
  }
  st.reset();
  return TRUE;
}

void set_string(gchar** field, const GValue* value) {
  g_free(*field);
  *field = g_value_dup_string(value);
}

void set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  auto* self = GST_TAVCE_DATASET_SINK(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_LOCATION: set_string(&self->location, value); break;
    case PROP_MANIFEST_LOCATION: set_string(&self->manifest_location, value); break;
    case PROP_CLIP_NAME: set_string(&self->clip_name, value); break;
    case PROP_SOURCE: set_string(&self->source, value); break;
    case PROP_COMMIT: set_string(&self->commit, value); break;
    case PROP_MIN_FRAMES: self->min_frames = g_value_get_int(value); break;
    case PROP_MIN_FACE: self->min_face = g_value_get_double(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

void get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  auto* self = GST_TAVCE_DATASET_SINK(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_LOCATION: g_value_set_string(value, self->location); break;
    case PROP_MANIFEST_LOCATION: g_value_set_string(value, self->manifest_location); break;
    case PROP_CLIP_NAME: g_value_set_string(value, self->clip_name); break;
    case PROP_SOURCE: g_value_set_string(value, self->source); break;
    case PROP_COMMIT: g_value_set_string(value, self->commit); break;
    case PROP_MIN_FRAMES: g_value_set_int(value, self->min_frames); break;
    case PROP_MIN_FACE: g_value_set_double(value, self->min_face); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

void finalize(GObject* object) {
  auto* self = GST_TAVCE_DATASET_SINK(object);
  if (self->state) self->state->reset();
  delete self->state;
  self->state = nullptr;
  g_free(self->location);
  g_free(self->manifest_location);
  g_free(self->clip_name);
  g_free(self->source);
  g_free(self->commit);
  G_OBJECT_CLASS(gst_tavce_dataset_sink_parent_class)->finalize(object);
}

constexpr GParamFlags kReadyFlags =
    static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

}  // namespace

static void gst_tavce_dataset_sink_class_init(GstTavceDatasetSinkClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(gst_tavce_dataset_sink_debug, "tavcedatasetsink", 0, "TAVCE lite dataset clip writer");

  gobject_class->set_property = set_property;
  gobject_class->get_property = get_property;
  gobject_class->finalize = finalize;
  element_class->send_event = send_event;
  GstBaseSinkClass* sink_class = GST_BASE_SINK_CLASS(klass);
  sink_class->start = start;
  sink_class->set_caps = video_set_caps;
  sink_class->event = video_event;
  sink_class->render = video_render;
  sink_class->stop = stop;

  g_object_class_install_property(gobject_class, PROP_LOCATION,
      g_param_spec_string("location", "Location",
          "The clip file to write at end of stream (OUT_DIR/<set>/<clip>.safetensors, format tavce-lite-clip-1). "
          "Written under a temporary name and renamed when complete; folders are created.",
          nullptr, kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_MANIFEST_LOCATION,
      g_param_spec_string("manifest-location", "Manifest location",
          "File that receives the clip's manifest entry (one JSON object on one line) after the clip is written; "
          "empty: none. pipelines/extract-dataset.sh gathers these into manifest-*.jsonl.",
          nullptr, kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_CLIP_NAME,
      g_param_spec_string("clip-name", "Clip name",
          "The clip's name in the dataset, '<set>/<clip>' (metadata 'name'). Empty: the location's file stem.",
          nullptr, kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_SOURCE,
      g_param_spec_string("source", "Source", "The file the clip was extracted from (metadata 'source').", nullptr,
          kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_COMMIT,
      g_param_spec_string("commit", "Commit",
          "Version of the code that extracted the clip, e.g. the git commit (metadata 'commit'); empty: not recorded.",
          nullptr, kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_MIN_FRAMES,
      g_param_spec_int("min-frames", "Minimum frames", "Clips with fewer video frames are skipped, not written.", 1,
          G_MAXINT, kDefaultMinFrames, kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_MIN_FACE,
      g_param_spec_double("min-face", "Minimum face fraction",
          "Clips with a tracked face in fewer than this fraction of their frames are skipped, not written.", 0.0,
          1.0, kDefaultMinFace, kReadyFlags));

  GstCaps* video_caps = gst_caps_from_string(kVideoCaps);
  gst_element_class_add_pad_template(element_class,
      gst_pad_template_new("sink", GST_PAD_SINK, GST_PAD_ALWAYS, video_caps));
  gst_caps_unref(video_caps);
  // Exactly tavcemelspec's front end: other mel parameters fail at link time.
  GstCaps* mel_caps = tavce::gst::mel_caps_new(tavce::audio::MelConfig{});
  gst_element_class_add_pad_template(element_class, gst_pad_template_new("mel", GST_PAD_SINK, GST_PAD_ALWAYS, mel_caps));
  gst_caps_unref(mel_caps);

  gst_element_class_set_static_metadata(element_class, "TAVCE lite dataset clip writer", "Sink/Analyzer",
      "Writes one clip of lite training data (landmarks per frame from tavcefacetrack, mel from tavcemelspec, the "
      "audio-visual offset from tavcesyncscore) as a safetensors file at end of stream, or skips it with the reason",
      "tavce-gst developers");
  (void)gst_tavce_face_meta_get_info();
  (void)gst_tavce_sync_meta_get_info();
}

static void gst_tavce_dataset_sink_init(GstTavceDatasetSink* self) {
  self->state = new GstTavceDatasetSinkState();
  self->state->reset();
  self->min_frames = kDefaultMinFrames;
  self->min_face = kDefaultMinFace;
  // Nothing to present: collect as fast as the data comes.
  gst_base_sink_set_sync(GST_BASE_SINK(self), FALSE);
  GstElementClass* klass = GST_ELEMENT_GET_CLASS(self);
  self->melpad = gst_pad_new_from_template(gst_element_class_get_pad_template(klass, "mel"), "mel");
  gst_pad_set_chain_function(self->melpad, mel_chain);
  gst_pad_set_event_function(self->melpad, mel_event);
  gst_element_add_pad(GST_ELEMENT(self), self->melpad);
}
