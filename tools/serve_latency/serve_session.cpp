#include "serve_latency/serve_session.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <libsoup/soup.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>

#include "serve_latency/onset.h"
#include "serve_latency/rtsp_client.h"
#include "serve_latency/stats.h"

namespace serve_latency {

namespace {

constexpr double kFrameMs = 40.0;        // tavce-serve renders 25 fps
constexpr int kPhases = 8;               // offline references per clip, one per phase step
constexpr double kPhaseStepMs = kFrameMs / kPhases;
constexpr int64_t kIdleWindowUs = 800000;  // idle frames learnt before each push

struct Clip {
  std::string path;
  std::vector<uint8_t> bytes;  // the WAV file as sent
  std::vector<int16_t> mono;   // its first channel
  int rate = 0;
  double seconds = 0;
  double onset_seconds = 0;    // the clip's own silent lead
};

uint32_t le32(const uint8_t* p) { return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24; }
uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

// A 16-bit PCM WAV: its length and where its speech starts (first channel).
Clip load_clip(const std::string& path, double threshold_dbfs) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read the speech file " + path);
  Clip c;
  c.path = path;
  c.bytes.assign(std::istreambuf_iterator<char>(f), {});
  const auto& b = c.bytes;
  if (b.size() < 12 || std::memcmp(b.data(), "RIFF", 4) || std::memcmp(b.data() + 8, "WAVE", 4))
    throw std::runtime_error(path + " is not a RIFF/WAVE file");
  int rate = 0, channels = 0, bits = 0;
  const uint8_t* data = nullptr;
  size_t data_size = 0;
  for (size_t pos = 12; pos + 8 <= b.size();) {
    const uint32_t size = le32(&b[pos + 4]);
    const size_t body = pos + 8, avail = std::min<size_t>(size, b.size() - body);
    if (!std::memcmp(&b[pos], "fmt ", 4) && avail >= 16) {
      channels = le16(&b[body + 2]), rate = static_cast<int>(le32(&b[body + 4])), bits = le16(&b[body + 14]);
      if (le16(&b[body]) != 1) throw std::runtime_error(path + ": only PCM WAV files are supported here");
    } else if (!std::memcmp(&b[pos], "data", 4)) {
      data = &b[body], data_size = avail;
    }
    pos = body + size + (size & 1);
  }
  if (!data || bits != 16 || rate <= 0 || channels <= 0)
    throw std::runtime_error(path + ": needs a 16-bit PCM 'fmt ' and a 'data' chunk");
  std::vector<int16_t> mono(data_size / 2 / static_cast<size_t>(channels));
  for (size_t i = 0; i < mono.size(); ++i)
    mono[i] = static_cast<int16_t>(le16(data + 2 * i * static_cast<size_t>(channels)));
  c.seconds = static_cast<double>(mono.size()) / rate;
  c.rate = rate;
  const auto onset = audio_onset(mono.data(), mono.size(), rate, threshold_dbfs);
  if (!onset) throw std::runtime_error(path + ": no sample reaches the audio threshold (silent clip?)");
  c.onset_seconds = static_cast<double>(*onset) / rate;
  c.mono = std::move(mono);
  return c;
}

// Default speech: three espeak-ng sentences in a temporary folder.
std::vector<std::string> espeak_clips() {
  const char* sentences[] = {"Good morning, and welcome to the news at nine.",
                             "The weather will be cold and bright across the north.",
                             "Thank you for watching, see you tomorrow."};
  gchar* dir = g_dir_make_tmp("tavce-serve-latency-XXXXXX", nullptr);
  if (!dir) throw std::runtime_error("cannot make a temporary folder for the espeak-ng speech");
  std::vector<std::string> out;
  int i = 0;
  for (const char* s : sentences) {
    const std::string path = std::string(dir) + "/speech" + std::to_string(i++) + ".wav";
    const gchar* argv[] = {"espeak-ng", "-v", "en-us", "-s", "150", "-w", path.c_str(), s, nullptr};
    gint status = 0;
    if (!g_spawn_sync(nullptr, const_cast<gchar**>(argv), nullptr, G_SPAWN_SEARCH_PATH, nullptr, nullptr, nullptr,
                      nullptr, &status, nullptr) || !g_spawn_check_wait_status(status, nullptr))
      throw std::runtime_error("espeak-ng failed (install espeak-ng, or pass --speech FILE.wav)");
    out.push_back(path);
  }
  g_free(dir);
  return out;
}

// Removes the espeak-ng clips (they are in memory once loaded).
void remove_clips(const std::vector<std::string>& paths) {
  if (paths.empty()) return;
  for (const std::string& p : paths) g_remove(p.c_str());
  gchar* dir = g_path_get_dirname(paths.front().c_str());
  g_rmdir(dir);
  g_free(dir);
}

struct Box {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // [x0, x1) x [y0, y1)
};

// The mouth box of a gray frame: dlib landmarks 48-67 (tavcefacetrack) with
// a margin for the jaw's drop; nothing when no face is found.
std::optional<Box> mouth_box_from_face(const ClientFrame& f) {
  GstElement* p = gst_parse_launch_full(
      "appsrc name=in format=time ! videoconvert ! video/x-raw,format=RGB ! tavcefacetrack ! appsink name=out sync=false",
      nullptr, GST_PARSE_FLAG_FATAL_ERRORS, nullptr);
  if (!p) return std::nullopt;
  GstElement* in = gst_bin_get_by_name(GST_BIN(p), "in");
  GstElement* out = gst_bin_get_by_name(GST_BIN(p), "out");
  GstCaps* caps = gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING, "GRAY8", "width", G_TYPE_INT, f.width,
                                      "height", G_TYPE_INT, f.height, "framerate", GST_TYPE_FRACTION, 25, 1, nullptr);
  g_object_set(in, "caps", caps, nullptr);
  gst_caps_unref(caps);
  gst_element_set_state(p, GST_STATE_PLAYING);
  GstBuffer* buf = gst_buffer_new_memdup(f.gray.data(), f.gray.size());
  GST_BUFFER_PTS(buf) = 0;
  GST_BUFFER_DURATION(buf) = GST_SECOND / 25;
  gst_app_src_push_buffer(GST_APP_SRC(in), buf);
  gst_app_src_end_of_stream(GST_APP_SRC(in));
  std::optional<Box> box;
  if (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(out), 30 * GST_SECOND)) {
    struct FaceMeta { GstMeta meta; gboolean found; gfloat points[136]; };  // gst/tavcefacemeta.h
    const GType api = g_type_from_name("GstTavceFaceMetaAPI");
    auto* m = api ? reinterpret_cast<FaceMeta*>(gst_buffer_get_meta(gst_sample_get_buffer(s), api)) : nullptr;
    if (m && m->found) {
      float x0 = 1e9f, y0 = 1e9f, x1 = -1e9f, y1 = -1e9f;
      for (int k = 48; k < 68; ++k) {
        x0 = std::min(x0, m->points[2 * k]), x1 = std::max(x1, m->points[2 * k]);
        y0 = std::min(y0, m->points[2 * k + 1]), y1 = std::max(y1, m->points[2 * k + 1]);
      }
      const float w = x1 - x0, h = y1 - y0;
      Box b{static_cast<int>(x0 - 0.2f * w), static_cast<int>(y0 - 0.3f * h), static_cast<int>(x1 + 0.2f * w),
            static_cast<int>(y1 + 0.8f * h)};
      b.x0 = std::clamp(b.x0, 0, f.width - 1), b.x1 = std::clamp(b.x1, b.x0 + 1, f.width);
      b.y0 = std::clamp(b.y0, 0, f.height - 1), b.y1 = std::clamp(b.y1, b.y0 + 1, f.height);
      box = b;
    }
    gst_sample_unref(s);
  }
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(in);
  gst_object_unref(out);
  gst_object_unref(p);
  return box;
}

Box parse_box(const std::string& text, int width, int height) {
  double v[4];
  if (std::sscanf(text.c_str(), "%lf,%lf,%lf,%lf", &v[0], &v[1], &v[2], &v[3]) != 4 || v[0] < 0 || v[1] < 0 ||
      v[2] > 1 || v[3] > 1 || v[2] <= v[0] || v[3] <= v[1])
    throw std::runtime_error("--mouth-box '" + text + "' must be x0,y0,x1,y1 fractions with x0<x1, y0<y1 in [0,1]");
  return Box{static_cast<int>(v[0] * width), static_cast<int>(v[1] * height),
             std::max(static_cast<int>(v[0] * width) + 1, static_cast<int>(v[2] * width)),
             std::max(static_cast<int>(v[1] * height) + 1, static_cast<int>(v[3] * height))};
}

struct TimedPatch {
  int64_t arrival_us, playout_us;
  Patch patch;
};

// What the client callbacks fill and the measuring loop reads.
struct Observed {
  std::mutex mu;
  std::deque<ClientFrame> face_candidates;  // every 25th frame until the mouth box is known
  std::optional<Box> box;
  std::deque<TimedPatch> frames;
  std::deque<ClientAudio> audio;
  uint64_t frame_count = 0;

  void trim(int64_t before_us) {
    while (!frames.empty() && frames.front().arrival_us < before_us) frames.pop_front();
    while (!audio.empty() && audio.front().arrival_us < before_us) audio.pop_front();
  }
};

// The avatar's portrait and bundle, from GET /avatars.
std::pair<std::string, std::string> avatar_source(SoupSession* session, const std::string& http, const std::string& name) {
  SoupMessage* msg = soup_message_new("GET", (http + "/avatars").c_str());
  if (!msg) throw std::runtime_error("not a valid URL: " + http);
  GError* err = nullptr;
  GBytes* body = soup_session_send_and_read(session, msg, nullptr, &err);
  const unsigned status = soup_message_get_status(msg);
  g_object_unref(msg);
  if (!body || status != 200) {
    const std::string why = err ? err->message : "HTTP " + std::to_string(status);
    g_clear_error(&err);
    if (body) g_bytes_unref(body);
    throw std::runtime_error("GET " + http + "/avatars failed: " + why + " (is tavce-serve running there?)");
  }
  gsize n = 0;
  const auto* d = static_cast<const char*>(g_bytes_get_data(body, &n));
  const nlohmann::json j = nlohmann::json::parse(std::string(d, n), nullptr, false);
  g_bytes_unref(body);
  if (j.is_object() && j.contains("avatars"))
    for (const auto& a : j["avatars"])
      if (a.value("name", "") == name) return {a.value("portrait", ""), a.value("bundle", "")};
  throw std::runtime_error("the server has no avatar named '" + name + "' (GET " + http + "/avatars lists them)");
}

// The clip through the same elements and detectors offline, with 2 s plus
// `phase` of silence before it: where its speech starts once Opus-coded as
// the stream carries it (the onset the client can detect), and how many
// frames the rendered mouth starts moving before (< 0) or after that. Frames
// are whole 40 ms steps of the stream time, so the lead depends on where in
// a frame the clip starts (its phase); live, the server says where
// (starts_at_stream_seconds) and the reference of that phase is used. The
// live A/V offset minus this lead is what the stream's timing adds.
struct OfflineReference {
  std::optional<double> heard_onset_s;  // in the clip, after Opus at the stream's settings
  std::optional<double> lead_frames;
};

// First index of `need` consecutive frames above the idle threshold, from `from`.
std::optional<size_t> video_onset(const std::vector<const Patch*>& frames, size_t from, const IdleModel& idle,
                                  int max_shift, int need) {
  int run = 0;
  for (size_t i = from; i < frames.size(); ++i) {
    run = patch_difference(*frames[i], idle.reference, max_shift) > idle.threshold ? run + 1 : 0;
    if (run >= need) return i + 1 - static_cast<size_t>(need);
  }
  return std::nullopt;
}

OfflineReference offline_reference(const Clip& clip, const std::string& portrait, const std::string& bundle,
                                   const Box& box, const ServeOptions& opt, double phase) {
  OfflineReference ref;
  GError* err = nullptr;
  GstElement* p = gst_parse_launch_full(
      "appsrc name=in format=time ! tee name=t"
      " t. ! queue ! audioconvert ! audioresample ! audio/x-raw,rate=16000,channels=1 ! tavcemelspec"
      " ! tavceaudio2coeff name=a2c ! tavcerenderer name=renderer ! videoconvert ! video/x-raw,format=GRAY8"
      " ! appsink name=out sync=false"
      " t. ! queue ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=1"
      " ! opusenc frame-size=20 bitrate=48000 ! opusdec ! audioconvert ! audioresample"
      " ! audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved ! appsink name=heard sync=false",
      nullptr, GST_PARSE_FLAG_FATAL_ERRORS, &err);
  if (!p) {
    g_clear_error(&err);
    return ref;
  }
  for (const char* n : {"a2c", "renderer"}) {
    GstElement* e = gst_bin_get_by_name(GST_BIN(p), n);
    g_object_set(e, "source-image", portrait.c_str(), nullptr);
    if (!bundle.empty() && bundle != "default") g_object_set(e, "model", bundle.c_str(), nullptr);
    gst_object_unref(e);
  }
  GstElement* in = gst_bin_get_by_name(GST_BIN(p), "in");
  GstElement* out = gst_bin_get_by_name(GST_BIN(p), "out");
  GstElement* heard = gst_bin_get_by_name(GST_BIN(p), "heard");
  GstCaps* caps = gst_caps_new_simple("audio/x-raw", "format", G_TYPE_STRING, "S16LE", "rate", G_TYPE_INT, clip.rate,
                                      "channels", G_TYPE_INT, 1, "layout", G_TYPE_STRING, "interleaved", nullptr);
  g_object_set(in, "caps", caps, nullptr);
  gst_caps_unref(caps);
  const double lead_s = 2.0 + phase;  // 2 s is a whole number of frames
  std::vector<int16_t> samples(static_cast<size_t>(std::lround(lead_s * clip.rate)), 0);
  samples.insert(samples.end(), clip.mono.begin(), clip.mono.end());
  gst_element_set_state(p, GST_STATE_PLAYING);
  GstBuffer* buf = gst_buffer_new_memdup(samples.data(), samples.size() * 2);
  GST_BUFFER_PTS(buf) = 0;
  gst_app_src_push_buffer(GST_APP_SRC(in), buf);
  gst_app_src_end_of_stream(GST_APP_SRC(in));
  std::vector<Patch> frames;
  while (GstSample* smp = gst_app_sink_try_pull_sample(GST_APP_SINK(out), 60 * GST_SECOND)) {
    GstVideoInfo info;
    GstVideoFrame vf;
    if (gst_video_info_from_caps(&info, gst_sample_get_caps(smp)) &&
        gst_video_frame_map(&vf, &info, gst_sample_get_buffer(smp), GST_MAP_READ)) {
      Patch patch{box.x1 - box.x0, box.y1 - box.y0, {}};
      if (GST_VIDEO_INFO_WIDTH(&info) >= box.x1 && GST_VIDEO_INFO_HEIGHT(&info) >= box.y1)
        for (int y = box.y0; y < box.y1; ++y) {
          const auto* row = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&vf, 0)) + y * GST_VIDEO_FRAME_PLANE_STRIDE(&vf, 0);
          patch.px.insert(patch.px.end(), row + box.x0, row + box.x1);
        }
      gst_video_frame_unmap(&vf);
      frames.push_back(std::move(patch));
    }
    gst_sample_unref(smp);
  }
  std::vector<int16_t> decoded;
  while (GstSample* smp = gst_app_sink_try_pull_sample(GST_APP_SINK(heard), 10 * GST_SECOND)) {
    GstMapInfo map;
    GstBuffer* b = gst_sample_get_buffer(smp);
    if (b && gst_buffer_map(b, &map, GST_MAP_READ)) {
      const auto* d = reinterpret_cast<const int16_t*>(map.data);
      decoded.insert(decoded.end(), d, d + map.size / 2);
      gst_buffer_unmap(b, &map);
    }
    gst_sample_unref(smp);
  }
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(in);
  gst_object_unref(out);
  gst_object_unref(heard);
  gst_object_unref(p);

  if (auto i = audio_onset(decoded.data(), decoded.size(), 48000, opt.audio_threshold_dbfs))
    ref.heard_onset_s = static_cast<double>(*i) / 48000 - lead_s;
  // Idle: 0.5-1.3 s (well before any anticipation of the speech at >= 2 s).
  const size_t idle_from = static_cast<size_t>(0.5 * 1000 / kFrameMs), idle_to = static_cast<size_t>(1.3 * 1000 / kFrameMs);
  if (!ref.heard_onset_s || frames.size() <= idle_to || frames[0].px.empty()) return ref;
  std::vector<const Patch*> all, idle;
  for (const Patch& f : frames) all.push_back(&f);
  for (size_t i = idle_from; i < idle_to; ++i) idle.push_back(&frames[i]);
  const IdleModel m = learn_idle(idle, opt.video_margin, opt.video_floor, opt.max_shift);
  if (auto i = video_onset(all, idle_to, m, opt.max_shift, opt.video_frames))
    ref.lead_frames = (static_cast<double>(*i) * kFrameMs / 1000 - (lead_s + *ref.heard_onset_s)) * 1000 / kFrameMs;
  return ref;
}

struct PushResult {
  int64_t sent_us = 0, answered_us = 0;
  unsigned status = 0;
  std::string body;
};

PushResult push_speech(SoupSession* session, const std::string& url, const std::string& token, const Clip& clip) {
  SoupMessage* msg = soup_message_new("POST", url.c_str());
  if (!msg) throw std::runtime_error("not a valid URL: " + url);
  GBytes* body = g_bytes_new(clip.bytes.data(), clip.bytes.size());
  soup_message_set_request_body_from_bytes(msg, "audio/wav", body);
  g_bytes_unref(body);
  if (!token.empty())
    soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization", ("Bearer " + token).c_str());
  PushResult r;
  GError* err = nullptr;
  r.sent_us = g_get_monotonic_time();
  GBytes* answer = soup_session_send_and_read(session, msg, nullptr, &err);
  r.answered_us = g_get_monotonic_time();
  r.status = soup_message_get_status(msg);
  if (answer) {
    gsize n = 0;
    const auto* d = static_cast<const char*>(g_bytes_get_data(answer, &n));
    r.body.assign(d, n);
    g_bytes_unref(answer);
  }
  g_object_unref(msg);
  if (err) {
    const std::string why = err->message;
    g_clear_error(&err);
    throw std::runtime_error("POST " + url + " failed: " + why + " (is tavce-serve running?)");
  }
  return r;
}

nlohmann::json ms(double us) { return std::round(us / 100.0) / 10.0; }

}  // namespace

nlohmann::json run_serve_latency(const ServeOptions& opt) {
  if (opt.avatar.empty()) throw std::runtime_error("serve: --avatar NAME is required");
  // The mouth box and the model's lead use the tavce elements in this process.
  for (const char* name : {"tavcefacetrack", "tavcemelspec", "tavceaudio2coeff", "tavcerenderer"}) {
    GstElementFactory* f = gst_element_factory_find(name);
    if (!f) throw std::runtime_error(std::string("serve: the element ") + name +
                                     " is not found: export GST_PLUGIN_PATH=$PWD/build/gst in the source tree");
    gst_object_unref(f);
  }
  if (opt.min_gap < 1.0 || opt.max_gap < opt.min_gap)
    throw std::runtime_error("serve: --min-gap must be >= 1 s (idle frames are learnt before each push) and <= --max-gap");
  const std::string rtsp = opt.rtsp.empty() ? "rtsp://127.0.0.1:8554/" + opt.avatar : opt.rtsp;
  const std::string speech_url = opt.http + "/avatars/" + opt.avatar + "/speech";

  std::vector<Clip> clips;
  const std::vector<std::string> generated = opt.speech.empty() ? espeak_clips() : std::vector<std::string>();
  try {
    for (const std::string& p : opt.speech.empty() ? generated : opt.speech)
      clips.push_back(load_clip(p, opt.audio_threshold_dbfs));
  } catch (...) {
    remove_clips(generated);
    throw;
  }
  remove_clips(generated);
  for (size_t i = 0; i < generated.size(); ++i) clips[i].path = "espeak-ng sentence " + std::to_string(i);

  Observed obs;
  RtspClient client(
      rtsp, opt.client_latency_ms, opt.client_buffer_mode,
      [&](ClientFrame&& f) {
        std::lock_guard<std::mutex> lock(obs.mu);
        obs.frame_count++;
        // The mouth is looked for from a second in (the first decoded frames
        // may precede the stream's first key frame), on a frame a second.
        if (!obs.box && obs.frame_count % 25 == 0 && obs.face_candidates.size() < 8) obs.face_candidates.push_back(f);
        if (!obs.box) return;
        const Box& b = *obs.box;
        if (f.width < b.x1 || f.height < b.y1) return;
        TimedPatch t{f.arrival_us, f.playout_us, Patch{b.x1 - b.x0, b.y1 - b.y0, {}}};
        t.patch.px.reserve(static_cast<size_t>(t.patch.width) * t.patch.height);
        for (int y = b.y0; y < b.y1; ++y)
          t.patch.px.insert(t.patch.px.end(), &f.gray[static_cast<size_t>(y) * f.width + b.x0],
                            &f.gray[static_cast<size_t>(y) * f.width + b.x1]);
        obs.frames.push_back(std::move(t));
      },
      [&](ClientAudio&& a) {
        std::lock_guard<std::mutex> lock(obs.mu);
        obs.audio.push_back(std::move(a));
      });
  std::string error;
  if (!client.start(error)) throw std::runtime_error("serve: " + error);

  // Where the mouth is: dlib on a frame a second, from a second in, up to 8 tries.
  std::optional<ClientFrame> first;
  std::optional<Box> found;
  int tries = 0;
  const int64_t start_deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
  while (g_get_monotonic_time() < start_deadline && !found && tries < 8) {
    const std::string e = client.poll_error();
    if (!e.empty()) throw std::runtime_error("serve: the RTSP client failed on " + rtsp + ": " + e);
    std::optional<ClientFrame> candidate;
    {
      std::lock_guard<std::mutex> lock(obs.mu);
      if (!obs.face_candidates.empty()) candidate = std::move(obs.face_candidates.front()), obs.face_candidates.pop_front();
    }
    if (!candidate) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    ++tries;
    if (!first) first = candidate;
    if (!opt.mouth_box.empty()) break;
    found = mouth_box_from_face(*candidate);
    if (found) first = candidate;
  }
  if (!first) throw std::runtime_error("serve: fewer than 25 video frames from " + rtsp + " within 30 s");
  Box box;
  std::string box_source;
  if (!opt.mouth_box.empty()) {
    box = parse_box(opt.mouth_box, first->width, first->height), box_source = "option";
  } else if (found) {
    box = *found, box_source = "dlib landmarks 48-67 (try " + std::to_string(tries) + ")";
  } else {
    box = parse_box("0.3,0.62,0.7,0.92", first->width, first->height), box_source = "default (no face found)";
  }
  {
    // The stored patches carry max_shift pixels around the box for the alignment.
    Box padded{std::max(0, box.x0 - opt.max_shift), std::max(0, box.y0 - opt.max_shift),
               std::min(first->width, box.x1 + opt.max_shift), std::min(first->height, box.y1 + opt.max_shift)};
    std::lock_guard<std::mutex> lock(obs.mu);
    obs.box = padded;
  }

  SoupSession* session = soup_session_new_with_options("timeout", 30, nullptr);
  std::unique_ptr<SoupSession, void (*)(SoupSession*)> session_guard(session, [](SoupSession* s) { g_object_unref(s); });
  // The clips' offline references (see offline_reference), when the
  // portrait is a file this machine can read.
  // refs[clip][k]: the clip starting k * kPhaseStepMs into a frame.
  std::vector<std::vector<OfflineReference>> refs(clips.size(), std::vector<OfflineReference>(kPhases));
  nlohmann::json leads = nlohmann::json::array();
  {
    const auto [portrait, bundle] = avatar_source(session, opt.http, opt.avatar);
    const bool readable = !portrait.empty() && g_file_test(portrait.c_str(), G_FILE_TEST_IS_REGULAR);
    Box padded;
    {
      std::lock_guard<std::mutex> lock(obs.mu);
      padded = *obs.box;
    }
    auto opt_json = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); };
    for (size_t i = 0; i < clips.size(); ++i) {
      nlohmann::json by_phase = nlohmann::json::array();
      for (int k = 0; k < kPhases; ++k) {
        if (readable) refs[i][k] = offline_reference(clips[i], portrait, bundle, padded, opt, k * kPhaseStepMs / 1000);
        by_phase.push_back({{"phase_ms", k * kPhaseStepMs}, {"model_lead_frames", opt_json(refs[i][k].lead_frames)}});
      }
      leads.push_back({{"clip", clips[i].path}, {"onset_s", clips[i].onset_seconds},
                       {"heard_onset_s", opt_json(refs[i][0].heard_onset_s)}, {"by_phase", by_phase}});
    }
  }
  std::mt19937 rng(opt.seed);
  std::uniform_real_distribution<double> gap(opt.min_gap, opt.max_gap);
  std::ofstream trace;
  if (!opt.trace.empty()) {
    trace.open(opt.trace, std::ios::app);
    if (!trace) throw std::runtime_error("serve: cannot write the trace " + opt.trace);
  }

  std::vector<double> video_arrival, video_playout, audio_arrival, audio_playout, av_frames, av_stream_frames, request;
  nlohmann::json misses = nlohmann::json::array();
  const int64_t run_start = g_get_monotonic_time();
  const int64_t run_end = opt.minutes > 0 ? run_start + static_cast<int64_t>(opt.minutes * 60e6) : INT64_MAX;
  // The first gap also lets the server's stream settle after this client joined.
  for (int n = 0; opt.minutes > 0 ? g_get_monotonic_time() < run_end : n < opt.utterances; ++n) {
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(gap(rng) * 1e6)));
    const std::string e = client.poll_error();
    if (!e.empty()) throw std::runtime_error("serve: the RTSP client failed: " + e);
    const Clip& clip = clips[static_cast<size_t>(n) % clips.size()];

    IdleModel idle;
    size_t idle_count = 0;
    {
      std::lock_guard<std::mutex> lock(obs.mu);
      const int64_t now = g_get_monotonic_time();
      obs.trim(now - 3 * G_USEC_PER_SEC);
      std::vector<const Patch*> idle_patches;
      for (const TimedPatch& t : obs.frames)
        if (t.arrival_us >= now - kIdleWindowUs) idle_patches.push_back(&t.patch);
      idle_count = idle_patches.size();
      if (idle_count >= 5) idle = learn_idle(idle_patches, opt.video_margin, opt.video_floor, opt.max_shift);
    }
    if (idle_count < 5) {
      misses.push_back({{"utterance", n}, {"why", "fewer than 5 frames in the 0.8 s before the push (stream stalled?)"}});
      continue;
    }
    const PushResult push = push_speech(session, speech_url, opt.token, clip);
    if (push.status != 202) {
      misses.push_back({{"utterance", n}, {"why", "HTTP " + std::to_string(push.status) + ": " + push.body}});
      continue;
    }
    // The server says when the clip starts after what is already queued (0 when idle).
    const nlohmann::json answer = nlohmann::json::parse(push.body, nullptr, false);
    const double starts_in = answer.is_object() ? answer.value("starts_in_seconds", 0.0) : 0.0;
    // The server's own time of queueing (same machine, CLOCK_MONOTONIC) when it
    // says it; else the answer's arrival, late by however long the answer took.
    int64_t accepted_us = push.answered_us;
    bool server_time = false;
    if (answer.is_object() && answer.contains("queued_at_monotonic_us") && answer["queued_at_monotonic_us"].is_number()) {
      const int64_t q = answer["queued_at_monotonic_us"].get<int64_t>();
      if (q >= push.sent_us && q <= push.answered_us) accepted_us = q, server_time = true;
    }
    // Where in a frame the clip starts (stream time), when the server says; else phase 0.
    int phase_index = 0;
    std::optional<double> phase_ms;
    if (answer.is_object() && answer.contains("starts_at_stream_seconds") && answer["starts_at_stream_seconds"].is_number()) {
      const double at_ms = answer["starts_at_stream_seconds"].get<double>() * 1000;
      phase_ms = at_ms - std::floor(at_ms / kFrameMs) * kFrameMs;
      phase_index = static_cast<int>(std::lround(*phase_ms / kPhaseStepMs)) % kPhases;
    }
    const OfflineReference& ref = refs[static_cast<size_t>(n) % clips.size()][static_cast<size_t>(phase_index)];
    // Where the client can first hear the speech: the Opus-coded onset when known.
    const double onset = ref.heard_onset_s ? *ref.heard_onset_s : clip.onset_seconds;
    const int64_t t0 = accepted_us + static_cast<int64_t>((starts_in + onset) * 1e6);
    // Watch until the clip has been said and a second more.
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>((clip.seconds + 1.0) * 1e6)));

    std::optional<TimedPatch> v;
    std::optional<std::pair<int64_t, int64_t>> a;  // arrival, play-out of the onset
    double peak_difference = 0;
    {
      std::lock_guard<std::mutex> lock(obs.mu);
      std::vector<const TimedPatch*> after;
      std::vector<const Patch*> patches;
      for (const TimedPatch& t : obs.frames)
        if (t.arrival_us >= push.sent_us) after.push_back(&t), patches.push_back(&t.patch);
      for (const Patch* q : patches) peak_difference = std::max(peak_difference, patch_difference(*q, idle.reference, opt.max_shift));
      if (auto i = video_onset(patches, 0, idle, opt.max_shift, opt.video_frames)) v = *after[*i];
      for (const ClientAudio& c : obs.audio) {
        if (c.arrival_us < push.sent_us) continue;
        if (auto i = audio_onset(c.samples.data(), c.samples.size(), 48000, opt.audio_threshold_dbfs)) {
          const int64_t offset = static_cast<int64_t>(*i) * 1000000 / 48000;
          a = std::make_pair(c.arrival_us, c.playout_us ? c.playout_us + offset : 0);
          break;
        }
      }
    }
    nlohmann::json u = {{"utterance", n},
                        {"t_s", std::round(static_cast<double>(push.answered_us - run_start) / 1e5) / 10},
                        {"clip", clip.path},
                        {"request_ms", ms(static_cast<double>(push.answered_us - push.sent_us))},
                        {"t0_from", server_time ? "server queue time" : "answer arrival"},
                        {"idle_threshold", idle.threshold},
                        {"phase_ms", phase_ms ? nlohmann::json(std::round(*phase_ms * 10) / 10) : nlohmann::json()},
                        {"peak_difference", peak_difference}};
    request.push_back(static_cast<double>(push.answered_us - push.sent_us) / 1000);
    if (v) {
      video_arrival.push_back(static_cast<double>(v->arrival_us - t0) / 1000);
      u["video_ms"] = ms(static_cast<double>(v->arrival_us - t0));
      if (v->playout_us) {
        video_playout.push_back(static_cast<double>(v->playout_us - t0) / 1000);
        u["video_playout_ms"] = ms(static_cast<double>(v->playout_us - t0));
      }
    }
    if (a) {
      audio_arrival.push_back(static_cast<double>(a->first - t0) / 1000);
      u["audio_ms"] = ms(static_cast<double>(a->first - t0));
      if (a->second) {
        audio_playout.push_back(static_cast<double>(a->second - t0) / 1000);
        u["audio_playout_ms"] = ms(static_cast<double>(a->second - t0));
      }
    }
    if (v && a && v->playout_us && a->second) {
      av_frames.push_back(static_cast<double>(v->playout_us - a->second) / 1000 / kFrameMs);
      u["av_offset_frames"] = av_frames.back();
      if (ref.lead_frames) {
        av_stream_frames.push_back(av_frames.back() - *ref.lead_frames);
        u["av_offset_stream_frames"] = av_stream_frames.back();
      }
    }
    if (!v || !a) misses.push_back({{"utterance", n}, {"why", !v ? "no mouth change seen" : "no audio onset seen"}});
    if (trace) trace << u.dump() << std::endl;
  }

  nlohmann::json r;
  r["avatar"] = opt.avatar;
  r["rtsp"] = rtsp;
  r["utterances"] = request.size() + 0;
  r["mouth_box"] = {{"x0", box.x0}, {"y0", box.y0}, {"x1", box.x1}, {"y1", box.y1}, {"source", box_source}};
  r["client_latency_ms"] = client.latency_ms();
  r["client_buffer_mode"] = opt.client_buffer_mode;
  r["video_latency_ms"] = summarize(video_arrival);
  r["audio_latency_ms"] = summarize(audio_arrival);
  r["video_playout_latency_ms"] = summarize(video_playout);
  r["audio_playout_latency_ms"] = summarize(audio_playout);
  r["av_offset_frames"] = summarize(av_frames);
  double worst = 0;
  for (double f : av_frames) worst = std::max(worst, std::fabs(f));
  r["av_offset_abs_max_frames"] = av_frames.empty() ? nlohmann::json() : nlohmann::json(worst);
  r["model_lead"] = leads;
  r["av_offset_stream_frames"] = summarize(av_stream_frames);
  worst = 0;
  for (double f : av_stream_frames) worst = std::max(worst, std::fabs(f));
  r["av_offset_stream_abs_max_frames"] = av_stream_frames.empty() ? nlohmann::json() : nlohmann::json(worst);
  r["av_offset_stream_split"] = split_whole_frames(av_stream_frames, kFrameMs);
  r["request_ms"] = summarize(request);
  r["misses"] = misses;
  r["seconds"] = static_cast<double>(g_get_monotonic_time() - run_start) / 1e6;
  return r;
}

}  // namespace serve_latency
