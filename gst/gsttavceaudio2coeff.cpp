// tavceaudio2coeff: see gsttavceaudio2coeff.h and docs/elements/tavceaudio2coeff.md.
//
// A plain GstElement with chain/event/query functions, like tavcemelspec:
// N mel frames give M coefficient rows at the session's own pace (ExpNet
// needs a window of mel frames around each video frame, PoseVAE whole
// 32-frame chunks), so the element pushes whatever rows the session declares
// final after each input buffer and the tail at the end of a run.
//
// No LibTorch here: the networks are behind tavce::pipeline::Audio2CoeffSession.

#include "gsttavceaudio2coeff.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "tavce/audio/mel_config.h"
#include "tavce/error.h"
#include "tavce/pipeline/audio2coeff_session.h"
#include "tavcecoeffcaps.h"
#include "tavcemelcaps.h"
#include "tavcerun.h"

GST_DEBUG_CATEGORY_STATIC(gst_tavce_audio2coeff_debug);
#define GST_CAT_DEFAULT gst_tavce_audio2coeff_debug

namespace {

enum {
  PROP_0,
  PROP_MODEL,
  PROP_DEVICE,
  PROP_SOURCE_IMAGE,
  PROP_SOURCE_COEFFS,
  PROP_PREPROCESS,
  PROP_POSE_STYLE,
  PROP_SEED,
  PROP_BLINK,
  PROP_THREADS,
  PROP_REF_POSE,
  PROP_REF_EYEBLINK,
};

constexpr const char* kDefaultDevice = "auto";
constexpr GstTavcePreprocess kDefaultPreprocess = GST_TAVCE_PREPROCESS_CROP;
constexpr int kMaxPoseStyle = 45;  // PoseVAE NUM_CLASSES - 1
constexpr guint kMaxThreads = 1024;

}  // namespace

// ----------------------------------------------------------------------------
// Settings and state

struct GstTavceAudio2CoeffSettings {
  std::string model;
  std::string device = kDefaultDevice;
  std::string source_image;
  std::string source_coeffs;
  GstTavcePreprocess preprocess = kDefaultPreprocess;
  int pose_style = 0;
  guint64 seed = 0;
  bool blink = true;
  guint threads = 0;
  std::string ref_pose;
  std::string ref_eyeblink;
};

struct GstTavceAudio2CoeffState {
  std::unique_ptr<tavce::pipeline::Audio2CoeffSession> session;  // READY->PAUSED .. PAUSED->READY
  tavce::pipeline::CoeffStreamInfo info;                         // the session's (defaults before start)
  tavce::gst::CoeffCapsInfo out;                                 // what the src pad carries
  std::string model_label = "the default bundle";                // for messages

  bool caps_ok = false;  // a mel CAPS event was accepted
  GstSegment segment;

  // One run: mel frames since the last reset; row i belongs at base + i / fps.
  bool started = false;
  GstClockTime base = GST_CLOCK_TIME_NONE;
  guint64 next_row = 0;     // index of the next row to push
  guint64 mel_frames = 0;   // mel frames pushed into the session in this run
  bool discont_out = true;  // mark the next output buffer DISCONT
  std::vector<guint8> partial;  // bytes of a mel frame split across input buffers

  std::atomic<bool> negotiation_error_posted{false};
  std::vector<float> frames;  // conversion scratch

  GstTavceAudio2CoeffState() { gst_segment_init(&segment, GST_FORMAT_UNDEFINED); }

  void reset_run() {
    if (session) session->reset();
    started = false;
    base = GST_CLOCK_TIME_NONE;
    next_row = 0;
    mel_frames = 0;
    discont_out = true;
    partial.clear();
  }
};

G_DEFINE_TYPE(GstTavceAudio2Coeff, gst_tavce_audio2coeff, GST_TYPE_ELEMENT)

namespace {

GstTavceAudio2CoeffState& state_of(GstTavceAudio2Coeff* self) { return *self->state; }

// The mel front end the networks expect, as a MelConfig (for caps).
tavce::audio::MelConfig expected_mel_config(const GstTavceAudio2CoeffState& st) {
  tavce::audio::MelConfig cfg;
  cfg.sample_rate = st.info.sample_rate;
  cfg.n_mels = st.info.n_mels;
  cfg.hop = st.info.hop;
  return cfg;
}

std::string expected_mel_description(const GstTavceAudio2CoeffState& st) {
  const tavce::audio::MelConfig ref;
  return "sample-rate=" + std::to_string(st.info.sample_rate) + ", n-mels=" + std::to_string(st.info.n_mels) +
         ", hop=" + std::to_string(st.info.hop) + ", norm=" + tavce::gst::mel_norm_name(ref);
}

// Whether mel caps carry the front end the session's networks were trained
// on; *why says what differs.
bool mel_caps_acceptable(const GstTavceAudio2CoeffState& st, const GstCaps* caps, std::string* why) {
  tavce::audio::MelConfig cfg;
  if (!tavce::gst::mel_caps_to_config(caps, &cfg, why)) return false;
  std::string diff;
  auto check = [&diff](const char* field, double got, double want) {
    if (got != want) {
      if (!diff.empty()) diff += ", ";
      gchar g[G_ASCII_DTOSTR_BUF_SIZE];
      g_ascii_formatd(g, sizeof g, "%g", got);
      diff += std::string(field) + "=" + g;
    }
  };
  check("sample-rate", cfg.sample_rate, st.info.sample_rate);
  check("n-mels", cfg.n_mels, st.info.n_mels);
  check("hop", cfg.hop, st.info.hop);
  // The networks were trained on values in [-4, 4].
  check("norm range", cfg.max_abs_value, tavce::audio::MelConfig{}.max_abs_value);
  if (!diff.empty()) {
    if (why) *why = diff;
    return false;
  }
  return true;
}

// The user-facing negotiation error: what the model needs, what came, what to do.
void post_mel_caps_error(GstTavceAudio2Coeff* self, const GstCaps* offered, const std::string& why) {
  GstTavceAudio2CoeffState& st = state_of(self);
  if (st.negotiation_error_posted.exchange(true)) return;
  std::string got = "no caps at all";
  if (offered) {
    gchar* s = gst_caps_to_string(offered);
    got = s;
    g_free(s);
  }
  GST_ELEMENT_ERROR(self, CORE, NEGOTIATION,
      ("tavceaudio2coeff expects mel frames with %s (the front end of %s), but upstream offered %s%s%s. "
       "Put tavcemelspec (default settings) in front of tavceaudio2coeff.",
       expected_mel_description(st).c_str(), st.model_label.c_str(), got.c_str(),
       why.empty() ? "" : ": ", why.c_str()),
      ("mel caps mismatch: %s", why.c_str()));
}

// Pushes rows in frame order, one per buffer.
GstFlowReturn push_rows(GstTavceAudio2Coeff* self, std::vector<std::vector<float>>&& rows) {
  GstTavceAudio2CoeffState& st = state_of(self);
  GstFlowReturn ret = GST_FLOW_OK;
  for (auto& row : rows) {
    if (ret != GST_FLOW_OK) break;  // downstream refused; the remaining rows are dropped
    if (static_cast<int>(row.size()) != st.out.dims) {
      GST_ELEMENT_ERROR(self, LIBRARY, FAILED,
          ("The coefficient model produced a row of %zu values; the stream declares dims=%d.", row.size(),
           st.out.dims),
          (nullptr));
      return GST_FLOW_ERROR;
    }
    const gsize n_bytes = st.out.row_bytes();
    GstBuffer* out = gst_buffer_new_allocate(nullptr, n_bytes, nullptr);
    if (!out) {
      GST_ELEMENT_ERROR(self, RESOURCE, NO_SPACE_LEFT,
          ("Could not allocate a %" G_GSIZE_FORMAT "-byte coefficient buffer.", n_bytes), (nullptr));
      return GST_FLOW_ERROR;
    }
    GstMapInfo map;
    gst_buffer_map(out, &map, GST_MAP_WRITE);
    for (size_t i = 0; i < row.size(); ++i) GST_WRITE_FLOAT_LE(map.data + 4 * i, row[i]);
    gst_buffer_unmap(out, &map);

    const guint64 i = st.next_row;
    const GstClockTime start = tavce::gst::coeff_row_time(st.base, i, st.out);
    const GstClockTime end = tavce::gst::coeff_row_time(st.base, i + 1, st.out);
    GST_BUFFER_PTS(out) = start;
    GST_BUFFER_DTS(out) = GST_CLOCK_TIME_NONE;
    GST_BUFFER_DURATION(out) = end - start;
    GST_BUFFER_OFFSET(out) = i;
    GST_BUFFER_OFFSET_END(out) = i + 1;
    if (st.discont_out) {
      GST_BUFFER_FLAG_SET(out, GST_BUFFER_FLAG_DISCONT);
      st.discont_out = false;
    }
    st.next_row++;
    ret = gst_pad_push(self->srcpad, out);
  }
  return ret;
}

// Runs `fn` (a session call), turning any exception into an element error.
template <typename Fn>
bool guarded(GstTavceAudio2Coeff* self, const char* what, Fn&& fn) {
  std::string msg;
  try {
    fn();
    return true;
  } catch (const std::exception& e) {
    msg = e.what();
  } catch (...) {
    msg = "unknown exception";
  }
  GST_ELEMENT_ERROR(self, LIBRARY, FAILED, ("Audio to coefficients failed %s: %s", what, msg.c_str()),
      (nullptr));
  return false;
}

// End of a run (EOS, DISCONT, new segment): the session's tail becomes ready
// and is pushed, then everything starts afresh.
GstFlowReturn drain(GstTavceAudio2Coeff* self) {
  GstTavceAudio2CoeffState& st = state_of(self);
  if (!st.started || !st.session) return GST_FLOW_OK;
  if (!st.partial.empty()) {
    GST_ELEMENT_WARNING(self, STREAM, FORMAT,
        ("Mel input ended in the middle of a frame; dropped %zu trailing byte(s).", st.partial.size()),
        ("the mel byte count is not a multiple of the %d-byte frame size", st.info.n_mels * 4));
  }
  std::vector<std::vector<float>> rows;
  if (!guarded(self, "at the end of the audio", [&] {
        st.session->finish();
        rows = st.session->pop_ready();
      })) {
    st.reset_run();
    return GST_FLOW_ERROR;
  }
  GstFlowReturn ret = push_rows(self, std::move(rows));
  if (ret == GST_FLOW_OK && st.next_row == 0 && st.mel_frames > 0) {
    const double frame_ms = 1000.0 * st.out.fps_den / st.out.fps_num;
    GST_ELEMENT_WARNING(self, STREAM, DECODE,
        ("The audio is shorter than one %.0f ms video frame; no coefficients were produced.", frame_ms),
        ("%" G_GUINT64_FORMAT " mel frame(s) in the run", st.mel_frames));
  }
  st.reset_run();
  return ret;
}

// Appends this buffer's bytes (after a frame left over from the previous one)
// as whole mel frames to the session.
void feed_frames(GstTavceAudio2Coeff* self, const guint8* data, gsize size) {
  GstTavceAudio2CoeffState& st = state_of(self);
  const gsize frame_bytes = static_cast<gsize>(st.info.n_mels) * 4;
  const guint8* src = data;
  gsize avail = size;
  if (!st.partial.empty()) {
    st.partial.insert(st.partial.end(), data, data + size);
    src = st.partial.data();
    avail = st.partial.size();
  }
  const gsize n = avail / frame_bytes;
  if (n > 0) {
    st.frames.resize(n * static_cast<gsize>(st.info.n_mels));
    for (gsize i = 0; i < st.frames.size(); ++i) st.frames[i] = GST_READ_FLOAT_LE(src + 4 * i);
    st.session->push_mel(st.frames.data(), static_cast<int64_t>(n));
    st.mel_frames += n;
  }
  const gsize used = n * frame_bytes;
  if (!st.partial.empty()) {
    st.partial.erase(st.partial.begin(), st.partial.begin() + static_cast<std::ptrdiff_t>(used));
  } else if (used < size) {
    st.partial.assign(data + used, data + size);
  }
}

GstFlowReturn gst_tavce_audio2coeff_chain(GstPad*, GstObject* parent, GstBuffer* buf) {
  auto* self = GST_TAVCE_AUDIO2COEFF(parent);
  GstTavceAudio2CoeffState& st = state_of(self);

  if (!st.caps_ok) {
    gst_buffer_unref(buf);
    post_mel_caps_error(self, nullptr, "");
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (!st.session) {  // only reachable if data flows outside PAUSED/PLAYING
    gst_buffer_unref(buf);
    GST_ELEMENT_ERROR(self, CORE, STATE_CHANGE, ("tavceaudio2coeff received mel frames while not started."),
        (nullptr));
    return GST_FLOW_ERROR;
  }

  // A discontinuity ends the run as EOS would: windows across the gap would
  // mix audio that never was contiguous.
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
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Could not read an input mel buffer."), (nullptr));
    return GST_FLOW_ERROR;
  }
  std::vector<std::vector<float>> rows;
  const bool ok = guarded(self, "on a mel buffer", [&] {
    feed_frames(self, map.data, map.size);
    rows = st.session->pop_ready();
  });
  gst_buffer_unmap(buf, &map);
  gst_buffer_unref(buf);
  if (!ok) return GST_FLOW_ERROR;
  return push_rows(self, std::move(rows));
}

gboolean gst_tavce_audio2coeff_sink_event(GstPad* pad, GstObject* parent, GstEvent* event) {
  auto* self = GST_TAVCE_AUDIO2COEFF(parent);
  GstTavceAudio2CoeffState& st = state_of(self);

  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_CAPS: {
      GstCaps* caps = nullptr;
      gst_event_parse_caps(event, &caps);
      std::string why;
      if (!mel_caps_acceptable(st, caps, &why)) {
        post_mel_caps_error(self, caps, why);
        gst_event_unref(event);
        return FALSE;
      }
      if (!st.partial.empty()) {
        GST_WARNING_OBJECT(self, "caps changed mid-frame: dropping %zu byte(s)", st.partial.size());
        st.partial.clear();
      }
      st.caps_ok = true;
      gst_event_unref(event);  // mel caps stop here; downstream gets coefficient caps
      GstCaps* out = tavce::gst::coeff_caps_new(st.out);
      GstCaps* current = gst_pad_get_current_caps(self->srcpad);
      gboolean ok = TRUE;
      if (!current || !gst_caps_is_equal(current, out)) ok = gst_pad_set_caps(self->srcpad, out);
      if (current) gst_caps_unref(current);
      gst_caps_unref(out);
      return ok;
    }
    case GST_EVENT_SEGMENT: {
      const GstSegment* segment = nullptr;
      gst_event_parse_segment(event, &segment);
      GstSegment time_segment;
      if (segment->format == GST_FORMAT_BYTES) {
        // A replayed dump (filesrc ! capsfilter): the mel frames start at
        // time 0 and are timed from their index, so downstream gets a TIME
        // segment from 0 instead.
        gst_segment_init(&time_segment, GST_FORMAT_TIME);
        GstEvent* replaced = gst_event_new_segment(&time_segment);
        gst_event_set_seqnum(replaced, gst_event_get_seqnum(event));
        gst_event_unref(event);
        event = replaced;
        segment = &time_segment;
      } else if (segment->format != GST_FORMAT_TIME) {
        GST_ELEMENT_ERROR(self, STREAM, FORMAT,
            ("tavceaudio2coeff needs a TIME segment but got a %s segment. Feed it from tavcemelspec.",
             gst_format_get_name(segment->format)),
            (nullptr));
        gst_event_unref(event);
        return FALSE;
      }
      // A different timeline ends the current run, with the old segment in force.
      if (st.started && st.segment.format == GST_FORMAT_TIME && !gst_segment_is_equal(&st.segment, segment))
        drain(self);
      gst_segment_copy_into(segment, &st.segment);
      return gst_pad_push_event(self->srcpad, event);  // the video timeline is the audio timeline
    }
    case GST_EVENT_EOS:
      drain(self);  // errors are posted by drain; EOS must still go on
      return gst_pad_push_event(self->srcpad, event);
    case GST_EVENT_FLUSH_STOP:
      st.reset_run();
      gst_segment_init(&st.segment, GST_FORMAT_UNDEFINED);
      return gst_pad_push_event(self->srcpad, event);
    default:
      return gst_pad_event_default(pad, parent, event);
  }
}

gboolean gst_tavce_audio2coeff_sink_query(GstPad* pad, GstObject* parent, GstQuery* query) {
  auto* self = GST_TAVCE_AUDIO2COEFF(parent);
  GstTavceAudio2CoeffState& st = state_of(self);
  switch (GST_QUERY_TYPE(query)) {
    case GST_QUERY_ACCEPT_CAPS: {
      // GStreamer checks a CAPS event against this query before the event
      // function sees it: refuse mel frames of another front end here, and say
      // what the model needs (upstream alone would only report not-negotiated).
      GstCaps* caps = nullptr;
      gst_query_parse_accept_caps(query, &caps);
      std::string why;
      const bool fixed = caps && gst_caps_is_fixed(caps);
      const gboolean accepted = fixed && mel_caps_acceptable(st, caps, &why);
      gst_query_set_accept_caps_result(query, accepted);
      if (!accepted && fixed) post_mel_caps_error(self, caps, why);
      return TRUE;
    }
    case GST_QUERY_CAPS: {
      // Exactly the mel stream the session needs (the SadTalker front end
      // with the session's rate, bands and hop).
      GstCaps* filter = nullptr;
      gst_query_parse_caps(query, &filter);
      GstCaps* want = tavce::gst::mel_caps_new(expected_mel_config(st));
      if (filter) {
        GstCaps* both = gst_caps_intersect_full(filter, want, GST_CAPS_INTERSECT_FIRST);
        gst_caps_unref(want);
        want = both;
      }
      gst_query_set_caps_result(query, want);
      gst_caps_unref(want);
      return TRUE;
    }
    default:
      return gst_pad_query_default(pad, parent, query);
  }
}

gboolean gst_tavce_audio2coeff_src_query(GstPad* pad, GstObject* parent, GstQuery* query) {
  auto* self = GST_TAVCE_AUDIO2COEFF(parent);
  GstTavceAudio2CoeffState& st = state_of(self);
  switch (GST_QUERY_TYPE(query)) {
    case GST_QUERY_LATENCY: {
      if (!gst_pad_peer_query(self->sinkpad, query)) return FALSE;
      gboolean live = FALSE;
      GstClockTime min = 0, max = GST_CLOCK_TIME_NONE;
      gst_query_parse_latency(query, &live, &min, &max);
      // Row t is final once the mel frames pushed cover video frame
      // t + latency_frames(): the session's bound already counts the ExpNet
      // mel window (3 frames), the PoseVAE chunk (up to 31) and the
      // Savitzky-Golay half window (6). The STFT's own 25 ms are in
      // upstream's (tavcemelspec's) answer.
      const guint64 frames = st.info.latency_frames > 0 ? static_cast<guint64>(st.info.latency_frames) : 0;
      const GstClockTime ours = gst_util_uint64_scale(frames, static_cast<guint64>(st.out.fps_den) * GST_SECOND,
                                                      static_cast<guint64>(st.out.fps_num));
      GST_DEBUG_OBJECT(self, "adding %" GST_TIME_FORMAT " latency (live %d)", GST_TIME_ARGS(ours), live);
      min += ours;
      if (GST_CLOCK_TIME_IS_VALID(max)) max += ours;
      gst_query_set_latency(query, live, min, max);
      return TRUE;
    }
    case GST_QUERY_CAPS: {
      // Once started, the bundle fixes dims, space and frame rate.
      GstCaps* filter = nullptr;
      gst_query_parse_caps(query, &filter);
      GstCaps* have = gst_pad_get_current_caps(pad);
      if (!have) have = st.session ? tavce::gst::coeff_caps_new(st.out) : gst_pad_get_pad_template_caps(pad);
      if (filter) {
        GstCaps* both = gst_caps_intersect_full(filter, have, GST_CAPS_INTERSECT_FIRST);
        gst_caps_unref(have);
        have = both;
      }
      gst_query_set_caps_result(query, have);
      gst_caps_unref(have);
      return TRUE;
    }
    default:
      return gst_pad_query_default(pad, parent, query);
  }
}

// Creates the session from a snapshot of the properties. Posts the error and
// returns false on failure.
bool start_session(GstTavceAudio2Coeff* self) {
  GstTavceAudio2CoeffState& st = state_of(self);
  tavce::pipeline::Audio2CoeffSettings s;
  GST_OBJECT_LOCK(self);
  const GstTavceAudio2CoeffSettings& p = *self->settings;
  s.model = p.model;
  s.device = p.device;
  s.source_image = p.source_image;
  s.source_coeffs = p.source_coeffs;
  s.preprocess = gst_tavce_enum_nick(GST_TYPE_TAVCE_PREPROCESS, p.preprocess);  // "crop", ...
  s.pose_style = p.pose_style;
  s.seed = p.seed;
  s.blink = p.blink;
  s.threads = static_cast<int>(p.threads);
  s.ref_pose = p.ref_pose;
  s.ref_eyeblink = p.ref_eyeblink;
  GST_OBJECT_UNLOCK(self);
  st.model_label = s.model.empty() ? std::string("the default bundle") : "model '" + s.model + "'";

  // Files named by the user that are not there: say which property.
  auto missing = [&](const char* prop, const std::string& path, bool dir) {
    if (path.empty() || g_file_test(path.c_str(), dir ? G_FILE_TEST_IS_DIR : G_FILE_TEST_IS_REGULAR))
      return false;
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
        ("%s '%s' does not exist or is not a %s.", prop, path.c_str(), dir ? "directory" : "file"),
        ("set the '%s' property of tavceaudio2coeff to an existing %s", prop, dir ? "bundle directory" : "file"));
    return true;
  };
  // A model containing a path separator (or starting with '.') is a directory;
  // anything else is a bundle name the session resolves.
  const bool model_is_path =
      s.model.find(G_DIR_SEPARATOR) != std::string::npos || (!s.model.empty() && s.model[0] == '.');
  if ((model_is_path && missing("model", s.model, true)) || missing("source-image", s.source_image, false) ||
      missing("source-coeffs", s.source_coeffs, false))
    return false;

  std::string msg;
  bool library_error = false;
  try {
    auto session = std::make_unique<tavce::pipeline::Audio2CoeffSession>(s);
    const tavce::pipeline::CoeffStreamInfo& info = session->info();
    if (info.dims <= 0 || info.fps_num <= 0 || info.fps_den <= 0 || info.n_mels <= 0 || info.hop <= 0 ||
        info.sample_rate <= 0)
      throw tavce::Error("the model describes an invalid coefficient stream");
    st.info = info;
    st.out.dims = info.dims;
    st.out.space = info.space;
    st.out.fps_num = info.fps_num;
    st.out.fps_den = info.fps_den;
    st.session = std::move(session);
    GST_INFO_OBJECT(self, "session ready: dims %d, space %s, %d/%d fps, latency %" G_GINT64_FORMAT " frames",
                    info.dims, info.space.c_str(), info.fps_num, info.fps_den, info.latency_frames);
    return true;
  } catch (const tavce::Error& e) {
    msg = e.what();
  } catch (const std::exception& e) {
    msg = e.what();
    library_error = true;
  } catch (...) {
    msg = "unknown exception";
    library_error = true;
  }
  if (library_error) {
    GST_ELEMENT_ERROR(self, LIBRARY, INIT, ("Could not start the audio to coefficient model: %s", msg.c_str()),
        (nullptr));
  } else {
    const bool not_found = msg.find("not found") != std::string::npos ||
                           msg.find("does not exist") != std::string::npos ||
                           msg.find("No such file") != std::string::npos ||
                           msg.find("cannot open") != std::string::npos ||
                           msg.find("no model bundle named") != std::string::npos ||
                           msg.find("missing") != std::string::npos;
    if (not_found)
      GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND, ("Could not start the audio to coefficient model: %s",
          msg.c_str()), ("%s", st.model_label.c_str()));
    else
      GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("Could not start the audio to coefficient model: %s",
          msg.c_str()), ("%s", st.model_label.c_str()));
  }
  return false;
}

GstStateChangeReturn gst_tavce_audio2coeff_change_state(GstElement* element, GstStateChange transition) {
  auto* self = GST_TAVCE_AUDIO2COEFF(element);
  GstTavceAudio2CoeffState& st = state_of(self);

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    st.negotiation_error_posted = false;
    if (!start_session(self)) return GST_STATE_CHANGE_FAILURE;
    st.reset_run();
    st.caps_ok = false;
    gst_segment_init(&st.segment, GST_FORMAT_UNDEFINED);
  }

  const GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_tavce_audio2coeff_parent_class)->change_state(element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) st.session.reset();
    return ret;
  }

  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    // The pads are deactivated by now, so no streaming thread is inside.
    st.reset_run();
    st.session.reset();
    st.caps_ok = false;
    st.info = tavce::pipeline::CoeffStreamInfo{};
    st.out = tavce::gst::CoeffCapsInfo{};
  }
  return ret;
}

// Properties take effect at the next READY->PAUSED; later changes are refused
// with a warning (GST_PARAM_MUTABLE_READY).
bool settable(GstTavceAudio2Coeff* self, const GParamSpec* pspec) {
  GstState state = GST_STATE(self);  // read under the object lock by the caller
  if (state > GST_STATE_READY) {
    GST_WARNING_OBJECT(self, "property '%s' can only be changed in NULL or READY state", pspec->name);
    return false;
  }
  return true;
}

std::string string_or_empty(const GValue* value) {
  const gchar* s = g_value_get_string(value);
  return s ? s : "";
}

void gst_tavce_audio2coeff_set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  auto* self = GST_TAVCE_AUDIO2COEFF(object);
  GST_OBJECT_LOCK(self);
  GstTavceAudio2CoeffSettings& p = *self->settings;
  if (!settable(self, pspec)) {
    GST_OBJECT_UNLOCK(self);
    return;
  }
  switch (prop_id) {
    case PROP_MODEL: p.model = string_or_empty(value); break;
    case PROP_DEVICE: {
      const std::string d = string_or_empty(value);
      p.device = d.empty() ? kDefaultDevice : d;
      break;
    }
    case PROP_SOURCE_IMAGE: p.source_image = string_or_empty(value); break;
    case PROP_SOURCE_COEFFS: p.source_coeffs = string_or_empty(value); break;
    case PROP_PREPROCESS: p.preprocess = static_cast<GstTavcePreprocess>(g_value_get_enum(value)); break;
    case PROP_POSE_STYLE: p.pose_style = g_value_get_int(value); break;
    case PROP_SEED: p.seed = g_value_get_uint64(value); break;
    case PROP_BLINK: p.blink = g_value_get_boolean(value); break;
    case PROP_THREADS: p.threads = g_value_get_uint(value); break;
    case PROP_REF_POSE: p.ref_pose = string_or_empty(value); break;
    case PROP_REF_EYEBLINK: p.ref_eyeblink = string_or_empty(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

void gst_tavce_audio2coeff_get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  auto* self = GST_TAVCE_AUDIO2COEFF(object);
  GST_OBJECT_LOCK(self);
  const GstTavceAudio2CoeffSettings& p = *self->settings;
  switch (prop_id) {
    case PROP_MODEL: g_value_set_string(value, p.model.c_str()); break;
    case PROP_DEVICE: g_value_set_string(value, p.device.c_str()); break;
    case PROP_SOURCE_IMAGE: g_value_set_string(value, p.source_image.c_str()); break;
    case PROP_SOURCE_COEFFS: g_value_set_string(value, p.source_coeffs.c_str()); break;
    case PROP_PREPROCESS: g_value_set_enum(value, p.preprocess); break;
    case PROP_POSE_STYLE: g_value_set_int(value, p.pose_style); break;
    case PROP_SEED: g_value_set_uint64(value, p.seed); break;
    case PROP_BLINK: g_value_set_boolean(value, p.blink); break;
    case PROP_THREADS: g_value_set_uint(value, p.threads); break;
    case PROP_REF_POSE: g_value_set_string(value, p.ref_pose.c_str()); break;
    case PROP_REF_EYEBLINK: g_value_set_string(value, p.ref_eyeblink.c_str()); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

void gst_tavce_audio2coeff_finalize(GObject* object) {
  auto* self = GST_TAVCE_AUDIO2COEFF(object);
  delete self->state;
  self->state = nullptr;
  delete self->settings;
  self->settings = nullptr;
  G_OBJECT_CLASS(gst_tavce_audio2coeff_parent_class)->finalize(object);
}

constexpr GParamFlags kPropFlags =
    static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

}  // namespace

static void gst_tavce_audio2coeff_class_init(GstTavceAudio2CoeffClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(gst_tavce_audio2coeff_debug, "tavceaudio2coeff", 0,
                          "TAVCE audio to 3DMM coefficients (ExpNet + PoseVAE)");

  gobject_class->set_property = gst_tavce_audio2coeff_set_property;
  gobject_class->get_property = gst_tavce_audio2coeff_get_property;
  gobject_class->finalize = gst_tavce_audio2coeff_finalize;

  g_object_class_install_property(gobject_class, PROP_MODEL,
      g_param_spec_string("model", "Model",
          "Model bundle: a directory holding model.json (with modules expnet and pose_vae, and recon for "
          "source-image), or the name of an installed bundle. Empty = the default bundle.",
          "", kPropFlags));
  g_object_class_install_property(gobject_class, PROP_DEVICE,
      g_param_spec_string("device", "Device",
          "Where the networks run: auto (CUDA when available, else CPU), cpu, cuda or cuda:N.", kDefaultDevice,
          kPropFlags));
  g_object_class_install_property(gobject_class, PROP_SOURCE_IMAGE,
      g_param_spec_string("source-image", "Source image",
          "Portrait (PNG/JPEG) whose expression and pose the coefficients start from; cut as 'preprocess' "
          "says and reconstructed with the bundle's recon network. Ignored when source-coeffs is set.",
          "", kPropFlags));
  g_object_class_install_property(gobject_class, PROP_SOURCE_COEFFS,
      g_param_spec_string("source-coeffs", "Source coefficients",
          "Raw little-endian float32 file holding the portrait's 70 (or 73) coefficients, used instead of "
          "reconstructing them from source-image.",
          "", kPropFlags));
  g_object_class_install_property(gobject_class, PROP_PREPROCESS,
      g_param_spec_enum("preprocess", "Preprocess",
          "How source-image is cut before its coefficients are reconstructed (SadTalker's --preprocess); "
          "full and extfull produce 73 coefficients if the bundle's mapping is the full one.",
          GST_TYPE_TAVCE_PREPROCESS, kDefaultPreprocess, kPropFlags));
  g_object_class_install_property(gobject_class, PROP_POSE_STYLE,
      g_param_spec_int("pose-style", "Pose style",
          "PoseVAE style class: which of the 46 learnt head-motion styles drives the pose.", 0, kMaxPoseStyle,
          0, kPropFlags));
  g_object_class_install_property(gobject_class, PROP_SEED,
      g_param_spec_uint64("seed", "Seed",
          "Seed of every random draw (eye blinks, PoseVAE noise): the same seed and input give the same "
          "coefficients.",
          0, G_MAXUINT64, 0, kPropFlags));
  g_object_class_install_property(gobject_class, PROP_BLINK,
      g_param_spec_boolean("blink", "Blink", "Insert random eye blinks (SadTalker's blink ratio sequence).",
          TRUE, kPropFlags));
  g_object_class_install_property(gobject_class, PROP_THREADS,
      g_param_spec_uint("threads", "Threads",
          "CPU threads the networks may use; 0 = auto: the cores this process may run on (1 for lite bundles, whose networks are too small to gain from threads).", 0, kMaxThreads, 0,
          kPropFlags));
  g_object_class_install_property(gobject_class, PROP_REF_POSE,
      g_param_spec_string("ref-pose", "Reference pose",
          "Reference head motion (SadTalker --ref_pose): a video, or a .coeffs file of 70-value rows. Its pose "
          "relative to its first frame is added to every frame, looping if it is shorter than the speech.",
          nullptr, kPropFlags));
  g_object_class_install_property(gobject_class, PROP_REF_EYEBLINK,
      g_param_spec_string("ref-eyeblink", "Reference eye blinks",
          "Reference expression per frame (SadTalker --ref_eyeblink): a video, or a .coeffs file of 70-value "
          "rows. ExpNet follows its blinks, and the random blinks are off.",
          nullptr, kPropFlags));

  // Sink: any F32LE mel stream; the CAPS query and ACCEPT_CAPS narrow it to
  // the front end of the loaded model (so a mismatch names what is expected).
  GstCaps* sink_caps = gst_caps_new_simple(tavce::gst::kMelMediaType, "format", G_TYPE_STRING, "F32LE", nullptr);
  gst_element_class_add_pad_template(element_class,
      gst_pad_template_new("sink", GST_PAD_SINK, GST_PAD_ALWAYS, sink_caps));
  gst_caps_unref(sink_caps);
  GstCaps* src_caps = tavce::gst::coeff_caps_template();
  gst_element_class_add_pad_template(element_class,
      gst_pad_template_new("src", GST_PAD_SRC, GST_PAD_ALWAYS, src_caps));
  gst_caps_unref(src_caps);

  gst_element_class_set_static_metadata(element_class, "TAVCE audio to coefficients", "Filter/Converter/Audio",
      "Turns SadTalker/TAVCE log-mel frames into 25 fps 3DMM coefficients (64 expression + 6 pose) with "
      "ExpNet and PoseVAE, one row per video frame, timed from the audio",
      "tavce-gst developers");

  element_class->change_state = gst_tavce_audio2coeff_change_state;
  gst_type_mark_as_plugin_api(GST_TYPE_TAVCE_PREPROCESS, static_cast<GstPluginAPIFlags>(0));
}

static void gst_tavce_audio2coeff_init(GstTavceAudio2Coeff* self) {
  self->settings = new GstTavceAudio2CoeffSettings();
  self->state = new GstTavceAudio2CoeffState();

  GstElementClass* klass = GST_ELEMENT_GET_CLASS(self);
  self->sinkpad = gst_pad_new_from_template(gst_element_class_get_pad_template(klass, "sink"), "sink");
  gst_pad_set_chain_function(self->sinkpad, gst_tavce_audio2coeff_chain);
  gst_pad_set_event_function(self->sinkpad, gst_tavce_audio2coeff_sink_event);
  gst_pad_set_query_function(self->sinkpad, gst_tavce_audio2coeff_sink_query);
  gst_element_add_pad(GST_ELEMENT(self), self->sinkpad);

  self->srcpad = gst_pad_new_from_template(gst_element_class_get_pad_template(klass, "src"), "src");
  gst_pad_set_query_function(self->srcpad, gst_tavce_audio2coeff_src_query);
  gst_pad_use_fixed_caps(self->srcpad);
  gst_element_add_pad(GST_ELEMENT(self), self->srcpad);
}
