// Broadcast injection (pipelines/inject.sh) and its matte (tavcefacealpha):
//  - inject.sh renders a talking head from a portrait and a 1 s synthetic
//    speech and lays it over an colour-bar test card into raw RGBA frames. The
//    truth is made independently of the matte: the background by its own
//    videotestsrc, the head by its own render pipeline (same portrait, speech
//    and model), and the face's place by dlib landmarks on those head frames.
//    Every pixel outside the head tile and in the tile's corners equals the
//    background; every pixel of the face's core (between the outer eye
//    corners, from the eyes down to the upper lip) equals the head;
//  - the matte on its own: alpha 255 inside the feathered ellipse, 0 outside
//    and at every pixel of a frame without a face (with a warning when no
//    face meta comes at all);
//  - bad options of the script are refused with a message, before any
//    pipeline runs.

// C++ headers first: Check's `fail` macro breaks std::basic_ios::fail().
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "tavce/face/face_alpha.h"

#include <gst/app/gstappsink.h>
#include <gst/check/gstcheck.h>
#include <gst/video/video.h>

namespace fs = std::filesystem;

namespace {

constexpr int kOutW = 400, kOutH = 300, kHead = 256, kMargin = 10;
constexpr int kTileX = kOutW - kMargin - kHead, kTileY = kOutH - kMargin - kHead;  // corner br

std::string env_dir(const char* name) {
  const char* d = g_getenv(name);
  fail_unless(d != nullptr && *d, "%s is not set (meson test sets it)", name);
  return d;
}

struct Frame {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> px;  // tightly packed
  const uint8_t* at(int x, int y) const { return &px[(static_cast<size_t>(y) * width + x) * channels]; }
};

// Every frame of a pipeline's appsink named "out" (packed RGB or RGBA),
// and the face landmarks of each frame when a tavcefacetrack precedes it.
struct Pulled {
  std::vector<Frame> frames;
  std::vector<std::vector<float>> points;  // 136 values, empty where no face
};

Pulled pull_all(const std::string& description) {
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(description.c_str(), &err);
  fail_unless(p != nullptr && err == nullptr, "bad pipeline %s: %s", description.c_str(), err ? err->message : "");
  GstElement* sink = gst_bin_get_by_name(GST_BIN(p), "out");
  fail_unless(gst_element_set_state(p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  const GType face_api = g_type_from_name("GstTavceFaceMetaAPI");
  Pulled out;
  while (GstSample* s = gst_app_sink_pull_sample(GST_APP_SINK(sink))) {
    GstVideoInfo info;
    fail_unless(gst_video_info_from_caps(&info, gst_sample_get_caps(s)));
    GstVideoFrame vf;
    fail_unless(gst_video_frame_map(&vf, &info, gst_sample_get_buffer(s), GST_MAP_READ));
    Frame f;
    f.width = GST_VIDEO_INFO_WIDTH(&info), f.height = GST_VIDEO_INFO_HEIGHT(&info);
    f.channels = GST_VIDEO_INFO_COMP_PSTRIDE(&info, 0);
    f.px.resize(static_cast<size_t>(f.width) * f.height * f.channels);
    for (int y = 0; y < f.height; ++y)
      std::copy_n(static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&vf, 0)) + y * GST_VIDEO_FRAME_PLANE_STRIDE(&vf, 0),
                  static_cast<size_t>(f.width) * f.channels, &f.px[static_cast<size_t>(y) * f.width * f.channels]);
    gst_video_frame_unmap(&vf);
    std::vector<float> pts;
    if (face_api) {
      // GstTavceFaceMeta: GstMeta, gboolean found, gfloat points[136] (gst/tavcefacemeta.h).
      struct FaceMeta { GstMeta meta; gboolean found; gfloat points[136]; };
      auto* m = reinterpret_cast<FaceMeta*>(gst_buffer_get_meta(gst_sample_get_buffer(s), face_api));
      if (m && m->found) pts.assign(m->points, m->points + 136);
    }
    out.frames.push_back(std::move(f));
    out.points.push_back(std::move(pts));
    gst_sample_unref(s);
  }
  GstBus* bus = gst_element_get_bus(p);
  GstMessage* msg = gst_bus_timed_pop_filtered(bus, 0, GST_MESSAGE_ERROR);
  fail_unless(msg == nullptr, "pipeline error in %s", description.c_str());
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(p);
  return out;
}

struct Spawned {
  bool ok = false;
  std::string out, err;
};

Spawned spawn(const std::vector<std::string>& args) {
  std::vector<const gchar*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  gchar *out = nullptr, *err = nullptr;
  gint status = 0;
  GError* error = nullptr;
  fail_unless(g_spawn_sync(nullptr, const_cast<gchar**>(argv.data()), nullptr, G_SPAWN_DEFAULT, nullptr, nullptr, &out,
                           &err, &status, &error),
              "could not run %s: %s", args[0].c_str(), error ? error->message : "");
  Spawned r{g_spawn_check_wait_status(status, nullptr) == TRUE, out ? out : "", err ? err : ""};
  g_free(out);
  g_free(err);
  return r;
}

// One second of 16 kHz speech-like sound (a tone whose loudness swings at
// 4 Hz, like syllables), so that the mouth moves.
void write_speech_wav(const std::string& path) {
  constexpr int rate = 16000, n = rate;
  std::vector<int16_t> s(n);
  for (int i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / rate;
    s[i] = static_cast<int16_t>(12000 * (0.5 - 0.5 * std::cos(2 * M_PI * 4 * t)) * std::sin(2 * M_PI * 220 * t));
  }
  std::ofstream f(path, std::ios::binary);
  auto u32 = [&](uint32_t v) { f.write(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [&](uint16_t v) { f.write(reinterpret_cast<const char*>(&v), 2); };
  f.write("RIFF", 4), u32(36 + n * 2), f.write("WAVEfmt ", 8), u32(16), u16(1), u16(1), u32(rate), u32(rate * 2),
      u16(2), u16(16), f.write("data", 4), u32(n * 2);
  f.write(reinterpret_cast<const char*>(s.data()), n * 2);
}

std::string temp_dir(const char* tag) {
  const fs::path d = fs::temp_directory_path() / (std::string("tavce-inject-") + tag + "-" + std::to_string(getpid()));
  fs::create_directories(d);
  return d.string();
}

bool same_rgb(const uint8_t* a, const uint8_t* b) { return a[0] == b[0] && a[1] == b[1] && a[2] == b[2]; }

}  // namespace

GST_START_TEST(test_inject_composites_face_over_background) {
  const std::string tmp = temp_dir("script"), speech = tmp + "/speech.wav", out = tmp + "/out.rgba";
  const std::string portrait = env_dir("TAVCE_DATA_DIR") + "/image/happy.png";
  write_speech_wav(speech);
  const Spawned run = spawn({env_dir("TAVCE_SOURCE_DIR") + "/pipelines/inject.sh", out, "--portrait", portrait,
                             "--speech", speech, "--size", std::to_string(kOutW) + "x" + std::to_string(kOutH),
                             "--head-size", std::to_string(kHead), "--corner", "br", "--margin",
                             std::to_string(kMargin), "--background", "test:colors"});
  fail_unless(run.ok, "inject.sh failed:\n%s\n%s", run.out.c_str(), run.err.c_str());

  // The truth, made without the matte.
  const Pulled bg = pull_all("videotestsrc pattern=colors num-buffers=1 ! video/x-raw,format=RGBA,width=" +
                             std::to_string(kOutW) + ",height=" + std::to_string(kOutH) + " ! appsink name=out sync=false");
  const Pulled head = pull_all("filesrc location=" + speech + " ! decodebin ! audioconvert ! audioresample ! "
                               "audio/x-raw,rate=16000,channels=1 ! tavcemelspec ! tavceaudio2coeff source-image=" +
                               portrait + " ! tavcerenderer source-image=" + portrait +
                               " ! tavcefacetrack ! appsink name=out sync=false");
  fail_unless_equals_int(static_cast<int>(bg.frames.size()), 1);
  fail_unless(head.frames.size() >= 24 && head.frames.size() <= 26, "%zu head frames for 1 s", head.frames.size());
  fail_unless_equals_int(head.frames[0].width, kHead);  // the lite bundle's size: the tile is not rescaled

  std::ifstream f(out, std::ios::binary | std::ios::ate);
  const size_t frame_bytes = static_cast<size_t>(kOutW) * kOutH * 4, bytes = static_cast<size_t>(f.tellg());
  fail_unless(bytes % frame_bytes == 0, "%zu bytes is not a whole number of %dx%d RGBA frames", bytes, kOutW, kOutH);
  fail_unless_equals_int(static_cast<int>(bytes / frame_bytes), static_cast<int>(head.frames.size()));
  f.seekg(0);

  size_t face_checked = 0, face_differs = 0;
  for (size_t i = 0; i < head.frames.size(); ++i) {
    Frame o{kOutW, kOutH, 4, std::vector<uint8_t>(frame_bytes)};
    f.read(reinterpret_cast<char*>(o.px.data()), static_cast<std::streamsize>(frame_bytes));
    const Frame& b = bg.frames[0];
    const Frame& h = head.frames[i];
    // Far from the face: outside the tile, and the tile's 24-pixel corners.
    for (int y = 0; y < kOutH; ++y)
      for (int x = 0; x < kOutW; ++x) {
        const int tx = x - kTileX, ty = y - kTileY;
        const bool in_tile = tx >= 0 && ty >= 0 && tx < kHead && ty < kHead;
        const bool tile_corner = in_tile && (tx < 24 || tx >= kHead - 24) && (ty < 24 || ty >= kHead - 24);
        if (in_tile && !tile_corner) continue;
        fail_unless(same_rgb(o.at(x, y), b.at(x, y)), "frame %zu (%d,%d): %d,%d,%d is not the background %d,%d,%d", i,
                    x, y, o.at(x, y)[0], o.at(x, y)[1], o.at(x, y)[2], b.at(x, y)[0], b.at(x, y)[1], b.at(x, y)[2]);
      }
    // On the face: the core box from the landmarks of the head frame itself.
    const std::vector<float>& p = head.points[i];
    fail_unless(!p.empty(), "no face found on head frame %zu", i);
    auto px = [&](int k) { return p[2 * k]; };
    auto py = [&](int k) { return p[2 * k + 1]; };
    const int x0 = static_cast<int>(std::ceil(px(36))), x1 = static_cast<int>(std::floor(px(45)));
    const int y0 = static_cast<int>(std::ceil((py(37) + py(44)) / 2)), y1 = static_cast<int>(std::floor(py(51)));
    fail_unless(x1 - x0 > 20 && y1 - y0 > 20, "implausible face core %d..%d x %d..%d", x0, x1, y0, y1);
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) {
        const uint8_t* c = o.at(kTileX + x, kTileY + y);
        fail_unless(same_rgb(c, h.at(x, y)), "frame %zu face pixel (%d,%d): %d,%d,%d is not the head's %d,%d,%d", i, x,
                    y, c[0], c[1], c[2], h.at(x, y)[0], h.at(x, y)[1], h.at(x, y)[2]);
        ++face_checked;
        face_differs += !same_rgb(h.at(x, y), b.at(kTileX + x, kTileY + y));
      }
  }
  // The check means something only where head and background differ.
  fail_unless(face_differs > face_checked * 9 / 10, "head equals background on %zu of %zu face pixels",
              face_checked - face_differs, face_checked);
  fs::remove_all(tmp);
}
GST_END_TEST;

// The matte alone on a known face: points on a circle of radius 40 around
// (80, 60) in a 160x120 frame.
GST_START_TEST(test_matte_alpha_follows_face_meta) {
  const Pulled with_face = pull_all(
      "videotestsrc pattern=colors num-buffers=3 ! video/x-raw,format=RGB,width=160,height=120 ! tavcefacetrack ! "
      "tavcefacealpha ! appsink name=out sync=false");
  // The test card has no face: every frame is fully transparent, colours kept.
  const Pulled card = pull_all("videotestsrc pattern=colors num-buffers=1 ! video/x-raw,format=RGB,width=160,height=120 "
                               "! appsink name=out sync=false");
  fail_unless_equals_int(static_cast<int>(with_face.frames.size()), 3);
  for (const Frame& fr : with_face.frames) {
    fail_unless_equals_int(fr.channels, 4);
    for (int y = 0; y < fr.height; ++y)
      for (int x = 0; x < fr.width; ++x) {
        fail_unless_equals_int(fr.at(x, y)[3], 0);
        fail_unless(same_rgb(fr.at(x, y), card.frames[0].at(x, y)));
      }
  }
  // The ellipse math on its own.
  std::vector<cv::Point2d> circle;
  for (int k = 0; k < 68; ++k)
    circle.emplace_back(80 + 40 * std::cos(2 * M_PI * k / 68), 60 + 40 * std::sin(2 * M_PI * k / 68));
  tavce::face::FaceAlphaParams params;
  params.scale = 1.0, params.forehead = 0.0, params.feather = 10.0;
  const tavce::face::FaceEllipse e = tavce::face::face_ellipse(circle, params);
  std::vector<uint8_t> rgba(160 * 120 * 4, 7);
  tavce::face::write_face_alpha(e, params.feather, rgba.data(), 160, 120, 160 * 4, 4, 3);
  for (int y = 0; y < 120; ++y)
    for (int x = 0; x < 160; ++x) {
      const double r = std::hypot(x + 0.5 - 80, y + 0.5 - 60);
      const int a = rgba[(y * 160 + x) * 4 + 3];
      fail_unless_equals_int(rgba[(y * 160 + x) * 4], 7);  // colour untouched
      if (r <= 40 - 10 - 0.5) fail_unless(a == 255, "(%d,%d) r=%.1f alpha %d", x, y, r, a);
      if (r >= 40 - 0.01) fail_unless(a == 0, "(%d,%d) r=%.1f alpha %d", x, y, r, a);
      if (r > 30.5 && r < 39.5) fail_unless(std::abs(a - 255.0 * (40 - r) / 10) <= 1.5, "(%d,%d) ramp %d", x, y, a);
    }
  params.scale = 0;
  bool threw = false;
  try {
    tavce::face::face_ellipse(circle, params);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  fail_unless(threw, "scale 0 accepted");
}
GST_END_TEST;

// Without tavcefacetrack upstream the element warns once and stays transparent.
GST_START_TEST(test_matte_without_meta_warns) {
  GstElement* p = gst_parse_launch("videotestsrc num-buffers=2 ! video/x-raw,format=RGBA,width=32,height=32 ! "
                                   "tavcefacealpha name=m ! fakesink", nullptr);
  fail_unless(p != nullptr);
  GstBus* bus = gst_element_get_bus(p);
  gst_element_set_state(p, GST_STATE_PLAYING);
  int warnings = 0;
  bool eos = false;
  while (!eos) {
    GstMessage* m = gst_bus_timed_pop_filtered(bus, 10 * GST_SECOND,
        static_cast<GstMessageType>(GST_MESSAGE_WARNING | GST_MESSAGE_ERROR | GST_MESSAGE_EOS));
    fail_unless(m != nullptr, "timed out");
    fail_if(GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR, "error instead of a warning");
    warnings += GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING;
    eos = GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS;
    gst_message_unref(m);
  }
  fail_unless_equals_int(warnings, 1);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(p);
}
GST_END_TEST;

GST_START_TEST(test_inject_refuses_bad_options) {
  const std::string script = env_dir("TAVCE_SOURCE_DIR") + "/pipelines/inject.sh";
  const std::vector<std::vector<std::string>> bad = {
      {script, "x.avi"},
      {script, "x.rgba", "--size", "abc"},
      {script, "x.rgba", "--corner", "middle"},
      {script, "x.rgba", "--head-size", "5000"},
      {script, "x.rgba", "--head", "http://example.invalid/a"},
      {script, "x.rgba", "--portrait", "/nonexistent.png"},
      {script, "x.rgba", "--frames"},
  };
  for (const auto& args : bad) {
    const Spawned r = spawn(args);
    fail_if(r.ok, "accepted: %s", args.back().c_str());
    fail_unless(r.err.find("inject:") != std::string::npos, "no message for %s: %s", args.back().c_str(), r.err.c_str());
  }
}
GST_END_TEST;

static Suite* inject_pipeline_suite() {
  Suite* s = suite_create("inject-pipeline");
  TCase* tc = tcase_create("general");
  tcase_set_timeout(tc, 300);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_inject_composites_face_over_background);
  tcase_add_test(tc, test_matte_alpha_follows_face_meta);
  tcase_add_test(tc, test_matte_without_meta_warns);
  tcase_add_test(tc, test_inject_refuses_bad_options);
  return s;
}

GST_CHECK_MAIN(inject_pipeline);
