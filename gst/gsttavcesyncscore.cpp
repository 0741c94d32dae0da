// tavcesyncscore: see gsttavcesyncscore.h and docs/elements/tavcesyncscore.md.
//
// Windows: `interval` x 25 consecutive video frames. The audio of a window is
// taken by running time: from the running time of its first frame, 640
// samples per frame. The frames' face crops are kept by the session; the
// audio since the current window's start is kept here; both are dropped once
// the window is scored, so memory stays bounded on endless streams.
//
// Buffers: without drop-below each video buffer leaves as soon as the next
// one arrives, except the one that ends a window, which waits for the
// window's audio and score and carries the GstTavceSyncMeta. With drop-below
// the whole window is held until it is scored, then pushed or dropped.

#include "gsttavcesyncscore.h"

#include <gst/audio/audio.h>
#include <gst/video/video.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tavce/pipeline/syncscore_session.h"
#include "tavcefacemeta.h"
#include "tavcesyncmeta.h"

GST_DEBUG_CATEGORY_STATIC(gst_tavce_sync_score_debug);
#define GST_CAT_DEFAULT gst_tavce_sync_score_debug

namespace {

using tavce::pipeline::SyncScoreSession;

enum {
  PROP_0,
  PROP_MODEL,
  PROP_DEVICE,
  PROP_INTERVAL,
  PROP_REPORT_LOCATION,
  PROP_DROP_BELOW,
};

constexpr gdouble kDefaultInterval = 2.0;
constexpr gdouble kMinInterval = 0.24;  // 6 frames: one SyncNet window
constexpr gdouble kMaxInterval = 60.0;  // bounds the crops kept (150 kB per frame)
constexpr gdouble kDefaultDropBelow = -1.0;

#define SYNC_VIDEO_FORMATS "{ RGB, BGR, RGBA, BGRA, ARGB, ABGR, RGBx, BGRx, xRGB, xBGR }"
const char* kVideoCaps =
    "video/x-raw, format=(string)" SYNC_VIDEO_FORMATS ", width=(int)[1, 32767], height=(int)[1, 32767], "
    "framerate=(fraction)25/1";
const char* kAudioCaps =
    "audio/x-raw, format=(string){ F32LE, S16LE }, layout=(string)interleaved, rate=(int)16000, channels=(int)1";

enum class SampleFormat { kNone, kF32, kS16 };

}  // namespace

struct GstTavceSyncScoreState {
  std::unique_ptr<SyncScoreSession> session;

  // Settings copied at start().
  int64_t window_frames = 50;
  double drop_below = kDefaultDropBelow;
  std::FILE* report = nullptr;
  std::string report_path;

  // Video.
  GstVideoInfo vinfo;
  bool have_vinfo = false;
  GstCaps* video_caps = nullptr;  // the video pad's caps, which src repeats
  GstClockTime last_pts = GST_CLOCK_TIME_NONE;

  // Audio: int16-scale samples from sample index audio_base on; index 0 is
  // at running time audio_origin.
  SampleFormat afmt = SampleFormat::kNone;
  std::vector<float> audio;
  int64_t audio_base = 0;
  GstClockTime audio_origin = GST_CLOCK_TIME_NONE;

  // The current window.
  int64_t window_index = 0;
  GstClockTime win_start_pts = GST_CLOCK_TIME_NONE, win_start_rt = GST_CLOCK_TIME_NONE;
  GstClockTime win_end_pts = GST_CLOCK_TIME_NONE;
  bool window_full = false;     // all its frames are in; waits for its audio
  std::deque<GstBuffer*> held;  // video not pushed yet (the last buffer, or the whole window with drop-below)
  bool discont_out = false;     // the next pushed buffer follows dropped ones

  std::atomic<bool> format_error_posted{false};

  bool dropping() const { return drop_below >= 0.0; }

  void clear_held() {
    for (GstBuffer* b : held) gst_buffer_unref(b);
    held.clear();
  }
  void reset_window() {
    win_start_pts = win_start_rt = win_end_pts = GST_CLOCK_TIME_NONE;
    window_full = false;
  }
  void reset_stream() {
    clear_held();
    reset_window();
    audio.clear();
    audio_base = 0;
    audio_origin = GST_CLOCK_TIME_NONE;
    last_pts = GST_CLOCK_TIME_NONE;
    if (session) session->reset();
  }
};

G_DEFINE_TYPE(GstTavceSyncScore, gst_tavce_sync_score, GST_TYPE_AGGREGATOR)

namespace {

GstTavceSyncScoreState& state_of(GstTavceSyncScore* self) { return *self->state; }

constexpr GstClockTime kFrame = GST_SECOND / SyncScoreSession::kFps;

GstClockTime pad_running_time(GstAggregatorPad* pad, GstClockTime ts) {
  if (!GST_CLOCK_TIME_IS_VALID(ts)) return GST_CLOCK_TIME_NONE;
  GST_OBJECT_LOCK(pad);
  const GstClockTime rt =
      pad->segment.format == GST_FORMAT_TIME ? gst_segment_to_running_time(&pad->segment, GST_FORMAT_TIME, ts) : ts;
  GST_OBJECT_UNLOCK(pad);
  return rt;
}

// The user-facing negotiation error: what we need, what we got, what to do.
void post_format_error(GstTavceSyncScore* self, GstPad* pad, const GstCaps* offered) {
  if (state_of(self).format_error_posted.exchange(true)) return;
  gchar* got = gst_caps_to_string(offered);
  if (pad == GST_PAD(self->audiopad)) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION,
        ("tavcesyncscore needs mono 16000 Hz audio (F32LE or S16LE) on its audio pad but upstream offered %s. "
         "Put 'audioconvert ! audioresample' in front of the audio pad.", got),
        ("required caps: %s", kAudioCaps));
  } else {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION,
        ("tavcesyncscore needs packed RGB-family video at 25 frames per second on its video pad (the metric "
         "assumes 25 fps) but upstream offered %s. Put 'videoconvert ! videorate ! "
         "video/x-raw,framerate=25/1' in front of the video pad.", got),
        ("required caps: %s", kVideoCaps));
  }
  g_free(got);
}

void write_json_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  out += buf;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

double seconds(GstClockTime t) {
  return GST_CLOCK_TIME_IS_VALID(t) ? static_cast<double>(t) / GST_SECOND : std::nan("");
}

// One JSON object per window, one line each, flushed at once so that a
// crashed or killed pipeline leaves every finished window in the file.
void write_report(GstTavceSyncScore* self, const tavce::pipeline::SyncWindowResult& r, bool dropped) {
  GstTavceSyncScoreState& st = state_of(self);
  if (!st.report) return;
  std::string line = "{\"window\":" + std::to_string(st.window_index) + ",\"start\":";
  write_json_number(line, seconds(st.win_start_pts));
  line += ",\"end\":";
  write_json_number(line, seconds(st.win_end_pts));
  line += ",\"start_ns\":" + (GST_CLOCK_TIME_IS_VALID(st.win_start_pts) ? std::to_string(st.win_start_pts) : "null");
  line += ",\"end_ns\":" + (GST_CLOCK_TIME_IS_VALID(st.win_end_pts) ? std::to_string(st.win_end_pts) : "null");
  line += ",\"frames\":" + std::to_string(r.frames) + ",\"faces\":" + std::to_string(r.faces) +
          ",\"face_missing\":" + std::to_string(r.face_missing) + ",\"scored\":" + (r.scored ? "true" : "false");
  line += ",\"lse_d\":";
  write_json_number(line, r.scored ? r.lse_d : std::nan(""));
  line += ",\"lse_c\":";
  write_json_number(line, r.scored ? r.lse_c : std::nan(""));
  line += ",\"offset\":" + (r.scored ? std::to_string(r.offset) : std::string("null"));
  line += ",\"embeddings\":" + std::to_string(r.embeddings);
  line += std::string(",\"dropped\":") + (dropped ? "true" : "false");
  if (!r.scored) line += ",\"reason\":\"" + json_escape(r.reason) + "\"";
  line += "}\n";
  if (std::fputs(line.c_str(), st.report) < 0 || std::fflush(st.report) != 0)
    GST_ELEMENT_WARNING(self, RESOURCE, WRITE, ("Could not write to the report file %s.", st.report_path.c_str()),
        (nullptr));
}

void post_window_message(GstTavceSyncScore* self, const tavce::pipeline::SyncWindowResult& r, bool dropped) {
  GstTavceSyncScoreState& st = state_of(self);
  GstStructure* s = gst_structure_new("tavce-sync",
      "window-index", G_TYPE_UINT64, static_cast<guint64>(st.window_index),
      "window-start", G_TYPE_UINT64, static_cast<guint64>(st.win_start_pts),
      "window-end", G_TYPE_UINT64, static_cast<guint64>(st.win_end_pts),
      "scored", G_TYPE_BOOLEAN, r.scored ? TRUE : FALSE,
      "lse-d", G_TYPE_DOUBLE, r.scored ? r.lse_d : std::nan(""),
      "lse-c", G_TYPE_DOUBLE, r.scored ? r.lse_c : std::nan(""),
      "offset", G_TYPE_INT, static_cast<gint>(r.offset),
      "frames", G_TYPE_UINT, static_cast<guint>(r.frames),
      "face-missing", G_TYPE_UINT, static_cast<guint>(r.face_missing),
      "embeddings", G_TYPE_UINT, static_cast<guint>(r.embeddings),
      "dropped", G_TYPE_BOOLEAN, dropped ? TRUE : FALSE,
      nullptr);
  if (!r.scored) gst_structure_set(s, "reason", G_TYPE_STRING, r.reason.c_str(), nullptr);
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

// Sample index (since audio_origin) of running time rt, rounded.
int64_t sample_index(const GstTavceSyncScoreState& st, GstClockTime rt) {
  if (rt >= st.audio_origin)
    return static_cast<int64_t>(gst_util_uint64_scale_round(rt - st.audio_origin, SyncScoreSession::kSampleRate,
                                                            GST_SECOND));
  return -static_cast<int64_t>(gst_util_uint64_scale_round(st.audio_origin - rt, SyncScoreSession::kSampleRate,
                                                           GST_SECOND));
}

// Sample range [first, end) of the current window's audio.
void window_audio_range(const GstTavceSyncScoreState& st, int64_t* first, int64_t* end) {
  *first = GST_CLOCK_TIME_IS_VALID(st.audio_origin) && GST_CLOCK_TIME_IS_VALID(st.win_start_rt)
               ? sample_index(st, st.win_start_rt)
               : 0;
  *end = *first + st.session->frames() * SyncScoreSession::kSamplesPerFrame;
}

// Whether the current window's audio is all in (or never will be).
bool audio_ready(GstTavceSyncScore* self, gboolean timeout) {
  GstTavceSyncScoreState& st = state_of(self);
  if (timeout || gst_aggregator_pad_is_eos(self->audiopad)) return true;
  if (!GST_CLOCK_TIME_IS_VALID(st.audio_origin)) return false;
  int64_t first = 0, end = 0;
  window_audio_range(st, &first, &end);
  return st.audio_base + static_cast<int64_t>(st.audio.size()) >= end;
}

void append_audio(GstTavceSyncScore* self, GstBuffer* buf) {
  GstTavceSyncScoreState& st = state_of(self);
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) return;
  const size_t bytes = st.afmt == SampleFormat::kS16 ? 2 : 4;
  const size_t n = map.size / bytes;
  size_t skip = 0;
  GstClockTime rt = pad_running_time(self->audiopad, GST_BUFFER_PTS(buf));
  if (!GST_CLOCK_TIME_IS_VALID(st.audio_origin)) {
    st.audio_origin = GST_CLOCK_TIME_IS_VALID(rt) ? rt : 0;
    st.audio_base = 0;
    st.audio.clear();
    GST_DEBUG_OBJECT(self, "audio starts at running time %" GST_TIME_FORMAT, GST_TIME_ARGS(st.audio_origin));
  } else if (GST_CLOCK_TIME_IS_VALID(rt)) {
    // Follow the timestamps across gaps (silence) and overlaps, beyond 10 ms of jitter.
    const int64_t expected = st.audio_base + static_cast<int64_t>(st.audio.size());
    const int64_t actual = sample_index(st, rt);
    if (actual > expected + 160) {
      GST_DEBUG_OBJECT(self, "audio gap of %" G_GINT64_FORMAT " samples: filled with silence", actual - expected);
      st.audio.insert(st.audio.end(), static_cast<size_t>(actual - expected), 0.0f);
    } else if (actual + 160 < expected) {
      skip = std::min(n, static_cast<size_t>(expected - actual));
      GST_DEBUG_OBJECT(self, "audio overlap of %" G_GINT64_FORMAT " samples: dropped", expected - actual);
    }
  }
  st.audio.reserve(st.audio.size() + n - skip);
  for (size_t i = skip; i < n; ++i) {
    if (st.afmt == SampleFormat::kS16)
      st.audio.push_back(static_cast<float>(static_cast<gint16>(GST_READ_UINT16_LE(map.data + 2 * i))));
    else
      st.audio.push_back(GST_READ_FLOAT_LE(map.data + 4 * i) * 32768.0f);  // int16 scale, as the reference reads WAVs
  }
  gst_buffer_unmap(buf, &map);
}

// Forgets audio before sample index `keep_from`.
void trim_audio(GstTavceSyncScoreState& st, int64_t keep_from) {
  const int64_t drop = std::min<int64_t>(keep_from - st.audio_base, static_cast<int64_t>(st.audio.size()));
  if (drop <= 0) return;
  st.audio.erase(st.audio.begin(), st.audio.begin() + drop);
  st.audio_base += drop;
}

GstFlowReturn push_held(GstTavceSyncScore* self) {
  GstTavceSyncScoreState& st = state_of(self);
  GstFlowReturn ret = GST_FLOW_OK;
  while (!st.held.empty()) {
    GstBuffer* b = st.held.front();
    st.held.pop_front();
    if (ret != GST_FLOW_OK) {
      gst_buffer_unref(b);
      continue;
    }
    if (st.discont_out) {
      b = gst_buffer_make_writable(b);
      GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_DISCONT);
      st.discont_out = false;
    }
    ret = gst_aggregator_finish_buffer(GST_AGGREGATOR(self), b);
  }
  return ret;
}

// Scores the current window (full, or a tail at EOS), reports it, and pushes
// or drops its held video.
GstFlowReturn finish_window(GstTavceSyncScore* self) {
  GstTavceSyncScoreState& st = state_of(self);
  int64_t first = 0, end = 0;
  window_audio_range(st, &first, &end);
  // The window's audio; silence before the audio's start, shorter at its end.
  std::vector<float> samples;
  samples.reserve(static_cast<size_t>(end - first));
  const int64_t have_end = st.audio_base + static_cast<int64_t>(st.audio.size());
  for (int64_t i = first; i < std::min(end, have_end); ++i)
    samples.push_back(i >= st.audio_base ? st.audio[static_cast<size_t>(i - st.audio_base)] : 0.0f);
  if (!GST_CLOCK_TIME_IS_VALID(st.audio_origin)) samples.clear();

  tavce::pipeline::SyncWindowResult r;
  try {
    r = st.session->score(samples.data(), samples.size(), st.session->min_frames(st.window_frames));
  } catch (const std::exception& e) {
    st.clear_held();
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Scoring the lip sync failed: %s", e.what()), (nullptr));
    return GST_FLOW_ERROR;
  }
  const bool dropped = st.dropping() && !(r.lse_c >= st.drop_below);  // unscored windows (NaN) are dropped too
  if (r.scored)
    GST_INFO_OBJECT(self, "window %" G_GINT64_FORMAT " [%" GST_TIME_FORMAT ", %" GST_TIME_FORMAT "): LSE-D %.4f "
                    "LSE-C %.4f offset %" G_GINT64_FORMAT "%s", st.window_index, GST_TIME_ARGS(st.win_start_pts),
                    GST_TIME_ARGS(st.win_end_pts), r.lse_d, r.lse_c, r.offset, dropped ? " (dropped)" : "");
  else
    GST_DEBUG_OBJECT(self, "window %" G_GINT64_FORMAT " [%" GST_TIME_FORMAT ", %" GST_TIME_FORMAT ") not scored: %s",
                     st.window_index, GST_TIME_ARGS(st.win_start_pts), GST_TIME_ARGS(st.win_end_pts),
                     r.reason.c_str());

  post_window_message(self, r, dropped);
  write_report(self, r, dropped);

  GstFlowReturn ret = GST_FLOW_OK;
  if (dropped) {
    GST_LOG_OBJECT(self, "dropping %" G_GSIZE_FORMAT " video buffers", st.held.size());
    st.clear_held();
    st.discont_out = true;
  } else if (!st.held.empty()) {
    GstBuffer*& last = st.held.back();
    last = gst_buffer_make_writable(last);
    GstTavceSyncMeta* meta = gst_tavce_sync_meta_add(last);
    meta->scored = r.scored ? TRUE : FALSE;
    meta->lse_d = r.scored ? r.lse_d : NAN;
    meta->lse_c = r.scored ? r.lse_c : NAN;
    meta->offset = static_cast<gint>(r.offset);
    meta->window_start = st.win_start_pts;
    meta->window_end = st.win_end_pts;
    meta->frames = static_cast<guint>(r.frames);
    meta->face_missing = static_cast<guint>(r.face_missing);
    ret = push_held(self);
  }
  // The next window starts where this one ended (one frame of slack for jitter).
  trim_audio(st, end - SyncScoreSession::kSamplesPerFrame);
  st.window_index++;
  st.reset_window();
  return ret;
}

// Maps one video buffer and hands it to the session.
void push_frame(GstTavceSyncScore* self, GstBuffer* buf) {
  GstTavceSyncScoreState& st = state_of(self);
  GstVideoFrame frame;
  if (!gst_video_frame_map(&frame, &st.vinfo, buf, GST_MAP_READ))
    throw std::runtime_error("could not map a video buffer (does it match the negotiated caps?)");
  tavce::pipeline::SyncImageView v;
  v.data = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 0));
  v.width = GST_VIDEO_FRAME_WIDTH(&frame);
  v.height = GST_VIDEO_FRAME_HEIGHT(&frame);
  v.stride = static_cast<size_t>(GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0));
  v.pixel_stride = GST_VIDEO_FRAME_COMP_PSTRIDE(&frame, 0);
  v.r = static_cast<int>(GST_VIDEO_FRAME_COMP_POFFSET(&frame, GST_VIDEO_COMP_R));
  v.g = static_cast<int>(GST_VIDEO_FRAME_COMP_POFFSET(&frame, GST_VIDEO_COMP_G));
  v.b = static_cast<int>(GST_VIDEO_FRAME_COMP_POFFSET(&frame, GST_VIDEO_COMP_B));
  try {
    // With tavcefacetrack upstream the frame's face box is already known (the
    // same dlib HOG boxes, detected every few frames and moved with the
    // landmarks): crop from it instead of detecting once more per frame.
    const GstTavceFaceMeta* known = gst_tavce_face_meta_get(buf);
    std::optional<tavce::pipeline::SyncFaceBox> box;
    if (known && known->found) box = tavce::pipeline::SyncFaceBox{known->box_x0, known->box_y0, known->box_x1,
                                                                  known->box_y1};
    const bool face = known ? st.session->push_frame_known(v, box) : st.session->push_frame(v);
    if (!face) GST_LOG_OBJECT(self, "no face in frame at %" GST_TIME_FORMAT, GST_TIME_ARGS(GST_BUFFER_PTS(buf)));
  } catch (...) {
    gst_video_frame_unmap(&frame);
    throw;
  }
  gst_video_frame_unmap(&frame);
}

GstFlowReturn gst_tavce_sync_score_aggregate(GstAggregator* agg, gboolean timeout) {
  auto* self = GST_TAVCE_SYNC_SCORE(agg);
  GstTavceSyncScoreState& st = state_of(self);
  if (!st.session) {
    GST_ELEMENT_ERROR(self, CORE, STATE_CHANGE, ("tavcesyncscore received data while not started."), (nullptr));
    return GST_FLOW_ERROR;
  }

  // 1. All the audio there is.
  while (GstBuffer* abuf = gst_aggregator_pad_pop_buffer(self->audiopad)) {
    if (st.afmt == SampleFormat::kNone) {
      gst_buffer_unref(abuf);
      GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("tavcesyncscore received audio before its caps."), (nullptr));
      return GST_FLOW_NOT_NEGOTIATED;
    }
    append_audio(self, abuf);
    gst_buffer_unref(abuf);
  }
  if (st.session->frames() == 0 && GST_CLOCK_TIME_IS_VALID(st.audio_origin) && GST_CLOCK_TIME_IS_VALID(st.last_pts)) {
    // Between windows: keep only audio that a next window (from the next frame on) can use.
    const GstClockTime next_rt = pad_running_time(self->videopad, st.last_pts + kFrame);
    if (GST_CLOCK_TIME_IS_VALID(next_rt)) trim_audio(st, sample_index(st, next_rt) - SyncScoreSession::kSamplesPerFrame);
  }

  // 2. A full window waits for its audio before anything else moves.
  if (st.window_full) {
    if (!audio_ready(self, timeout)) return GST_AGGREGATOR_FLOW_NEED_DATA;
    const GstFlowReturn r = finish_window(self);
    if (r != GST_FLOW_OK) return r;
  }

  // 3. One video frame.
  GstBuffer* vbuf = gst_aggregator_pad_pop_buffer(self->videopad);
  if (vbuf) {
    if (!st.have_vinfo) {
      gst_buffer_unref(vbuf);
      GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("tavcesyncscore received video before its caps."), (nullptr));
      return GST_FLOW_NOT_NEGOTIATED;
    }
    GstClockTime pts = GST_BUFFER_PTS(vbuf);
    if (!GST_CLOCK_TIME_IS_VALID(pts))
      pts = GST_CLOCK_TIME_IS_VALID(st.last_pts) ? st.last_pts + kFrame : 0;
    const GstClockTime dur = GST_BUFFER_DURATION_IS_VALID(vbuf) ? GST_BUFFER_DURATION(vbuf) : kFrame;
    try {
      push_frame(self, vbuf);
    } catch (const std::exception& e) {
      gst_buffer_unref(vbuf);
      GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Face detection failed: %s", e.what()), (nullptr));
      return GST_FLOW_ERROR;
    }
    st.last_pts = pts;
    if (!GST_CLOCK_TIME_IS_VALID(st.win_start_pts)) {
      st.win_start_pts = pts;
      st.win_start_rt = pad_running_time(self->videopad, pts);
    }
    st.win_end_pts = pts + dur;

    GstFlowReturn ret = GST_FLOW_OK;
    if (!st.dropping()) ret = push_held(self);  // the previous frame did not end a window: it goes now
    st.held.push_back(vbuf);
    if (ret != GST_FLOW_OK) return ret;
    if (st.session->frames() >= st.window_frames) {
      st.window_full = true;
      if (audio_ready(self, timeout)) return finish_window(self);
    }
    return GST_FLOW_OK;
  }

  if (gst_aggregator_pad_is_eos(self->videopad)) {
    // The tail: scored when long enough (SyncScoreSession::min_frames), else
    // reported as skipped; either way its video leaves before EOS.
    if (st.session->frames() > 0) {
      st.window_full = true;
      if (!audio_ready(self, timeout)) return GST_AGGREGATOR_FLOW_NEED_DATA;
      const GstFlowReturn r = finish_window(self);
      if (r != GST_FLOW_OK) return r;
    }
    const GstFlowReturn r = push_held(self);
    return r == GST_FLOW_OK ? GST_FLOW_EOS : r;
  }
  return GST_AGGREGATOR_FLOW_NEED_DATA;
}

gboolean gst_tavce_sync_score_sink_event(GstAggregator* agg, GstAggregatorPad* pad, GstEvent* event) {
  auto* self = GST_TAVCE_SYNC_SCORE(agg);
  GstTavceSyncScoreState& st = state_of(self);
  if (GST_EVENT_TYPE(event) == GST_EVENT_CAPS) {
    GstCaps* caps = nullptr;
    gst_event_parse_caps(event, &caps);
    gboolean ok = FALSE;
    if (pad == self->videopad) {
      ok = gst_video_info_from_caps(&st.vinfo, caps) && GST_VIDEO_INFO_FPS_N(&st.vinfo) == 25 &&
           GST_VIDEO_INFO_FPS_D(&st.vinfo) == 1;
      if (ok) {
        st.have_vinfo = true;
        gst_caps_replace(&st.video_caps, caps);
        gst_aggregator_set_src_caps(agg, caps);  // passthrough
      }
    } else {
      GstAudioInfo info;
      st.afmt = SampleFormat::kNone;
      if (gst_audio_info_from_caps(&info, caps) && GST_AUDIO_INFO_RATE(&info) == SyncScoreSession::kSampleRate &&
          GST_AUDIO_INFO_CHANNELS(&info) == 1) {
        if (GST_AUDIO_INFO_FORMAT(&info) == GST_AUDIO_FORMAT_F32LE) st.afmt = SampleFormat::kF32;
        else if (GST_AUDIO_INFO_FORMAT(&info) == GST_AUDIO_FORMAT_S16LE) st.afmt = SampleFormat::kS16;
        ok = st.afmt != SampleFormat::kNone;
      }
    }
    if (!ok) post_format_error(self, GST_PAD(pad), caps);
    gst_event_unref(event);
    return ok;
  }
  if (GST_EVENT_TYPE(event) == GST_EVENT_SEGMENT && pad == self->videopad) {
    // Passthrough: the video's segment goes downstream, so the buffers keep
    // their timestamps and meaning.
    const GstSegment* segment = nullptr;
    gst_event_parse_segment(event, &segment);
    if (segment->format == GST_FORMAT_TIME) gst_aggregator_update_segment(agg, segment);
  }
  return GST_AGGREGATOR_CLASS(gst_tavce_sync_score_parent_class)->sink_event(agg, pad, event);
}

// Passthrough: the source pad takes the video pad's caps, never a fixation
// of the template (the aggregator's default negotiation).
GstFlowReturn gst_tavce_sync_score_update_src_caps(GstAggregator* agg, GstCaps*, GstCaps** ret) {
  auto* self = GST_TAVCE_SYNC_SCORE(agg);
  GstTavceSyncScoreState& st = state_of(self);
  if (!st.video_caps) return GST_AGGREGATOR_FLOW_NEED_DATA;
  *ret = gst_caps_ref(st.video_caps);
  return GST_FLOW_OK;
}

gboolean gst_tavce_sync_score_sink_query(GstAggregator* agg, GstAggregatorPad* pad, GstQuery* query) {
  auto* self = GST_TAVCE_SYNC_SCORE(agg);
  if (GST_QUERY_TYPE(query) == GST_QUERY_ACCEPT_CAPS) {
    // Unsuitable input (44.1 kHz, stereo, 30 fps) first shows up here; post
    // the error that says how to fix the pipeline instead of a bare
    // not-negotiated.
    GstCaps* caps = nullptr;
    gst_query_parse_accept_caps(query, &caps);
    GstCaps* tmpl = gst_pad_get_pad_template_caps(GST_PAD(pad));
    const gboolean accepted = gst_caps_is_subset(caps, tmpl);
    gst_caps_unref(tmpl);
    gst_query_set_accept_caps_result(query, accepted);
    if (!accepted && gst_caps_is_fixed(caps)) post_format_error(self, GST_PAD(pad), caps);
    return TRUE;
  }
  if (GST_QUERY_TYPE(query) == GST_QUERY_CAPS && pad == self->videopad) {
    // Passthrough: what downstream takes, within our template.
    GstCaps* filter = nullptr;
    gst_query_parse_caps(query, &filter);
    GstCaps* tmpl = gst_pad_get_pad_template_caps(GST_PAD(pad));
    GstCaps* peer = gst_pad_peer_query_caps(GST_AGGREGATOR_SRC_PAD(agg), tmpl);
    GstCaps* result = gst_caps_intersect_full(peer, tmpl, GST_CAPS_INTERSECT_FIRST);
    if (filter) {
      GstCaps* f = gst_caps_intersect_full(filter, result, GST_CAPS_INTERSECT_FIRST);
      gst_caps_unref(result);
      result = f;
    }
    gst_query_set_caps_result(query, result);
    gst_caps_unref(result);
    gst_caps_unref(peer);
    gst_caps_unref(tmpl);
    return TRUE;
  }
  return GST_AGGREGATOR_CLASS(gst_tavce_sync_score_parent_class)->sink_query(agg, pad, query);
}

GstFlowReturn gst_tavce_sync_score_flush(GstAggregator* agg) {
  auto* self = GST_TAVCE_SYNC_SCORE(agg);
  state_of(self).reset_stream();
  return GST_FLOW_OK;
}

gboolean gst_tavce_sync_score_start(GstAggregator* agg) {
  auto* self = GST_TAVCE_SYNC_SCORE(agg);
  GstTavceSyncScoreState& st = state_of(self);
  tavce::pipeline::SyncScoreSettings settings;
  GST_OBJECT_LOCK(self);
  settings.model = self->model ? self->model : "";
  settings.device = self->device ? self->device : "auto";
  const double interval = self->interval;
  st.drop_below = self->drop_below;
  st.report_path = self->report_location ? self->report_location : "";
  GST_OBJECT_UNLOCK(self);
  st.window_frames = std::max<int64_t>(6, std::llround(interval * SyncScoreSession::kFps));

  try {
    st.session = std::make_unique<SyncScoreSession>(settings);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND, ("tavcesyncscore could not load its model: %s", e.what()),
        ("model='%s' device='%s' (the bundle needs a 'syncnet' module)", settings.model.c_str(),
         settings.device.c_str()));
    return FALSE;
  }
  if (!st.report_path.empty()) {
    st.report = std::fopen(st.report_path.c_str(), "w");
    if (!st.report) {
      st.session.reset();
      GST_ELEMENT_ERROR(self, RESOURCE, OPEN_WRITE,
          ("tavcesyncscore cannot write the report file %s.", st.report_path.c_str()), GST_ERROR_SYSTEM);
      return FALSE;
    }
  }
  st.reset_stream();
  st.window_index = 0;
  st.discont_out = false;
  st.format_error_posted = false;
  // One window of latency: a window's score needs all of its frames and audio.
  const GstClockTime latency = static_cast<GstClockTime>(st.window_frames) * kFrame;
  gst_aggregator_set_latency(agg, latency, latency);
  return TRUE;
}

gboolean gst_tavce_sync_score_stop(GstAggregator* agg) {
  auto* self = GST_TAVCE_SYNC_SCORE(agg);
  GstTavceSyncScoreState& st = state_of(self);
  st.reset_stream();
  st.session.reset();
  if (st.report) {
    std::fclose(st.report);
    st.report = nullptr;
  }
  st.have_vinfo = false;
  gst_caps_replace(&st.video_caps, nullptr);
  st.afmt = SampleFormat::kNone;
  return TRUE;
}

void set_string(GstTavceSyncScore* self, gchar** field, const GValue* value) {
  GST_OBJECT_LOCK(self);
  g_free(*field);
  *field = g_value_dup_string(value);
  GST_OBJECT_UNLOCK(self);
}

void gst_tavce_sync_score_set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  auto* self = GST_TAVCE_SYNC_SCORE(object);
  switch (prop_id) {
    case PROP_MODEL: set_string(self, &self->model, value); break;
    case PROP_DEVICE: set_string(self, &self->device, value); break;
    case PROP_REPORT_LOCATION: set_string(self, &self->report_location, value); break;
    case PROP_INTERVAL:
      GST_OBJECT_LOCK(self);
      self->interval = g_value_get_double(value);
      GST_OBJECT_UNLOCK(self);
      break;
    case PROP_DROP_BELOW:
      GST_OBJECT_LOCK(self);
      self->drop_below = g_value_get_double(value);
      GST_OBJECT_UNLOCK(self);
      break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

void gst_tavce_sync_score_get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  auto* self = GST_TAVCE_SYNC_SCORE(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_MODEL: g_value_set_string(value, self->model); break;
    case PROP_DEVICE: g_value_set_string(value, self->device); break;
    case PROP_REPORT_LOCATION: g_value_set_string(value, self->report_location); break;
    case PROP_INTERVAL: g_value_set_double(value, self->interval); break;
    case PROP_DROP_BELOW: g_value_set_double(value, self->drop_below); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK(self);
}

void gst_tavce_sync_score_finalize(GObject* object) {
  auto* self = GST_TAVCE_SYNC_SCORE(object);
  if (self->state) {
    self->state->clear_held();
    if (self->state->report) std::fclose(self->state->report);
    gst_caps_replace(&self->state->video_caps, nullptr);
  }
  delete self->state;
  self->state = nullptr;
  g_free(self->model);
  g_free(self->device);
  g_free(self->report_location);
  G_OBJECT_CLASS(gst_tavce_sync_score_parent_class)->finalize(object);
}

constexpr GParamFlags kReadyFlags =
    static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

}  // namespace

static void gst_tavce_sync_score_class_init(GstTavceSyncScoreClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstAggregatorClass* agg_class = GST_AGGREGATOR_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(gst_tavce_sync_score_debug, "tavcesyncscore", 0, "TAVCE SyncNet lip-sync score");

  gobject_class->set_property = gst_tavce_sync_score_set_property;
  gobject_class->get_property = gst_tavce_sync_score_get_property;
  gobject_class->finalize = gst_tavce_sync_score_finalize;

  g_object_class_install_property(gobject_class, PROP_MODEL,
      g_param_spec_string("model", "Model",
          "Model bundle with a 'syncnet' network: a directory holding model.json, or a bundle name looked up in "
          "TAVCE_MODEL_PATH and the installed models. Empty: 'syncnet', the project's own small SyncNet "
          "(an internal metric: its scores are not comparable with published LSE-D / LSE-C numbers; "
          "convert syncnet_v2.model for those).",
          nullptr, kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_DEVICE,
      g_param_spec_string("device", "Device",
          "Where SyncNet runs: auto (CUDA when available, else CPU), cpu, cuda or cuda:N.", "auto", kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_INTERVAL,
      g_param_spec_double("interval", "Interval",
          "Seconds of video per scored window (rounded to whole frames at 25 fps). Each window is scored as a "
          "clip of its own; the element's latency is one window.",
          kMinInterval, kMaxInterval, kDefaultInterval, kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_REPORT_LOCATION,
      g_param_spec_string("report-location", "Report location",
          "File that receives one JSON object per window, one per line, flushed as each window ends. Empty: "
          "no report.",
          nullptr, kReadyFlags));
  g_object_class_install_property(gobject_class, PROP_DROP_BELOW,
      g_param_spec_double("drop-below", "Drop below",
          "Drop the video of windows whose LSE-C is below this value (and of windows that could not be "
          "scored), for dataset filtering; -1 turns it off. When on, video is delayed by one window.",
          -1.0, G_MAXDOUBLE, kDefaultDropBelow, kReadyFlags));

  GstCaps* video_caps = gst_caps_from_string(kVideoCaps);
  gst_element_class_add_pad_template(element_class,
      gst_pad_template_new_with_gtype("video", GST_PAD_SINK, GST_PAD_ALWAYS, video_caps, GST_TYPE_AGGREGATOR_PAD));
  GstCaps* audio_caps = gst_caps_from_string(kAudioCaps);
  gst_element_class_add_pad_template(element_class,
      gst_pad_template_new_with_gtype("audio", GST_PAD_SINK, GST_PAD_ALWAYS, audio_caps, GST_TYPE_AGGREGATOR_PAD));
  gst_caps_unref(audio_caps);
  gst_element_class_add_pad_template(element_class,
      gst_pad_template_new_with_gtype("src", GST_PAD_SRC, GST_PAD_ALWAYS, video_caps, GST_TYPE_AGGREGATOR_PAD));
  gst_caps_unref(video_caps);

  gst_element_class_set_static_metadata(element_class, "TAVCE SyncNet lip-sync score", "Filter/Analyzer/Video",
      "Scores audio-visual lip sync with SyncNet (LSE-D, LSE-C and offset, as syncnet_python evaluates them) per "
      "window; passes the video through with the score as buffer meta and bus messages",
      "tavce-gst developers");

  agg_class->aggregate = gst_tavce_sync_score_aggregate;
  agg_class->sink_event = gst_tavce_sync_score_sink_event;
  agg_class->sink_query = gst_tavce_sync_score_sink_query;
  agg_class->update_src_caps = gst_tavce_sync_score_update_src_caps;
  agg_class->flush = gst_tavce_sync_score_flush;
  agg_class->start = gst_tavce_sync_score_start;
  agg_class->stop = gst_tavce_sync_score_stop;

  (void)gst_tavce_sync_meta_get_info();
}

static void gst_tavce_sync_score_init(GstTavceSyncScore* self) {
  self->state = new GstTavceSyncScoreState();
  self->device = g_strdup("auto");
  self->interval = kDefaultInterval;
  self->drop_below = kDefaultDropBelow;

  GstElementClass* klass = GST_ELEMENT_GET_CLASS(self);
  self->videopad = GST_AGGREGATOR_PAD(g_object_new(GST_TYPE_AGGREGATOR_PAD, "name", "video", "direction",
                                                   GST_PAD_SINK, "template",
                                                   gst_element_class_get_pad_template(klass, "video"), nullptr));
  gst_element_add_pad(GST_ELEMENT(self), GST_PAD(self->videopad));
  self->audiopad = GST_AGGREGATOR_PAD(g_object_new(GST_TYPE_AGGREGATOR_PAD, "name", "audio", "direction",
                                                   GST_PAD_SINK, "template",
                                                   gst_element_class_get_pad_template(klass, "audio"), nullptr));
  gst_element_add_pad(GST_ELEMENT(self), GST_PAD(self->audiopad));
}
