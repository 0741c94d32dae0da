// GstHarness tests of tavcesyncscore over a bundle made of the golden SyncNet
// weights (syncnet_python S at full size, random weights). With random
// weights the scores mean nothing about lip sync, so these tests check the
// structure (caps, passthrough, one message and one meta per window, report
// lines, EOS tails, drop-below, errors), determinism, and the arithmetic: one
// window is recomputed here from the lib pieces directly (dlib box ->
// syncnet_face_crop -> nn::SyncNet loaded from the golden file ->
// python_speech_features MFCC -> evaluate_lse) and must match the element.
//
// Media: GRID clips (../shared/data/video/grid, 3 s, 360x288, 25 fps,
// frontal), decoded here with decodebin into RGB frames and 16 kHz mono S16
// audio. Frames are taken in decoding order without videorate: these files
// carry a timestamp jump halfway through over continuous content.
//
// With random weights the offset means nothing, so offset detection is
// tested with the shipped model (models/syncnet, the element's default) on
// grid/swwp2s, the one clip left out of its training: the audio moved by a
// known number of frames must move the detected offset by that many.

// C++ headers first: Check's `fail` macro breaks std::basic_ios::fail().
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <unistd.h>
#include <gst/audio/audio.h>
#include <gst/video/video.h>

#include "support/golden_bundle.h"
#include "tavce/audio/mfcc.h"
#include "tavce/face/landmarks.h"
#include "tavce/io/safetensors.h"
#include "tavce/io/tensor_io.h"
#include "tavce/metrics/lse.h"
#include "tavce/nn/state_dict.h"
#include "tavce/nn/syncnet.h"
#include "tavce/pipeline/syncscore_session.h"
#include "../gst/tavcesyncmeta.h"

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

namespace {

constexpr GstClockTime kFrame = GST_SECOND / 25;
constexpr int kSamplesPerFrame = 640;
// Not zero: the element must keep timestamps, not restart them.
constexpr GstClockTime kBase = GST_SECOND / 2;

struct Clip {
  int width = 0, height = 0;
  std::vector<std::vector<uint8_t>> frames;  // packed RGB
  std::vector<int16_t> audio;                // 16 kHz mono
};

struct Fixture {
  std::string bundle, tmp;
  Clip clip;
};

Fixture* fx = nullptr;

std::string data_dir() {
  const char* d = std::getenv("TAVCE_DATA_DIR");
  return d ? d : "../shared/data";
}

void remove_fixture() {
  if (!fx) return;
  tavce::testing::remove_bundle_dir(fx->bundle);
  std::filesystem::remove_all(fx->tmp);
}

// Pulls every sample an appsink holds after EOS (no libgstapp: signals).
template <typename Fn>
void drain_appsink(GstElement* sink, Fn&& fn) {
  for (;;) {
    GstSample* sample = nullptr;
    g_signal_emit_by_name(sink, "try-pull-sample", static_cast<GstClockTime>(0), &sample);
    if (!sample) break;
    fn(sample);
    gst_sample_unref(sample);
  }
}

Clip decode_clip(const std::string& path) {
  const std::string desc =
      "filesrc location=\"" + path + "\" ! decodebin name=d "
      "d. ! queue ! videoconvert ! video/x-raw,format=RGB ! appsink name=v sync=false wait-on-eos=false "
      "d. ! queue ! audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=16000,channels=1,layout=interleaved "
      "! appsink name=a sync=false wait-on-eos=false";
  GError* err = nullptr;
  GstElement* pipe = gst_parse_launch(desc.c_str(), &err);
  fail_unless(pipe && !err, "cannot build the decoding pipeline: %s", err ? err->message : "?");
  gst_element_set_state(pipe, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(pipe);
  GstMessage* msg = gst_bus_timed_pop_filtered(bus, 120 * GST_SECOND,
                                               static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  fail_unless(msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS, "decoding %s failed", path.c_str());
  gst_message_unref(msg);
  gst_object_unref(bus);

  Clip clip;
  GstElement* v = gst_bin_get_by_name(GST_BIN(pipe), "v");
  drain_appsink(v, [&](GstSample* s) {
    GstVideoInfo info;
    fail_unless(gst_video_info_from_caps(&info, gst_sample_get_caps(s)));
    clip.width = GST_VIDEO_INFO_WIDTH(&info);
    clip.height = GST_VIDEO_INFO_HEIGHT(&info);
    GstVideoFrame frame;
    fail_unless(gst_video_frame_map(&frame, &info, gst_sample_get_buffer(s), GST_MAP_READ));
    std::vector<uint8_t> rgb(static_cast<size_t>(clip.width) * clip.height * 3);
    for (int y = 0; y < clip.height; ++y)
      std::memcpy(rgb.data() + static_cast<size_t>(y) * clip.width * 3,
                  static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 0)) +
                      static_cast<size_t>(y) * GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0),
                  static_cast<size_t>(clip.width) * 3);
    gst_video_frame_unmap(&frame);
    clip.frames.push_back(std::move(rgb));
  });
  gst_object_unref(v);
  GstElement* a = gst_bin_get_by_name(GST_BIN(pipe), "a");
  drain_appsink(a, [&](GstSample* s) {
    GstMapInfo map;
    gst_buffer_map(gst_sample_get_buffer(s), &map, GST_MAP_READ);
    const size_t n = map.size / 2;
    for (size_t i = 0; i < n; ++i) clip.audio.push_back(static_cast<int16_t>(GST_READ_UINT16_LE(map.data + 2 * i)));
    gst_buffer_unmap(gst_sample_get_buffer(s), &map);
  });
  gst_object_unref(a);
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(pipe);
  return clip;
}

void setup_fixture(bool with_clip) {
  if (!fx) {
    fx = new Fixture;
    std::atexit(remove_fixture);  // Check runs each test in its own process
    fx->bundle = tavce::testing::make_golden_syncnet_bundle();
    fx->tmp = (std::filesystem::temp_directory_path() / ("tavce-syncscore-" + std::to_string(getpid()))).string();
    std::filesystem::create_directories(fx->tmp);
  }
  if (with_clip && fx->clip.frames.empty()) {
    fx->clip = decode_clip(data_dir() + "/video/grid/bbaf2n.mpg");
    fail_unless(fx->clip.frames.size() >= 70, "decoded only %zu frames", fx->clip.frames.size());
    fail_unless(fx->clip.audio.size() >= 70 * kSamplesPerFrame, "decoded only %zu samples", fx->clip.audio.size());
  }
}

GstElement* make_scorer(double interval) {
  setup_fixture(false);
  GstElement* e = gst_element_factory_make("tavcesyncscore", nullptr);
  fail_unless(e != nullptr, "tavcesyncscore not found (is the plugin blacklisted? run gst-inspect-1.0 -b)");
  g_object_set(e, "model", fx->bundle.c_str(), "device", "cpu", "interval", interval, nullptr);
  return e;
}

struct Harnesses {
  GstHarness* video = nullptr;
  GstHarness* audio = nullptr;
  GstBus* bus = nullptr;
};

std::string video_caps_str(int w, int h, const char* format = "RGB", int fps = 25) {
  return "video/x-raw, format=" + std::string(format) + ", width=" + std::to_string(w) + ", height=" +
         std::to_string(h) + ", framerate=" + std::to_string(fps) + "/1, pixel-aspect-ratio=1/1";
}
const char* kAudioCapsStr = "audio/x-raw, format=S16LE, layout=interleaved, rate=16000, channels=1";

Harnesses start(GstElement* e, int w, int h, const char* audio_caps = kAudioCapsStr) {
  Harnesses hs;
  hs.video = gst_harness_new_with_element(e, "video", "src");
  hs.audio = gst_harness_new_with_element(hs.video->element, "audio", nullptr);
  hs.bus = gst_bus_new();
  gst_element_set_bus(hs.video->element, hs.bus);
  gst_harness_set_src_caps_str(hs.video, video_caps_str(w, h).c_str());
  gst_harness_set_src_caps_str(hs.audio, audio_caps);
  return hs;
}

void stop(Harnesses& hs) {
  gst_element_set_bus(hs.video->element, nullptr);
  gst_object_unref(hs.bus);
  gst_harness_teardown(hs.audio);
  gst_harness_teardown(hs.video);
}

GstBuffer* video_buffer(const std::vector<uint8_t>& rgb, int i) {
  GstBuffer* b = gst_buffer_new_allocate(nullptr, rgb.size(), nullptr);
  gst_buffer_fill(b, 0, rgb.data(), rgb.size());
  GST_BUFFER_PTS(b) = kBase + i * kFrame;
  GST_BUFFER_DURATION(b) = kFrame;
  GST_BUFFER_OFFSET(b) = static_cast<guint64>(i);
  return b;
}

// Audio of frame i (640 samples from sample 640 i), zeros past the clip's end.
GstBuffer* audio_buffer(const std::vector<int16_t>& audio, int i) {
  GstBuffer* b = gst_buffer_new_allocate(nullptr, kSamplesPerFrame * 2, nullptr);
  GstMapInfo map;
  gst_buffer_map(b, &map, GST_MAP_WRITE);
  for (int k = 0; k < kSamplesPerFrame; ++k) {
    const size_t idx = static_cast<size_t>(i) * kSamplesPerFrame + k;
    GST_WRITE_UINT16_LE(map.data + 2 * k, static_cast<uint16_t>(idx < audio.size() ? audio[idx] : 0));
  }
  gst_buffer_unmap(b, &map);
  GST_BUFFER_PTS(b) = kBase + i * kFrame;
  GST_BUFFER_DURATION(b) = kFrame;
  return b;
}

// Frames 0..n-1 of `frames` with their audio, interleaved (audio first: a
// non-live aggregator needs both pads filled), then EOS on both pads.
void push_clip(Harnesses& hs, const std::vector<std::vector<uint8_t>>& frames, const std::vector<int16_t>& audio,
               int n) {
  for (int i = 0; i < n; ++i) {
    fail_unless_equals_int(gst_harness_push(hs.audio, audio_buffer(audio, i)), GST_FLOW_OK);
    fail_unless_equals_int(gst_harness_push(hs.video, video_buffer(frames[static_cast<size_t>(i)], i)), GST_FLOW_OK);
  }
  fail_unless(gst_harness_push_event(hs.audio, gst_event_new_eos()));
  fail_unless(gst_harness_push_event(hs.video, gst_event_new_eos()));
}

std::vector<GstBuffer*> pull_until_eos(GstHarness* h) {
  std::vector<GstBuffer*> out;
  for (;;) {
    GstBuffer* b = nullptr;
    fail_unless(gst_harness_pull_until_eos(h, &b), "no EOS from tavcesyncscore");
    if (!b) break;
    out.push_back(b);
  }
  return out;
}

struct WindowMsg {
  guint64 index = 0, start = 0, end = 0;
  gboolean scored = FALSE, dropped = FALSE;
  double lse_d = 0, lse_c = 0;
  int offset = 0;
  guint frames = 0, face_missing = 0, embeddings = 0;
  std::string reason;
};

std::vector<WindowMsg> window_messages(GstBus* bus) {
  std::vector<WindowMsg> out;
  while (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT)) {
    const GstStructure* s = gst_message_get_structure(m);
    if (s && gst_structure_has_name(s, "tavce-sync")) {
      WindowMsg w;
      fail_unless(gst_structure_get_uint64(s, "window-index", &w.index));
      fail_unless(gst_structure_get_uint64(s, "window-start", &w.start));
      fail_unless(gst_structure_get_uint64(s, "window-end", &w.end));
      fail_unless(gst_structure_get_boolean(s, "scored", &w.scored));
      fail_unless(gst_structure_get_boolean(s, "dropped", &w.dropped));
      fail_unless(gst_structure_get_double(s, "lse-d", &w.lse_d));
      fail_unless(gst_structure_get_double(s, "lse-c", &w.lse_c));
      fail_unless(gst_structure_get_int(s, "offset", &w.offset));
      fail_unless(gst_structure_get_uint(s, "frames", &w.frames));
      fail_unless(gst_structure_get_uint(s, "face-missing", &w.face_missing));
      fail_unless(gst_structure_get_uint(s, "embeddings", &w.embeddings));
      if (const gchar* r = gst_structure_get_string(s, "reason")) w.reason = r;
      out.push_back(w);
    }
    gst_message_unref(m);
  }
  return out;
}

const GstTavceSyncMeta* sync_meta(GstBuffer* b) {
  const GType api = g_type_from_name(GST_TAVCE_SYNC_META_API_NAME);
  fail_unless(api != 0, "the meta API type is not registered");
  return reinterpret_cast<const GstTavceSyncMeta*>(gst_buffer_get_meta(b, api));
}

std::string pop_error(GstBus* bus) {
  GstMessage* msg = gst_bus_timed_pop_filtered(bus, 30 * GST_SECOND, GST_MESSAGE_ERROR);
  if (!msg) return "";
  GError* err = nullptr;
  gchar* dbg = nullptr;
  gst_message_parse_error(msg, &err, &dbg);
  std::string s = std::string(err->message) + "\n" + (dbg ? dbg : "");
  g_error_free(err);
  g_free(dbg);
  gst_message_unref(msg);
  return s;
}

// Packed RGB -> packed BGR (what the reference reads with OpenCV).
std::vector<uint8_t> to_bgr(const std::vector<uint8_t>& rgb) {
  std::vector<uint8_t> bgr(rgb.size());
  for (size_t i = 0; i < rgb.size(); i += 3) {
    bgr[i] = rgb[i + 2];
    bgr[i + 1] = rgb[i + 1];
    bgr[i + 2] = rgb[i];
  }
  return bgr;
}

// The LSE of frames [first, first + n) and their audio, recomputed from the
// lib pieces without the session: the returned curve is evaluate_lse's.
tavce::metrics::LseResult recompute_window(int first, int n) {
  const Clip& c = fx->clip;
  auto detector = tavce::face::LandmarkDetector::shared();
  std::vector<std::vector<uint8_t>> crops;
  std::optional<tavce::pipeline::SyncFaceBox> box;
  for (int t = first; t < first + n; ++t) {
    std::vector<uint8_t> rgb = c.frames[static_cast<size_t>(t)];
    const cv::Mat m(c.height, c.width, CV_8UC3, rgb.data());
    const auto faces = detector->detect(m);
    if (!faces.empty()) {
      const cv::Rect r = faces.front().box;
      box = tavce::pipeline::SyncFaceBox{double(r.x), double(r.y), double(r.x + r.width), double(r.y + r.height)};
    }
    fail_unless(box.has_value(), "no face in frame %d of the GRID clip", t);
    const std::vector<uint8_t> bgr = to_bgr(rgb);
    crops.push_back(tavce::pipeline::syncnet_face_crop(bgr.data(), c.width, c.height, static_cast<size_t>(c.width) * 3,
                                                        *box, 0.4, 224));
  }

  tavce::nn::SyncNet net(tavce::nn::SyncNetConfig{});
  const auto file = tavce::io::SafeTensors::open(tavce::testing::golden_dir() + "/syncnet/weights.safetensors");
  tavce::nn::load_state_dict(*net, tavce::io::load_tensors(file, true), "golden syncnet");
  net->eval();
  c10::InferenceMode guard;

  const int64_t count = n - 5;  // min(frames, samples / 640) - 5 with a full window of audio
  // imtv: (1, 3 B/G/R, T, 224, 224) raw values; window v = frames v .. v+4.
  at::Tensor video = at::empty({3, n, 224, 224});
  for (int t = 0; t < n; ++t)
    for (int ch = 0; ch < 3; ++ch)
      for (int p = 0; p < 224 * 224; ++p)
        video[ch][t].view({-1})[p] = static_cast<float>(crops[static_cast<size_t>(t)][static_cast<size_t>(p) * 3 + ch]);
  std::vector<at::Tensor> wins;
  for (int64_t v = 0; v < count; ++v) wins.push_back(video.slice(1, v, v + 5));
  const at::Tensor im = net->forward_lip(at::stack(wins)).contiguous();

  std::vector<double> samples(static_cast<size_t>(n) * kSamplesPerFrame);
  for (size_t i = 0; i < samples.size(); ++i) samples[i] = c.audio[static_cast<size_t>(first) * kSamplesPerFrame + i];
  const auto mfcc = tavce::audio::compute_mfcc(samples.data(), samples.size());
  std::vector<float> mw = tavce::audio::syncnet_mfcc_windows(mfcc, 13, count);
  const at::Tensor cc = net->forward_aud(at::from_blob(mw.data(), {count, 1, 13, 20})).contiguous();
  return tavce::metrics::evaluate_lse(im.data_ptr<float>(), cc.data_ptr<float>(), count, im.size(1), 15);
}

// A frame without a face: mid grey.
std::vector<uint8_t> grey_frame(int w, int h) { return std::vector<uint8_t>(static_cast<size_t>(w) * h * 3, 128); }

}  // namespace

GST_START_TEST(test_real_clip) {
  // The 75 frames of a GRID clip in windows of 40 frames (1.6 s): a full
  // window and a 35-frame tail, long enough to be scored at EOS. Checks the
  // passthrough, one message and one meta per window, the report file, and
  // window 0 against an independent recomputation.
  setup_fixture(true);
  const Clip& c = fx->clip;
  const int n = 75, kW = 40;
  fail_unless(c.frames.size() >= 75, "the GRID clip has %zu frames", c.frames.size());
  GstElement* e = make_scorer(1.6);
  const std::string report = fx->tmp + "/report.jsonl";
  g_object_set(e, "report-location", report.c_str(), nullptr);
  Harnesses hs = start(e, c.width, c.height);
  push_clip(hs, c.frames, c.audio, n);
  std::vector<GstBuffer*> out = pull_until_eos(hs.video);

  // Passthrough: every frame, in order, same bytes and timestamps.
  fail_unless_equals_int(static_cast<int>(out.size()), n);
  std::vector<int> meta_frames;
  for (int i = 0; i < n; ++i) {
    GstBuffer* b = out[static_cast<size_t>(i)];
    fail_unless_equals_uint64(GST_BUFFER_PTS(b), kBase + i * kFrame);
    fail_unless_equals_uint64(GST_BUFFER_DURATION(b), kFrame);
    fail_unless_equals_int(gst_buffer_memcmp(b, 0, c.frames[static_cast<size_t>(i)].data(),
                                             c.frames[static_cast<size_t>(i)].size()), 0);
    if (sync_meta(b)) meta_frames.push_back(i);
  }
  const int windows = (n + kW - 1) / kW;
  fail_unless_equals_int(static_cast<int>(meta_frames.size()), windows);
  for (int w = 0; w < windows; ++w) fail_unless_equals_int(meta_frames[static_cast<size_t>(w)], std::min(n, kW * (w + 1)) - 1);

  // One message per window, matching the meta of the buffer that ends it.
  const std::vector<WindowMsg> msgs = window_messages(hs.bus);
  fail_unless_equals_int(static_cast<int>(msgs.size()), windows);
  for (int w = 0; w < windows; ++w) {
    const WindowMsg& m = msgs[static_cast<size_t>(w)];
    // (not `first`: the gst-check macros declare locals of that name)
    const int w0 = kW * w, last = std::min(n, kW * (w + 1)) - 1;
    fail_unless_equals_uint64(m.index, static_cast<guint64>(w));
    fail_unless_equals_uint64(m.start, kBase + w0 * kFrame);
    fail_unless_equals_uint64(m.end, kBase + (last + 1) * kFrame);
    fail_unless_equals_int(m.frames, last - w0 + 1);
    fail_unless(!m.dropped);
    const GstTavceSyncMeta* meta = sync_meta(out[static_cast<size_t>(last)]);
    fail_unless_equals_int(meta->scored, m.scored);
    fail_unless_equals_uint64(meta->window_start, m.start);
    fail_unless_equals_uint64(meta->window_end, m.end);
    fail_unless_equals_int(meta->frames, m.frames);
    fail_unless_equals_int(meta->face_missing, m.face_missing);
    if (last - w0 + 1 >= 35) {
      fail_unless(m.scored, "window %d not scored: %s", w, m.reason.c_str());
      fail_unless_equals_int(m.embeddings, last - w0 + 1 - 5);
      fail_unless(std::isfinite(m.lse_d) && m.lse_d > 0 && m.lse_c >= 0, "window %d: %f %f", w, m.lse_d, m.lse_c);
      fail_unless(m.offset >= -15 && m.offset <= 15);
      fail_unless_equals_float(meta->lse_d, m.lse_d);
      fail_unless_equals_float(meta->lse_c, m.lse_c);
      fail_unless_equals_int(meta->offset, m.offset);
    } else {
      fail_unless(!m.scored, "a window under 35 frames was scored");
      fail_unless(m.reason.find("too short") != std::string::npos, "%s", m.reason.c_str());
      fail_unless(std::isnan(meta->lse_d) && std::isnan(m.lse_c));
    }
  }

  // The report: one JSON line per window, the same numbers.
  std::ifstream in(report);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    const WindowMsg& m = msgs[static_cast<size_t>(lines)];
    fail_unless_equals_int(j.at("window").get<int>(), lines);
    fail_unless_equals_uint64(j.at("start_ns").get<guint64>(), m.start);
    fail_unless_equals_uint64(j.at("end_ns").get<guint64>(), m.end);
    fail_unless_equals_int(j.at("scored").get<bool>(), static_cast<bool>(m.scored));
    fail_unless_equals_int(j.at("frames").get<int>(), static_cast<int>(m.frames));
    if (m.scored) {
      fail_unless(std::fabs(j.at("lse_d").get<double>() - m.lse_d) < 1e-6 * std::max(1.0, m.lse_d));
      fail_unless(std::fabs(j.at("lse_c").get<double>() - m.lse_c) < 1e-6 * std::max(1.0, m.lse_c));
      fail_unless_equals_int(j.at("offset").get<int>(), m.offset);
    } else {
      fail_unless(j.at("lse_d").is_null() && j.at("offset").is_null());
      fail_unless(j.contains("reason"));
    }
    lines++;
  }
  fail_unless_equals_int(lines, windows);

  // Window 0 from the lib pieces directly.
  const tavce::metrics::LseResult ref = recompute_window(0, kW);
  const WindowMsg& m0 = msgs[0];
  fail_unless(std::fabs(ref.min_dist - m0.lse_d) <= 1e-3 + 1e-4 * std::fabs(ref.min_dist),
              "LSE-D %f (element) vs %f (lib)", m0.lse_d, ref.min_dist);
  fail_unless(std::fabs(ref.conf - m0.lse_c) <= 1e-3 + 1e-4 * std::fabs(ref.conf), "LSE-C %f (element) vs %f (lib)",
              m0.lse_c, ref.conf);
  fail_unless_equals_int(m0.offset, static_cast<int>(ref.offset));
  fail_unless_equals_int(m0.face_missing, 0);

  for (GstBuffer* b : out) gst_buffer_unref(b);
  stop(hs);
}
GST_END_TEST;

GST_START_TEST(test_caps) {
  // The video caps go downstream unchanged (with the first buffer).
  setup_fixture(false);
  Harnesses hs = start(make_scorer(0.24), 64, 48);
  fail_unless_equals_int(gst_harness_push(hs.audio, audio_buffer(std::vector<int16_t>(640, 0), 0)), GST_FLOW_OK);
  fail_unless_equals_int(gst_harness_push(hs.video, video_buffer(grey_frame(64, 48), 0)), GST_FLOW_OK);
  fail_unless(gst_harness_push_event(hs.video, gst_event_new_eos()));
  fail_unless(gst_harness_push_event(hs.audio, gst_event_new_eos()));
  GstBuffer* first = gst_harness_pull(hs.video);
  fail_unless(first != nullptr);
  gst_buffer_unref(first);
  GstCaps* caps = gst_pad_get_current_caps(hs.video->sinkpad);
  fail_unless(caps != nullptr);
  GstCaps* expected = gst_caps_from_string(video_caps_str(64, 48).c_str());
  gchar* got = gst_caps_to_string(caps);
  fail_unless(gst_caps_is_equal(caps, expected), "src caps %s", got);
  g_free(got);
  gst_caps_unref(expected);
  gst_caps_unref(caps);

  stop(hs);
}
GST_END_TEST;

GST_START_TEST(test_audio_format_refused) {
  // 44.1 kHz stereo on the audio pad: an error that says what to put in front.
  setup_fixture(false);
  GstElement* e = make_scorer(0.24);
  GstHarness* h = gst_harness_new_with_element(e, "audio", nullptr);
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(h->element, bus);
  gst_harness_push_event(h, gst_event_new_stream_start("a"));
  GstCaps* wrong = gst_caps_from_string("audio/x-raw, format=S16LE, layout=interleaved, rate=44100, channels=2");
  // (A sticky event push reports success even when the peer refuses it.)
  gst_harness_push_event(h, gst_event_new_caps(wrong));
  gst_caps_unref(wrong);
  const std::string text = pop_error(bus);
  fail_unless(text.find("audioconvert ! audioresample") != std::string::npos, "%s", text.c_str());
  gst_element_set_bus(h->element, nullptr);
  gst_object_unref(bus);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_video_framerate_refused) {
  setup_fixture(false);
  GstElement* e = make_scorer(0.24);
  GstHarness* h = gst_harness_new_with_element(e, "video", "src");
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(h->element, bus);
  gst_harness_push_event(h, gst_event_new_stream_start("v"));
  GstCaps* caps = gst_caps_from_string(video_caps_str(64, 48, "RGB", 30).c_str());
  gst_harness_push_event(h, gst_event_new_caps(caps));
  gst_caps_unref(caps);
  const std::string text = pop_error(bus);
  fail_unless(text.find("framerate=25/1") != std::string::npos, "%s", text.c_str());
  gst_element_set_bus(h->element, nullptr);
  gst_object_unref(bus);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_short_input_at_eos) {
  // 10 frames with windows of 50: the tail is below the 35-frame minimum, so
  // it is reported as skipped (message, meta on the last frame) and all the
  // video still leaves before EOS.
  setup_fixture(true);
  const Clip& c = fx->clip;
  Harnesses hs = start(make_scorer(2.0), c.width, c.height);
  push_clip(hs, c.frames, c.audio, 10);
  std::vector<GstBuffer*> out = pull_until_eos(hs.video);
  fail_unless_equals_int(static_cast<int>(out.size()), 10);
  for (int i = 0; i < 10; ++i)
    fail_unless_equals_int(sync_meta(out[static_cast<size_t>(i)]) != nullptr, i == 9);
  const std::vector<WindowMsg> msgs = window_messages(hs.bus);
  fail_unless_equals_int(static_cast<int>(msgs.size()), 1);
  fail_unless(!msgs[0].scored);
  fail_unless_equals_int(msgs[0].frames, 10);
  fail_unless(msgs[0].reason.find("too short") != std::string::npos, "%s", msgs[0].reason.c_str());
  fail_unless_equals_uint64(msgs[0].end, kBase + 10 * kFrame);
  for (GstBuffer* b : out) gst_buffer_unref(b);
  stop(hs);
}
GST_END_TEST;

GST_START_TEST(test_windows_and_determinism) {
  // Windows of 6 frames (0.24 s, one SyncNet window each): 15 frames give two
  // full windows and a 3-frame tail (below the minimum of 6: skipped).
  // Running twice gives the same numbers.
  setup_fixture(true);
  const Clip& c = fx->clip;
  std::vector<std::vector<WindowMsg>> runs;
  for (int run = 0; run < 2; ++run) {
    Harnesses hs = start(make_scorer(0.24), c.width, c.height);
    push_clip(hs, c.frames, c.audio, 15);
    std::vector<GstBuffer*> out = pull_until_eos(hs.video);
    fail_unless_equals_int(static_cast<int>(out.size()), 15);
    int metas = 0;
    for (GstBuffer* b : out) {
      metas += sync_meta(b) != nullptr;
      gst_buffer_unref(b);
    }
    fail_unless_equals_int(metas, 3);
    runs.push_back(window_messages(hs.bus));
    stop(hs);
  }
  fail_unless_equals_int(static_cast<int>(runs[0].size()), 3);
  for (int w = 0; w < 2; ++w) {
    fail_unless(runs[0][w].scored, "%s", runs[0][w].reason.c_str());
    fail_unless_equals_int(runs[0][w].embeddings, 1);
    fail_unless_equals_float(runs[0][w].lse_d, runs[1][w].lse_d);
    fail_unless_equals_float(runs[0][w].lse_c, runs[1][w].lse_c);
    fail_unless_equals_int(runs[0][w].offset, runs[1][w].offset);
  }
  fail_unless(!runs[0][2].scored);
}
GST_END_TEST;

GST_START_TEST(test_f32_audio) {
  // F32 samples are int16 values / 32768: the same window scores the same
  // as with S16 (the scaling by 32768 is exact).
  setup_fixture(true);
  const Clip& c = fx->clip;
  std::vector<double> lse;
  for (const bool f32 : {false, true}) {
    Harnesses hs = start(make_scorer(0.24), c.width, c.height,
                         f32 ? "audio/x-raw, format=F32LE, layout=interleaved, rate=16000, channels=1" : kAudioCapsStr);
    for (int i = 0; i < 6; ++i) {
      GstBuffer* a = audio_buffer(c.audio, i);
      if (f32) {
        GstBuffer* f = gst_buffer_new_allocate(nullptr, kSamplesPerFrame * 4, nullptr);
        GstMapInfo in, out;
        gst_buffer_map(a, &in, GST_MAP_READ);
        gst_buffer_map(f, &out, GST_MAP_WRITE);
        for (int k = 0; k < kSamplesPerFrame; ++k)
          GST_WRITE_FLOAT_LE(out.data + 4 * k, static_cast<gint16>(GST_READ_UINT16_LE(in.data + 2 * k)) / 32768.0f);
        gst_buffer_unmap(a, &in);
        gst_buffer_unmap(f, &out);
        gst_buffer_copy_into(f, a, GST_BUFFER_COPY_TIMESTAMPS, 0, -1);
        gst_buffer_unref(a);
        a = f;
      }
      fail_unless_equals_int(gst_harness_push(hs.audio, a), GST_FLOW_OK);
      fail_unless_equals_int(gst_harness_push(hs.video, video_buffer(c.frames[static_cast<size_t>(i)], i)), GST_FLOW_OK);
    }
    fail_unless(gst_harness_push_event(hs.audio, gst_event_new_eos()));
    fail_unless(gst_harness_push_event(hs.video, gst_event_new_eos()));
    for (GstBuffer* b : pull_until_eos(hs.video)) gst_buffer_unref(b);
    const std::vector<WindowMsg> msgs = window_messages(hs.bus);
    fail_unless_equals_int(static_cast<int>(msgs.size()), 1);
    fail_unless(msgs[0].scored, "%s", msgs[0].reason.c_str());
    lse.push_back(msgs[0].lse_d);
    lse.push_back(msgs[0].lse_c);
    stop(hs);
  }
  fail_unless_equals_float(lse[0], lse[2]);
  fail_unless_equals_float(lse[1], lse[3]);
}
GST_END_TEST;

GST_START_TEST(test_drop_below) {
  // A huge threshold drops every window's video; -1 (the default) none.
  setup_fixture(true);
  const Clip& c = fx->clip;
  for (double threshold : {1e9, -1.0}) {
    GstElement* e = make_scorer(0.24);
    g_object_set(e, "drop-below", threshold, nullptr);
    Harnesses hs = start(e, c.width, c.height);
    push_clip(hs, c.frames, c.audio, 12);
    std::vector<GstBuffer*> out = pull_until_eos(hs.video);
    const std::vector<WindowMsg> msgs = window_messages(hs.bus);
    fail_unless_equals_int(static_cast<int>(msgs.size()), 2);
    if (threshold > 0) {
      fail_unless_equals_int(static_cast<int>(out.size()), 0);
      for (const WindowMsg& m : msgs) fail_unless(m.dropped && m.scored);
    } else {
      fail_unless_equals_int(static_cast<int>(out.size()), 12);
      for (const WindowMsg& m : msgs) fail_unless(!m.dropped);
    }
    for (GstBuffer* b : out) gst_buffer_unref(b);
    stop(hs);
  }
}
GST_END_TEST;

GST_START_TEST(test_no_face) {
  // Grey frames: the window is not scored, and the message says how many
  // frames had no face.
  setup_fixture(false);
  const int w = 96, h = 96;
  std::vector<std::vector<uint8_t>> frames(6, grey_frame(w, h));
  std::vector<int16_t> audio(6 * kSamplesPerFrame, 0);
  Harnesses hs = start(make_scorer(0.24), w, h);
  push_clip(hs, frames, audio, 6);
  std::vector<GstBuffer*> out = pull_until_eos(hs.video);
  fail_unless_equals_int(static_cast<int>(out.size()), 6);
  const GstTavceSyncMeta* meta = sync_meta(out[5]);
  fail_unless(meta && !meta->scored);
  fail_unless_equals_int(meta->face_missing, 6);
  const std::vector<WindowMsg> msgs = window_messages(hs.bus);
  fail_unless_equals_int(static_cast<int>(msgs.size()), 1);
  fail_unless(!msgs[0].scored);
  fail_unless_equals_int(msgs[0].face_missing, 6);
  fail_unless(msgs[0].reason.find("no face") != std::string::npos, "%s", msgs[0].reason.c_str());
  for (GstBuffer* b : out) gst_buffer_unref(b);
  stop(hs);
}
GST_END_TEST;

GST_START_TEST(test_latency) {
  // One window of latency.
  setup_fixture(false);
  Harnesses hs = start(make_scorer(2.0), 64, 48);
  GstQuery* q = gst_query_new_latency();
  fail_unless(gst_pad_peer_query(hs.video->sinkpad, q));
  GstClockTime min = 0, max = 0;
  gboolean live = FALSE;
  gst_query_parse_latency(q, &live, &min, &max);
  fail_unless_equals_uint64(min, 2 * GST_SECOND);
  gst_query_unref(q);
  stop(hs);
}
GST_END_TEST;

GST_START_TEST(test_missing_model) {
  setup_fixture(false);
  GstElement* e = gst_element_factory_make("tavcesyncscore", nullptr);
  g_object_set(e, "model", "/nonexistent/bundle", "device", "cpu", nullptr);
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(e, bus);
  fail_unless_equals_int(gst_element_set_state(e, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  const std::string text = pop_error(bus);
  fail_unless(text.find("could not load its model") != std::string::npos, "%s", text.c_str());
  fail_unless(text.find("/nonexistent/bundle") != std::string::npos, "%s", text.c_str());
  gst_element_set_state(e, GST_STATE_NULL);
  gst_element_set_bus(e, nullptr);
  gst_object_unref(bus);
  gst_object_unref(e);
}
GST_END_TEST;

// The clip's audio moved by `frames` 25 fps frames (> 0: delayed, the audio
// lags the video), same length, silence where nothing was.
std::vector<int16_t> shift_audio(const std::vector<int16_t>& audio, int frames) {
  std::vector<int16_t> out(audio.size(), 0);
  const long long d = static_cast<long long>(frames) * kSamplesPerFrame;
  for (size_t i = 0; i < out.size(); ++i) {
    const long long j = static_cast<long long>(i) - d;
    if (j >= 0 && j < static_cast<long long>(audio.size())) out[i] = audio[static_cast<size_t>(j)];
  }
  return out;
}

GST_START_TEST(test_offset_detection) {
  // The shipped model on its held-out clip, one 75-frame window per run: in
  // sync the offset is within a frame of 0; delayed by 7 frames (0.28 s) it
  // reads -7, advanced by 7 it reads +7 (offset > 0: the audio leads), within
  // a frame.
  setup_fixture(false);
  const Clip c = decode_clip(data_dir() + "/video/grid/swwp2s.mpg");
  fail_unless(c.frames.size() >= 75, "decoded only %zu frames", c.frames.size());
  auto detect = [&](int shift) {
    GstElement* e = gst_element_factory_make("tavcesyncscore", nullptr);
    fail_unless(e != nullptr);
    g_object_set(e, "device", "cpu", "interval", 3.0, nullptr);  // model: the default
    Harnesses hs = start(e, c.width, c.height);
    push_clip(hs, c.frames, shift_audio(c.audio, shift), 75);
    for (GstBuffer* b : pull_until_eos(hs.video)) gst_buffer_unref(b);
    const std::vector<WindowMsg> msgs = window_messages(hs.bus);
    stop(hs);
    fail_unless_equals_int(static_cast<int>(msgs.size()), 1);
    fail_unless(msgs[0].scored, "not scored: %s", msgs[0].reason.c_str());
    return msgs[0];
  };
  const WindowMsg in_sync = detect(0), late = detect(7), early = detect(-7);
  fail_unless(std::abs(in_sync.offset) <= 1, "in sync: offset %d", in_sync.offset);
  fail_unless(std::abs(late.offset + 7) <= 1, "audio 7 frames late: offset %d", late.offset);
  fail_unless(std::abs(early.offset - 7) <= 1, "audio 7 frames early: offset %d", early.offset);
  // The in-sync clip has the lowest distance (the shifted ones meet the zero padding).
  fail_unless(in_sync.lse_d < late.lse_d && in_sync.lse_d < early.lse_d, "LSE-D %f vs %f / %f", in_sync.lse_d,
              late.lse_d, early.lse_d);
}
GST_END_TEST;

static Suite* syncscore_suite() {
  Suite* s = suite_create("tavcesyncscore");
  TCase* tc = tcase_create("general");
  tcase_set_timeout(tc, 600);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_caps);
  tcase_add_test(tc, test_audio_format_refused);
  tcase_add_test(tc, test_video_framerate_refused);
  tcase_add_test(tc, test_latency);
  tcase_add_test(tc, test_missing_model);
  tcase_add_test(tc, test_no_face);
  tcase_add_test(tc, test_short_input_at_eos);
  tcase_add_test(tc, test_drop_below);
  tcase_add_test(tc, test_f32_audio);
  tcase_add_test(tc, test_windows_and_determinism);
  tcase_add_test(tc, test_real_clip);
  tcase_add_test(tc, test_offset_detection);
  return s;
}

GST_CHECK_MAIN(syncscore);
