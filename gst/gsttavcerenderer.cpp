// tavcerenderer: see gsttavcerenderer.h and docs/elements/tavcerenderer.md.
//
// Timing: row i of a coefficient run is frame i, at run base + i / framerate
// (the base is the PTS of the run's first buffer). That one rule covers
// tavceaudio2coeff's one-row buffers and a filesrc replay whose buffers cut
// rows anywhere. Output buffers carry the running time of their row, like
// every aggregator; the frame for row i leaves once row i + 13 (the end of its
// coefficient window) has arrived, or at EOS.

#include "gsttavcerenderer.h"

#include <gst/video/video.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <exception>
#include <stdexcept>
#include <memory>
#include <string>
#include <vector>

#include "tavce/pipeline/renderer_session.h"
#include "tavcecoeffcaps.h"
#include "tavcerun.h"
#include "tavceenums.h"

GST_DEBUG_CATEGORY_STATIC(gst_tavce_renderer_debug);
#define GST_CAT_DEFAULT gst_tavce_renderer_debug

namespace {

enum {
  PROP_0,
  PROP_MODEL,
  PROP_DEVICE,
  PROP_PRECISION,
  PROP_BATCH_SIZE,
  PROP_PREPROCESS,
  PROP_SOURCE_IMAGE,
  PROP_SOURCE_COEFFS,
  PROP_EXPRESSION_SCALE,
  PROP_STILL,
  PROP_THREADS,
  PROP_YAW,
  PROP_PITCH,
  PROP_ROLL,
  PROP_CAMERA_FRAMES,
};

constexpr guint kDefaultBatchSize = 1;
constexpr guint kMaxBatchSize = 64;
constexpr gdouble kDefaultExpressionScale = 1.0;

const char* kImageCaps = "video/x-raw, format=(string){ RGB, RGBA }";
const char* kSrcCaps =
    "video/x-raw, format=(string){ RGB, RGBA }, width=(int)[1, 32767], height=(int)[1, 32767], "
    "framerate=(fraction)[0/1, 2147483647/1], pixel-aspect-ratio=(fraction)1/1";

}  // namespace

struct GstTavceRendererState {
  std::unique_ptr<tavce::pipeline::RendererSession> session;

  // Coefficient stream.
  tavce::gst::CoeffCapsInfo coeffs;  // from the sink CAPS event
  bool have_coeff_caps = false;
  std::vector<uint8_t> partial_row;  // bytes of a row split across buffers
  bool run_started = false;
  GstClockTime run_base = GST_CLOCK_TIME_NONE;  // stream time of row 0
  int64_t rows_in = 0;                          // rows pushed in this run

  // Portraits from the image pad.
  GstVideoInfo image_info;
  bool have_image_info = false;

  // Output.
  GstVideoFormat out_format = GST_VIDEO_FORMAT_UNKNOWN;
  int out_width = 0, out_height = 0;
  GstClockTime frame_duration = GST_SECOND / 25;
  bool discont_out = true;

  // QoS, from upstream QOS events on the src pad (object lock).
  GstClockTime earliest_time = GST_CLOCK_TIME_NONE;
  guint64 processed = 0, dropped = 0;

  void reset_run() {
    partial_row.clear();
    run_started = false;
    run_base = GST_CLOCK_TIME_NONE;
    rows_in = 0;
    discont_out = true;
    if (session) session->reset();
  }
};

G_DEFINE_TYPE(GstTavceRenderer, gst_tavce_renderer, GST_TYPE_AGGREGATOR)

namespace {

GstTavceRendererState& state_of(GstTavceRenderer* self) { return *self->state; }

std::string locked_string(GstTavceRenderer* self, gchar* const& field) {
  GST_OBJECT_LOCK(self);
  std::string s = field ? field : "";
  GST_OBJECT_UNLOCK(self);
  return s;
}

// "0, 20,-10" -> {0, 20, -10}; "" -> {}. Throws std::invalid_argument naming
// the property and the part that is not a number.
std::vector<double> parse_degrees(const std::string& text, const char* name) {
  std::vector<double> out;
  if (text.find_first_not_of(" \t") == std::string::npos) return out;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const size_t a = part.find_first_not_of(" \t"), b = part.find_last_not_of(" \t");
    part = a == std::string::npos ? "" : part.substr(a, b - a + 1);
    char* end = nullptr;
    const double v = part.empty() ? 0.0 : g_ascii_strtod(part.c_str(), &end);
    if (part.empty() || end != part.c_str() + part.size() || !std::isfinite(v))
      throw std::invalid_argument(std::string(name) + "='" + text + "': '" + part +
                                  "' is not a number of degrees (expected comma-separated degrees such as "
                                  "\"0,20,-10\", or one value)");
    out.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

tavce::pipeline::RendererSettings settings_of(GstTavceRenderer* self) {
  tavce::pipeline::RendererSettings s;
  GST_OBJECT_LOCK(self);
  const std::string yaw = self->yaw ? self->yaw : "", pitch = self->pitch ? self->pitch : "",
                    roll = self->roll ? self->roll : "";
  s.camera_frames = static_cast<int64_t>(std::min<guint64>(self->camera_frames, G_MAXINT64));
  s.model = self->model ? self->model : "";
  s.device = self->device ? self->device : "auto";
  s.precision = gst_tavce_enum_nick(GST_TYPE_TAVCE_PRECISION, self->precision);
  s.batch_size = static_cast<int>(self->batch_size);
  s.preprocess = gst_tavce_enum_nick(GST_TYPE_TAVCE_PREPROCESS, self->preprocess);
  s.expression_scale = self->expression_scale;
  s.still = self->still;
  s.source_coeffs = self->source_coeffs ? self->source_coeffs : "";
  s.threads = static_cast<int>(self->threads);
  GST_OBJECT_UNLOCK(self);
  s.yaw = parse_degrees(yaw, "yaw");
  s.pitch = parse_degrees(pitch, "pitch");
  s.roll = parse_degrees(roll, "roll");
  return s;
}

// Latency we add: the coefficient window's look-ahead plus batching, in frames.
void update_latency(GstTavceRenderer* self) {
  GstTavceRendererState& st = state_of(self);
  if (!st.session) return;
  const GstClockTime ours = static_cast<GstClockTime>(st.session->latency_frames()) * st.frame_duration;
  gst_aggregator_set_latency(GST_AGGREGATOR(self), ours, ours);
  GST_DEBUG_OBJECT(self, "look-ahead latency %" GST_TIME_FORMAT, GST_TIME_ARGS(ours));
}

// (Re)negotiates the output when the frame size changes (a full-mode identity
// switch) or on first use. RGB unless downstream only takes RGBA.
bool ensure_src_caps(GstTavceRenderer* self) {
  GstTavceRendererState& st = state_of(self);
  const int w = st.session->output_width(), h = st.session->output_height();
  if (st.out_format != GST_VIDEO_FORMAT_UNKNOWN && w == st.out_width && h == st.out_height) return true;

  GstAggregator* agg = GST_AGGREGATOR(self);
  GstCaps* peer = gst_pad_peer_query_caps(GST_AGGREGATOR_SRC_PAD(agg), nullptr);
  GstVideoFormat format = GST_VIDEO_FORMAT_RGB;
  if (peer) {
    GstCaps* rgb = gst_caps_from_string("video/x-raw, format=(string)RGB");
    if (!gst_caps_can_intersect(peer, rgb)) format = GST_VIDEO_FORMAT_RGBA;
    gst_caps_unref(rgb);
    gst_caps_unref(peer);
  }
  GstVideoInfo info;
  gst_video_info_set_format(&info, format, static_cast<guint>(w), static_cast<guint>(h));
  info.fps_n = st.coeffs.fps_num;
  info.fps_d = st.coeffs.fps_den;
  info.par_n = info.par_d = 1;
  GstCaps* caps = gst_video_info_to_caps(&info);
  GST_INFO_OBJECT(self, "output caps %" GST_PTR_FORMAT, caps);
  gst_aggregator_set_src_caps(agg, caps);
  gst_caps_unref(caps);
  st.out_format = format;
  st.out_width = w;
  st.out_height = h;
  return true;
}

// Copies a portrait from the image pad into packed RGB.
tavce::pipeline::RgbImage image_from_buffer(GstTavceRendererState& st, GstBuffer* buf) {
  GstVideoFrame frame;
  if (!gst_video_frame_map(&frame, &st.image_info, buf, GST_MAP_READ))
    throw std::runtime_error("could not map the image buffer (does it match the negotiated caps?)");
  tavce::pipeline::RgbImage img;
  img.width = GST_VIDEO_FRAME_WIDTH(&frame);
  img.height = GST_VIDEO_FRAME_HEIGHT(&frame);
  img.pixels.resize(static_cast<size_t>(img.width) * img.height * 3);
  const int px = GST_VIDEO_FRAME_COMP_PSTRIDE(&frame, 0);  // 3 (RGB) or 4 (RGBA)
  const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);
  const auto* src = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 0));
  for (int y = 0; y < img.height; ++y) {
    const uint8_t* row = src + static_cast<size_t>(y) * stride;
    uint8_t* out = img.pixels.data() + static_cast<size_t>(y) * img.width * 3;
    for (int x = 0; x < img.width; ++x) std::memcpy(out + 3 * x, row + px * x, 3);
  }
  gst_video_frame_unmap(&frame);
  return img;
}

GstBuffer* buffer_from_frame(GstTavceRendererState& st, const tavce::pipeline::RgbImage& img) {
  const gsize bpp = st.out_format == GST_VIDEO_FORMAT_RGBA ? 4 : 3;
  GstVideoInfo info;
  gst_video_info_set_format(&info, st.out_format, static_cast<guint>(img.width), static_cast<guint>(img.height));
  GstBuffer* out = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
  GstMapInfo map;
  gst_buffer_map(out, &map, GST_MAP_WRITE);
  const gsize stride = static_cast<gsize>(GST_VIDEO_INFO_PLANE_STRIDE(&info, 0));
  for (int y = 0; y < img.height; ++y) {
    const uint8_t* src = img.pixels.data() + static_cast<size_t>(y) * img.width * 3;
    uint8_t* dst = map.data + y * stride;
    if (bpp == 3) {
      std::memcpy(dst, src, static_cast<size_t>(img.width) * 3);
    } else {
      for (int x = 0; x < img.width; ++x) {
        std::memcpy(dst + 4 * x, src + 3 * x, 3);
        dst[4 * x + 3] = 255;
      }
    }
  }
  gst_buffer_unmap(out, &map);
  return out;
}

// Running time of run row i (what output buffers carry), or NONE.
GstClockTime row_running_time(GstTavceRenderer* self, int64_t index) {
  GstTavceRendererState& st = state_of(self);
  const GstClockTime pts = st.run_base + gst_util_uint64_scale(static_cast<guint64>(index),
                                                               GST_SECOND * st.coeffs.fps_den,
                                                               static_cast<guint64>(st.coeffs.fps_num));
  GstAggregatorPad* pad = self->sinkpad;
  GST_OBJECT_LOCK(pad);
  const GstClockTime rt = pad->segment.format == GST_FORMAT_TIME
                              ? gst_segment_to_running_time(&pad->segment, GST_FORMAT_TIME, pts)
                              : pts;  // no segment yet
  GST_OBJECT_UNLOCK(pad);
  return rt;
}

// Renders what is ready and pushes it. QoS: a frame whose running time is
// already behind what downstream reported is skipped without rendering
// (rendering is the expensive part), and a QoS message says so.
GstFlowReturn push_ready(GstTavceRenderer* self) {
  GstTavceRendererState& st = state_of(self);
  GstAggregator* agg = GST_AGGREGATOR(self);
  std::vector<int64_t> skipped;
  auto wanted = [&](int64_t index) {
    const GstClockTime rt = row_running_time(self, index);
    GST_OBJECT_LOCK(self);
    const GstClockTime earliest = st.earliest_time;
    GST_OBJECT_UNLOCK(self);
    if (GST_CLOCK_TIME_IS_VALID(earliest) && GST_CLOCK_TIME_IS_VALID(rt) && rt + st.frame_duration < earliest) {
      skipped.push_back(index);
      return false;
    }
    return true;
  };
  std::vector<tavce::pipeline::RenderedFrame> frames = st.session->pop_ready(wanted);

  for (int64_t index : skipped) {
    const GstClockTime rt = row_running_time(self, index);
    st.dropped++;
    GstMessage* msg = gst_message_new_qos(GST_OBJECT(self), FALSE, rt, GST_CLOCK_TIME_NONE, rt, st.frame_duration);
    gst_message_set_qos_stats(msg, GST_FORMAT_BUFFERS, st.processed, st.dropped);
    gst_element_post_message(GST_ELEMENT(self), msg);
    st.discont_out = true;
  }

  GstFlowReturn ret = GST_FLOW_OK;
  for (auto& f : frames) {
    if (ret != GST_FLOW_OK) break;
    ensure_src_caps(self);
    GstBuffer* out = buffer_from_frame(st, f.image);
    const GstClockTime rt = row_running_time(self, f.index);
    GST_BUFFER_PTS(out) = rt;
    GST_BUFFER_DURATION(out) = st.frame_duration;
    GST_BUFFER_OFFSET(out) = static_cast<guint64>(f.index);
    if (st.discont_out) {
      GST_BUFFER_FLAG_SET(out, GST_BUFFER_FLAG_DISCONT);
      st.discont_out = false;
    }
    st.processed++;
    GST_LOG_OBJECT(self, "frame %" G_GINT64_FORMAT " at %" GST_TIME_FORMAT, f.index, GST_TIME_ARGS(rt));
    ret = gst_aggregator_finish_buffer(agg, out);
  }
  return ret;
}

// Appends the rows of a coefficient buffer (any byte chunking) to the session.
void push_rows(GstTavceRenderer* self, GstBuffer* buf) {
  GstTavceRendererState& st = state_of(self);
  const size_t row_bytes = static_cast<size_t>(st.coeffs.dims) * sizeof(float);
  if (!st.run_started) {
    GstAggregatorPad* pad = self->sinkpad;
    GST_OBJECT_LOCK(pad);
    st.run_base = tavce::gst::run_base_time(buf, pad->segment);
    GST_OBJECT_UNLOCK(pad);
    st.run_started = true;
  }
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) throw std::runtime_error("could not read a coefficient buffer");
  st.partial_row.insert(st.partial_row.end(), map.data, map.data + map.size);
  gst_buffer_unmap(buf, &map);

  std::vector<float> row(static_cast<size_t>(st.coeffs.dims));
  size_t used = 0;
  while (st.partial_row.size() - used >= row_bytes) {
    const uint8_t* p = st.partial_row.data() + used;
    for (size_t k = 0; k < row.size(); ++k) row[k] = GST_READ_FLOAT_LE(p + 4 * k);
    st.session->push(row.data(), st.coeffs.dims);
    st.rows_in++;
    used += row_bytes;
  }
  st.partial_row.erase(st.partial_row.begin(), st.partial_row.begin() + static_cast<std::ptrdiff_t>(used));
}

// What the session noticed about a new portrait (profile face, face at the
// edge) reaches the application as element warnings; rendering goes on.
void post_portrait_warnings(GstTavceRenderer* self) {
  for (const std::string& w : state_of(self).session->take_warnings())
    GST_ELEMENT_WARNING(self, STREAM, FORMAT, ("%s", w.c_str()), (nullptr));
}

// The image pad, with a reference of our own, or null. The application may
// release the pad while the aggregate thread runs (release_pad clears the
// field and the parent class drops the element's reference), so the
// streaming thread never uses the bare field.
GstAggregatorPad* image_pad_ref(GstTavceRenderer* self) {
  GST_OBJECT_LOCK(self);
  GstAggregatorPad* pad = self->imagepad ? GST_AGGREGATOR_PAD(gst_object_ref(self->imagepad)) : nullptr;
  GST_OBJECT_UNLOCK(self);
  return pad;
}

// A portrait from the image pad or a changed source-image property.
bool update_identity(GstTavceRenderer* self) {
  GstTavceRendererState& st = state_of(self);
  if (GstAggregatorPad* imagepad = image_pad_ref(self)) {
    GstBuffer* img = gst_aggregator_pad_pop_buffer(imagepad);
    gst_object_unref(imagepad);
    if (img) {
      try {
        if (!st.have_image_info) throw std::runtime_error("image buffer before caps");
        st.session->set_portrait(image_from_buffer(st, img), "the image pad");
        post_portrait_warnings(self);
      } catch (const std::exception& e) {
        gst_buffer_unref(img);
        GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Could not use the portrait from the image pad: %s", e.what()),
            (nullptr));
        return false;
      }
      gst_buffer_unref(img);
      GST_INFO_OBJECT(self, "identity switched to a portrait from the image pad");
    }
  }
  GST_OBJECT_LOCK(self);
  const bool changed = self->source_image_changed;
  self->source_image_changed = FALSE;
  const std::string path = self->source_image ? self->source_image : "";
  GST_OBJECT_UNLOCK(self);
  if (changed && !path.empty()) {
    try {
      st.session->set_portrait_file(path);
      post_portrait_warnings(self);
    } catch (const std::exception& e) {
      GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ, ("Could not use the portrait %s: %s", path.c_str(), e.what()),
          (nullptr));
      return false;
    }
  }
  return true;
}

GstFlowReturn gst_tavce_renderer_aggregate(GstAggregator* agg, gboolean timeout) {
  auto* self = GST_TAVCE_RENDERER(agg);
  GstTavceRendererState& st = state_of(self);
  (void)timeout;
  if (!st.session) {
    GST_ELEMENT_ERROR(self, CORE, STATE_CHANGE, ("tavcerenderer received data while not started."), (nullptr));
    return GST_FLOW_ERROR;
  }
  if (!update_identity(self)) return GST_FLOW_ERROR;

  GstBuffer* buf = gst_aggregator_pad_pop_buffer(self->sinkpad);
  if (buf) {
    if (!st.have_coeff_caps) {
      gst_buffer_unref(buf);
      GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("tavcerenderer received coefficients before their caps."),
          (nullptr));
      return GST_FLOW_NOT_NEGOTIATED;
    }
    if (!st.session->has_portrait()) {
      gst_buffer_unref(buf);
      GstAggregatorPad* imagepad = image_pad_ref(self);
      const bool image_pending = imagepad && !gst_aggregator_pad_is_eos(imagepad);
      GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
          ("tavcerenderer has no portrait to animate: %s",
           image_pending ? "the image pad has not delivered one" :
           imagepad ? "the image pad ended before delivering an image, and source-image is not set"
                    : "set source-image=PORTRAIT or link an image to the request pad 'image'"),
          (nullptr));
      if (imagepad) gst_object_unref(imagepad);
      return GST_FLOW_ERROR;
    }
    if (GST_BUFFER_IS_DISCONT(buf) && st.run_started) {
      // A gap in the coefficients: close the run as EOS would, start again.
      try {
        st.session->finish();
      } catch (const std::exception& e) {
        GST_WARNING_OBJECT(self, "finishing the run failed: %s", e.what());
      }
      const GstFlowReturn r = push_ready(self);
      st.reset_run();
      if (r != GST_FLOW_OK) {
        gst_buffer_unref(buf);
        return r;
      }
    }
    try {
      push_rows(self, buf);
    } catch (const std::exception& e) {
      gst_buffer_unref(buf);
      GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Rendering failed: %s", e.what()), (nullptr));
      return GST_FLOW_ERROR;
    }
    gst_buffer_unref(buf);
  } else if (gst_aggregator_pad_is_eos(self->sinkpad)) {
    if (!st.partial_row.empty())
      GST_ELEMENT_WARNING(self, STREAM, FORMAT,
          ("The coefficient stream ended inside a row; %" G_GSIZE_FORMAT " trailing byte(s) were dropped.",
           st.partial_row.size()),
          ("a row is %d float32 values", st.coeffs.dims));
    GstFlowReturn ret = GST_FLOW_OK;
    try {
      if (st.run_started) {
        st.session->finish();
        ret = push_ready(self);
      }
    } catch (const std::exception& e) {
      GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Rendering the last frames failed: %s", e.what()), (nullptr));
      return GST_FLOW_ERROR;
    }
    st.reset_run();
    return ret == GST_FLOW_OK ? GST_FLOW_EOS : ret;
  } else {
    return GST_AGGREGATOR_FLOW_NEED_DATA;
  }

  try {
    return push_ready(self);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Rendering failed: %s", e.what()), (nullptr));
    return GST_FLOW_ERROR;
  }
}

gboolean gst_tavce_renderer_sink_event(GstAggregator* agg, GstAggregatorPad* pad, GstEvent* event) {
  auto* self = GST_TAVCE_RENDERER(agg);
  GstTavceRendererState& st = state_of(self);
  if (GST_EVENT_TYPE(event) == GST_EVENT_CAPS) {
    GstCaps* caps = nullptr;
    gst_event_parse_caps(event, &caps);
    if (pad == self->imagepad) {
      st.have_image_info = gst_video_info_from_caps(&st.image_info, caps);
      gst_event_unref(event);
      return st.have_image_info;
    }
    tavce::gst::CoeffCapsInfo info;
    std::string why;
    bool ok = tavce::gst::coeff_caps_to_info(caps, &info, &why);
    // The space first: a stream of another model family differs in both, and the space says why.
    if (ok && st.session && (info.space != st.session->coeff_space() || info.dims != st.session->coeff_dims())) {
      ok = false;
      why = "the stream carries '" + info.space + "' coefficients (" + std::to_string(info.dims) +
            " per frame) but the model takes '" + st.session->coeff_space() + "' (" +
            std::to_string(st.session->coeff_dims()) + " per frame)";
    }
    if (!ok) {
      gchar* s = gst_caps_to_string(caps);
      GST_ELEMENT_ERROR(self, CORE, NEGOTIATION,
          ("tavcerenderer cannot use these coefficients: %s. Use the same model bundle for "
           "tavceaudio2coeff and tavcerenderer.", why.c_str()),
          ("caps: %s", s));
      g_free(s);
      gst_event_unref(event);
      return FALSE;
    }
    st.coeffs = info;
    st.have_coeff_caps = true;
    st.frame_duration = gst_util_uint64_scale(GST_SECOND, static_cast<guint64>(info.fps_den),
                                              static_cast<guint64>(info.fps_num));
    st.out_format = GST_VIDEO_FORMAT_UNKNOWN;  // framerate may have changed: renegotiate
    update_latency(self);
    gst_event_unref(event);
    return TRUE;
  }
  if (GST_EVENT_TYPE(event) == GST_EVENT_SEGMENT && pad == self->sinkpad) {
    const GstSegment* segment = nullptr;
    gst_event_parse_segment(event, &segment);
    if (segment->format != GST_FORMAT_TIME) {
      // A replayed dump (filesrc) comes in a BYTES segment: coefficient rows
      // carry their own timeline (row index / framerate), so it becomes a
      // TIME segment from 0, as tavceaudio2coeff does for mel dumps.
      GST_DEBUG_OBJECT(self, "%s segment: using a TIME segment from 0", gst_format_get_name(segment->format));
      GstSegment time_segment;
      gst_segment_init(&time_segment, GST_FORMAT_TIME);
      GstEvent* replaced = gst_event_new_segment(&time_segment);
      gst_event_set_seqnum(replaced, gst_event_get_seqnum(event));
      gst_event_unref(event);
      event = replaced;
    }
  }
  return GST_AGGREGATOR_CLASS(gst_tavce_renderer_parent_class)->sink_event(agg, pad, event);
}

gboolean gst_tavce_renderer_src_event(GstAggregator* agg, GstEvent* event) {
  auto* self = GST_TAVCE_RENDERER(agg);
  if (GST_EVENT_TYPE(event) == GST_EVENT_QOS) {
    gdouble proportion;
    GstClockTimeDiff diff;
    GstClockTime timestamp;
    gst_event_parse_qos(event, nullptr, &proportion, &diff, &timestamp);
    GST_OBJECT_LOCK(self);
    // Frames due before this time would arrive late anyway (the
    // GstVideoDecoder rule: skip twice the lateness ahead).
    if (diff > 0)
      state_of(self).earliest_time = timestamp + 2 * static_cast<GstClockTime>(diff) + state_of(self).frame_duration;
    else
      state_of(self).earliest_time = timestamp + diff;
    GST_OBJECT_UNLOCK(self);
  }
  return GST_AGGREGATOR_CLASS(gst_tavce_renderer_parent_class)->src_event(agg, event);
}

// GstAggregator's default negotiation (run whenever downstream asks for a
// reconfiguration, including before the first frame) fixates the template,
// i.e. 1x1 pixels, which an encoder such as x264enc then fails to open. The
// output size is the session's, so negotiation is ensure_src_caps(), once
// the coefficient caps and the portrait say what it is.
gboolean gst_tavce_renderer_negotiate(GstAggregator* agg) {
  auto* self = GST_TAVCE_RENDERER(agg);
  GstTavceRendererState& st = state_of(self);
  if (!st.session || !st.have_coeff_caps || !st.session->has_portrait()) return TRUE;  // later, at the first frame
  st.out_format = GST_VIDEO_FORMAT_UNKNOWN;  // query downstream again
  return ensure_src_caps(self);
}

GstFlowReturn gst_tavce_renderer_flush(GstAggregator* agg) {
  auto* self = GST_TAVCE_RENDERER(agg);
  GstTavceRendererState& st = state_of(self);
  st.reset_run();
  GST_OBJECT_LOCK(self);
  st.earliest_time = GST_CLOCK_TIME_NONE;
  GST_OBJECT_UNLOCK(self);
  return GST_FLOW_OK;
}

gboolean gst_tavce_renderer_start(GstAggregator* agg) {
  auto* self = GST_TAVCE_RENDERER(agg);
  GstTavceRendererState& st = state_of(self);
  tavce::pipeline::RendererSettings settings;
  try {
    settings = settings_of(self);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("tavcerenderer: bad head-pose override: %s", e.what()), (nullptr));
    return FALSE;
  }
  for (const auto& [name, list] : {std::make_pair("yaw", &settings.yaw), std::make_pair("pitch", &settings.pitch),
                                   std::make_pair("roll", &settings.roll)}) {
    if (list->size() > 1 && settings.camera_frames <= 0) {
      GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS,
          ("tavcerenderer: %s lists %u angles but camera-frames is 0: a list is interpolated over the clip "
           "(SadTalker's gen_camera_pose), so set camera-frames to the clip length in video frames "
           "(audio seconds x 25), or give a single angle",
           name, static_cast<guint>(list->size())),
          (nullptr));
      return FALSE;
    }
  }
  const std::string portrait = locked_string(self, self->source_image);
  try {
    st.session = std::make_unique<tavce::pipeline::RendererSession>(settings);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND, ("tavcerenderer could not load its model: %s", e.what()),
        ("model='%s' device='%s' precision='%s'", settings.model.c_str(), settings.device.c_str(),
         settings.precision.c_str()));
    return FALSE;
  }
  if (!portrait.empty()) {
    try {
      st.session->set_portrait_file(portrait);
      post_portrait_warnings(self);
    } catch (const std::exception& e) {
      st.session.reset();
      GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ, ("tavcerenderer could not use the portrait: %s", e.what()),
          ("source-image='%s'", portrait.c_str()));
      return FALSE;
    }
  }
  GST_OBJECT_LOCK(self);
  self->source_image_changed = FALSE;
  GST_OBJECT_UNLOCK(self);
  st.reset_run();
  st.out_format = GST_VIDEO_FORMAT_UNKNOWN;
  st.processed = st.dropped = 0;
  st.earliest_time = GST_CLOCK_TIME_NONE;
  update_latency(self);
  return TRUE;
}

gboolean gst_tavce_renderer_stop(GstAggregator* agg) {
  auto* self = GST_TAVCE_RENDERER(agg);
  GstTavceRendererState& st = state_of(self);
  st.session.reset();
  st.have_coeff_caps = false;
  st.have_image_info = false;
  st.reset_run();
  return TRUE;
}

GstAggregatorPad* gst_tavce_renderer_create_new_pad(GstAggregator* agg, GstPadTemplate* templ, const gchar*,
                                                     const GstCaps*) {
  auto* self = GST_TAVCE_RENDERER(agg);
  if (g_strcmp0(GST_PAD_TEMPLATE_NAME_TEMPLATE(templ), "image") != 0) return nullptr;
  GST_OBJECT_LOCK(self);
  if (self->imagepad) {
    GST_OBJECT_UNLOCK(self);
    GST_WARNING_OBJECT(self, "the image pad exists already; only one can be requested");
    return nullptr;
  }
  self->imagepad = GST_AGGREGATOR_PAD(g_object_new(GST_TYPE_AGGREGATOR_PAD, "name", "image", "direction",
                                                   GST_PAD_SINK, "template", templ, nullptr));
  GstAggregatorPad* pad = self->imagepad;
  GST_OBJECT_UNLOCK(self);
  return pad;
}

void gst_tavce_renderer_release_pad(GstElement* element, GstPad* pad) {
  auto* self = GST_TAVCE_RENDERER(element);
  GST_OBJECT_LOCK(self);
  if (GST_PAD(self->imagepad) == pad) self->imagepad = nullptr;
  GST_OBJECT_UNLOCK(self);
  GST_ELEMENT_CLASS(gst_tavce_renderer_parent_class)->release_pad(element, pad);
}

void set_string(GstTavceRenderer* self, gchar** field, const GValue* value) {
  GST_OBJECT_LOCK(self);
  g_free(*field);
  *field = g_value_dup_string(value);
  GST_OBJECT_UNLOCK(self);
}

void gst_tavce_renderer_set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  auto* self = GST_TAVCE_RENDERER(object);
  switch (prop_id) {
    case PROP_MODEL: set_string(self, &self->model, value); break;
    case PROP_DEVICE: set_string(self, &self->device, value); break;
    case PROP_SOURCE_COEFFS: set_string(self, &self->source_coeffs, value); break;
    case PROP_SOURCE_IMAGE:
      set_string(self, &self->source_image, value);
      GST_OBJECT_LOCK(self);
      self->source_image_changed = TRUE;
      GST_OBJECT_UNLOCK(self);
      break;
    case PROP_PRECISION:
      GST_OBJECT_LOCK(self);
      self->precision = g_value_get_enum(value);
      GST_OBJECT_UNLOCK(self);
      break;
    case PROP_PREPROCESS:
      GST_OBJECT_LOCK(self);
      self->preprocess = g_value_get_enum(value);
      GST_OBJECT_UNLOCK(self);
      break;
    case PROP_BATCH_SIZE:
      GST_OBJECT_LOCK(self);
      self->batch_size = g_value_get_uint(value);
      GST_OBJECT_UNLOCK(self);
      break;
    case PROP_EXPRESSION_SCALE:
      GST_OBJECT_LOCK(self);
      self->expression_scale = g_value_get_double(value);
      GST_OBJECT_UNLOCK(self);
      break;
    case PROP_STILL:
      GST_OBJECT_LOCK(self);
      self->still = g_value_get_boolean(value);
      GST_OBJECT_UNLOCK(self);
      break;
    case PROP_THREADS:
      GST_OBJECT_LOCK(self);
      self->threads = g_value_get_uint(value);
      GST_OBJECT_UNLOCK(self);
      break;
    case PROP_YAW: set_string(self, &self->yaw, value); break;
    case PROP_PITCH: set_string(self, &self->pitch, value); break;
    case PROP_ROLL: set_string(self, &self->roll, value); break;
    case PROP_CAMERA_FRAMES:
      GST_OBJECT_LOCK(self);
      self->camera_frames = g_value_get_uint64(value);
      GST_OBJECT_UNLOCK(self);
      break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

void gst_tavce_renderer_get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  auto* self = GST_TAVCE_RENDERER(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_MODEL: g_value_set_string(value, self->model); break;
    case PROP_DEVICE: g_value_set_string(value, self->device); break;
    case PROP_SOURCE_IMAGE: g_value_set_string(value, self->source_image); break;
    case PROP_SOURCE_COEFFS: g_value_set_string(value, self->source_coeffs); break;
    case PROP_PRECISION: g_value_set_enum(value, self->precision); break;
    case PROP_PREPROCESS: g_value_set_enum(value, self->preprocess); break;
    case PROP_BATCH_SIZE: g_value_set_uint(value, self->batch_size); break;
    case PROP_EXPRESSION_SCALE: g_value_set_double(value, self->expression_scale); break;
    case PROP_STILL: g_value_set_boolean(value, self->still); break;
    case PROP_THREADS: g_value_set_uint(value, self->threads); break;
    case PROP_YAW: g_value_set_string(value, self->yaw); break;
    case PROP_PITCH: g_value_set_string(value, self->pitch); break;
    case PROP_ROLL: g_value_set_string(value, self->roll); break;
    case PROP_CAMERA_FRAMES: g_value_set_uint64(value, self->camera_frames); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

void gst_tavce_renderer_finalize(GObject* object) {
  auto* self = GST_TAVCE_RENDERER(object);
  delete self->state;
  self->state = nullptr;
  g_free(self->model);
  g_free(self->device);
  g_free(self->source_image);
  g_free(self->source_coeffs);
  g_free(self->yaw);
  g_free(self->pitch);
  g_free(self->roll);
  G_OBJECT_CLASS(gst_tavce_renderer_parent_class)->finalize(object);
}

constexpr GParamFlags kReadyFlags =
    static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

}  // namespace

static void gst_tavce_renderer_class_init(GstTavceRendererClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstAggregatorClass* agg_class = GST_AGGREGATOR_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(gst_tavce_renderer_debug, "tavcerenderer", 0, "TAVCE talking-head renderer");

  gobject_class->set_property = gst_tavce_renderer_set_property;
  gobject_class->get_property = gst_tavce_renderer_get_property;
  gobject_class->finalize = gst_tavce_renderer_finalize;

  g_object_class_install_property(gobject_class, PROP_MODEL,
      g_param_spec_string("model", "Model",
          "Model bundle: a directory holding model.json, or a bundle name looked up in TAVCE_MODEL_PATH and "
          "the installed models. Empty: the default bundle.",
          nullptr, kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_DEVICE,
      g_param_spec_string("device", "Device",
          "Where the networks run: auto (CUDA when available, else CPU), cpu, cuda or cuda:N.", "auto",
          kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_PRECISION,
      g_param_spec_enum("precision", "Precision", "Arithmetic precision of the renderer; fp16 and bf16 need CUDA.",
          GST_TYPE_TAVCE_PRECISION, GST_TAVCE_PRECISION_FP32, kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_BATCH_SIZE,
      g_param_spec_uint("batch-size", "Batch size",
          "Frames rendered together. Larger batches use the device better but add (batch-size - 1) frames "
          "of latency.",
          1, kMaxBatchSize, kDefaultBatchSize, kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_PREPROCESS,
      g_param_spec_enum("preprocess", "Preprocess",
          "How the portrait is cut: crop and extcrop animate the face crop, resize the whole image, full and "
          "extfull paste the animated face back into the full portrait (output at the portrait's size).",
          GST_TYPE_TAVCE_PREPROCESS, GST_TAVCE_PREPROCESS_CROP, kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_SOURCE_IMAGE,
      g_param_spec_string("source-image", "Source image",
          "Portrait file to animate (PNG, JPEG...). Setting it while playing switches identity at the next "
          "frame. A portrait arriving on the image pad replaces it.",
          nullptr, static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));
  g_object_class_install_property(gobject_class, PROP_SOURCE_COEFFS,
      g_param_spec_string("source-coeffs", "Source coefficients",
          "Raw little-endian float32 file with the portrait's 70 or 73 3DMM coefficients, used instead of "
          "the bundle's face reconstruction network (needed when the bundle has none).",
          nullptr, kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_EXPRESSION_SCALE,
      g_param_spec_double("expression-scale", "Expression scale",
          "Multiplies the driving expression coefficients (not the portrait's): above 1 exaggerates, below 1 "
          "calms the face.",
          0.0, 10.0, kDefaultExpressionScale, kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_STILL,
      g_param_spec_boolean("still", "Still",
          "Keep the portrait's head pose: only the expression follows the audio.", FALSE, kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_THREADS,
      g_param_spec_uint("threads", "Threads",
          "CPU threads for the networks; 0 = auto: every core this process may run on (1 for lite bundles, whose networks are too small to gain from threads).", 0, 1024, 0, kReadyFlags));
  const char* kAngleHelp =
      " degrees replacing the head pose the coefficients drive (SadTalker --input_%s). Empty: the pose from "
      "the coefficients. One value: that angle for every frame. A comma-separated list (e.g. \"0,20,-10\") "
      "is interpolated over camera-frames frames like SadTalker's gen_camera_pose (constant steps, the last "
      "listed angle is approached but not reached; later frames keep the last value).";
  struct AngleProp { guint id; const char* name; const char* nick; const char* what; };
  for (const AngleProp& p : {AngleProp{PROP_YAW, "yaw", "Yaw", "Yaw (turn left/right)"},
                             AngleProp{PROP_PITCH, "pitch", "Pitch", "Pitch (nod up/down)"},
                             AngleProp{PROP_ROLL, "roll", "Roll", "Roll (tilt)"}}) {
    // Without G_PARAM_STATIC_BLURB the param spec keeps its own copy of the blurb.
    gchar* help = g_strdup_printf(kAngleHelp, p.name);
    gchar* blurb = g_strconcat(p.what, help, nullptr);
    g_free(help);
    g_object_class_install_property(gobject_class, p.id,
        g_param_spec_string(p.name, p.nick, blurb, nullptr,
            static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_NAME | G_PARAM_STATIC_NICK |
                                     GST_PARAM_MUTABLE_READY)));
    g_free(blurb);
  }
  g_object_class_install_property(gobject_class, PROP_CAMERA_FRAMES,
      g_param_spec_uint64("camera-frames", "Camera frames",
          "Clip length in video frames (audio seconds x 25) over which yaw/pitch/roll lists are interpolated. "
          "Needed when any of them lists several angles; unused for single values.",
          0, G_MAXUINT64, 0, kReadyFlags));

  GstCaps* coeff_caps = tavce::gst::coeff_caps_template();
  gst_element_class_add_pad_template(element_class,
      gst_pad_template_new_with_gtype("sink", GST_PAD_SINK, GST_PAD_ALWAYS, coeff_caps, GST_TYPE_AGGREGATOR_PAD));
  gst_caps_unref(coeff_caps);
  GstCaps* image_caps = gst_caps_from_string(kImageCaps);
  gst_element_class_add_pad_template(element_class,
      gst_pad_template_new_with_gtype("image", GST_PAD_SINK, GST_PAD_REQUEST, image_caps, GST_TYPE_AGGREGATOR_PAD));
  gst_caps_unref(image_caps);
  GstCaps* src_caps = gst_caps_from_string(kSrcCaps);
  gst_element_class_add_pad_template(element_class,
      gst_pad_template_new_with_gtype("src", GST_PAD_SRC, GST_PAD_ALWAYS, src_caps, GST_TYPE_AGGREGATOR_PAD));
  gst_caps_unref(src_caps);

  gst_element_class_set_static_metadata(element_class, "TAVCE talking-head renderer", "Filter/Video/Effect",
      "Animates a portrait from 3DMM coefficient rows (application/x-tavce-coeffs) with the SadTalker/TAVCE "
      "face renderer; one RGB frame per coefficient row, timestamped from the coefficients",
      "tavce-gst developers");

  element_class->release_pad = gst_tavce_renderer_release_pad;
  agg_class->aggregate = gst_tavce_renderer_aggregate;
  agg_class->sink_event = gst_tavce_renderer_sink_event;
  agg_class->src_event = gst_tavce_renderer_src_event;
  agg_class->flush = gst_tavce_renderer_flush;
  agg_class->negotiate = gst_tavce_renderer_negotiate;
  agg_class->start = gst_tavce_renderer_start;
  agg_class->stop = gst_tavce_renderer_stop;
  agg_class->create_new_pad = gst_tavce_renderer_create_new_pad;

  gst_type_mark_as_plugin_api(GST_TYPE_TAVCE_PREPROCESS, static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(GST_TYPE_TAVCE_PRECISION, static_cast<GstPluginAPIFlags>(0));
}

static void gst_tavce_renderer_init(GstTavceRenderer* self) {
  self->state = new GstTavceRendererState();
  self->device = g_strdup("auto");
  self->precision = GST_TAVCE_PRECISION_FP32;
  self->batch_size = kDefaultBatchSize;
  self->preprocess = GST_TAVCE_PREPROCESS_CROP;
  self->expression_scale = kDefaultExpressionScale;
  self->threads = 0;

  GstElementClass* klass = GST_ELEMENT_GET_CLASS(self);
  GstPadTemplate* templ = gst_element_class_get_pad_template(klass, "sink");
  self->sinkpad = GST_AGGREGATOR_PAD(
      g_object_new(GST_TYPE_AGGREGATOR_PAD, "name", "sink", "direction", GST_PAD_SINK, "template", templ, nullptr));
  gst_element_add_pad(GST_ELEMENT(self), GST_PAD(self->sinkpad));
}
