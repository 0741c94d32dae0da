// tavcemelspec: see gsttavcemelspec.h and docs/elements/tavcemelspec.md.
//
// A plain GstElement with chain/event/query functions: GstBaseTransform
// assumes one output buffer per input buffer, but mel frames complete at
// their own pace (every 200 samples, 400 samples after their centre), so the
// element keeps its own queue of finished frames and pushes them in groups of
// frames-per-buffer.

#include "gsttavcemelspec.h"

#include <gst/audio/audio.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "tavce/audio/mel_spectrogram.h"
#include "tavcemelcaps.h"
#include "tavcerun.h"

GST_DEBUG_CATEGORY_STATIC(gst_tavce_mel_spec_debug);
#define GST_CAT_DEFAULT gst_tavce_mel_spec_debug

namespace {

enum { PROP_0, PROP_FRAMES_PER_BUFFER };

constexpr guint kDefaultFramesPerBuffer = 1;
constexpr guint kMaxFramesPerBuffer = 8000;  // 100 s of mel: beyond that a buffer is a file

// The front end this element computes. Pad templates, caps and latency all
// derive from it, so changing the lib's defaults changes what is advertised.
const tavce::audio::MelConfig& element_config() {
  static const tavce::audio::MelConfig cfg{};
  return cfg;
}

std::string sink_caps_string(const tavce::audio::MelConfig& cfg) {
  return "audio/x-raw, format=(string){ F32LE, S16LE }, layout=(string)interleaved, "
         "channels=(int)1, rate=(int)" + std::to_string(cfg.sample_rate);
}

enum class SampleFormat { kNone, kF32, kS16 };

}  // namespace

struct GstTavceMelSpecState {
  tavce::audio::MelConfig cfg = element_config();
  std::unique_ptr<tavce::audio::MelSpectrogram> mel;  // lives from READY->PAUSED to PAUSED->READY

  SampleFormat format = SampleFormat::kNone;  // from the last accepted CAPS event
  GstSegment segment;                         // last SEGMENT (format UNDEFINED until one arrives)

  // One "run": the samples since the last reset, whose frame m is centred at
  // base + m * hop / rate.
  bool started = false;
  GstClockTime base = GST_CLOCK_TIME_NONE;
  guint64 next_frame = 0;      // run index of the first frame in `pending`
  std::vector<float> pending;  // finished frames not pushed yet, n_mels floats each
  bool discont_out = true;     // mark the next output buffer DISCONT
  guint8 partial[4] = {};      // bytes of a sample split across input buffers
  gsize n_partial = 0;
  bool warned_non_finite = false;

  // Posted once per READY->PAUSED so a refused format does not flood the bus.
  std::atomic<bool> negotiation_error_posted{false};

  // Conversion scratch, kept to avoid an allocation per buffer.
  std::vector<float> f32;
  std::vector<int16_t> s16;

  GstTavceMelSpecState() { gst_segment_init(&segment, GST_FORMAT_UNDEFINED); }

  void reset_run() {
    if (mel) mel->reset();
    started = false;
    base = GST_CLOCK_TIME_NONE;
    next_frame = 0;
    pending.clear();
    discont_out = true;
    n_partial = 0;
    warned_non_finite = false;
  }

  guint bytes_per_sample() const { return format == SampleFormat::kF32 ? 4 : 2; }
};

G_DEFINE_TYPE(GstTavceMelSpec, gst_tavce_mel_spec, GST_TYPE_ELEMENT)

namespace {

GstTavceMelSpecState& state_of(GstTavceMelSpec* self) { return *self->state; }

guint frames_per_buffer(GstTavceMelSpec* self) {
  GST_OBJECT_LOCK(self);
  const guint n = self->frames_per_buffer;
  GST_OBJECT_UNLOCK(self);
  return n;
}

// The user-facing negotiation error: what we need, what we got, what to do.
void post_format_error(GstTavceMelSpec* self, const GstCaps* offered) {
  GstTavceMelSpecState& st = state_of(self);
  if (st.negotiation_error_posted.exchange(true)) return;
  const std::string required = sink_caps_string(st.cfg);
  std::string got = "no caps at all";
  if (offered) {
    gchar* s = gst_caps_to_string(offered);
    got = s;
    g_free(s);
  }
  GST_ELEMENT_ERROR(self, CORE, NEGOTIATION,
      ("tavcemelspec needs mono %d Hz audio (F32LE or S16LE) but upstream offered %s. "
       "Put 'audioconvert ! audioresample' in front of tavcemelspec.",
       st.cfg.sample_rate, got.c_str()),
      ("required caps: %s", required.c_str()));
}

// Parses accepted input caps (already checked against the template by the
// ACCEPT_CAPS query) into a sample format.
SampleFormat parse_input_caps(const GstTavceMelSpecState& st, const GstCaps* caps) {
  GstAudioInfo info;
  if (!gst_audio_info_from_caps(&info, caps)) return SampleFormat::kNone;
  if (GST_AUDIO_INFO_RATE(&info) != st.cfg.sample_rate || GST_AUDIO_INFO_CHANNELS(&info) != 1 ||
      GST_AUDIO_INFO_LAYOUT(&info) != GST_AUDIO_LAYOUT_INTERLEAVED)
    return SampleFormat::kNone;
  switch (GST_AUDIO_INFO_FORMAT(&info)) {
    case GST_AUDIO_FORMAT_F32LE: return SampleFormat::kF32;
    case GST_AUDIO_FORMAT_S16LE: return SampleFormat::kS16;
    default: return SampleFormat::kNone;
  }
}

// Pushes the pending frames in groups of frames-per-buffer; with `all`, also
// the short remainder (end of a run).
GstFlowReturn push_pending(GstTavceMelSpec* self, bool all) {
  GstTavceMelSpecState& st = state_of(self);
  const gsize n_mels = static_cast<gsize>(st.cfg.n_mels);
  const gsize per_buffer = frames_per_buffer(self);
  const gsize available = st.pending.size() / n_mels;
  const guint64 frame_ns = static_cast<guint64>(st.cfg.hop) * GST_SECOND;
  gsize done = 0;
  GstFlowReturn ret = GST_FLOW_OK;

  while (ret == GST_FLOW_OK && (available - done >= per_buffer || (all && available > done))) {
    const gsize k = std::min(per_buffer, available - done);
    const gsize n_bytes = k * n_mels * sizeof(float);
    GstBuffer* out = gst_buffer_new_allocate(nullptr, n_bytes, nullptr);
    if (!out) {
      GST_ELEMENT_ERROR(self, RESOURCE, NO_SPACE_LEFT,
          ("Could not allocate a %" G_GSIZE_FORMAT "-byte mel buffer.", n_bytes), (nullptr));
      return GST_FLOW_ERROR;
    }
    const float* src = st.pending.data() + done * n_mels;
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
    gst_buffer_fill(out, 0, src, n_bytes);
#else
    GstMapInfo map;
    gst_buffer_map(out, &map, GST_MAP_WRITE);
    for (gsize i = 0; i < k * n_mels; ++i) GST_WRITE_FLOAT_LE(map.data + 4 * i, src[i]);
    gst_buffer_unmap(out, &map);
#endif
    // Frame m is centred on input sample m * hop: its time is exact on the
    // audio timeline, and durations are differences so they never drift.
    const guint64 m0 = st.next_frame + done;
    const GstClockTime start = st.base + gst_util_uint64_scale(m0, frame_ns, st.cfg.sample_rate);
    const GstClockTime end = st.base + gst_util_uint64_scale(m0 + k, frame_ns, st.cfg.sample_rate);
    GST_BUFFER_PTS(out) = start;
    GST_BUFFER_DTS(out) = GST_CLOCK_TIME_NONE;
    GST_BUFFER_DURATION(out) = end - start;
    GST_BUFFER_OFFSET(out) = m0;
    GST_BUFFER_OFFSET_END(out) = m0 + k;
    if (st.discont_out) {
      GST_BUFFER_FLAG_SET(out, GST_BUFFER_FLAG_DISCONT);
      st.discont_out = false;
    }
    done += k;
    ret = gst_pad_push(self->srcpad, out);
  }
  st.pending.erase(st.pending.begin(), st.pending.begin() + static_cast<std::ptrdiff_t>(done * n_mels));
  st.next_frame += done;
  return ret;
}

// End of a run (EOS, DISCONT, new segment): emit the zero-padded tail the
// reference computes for a whole file, push everything, start afresh.
GstFlowReturn drain(GstTavceMelSpec* self) {
  GstTavceMelSpecState& st = state_of(self);
  if (!st.started || !st.mel) return GST_FLOW_OK;
  if (st.n_partial > 0) {
    GST_ELEMENT_WARNING(self, STREAM, FORMAT,
        ("Audio ended in the middle of a sample; dropped %" G_GSIZE_FORMAT " trailing byte(s).",
         st.n_partial),
        ("the input byte count is not a multiple of the %u-byte sample size", st.bytes_per_sample()));
  }
  try {
    st.mel->finish(st.pending);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, LIBRARY, FAILED, ("Mel spectrogram failed at end of stream: %s", e.what()),
        (nullptr));
    st.reset_run();
    return GST_FLOW_ERROR;
  }
  const GstFlowReturn ret = push_pending(self, true);
  st.reset_run();
  return ret;
}

// Turns this buffer's bytes (plus a sample left over from the previous one)
// into samples and feeds them to the mel object. Never reads past the map.
void feed_samples(GstTavceMelSpec* self, const guint8* data, gsize size) {
  GstTavceMelSpecState& st = state_of(self);
  const gsize bps = st.bytes_per_sample();
  const gsize carried = st.n_partial > 0 ? 1 : 0;
  gsize head = 0;  // bytes of `data` that complete the carried sample
  if (carried) {
    head = std::min(bps - st.n_partial, size);
    std::memcpy(st.partial + st.n_partial, data, head);
    st.n_partial += head;
  }
  const bool carried_complete = carried && st.n_partial == bps;
  const guint8* body = data + head;
  const gsize body_count = (size - head) / bps;
  const gsize n = (carried_complete ? 1 : 0) + body_count;

  // GST_READ_* handle unaligned data and host byte order.
  if (st.format == SampleFormat::kF32) {
    st.f32.resize(n);
    gsize i = 0;
    if (carried_complete) st.f32[i++] = GST_READ_FLOAT_LE(st.partial);
    for (gsize j = 0; j < body_count; ++j) st.f32[i++] = GST_READ_FLOAT_LE(body + 4 * j);
    // NaN or infinity would poison every frame whose window touches it
    // (and, through the STFT, its neighbours): replace with silence, say so.
    for (float& v : st.f32) {
      if (!std::isfinite(v)) {
        if (!st.warned_non_finite) {
          GST_ELEMENT_WARNING(self, STREAM, FORMAT,
              ("Input audio holds NaN or infinite samples; they are replaced with silence."), (nullptr));
          st.warned_non_finite = true;
        }
        v = 0.0f;
      }
    }
    st.mel->push(st.f32.data(), n, st.pending);
  } else {
    st.s16.resize(n);
    gsize i = 0;
    if (carried_complete) st.s16[i++] = static_cast<int16_t>(GST_READ_UINT16_LE(st.partial));
    for (gsize j = 0; j < body_count; ++j) st.s16[i++] = static_cast<int16_t>(GST_READ_UINT16_LE(body + 2 * j));
    st.mel->push(st.s16.data(), n, st.pending);
  }

  if (carried_complete) st.n_partial = 0;
  const gsize tail = (size - head) % bps;
  if (tail > 0) {  // keep the start of a sample the next buffer completes
    std::memcpy(st.partial, body + body_count * bps, tail);
    st.n_partial = tail;
  }
}

GstFlowReturn gst_tavce_mel_spec_chain(GstPad*, GstObject* parent, GstBuffer* buf) {
  auto* self = GST_TAVCE_MEL_SPEC(parent);
  GstTavceMelSpecState& st = state_of(self);

  if (st.format == SampleFormat::kNone) {
    gst_buffer_unref(buf);
    post_format_error(self, nullptr);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (!st.mel) {  // only reachable if data flows outside PAUSED/PLAYING
    gst_buffer_unref(buf);
    GST_ELEMENT_ERROR(self, CORE, STATE_CHANGE, ("tavcemelspec received audio while not started."),
        (nullptr));
    return GST_FLOW_ERROR;
  }

  // A discontinuity ends the run as EOS would: the frames around the gap
  // would otherwise mix audio that never was contiguous.
  if (st.started && GST_BUFFER_IS_DISCONT(buf)) {
    GST_DEBUG_OBJECT(self, "DISCONT at %" GST_TIME_FORMAT ": draining", GST_TIME_ARGS(GST_BUFFER_PTS(buf)));
    const GstFlowReturn ret = drain(self);
    if (ret != GST_FLOW_OK) {
      gst_buffer_unref(buf);
      return ret;
    }
  }
  if (!st.started) {
    st.base = tavce::gst::run_base_time(buf, st.segment);
    st.started = true;
    GST_DEBUG_OBJECT(self, "run starts at %" GST_TIME_FORMAT, GST_TIME_ARGS(st.base));
  }

  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) {
    gst_buffer_unref(buf);
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Could not read an input audio buffer."), (nullptr));
    return GST_FLOW_ERROR;
  }
  bool ok = true;
  std::string what;
  try {
    feed_samples(self, map.data, map.size);
  } catch (const std::exception& e) {
    ok = false;
    what = e.what();
  } catch (...) {
    ok = false;
    what = "unknown exception";
  }
  gst_buffer_unmap(buf, &map);
  gst_buffer_unref(buf);
  if (!ok) {
    GST_ELEMENT_ERROR(self, LIBRARY, FAILED, ("Mel spectrogram failed: %s", what.c_str()), (nullptr));
    return GST_FLOW_ERROR;
  }
  return push_pending(self, false);
}

gboolean gst_tavce_mel_spec_sink_event(GstPad* pad, GstObject* parent, GstEvent* event) {
  auto* self = GST_TAVCE_MEL_SPEC(parent);
  GstTavceMelSpecState& st = state_of(self);

  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_CAPS: {
      GstCaps* caps = nullptr;
      gst_event_parse_caps(event, &caps);
      const SampleFormat format = parse_input_caps(st, caps);
      if (format == SampleFormat::kNone) {
        post_format_error(self, caps);
        gst_event_unref(event);
        return FALSE;
      }
      if (format != st.format && st.n_partial > 0) {
        GST_WARNING_OBJECT(self, "sample format changed mid-sample: dropping %" G_GSIZE_FORMAT " byte(s)",
                           st.n_partial);
        st.n_partial = 0;
      }
      st.format = format;
      gst_event_unref(event);  // audio caps stop here; downstream gets mel caps
      GstCaps* current = gst_pad_get_current_caps(self->srcpad);
      gboolean ok = TRUE;
      if (!current) {
        GstCaps* out = tavce::gst::mel_caps_new(st.cfg);
        ok = gst_pad_set_caps(self->srcpad, out);
        gst_caps_unref(out);
      } else {
        gst_caps_unref(current);
      }
      return ok;
    }
    case GST_EVENT_SEGMENT: {
      const GstSegment* segment = nullptr;
      gst_event_parse_segment(event, &segment);
      if (segment->format != GST_FORMAT_TIME) {
        GST_ELEMENT_ERROR(self, STREAM, FORMAT,
            ("tavcemelspec needs a TIME segment but got a %s segment. Put a parser or decoder "
             "(e.g. wavparse, rawaudioparse or decodebin) in front of it.",
             gst_format_get_name(segment->format)),
            (nullptr));
        gst_event_unref(event);
        return FALSE;
      }
      // A different timeline ends the current run, with the old segment in force.
      if (st.started && !gst_segment_is_equal(segment, &st.segment)) {
        if (drain(self) != GST_FLOW_OK)
          GST_DEBUG_OBJECT(self, "downstream refused the drained frames before a new segment");
      }
      gst_segment_copy_into(segment, &st.segment);
      return gst_pad_push_event(self->srcpad, event);
    }
    case GST_EVENT_EOS:
      drain(self);  // push errors are reported by whoever caused them; EOS must still go on
      return gst_pad_push_event(self->srcpad, event);
    case GST_EVENT_FLUSH_STOP:
      st.reset_run();
      gst_segment_init(&st.segment, GST_FORMAT_UNDEFINED);
      return gst_pad_push_event(self->srcpad, event);
    default:
      return gst_pad_event_default(pad, parent, event);
  }
}

gboolean gst_tavce_mel_spec_sink_query(GstPad* pad, GstObject* parent, GstQuery* query) {
  auto* self = GST_TAVCE_MEL_SPEC(parent);
  if (GST_QUERY_TYPE(query) == GST_QUERY_ACCEPT_CAPS) {
    // GStreamer checks a CAPS event against this query before our event
    // function sees it, so this is where unsuitable audio (44.1 kHz, stereo)
    // first shows up. Upstream would otherwise only report a bare
    // "not-negotiated"; we post the error that says how to fix the pipeline.
    GstCaps* caps = nullptr;
    gst_query_parse_accept_caps(query, &caps);
    GstCaps* tmpl = gst_pad_get_pad_template_caps(pad);
    const gboolean accepted = gst_caps_is_subset(caps, tmpl);
    gst_caps_unref(tmpl);
    gst_query_set_accept_caps_result(query, accepted);
    if (!accepted && gst_caps_is_fixed(caps)) post_format_error(self, caps);
    return TRUE;
  }
  const gboolean res = gst_pad_query_default(pad, parent, query);
  if (res && GST_QUERY_TYPE(query) == GST_QUERY_CAPS) {
    // An upstream converter that cannot reach 16 kHz mono (audioconvert
    // without audioresample) fails on its own with a bare not-negotiated;
    // CAPS queries are also made speculatively, so only the debug log says why.
    GstCaps* filter = nullptr;
    GstCaps* result = nullptr;
    gst_query_parse_caps(query, &filter);
    gst_query_parse_caps_result(query, &result);
    if (filter && result && gst_caps_is_empty(result))
      GST_WARNING_OBJECT(self, "upstream can only offer %" GST_PTR_FORMAT "; tavcemelspec needs %s: put "
                         "'audioconvert ! audioresample' in front", filter,
                         sink_caps_string(state_of(self).cfg).c_str());
  }
  return res;
}

gboolean gst_tavce_mel_spec_src_query(GstPad* pad, GstObject* parent, GstQuery* query) {
  auto* self = GST_TAVCE_MEL_SPEC(parent);
  if (GST_QUERY_TYPE(query) == GST_QUERY_LATENCY) {
    if (!gst_pad_peer_query(self->sinkpad, query)) return FALSE;
    gboolean live = FALSE;
    GstClockTime min = 0, max = GST_CLOCK_TIME_NONE;
    gst_query_parse_latency(query, &live, &min, &max);
    // Frame m is complete n_fft/2 samples after its centre (the STFT
    // look-ahead), and waits for frames-per-buffer - 1 later frames.
    const auto& cfg = state_of(self).cfg;
    const GstClockTime ours =
        gst_util_uint64_scale(static_cast<guint64>(cfg.n_fft / 2), GST_SECOND, cfg.sample_rate) +
        gst_util_uint64_scale(static_cast<guint64>(frames_per_buffer(self) - 1) * cfg.hop, GST_SECOND,
                              cfg.sample_rate);
    GST_DEBUG_OBJECT(self, "adding %" GST_TIME_FORMAT " latency", GST_TIME_ARGS(ours));
    min += ours;
    if (GST_CLOCK_TIME_IS_VALID(max)) max += ours;
    gst_query_set_latency(query, live, min, max);
    return TRUE;
  }
  return gst_pad_query_default(pad, parent, query);
}

GstStateChangeReturn gst_tavce_mel_spec_change_state(GstElement* element, GstStateChange transition) {
  auto* self = GST_TAVCE_MEL_SPEC(element);
  GstTavceMelSpecState& st = state_of(self);

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    try {
      st.mel = std::make_unique<tavce::audio::MelSpectrogram>(st.cfg);
    } catch (const std::exception& e) {
      GST_ELEMENT_ERROR(self, LIBRARY, INIT, ("Could not set up the mel spectrogram: %s", e.what()),
          (nullptr));
      return GST_STATE_CHANGE_FAILURE;
    }
    st.reset_run();
    st.format = SampleFormat::kNone;
    gst_segment_init(&st.segment, GST_FORMAT_UNDEFINED);
    st.negotiation_error_posted = false;
  }

  const GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_tavce_mel_spec_parent_class)->change_state(element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) return ret;

  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    // The pads are deactivated by now, so no streaming thread is inside.
    st.reset_run();
    st.mel.reset();
    st.format = SampleFormat::kNone;
  }
  return ret;
}

void gst_tavce_mel_spec_set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  auto* self = GST_TAVCE_MEL_SPEC(object);
  switch (prop_id) {
    case PROP_FRAMES_PER_BUFFER: {
      GST_OBJECT_LOCK(self);
      const gboolean changed = self->frames_per_buffer != g_value_get_uint(value);
      self->frames_per_buffer = g_value_get_uint(value);
      GST_OBJECT_UNLOCK(self);
      // Our reported latency depends on it: let the pipeline re-query.
      if (changed)
        gst_element_post_message(GST_ELEMENT(self), gst_message_new_latency(GST_OBJECT(self)));
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

void gst_tavce_mel_spec_get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  auto* self = GST_TAVCE_MEL_SPEC(object);
  switch (prop_id) {
    case PROP_FRAMES_PER_BUFFER:
      g_value_set_uint(value, frames_per_buffer(self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

void gst_tavce_mel_spec_finalize(GObject* object) {
  auto* self = GST_TAVCE_MEL_SPEC(object);
  delete self->state;
  self->state = nullptr;
  G_OBJECT_CLASS(gst_tavce_mel_spec_parent_class)->finalize(object);
}

}  // namespace

static void gst_tavce_mel_spec_class_init(GstTavceMelSpecClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(gst_tavce_mel_spec_debug, "tavcemelspec", 0, "TAVCE log-mel front end");

  gobject_class->set_property = gst_tavce_mel_spec_set_property;
  gobject_class->get_property = gst_tavce_mel_spec_get_property;
  gobject_class->finalize = gst_tavce_mel_spec_finalize;

  g_object_class_install_property(gobject_class, PROP_FRAMES_PER_BUFFER,
      g_param_spec_uint("frames-per-buffer", "Frames per buffer",
          "Mel frames (12.5 ms each) packed into one output buffer. More frames mean fewer buffers "
          "but (frames-per-buffer - 1) * 12.5 ms more latency; the last buffer of a stream may be shorter.",
          1, kMaxFramesPerBuffer, kDefaultFramesPerBuffer,
          static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));

  const auto& cfg = element_config();
  GstCaps* sink_caps = gst_caps_from_string(sink_caps_string(cfg).c_str());
  gst_element_class_add_pad_template(element_class,
      gst_pad_template_new("sink", GST_PAD_SINK, GST_PAD_ALWAYS, sink_caps));
  gst_caps_unref(sink_caps);
  GstCaps* src_caps = tavce::gst::mel_caps_new(cfg);
  gst_element_class_add_pad_template(element_class,
      gst_pad_template_new("src", GST_PAD_SRC, GST_PAD_ALWAYS, src_caps));
  gst_caps_unref(src_caps);

  gst_element_class_set_static_metadata(element_class, "TAVCE log-mel spectrogram", "Filter/Analyzer/Audio",
      "Computes the SadTalker/TAVCE 80-band log-mel spectrogram (12.5 ms hop, 50 ms window, "
      "[-4, 4] normalised) of 16 kHz mono audio, streaming and independent of buffer sizes",
      "tavce-gst developers");

  element_class->change_state = gst_tavce_mel_spec_change_state;
}

static void gst_tavce_mel_spec_init(GstTavceMelSpec* self) {
  self->state = new GstTavceMelSpecState();
  self->frames_per_buffer = kDefaultFramesPerBuffer;

  GstElementClass* klass = GST_ELEMENT_GET_CLASS(self);
  self->sinkpad = gst_pad_new_from_template(gst_element_class_get_pad_template(klass, "sink"), "sink");
  gst_pad_set_chain_function(self->sinkpad, gst_tavce_mel_spec_chain);
  gst_pad_set_event_function(self->sinkpad, gst_tavce_mel_spec_sink_event);
  gst_pad_set_query_function(self->sinkpad, gst_tavce_mel_spec_sink_query);
  gst_element_add_pad(GST_ELEMENT(self), self->sinkpad);

  self->srcpad = gst_pad_new_from_template(gst_element_class_get_pad_template(klass, "src"), "src");
  gst_pad_set_query_function(self->srcpad, gst_tavce_mel_spec_src_query);
  gst_pad_use_fixed_caps(self->srcpad);
  gst_element_add_pad(GST_ELEMENT(self), self->srcpad);
}
