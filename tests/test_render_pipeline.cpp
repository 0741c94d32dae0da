// Pipeline tests of the render path with real decoders, encoders and muxers:
//  - pipelines/render.sh (the user's command) on a 48 kHz stereo clip cut from
//    ../shared/data gives an MP4 whose video has floor(duration * 25) frames
//    (+-1) and whose audio and video durations agree (checked with
//    GstDiscoverer, i.e. a real demuxer and the decoders' own view);
//  - the coefficient replay recipe of docs/caps.md (filesrc + capsfilter)
//    drives tavcerenderer to the reference's frames (../shared/golden/animation);
//  - pipelines/demo.sh (the main job, default lite bundle): frames = audio x 25
//    +-1, and the mouth on the decoded frames follows the speech's loudness;
//    with silence the mouth keeps the portrait's shape and the eyes blink;
//  - a lite stream offered to a SadTalker bundle is refused, naming both spaces.
// The models are bundles made of the golden test weights (random networks
// with the reference architectures).

// C++ headers first: Check's `fail` macro breaks std::basic_ios::fail().
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <unistd.h>

#include "support/golden_bundle.h"
#include "tavce/io/safetensors.h"
#include "tavce/face/landmarks.h"
#include "tavce/metrics/audio_energy.h"
#include "tavce/metrics/correlation.h"
#include "tavce/metrics/mouth_landmarks.h"
#include "tavce/models/bundle.h"

#include <gst/app/gstappsink.h>
#include <gst/check/gstcheck.h>
#include <gst/pbutils/pbutils.h>
#include <gst/video/video.h>

namespace fs = std::filesystem;

namespace {

constexpr int kSize = 128;

std::string env_dir(const char* name) {
  const char* d = g_getenv(name);
  fail_unless(d != nullptr && *d, "%s is not set (meson test sets it)", name);
  return d;
}

std::vector<float> floats(const tavce::io::TensorView& v) {
  std::vector<float> out(static_cast<size_t>(v.numel()));
  std::memcpy(out.data(), v.data, out.size() * sizeof(float));
  return out;
}

struct Inputs {
  std::string tmp, portrait, coeffs, driving;
  std::vector<uint8_t> expected;  // golden default.frames as rint(x*255), (11,128,128,3)
};

// The golden animation inputs as files: portrait PNG, its coefficients and
// the driving sequence as raw float32 (the formats the elements read).
Inputs golden_inputs() {
  Inputs in;
  in.tmp = (fs::temp_directory_path() / ("tavce-render-pipeline-" + std::to_string(getpid()))).string();
  fs::create_directories(in.tmp);
  const auto io = tavce::io::SafeTensors::open(tavce::testing::golden_dir() + "/animation/io.safetensors");
  const std::vector<float> pic = floats(io.at("source_pic_u8"));
  cv::Mat rgb(kSize, kSize, CV_8UC3), bgr;
  for (size_t i = 0; i < pic.size(); ++i) rgb.data[i] = static_cast<uint8_t>(pic[i]);
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  in.portrait = in.tmp + "/source.png";
  cv::imwrite(in.portrait, bgr);
  auto write_f32 = [](const std::string& path, const std::vector<float>& v) {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  };
  in.coeffs = in.tmp + "/source.f32";
  write_f32(in.coeffs, floats(io.at("source_coeff73")));
  in.driving = in.tmp + "/driving.coeffs";
  write_f32(in.driving, floats(io.at("driving_coeff70")));
  const std::vector<float> frames = floats(io.at("default.frames"));
  const int n = static_cast<int>(frames.size() / (3 * kSize * kSize));
  in.expected.resize(frames.size());
  for (int t = 0; t < n; ++t)
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < kSize * kSize; ++p)
        in.expected[(static_cast<size_t>(t) * kSize * kSize + p) * 3 + c] = static_cast<uint8_t>(
            std::nearbyint(frames[(static_cast<size_t>(t) * 3 + c) * kSize * kSize + p] * 255.0f));
  return in;
}

// One bundle with the audio networks and the renderer: what render.sh's two
// elements both load.
std::string combined_bundle() {
  const std::string a = tavce::testing::make_golden_audio2coeff_bundle();
  const std::string r = tavce::testing::make_golden_renderer_bundle();
  tavce::models::Bundle ab = tavce::models::read_bundle(a);
  const tavce::models::Bundle rb = tavce::models::read_bundle(r);
  for (const auto& [file, entry] : rb.files) {
    fs::copy_file(fs::path(r) / file, fs::path(a) / file, fs::copy_options::overwrite_existing);
    ab.files[file] = entry;
  }
  for (auto it = rb.architecture.begin(); it != rb.architecture.end(); ++it) ab.architecture[it.key()] = it.value();
  ab.name = "golden-combined";
  tavce::models::write_bundle(a, ab);
  tavce::testing::remove_bundle_dir(r);
  return a;
}

// The first `seconds` of a PCM WAV, as a new WAV (same format).
void cut_wav(const std::string& from, const std::string& to, double seconds) {
  std::ifstream f(from, std::ios::binary);
  std::vector<uint8_t> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  fail_unless(b.size() > 44 && std::memcmp(b.data(), "RIFF", 4) == 0, "%s is not a WAV file", from.c_str());
  std::vector<uint8_t> fmt;
  size_t pos = 12, block = 0, rate = 0;
  std::vector<uint8_t> data;
  while (pos + 8 <= b.size()) {
    const uint32_t size = GST_READ_UINT32_LE(&b[pos + 4]);
    if (std::memcmp(&b[pos], "fmt ", 4) == 0) {
      fmt.assign(b.begin() + pos, b.begin() + pos + 8 + size);
      rate = GST_READ_UINT32_LE(&b[pos + 12]);
      block = GST_READ_UINT16_LE(&b[pos + 20]);
    } else if (std::memcmp(&b[pos], "data", 4) == 0) {
      const size_t want = static_cast<size_t>(seconds * rate) * block;
      data.assign(b.begin() + pos + 8, b.begin() + pos + 8 + std::min<size_t>(want, size));
      break;
    }
    pos += 8 + size + (size & 1);
  }
  fail_unless(!fmt.empty() && !data.empty(), "no fmt/data chunk in %s", from.c_str());
  std::vector<uint8_t> out(12);
  std::memcpy(out.data(), "RIFF", 4);
  std::memcpy(&out[8], "WAVE", 4);
  out.insert(out.end(), fmt.begin(), fmt.end());
  const uint8_t hdr[8] = {'d', 'a', 't', 'a', 0, 0, 0, 0};
  out.insert(out.end(), hdr, hdr + 8);
  GST_WRITE_UINT32_LE(&out[out.size() - 4], static_cast<uint32_t>(data.size()));
  out.insert(out.end(), data.begin(), data.end());
  GST_WRITE_UINT32_LE(&out[4], static_cast<uint32_t>(out.size() - 8));
  std::ofstream(to, std::ios::binary).write(reinterpret_cast<const char*>(out.data()), out.size());
}


// An MP4 read back through a real demuxer and decoders: RGB frames, the
// audio as 16 kHz mono float, and each stream's end time.
struct DecodedMp4 {
  std::vector<cv::Mat> frames;  // RGB
  std::vector<float> audio;     // 16 kHz mono
  GstClockTime video_end = 0, audio_end = 0;
};

DecodedMp4 decode_mp4(const std::string& mp4) {
  const std::string desc = "filesrc location=" + mp4 + " ! qtdemux name=d d.video_0 ! queue ! h264parse ! "
                           "avdec_h264 ! videoconvert ! video/x-raw,format=RGB ! appsink name=v sync=false "
                           "d.audio_0 ! queue ! aacparse ! avdec_aac ! audioconvert ! audioresample ! "
                           "audio/x-raw,format=F32LE,channels=1,rate=16000 ! appsink name=a sync=false";
  GError* error = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &error);
  fail_unless(p != nullptr, "%s", error ? error->message : "");
  GstAppSink* vs = GST_APP_SINK(gst_bin_get_by_name(GST_BIN(p), "v"));
  GstAppSink* as = GST_APP_SINK(gst_bin_get_by_name(GST_BIN(p), "a"));
  gst_element_set_state(p, GST_STATE_PLAYING);
  DecodedMp4 out;
  bool v_eos = false, a_eos = false;
  while (!v_eos || !a_eos) {
    if (!v_eos) {
      GstSample* s = gst_app_sink_try_pull_sample(vs, GST_SECOND / 10);
      if (s) {
        GstBuffer* b = gst_sample_get_buffer(s);
        GstVideoInfo info;
        fail_unless(gst_video_info_from_caps(&info, gst_sample_get_caps(s)));
        GstMapInfo map;
        gst_buffer_map(b, &map, GST_MAP_READ);
        cv::Mat rgb(GST_VIDEO_INFO_HEIGHT(&info), GST_VIDEO_INFO_WIDTH(&info), CV_8UC3, map.data,
                    GST_VIDEO_INFO_PLANE_STRIDE(&info, 0));
        out.frames.push_back(rgb.clone());
        gst_buffer_unmap(b, &map);
        out.video_end = std::max(out.video_end, GST_BUFFER_PTS(b) + GST_BUFFER_DURATION(b));
        gst_sample_unref(s);
      } else {
        v_eos = gst_app_sink_is_eos(vs);
      }
    }
    if (!a_eos) {
      GstSample* s = gst_app_sink_try_pull_sample(as, GST_SECOND / 10);
      if (s) {
        GstBuffer* b = gst_sample_get_buffer(s);
        GstMapInfo map;
        gst_buffer_map(b, &map, GST_MAP_READ);
        const float* f = reinterpret_cast<const float*>(map.data);
        out.audio.insert(out.audio.end(), f, f + map.size / sizeof(float));
        gst_buffer_unmap(b, &map);
        out.audio_end = std::max(out.audio_end, GST_BUFFER_PTS(b) + GST_BUFFER_DURATION(b));
        gst_sample_unref(s);
      } else {
        a_eos = gst_app_sink_is_eos(as);
      }
    }
  }
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(vs);
  gst_object_unref(as);
  gst_object_unref(p);
  return out;
}

// Runs a script with arguments; fails the test with its output when it fails.
void run_script(const std::vector<std::string>& args) {
  std::vector<const gchar*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  gchar* out = nullptr;
  gchar* err = nullptr;
  gint status = 0;
  GError* error = nullptr;
  fail_unless(g_spawn_sync(nullptr, const_cast<gchar**>(argv.data()), nullptr, G_SPAWN_DEFAULT, nullptr, nullptr, &out,
                           &err, &status, &error),
              "could not run %s: %s", args[0].c_str(), error ? error->message : "");
  fail_unless(g_spawn_check_wait_status(status, nullptr), "%s failed:\n%s\n%s", args[0].c_str(), out, err);
  g_free(out);
  g_free(err);
}

// Mouth opening (inner-lip gap / inter-ocular distance, metrics/) and eye
// opening (lid gap / eye width) of each frame, from dlib landmarks detected
// on the decoded frames; NaN where no face is found.
struct FaceTrack {
  std::vector<double> mouth, eyes;
};

FaceTrack track_faces(const std::vector<cv::Mat>& frames) {
  FaceTrack t;
  for (const cv::Mat& rgb : frames) {
    const auto lm = tavce::face::detect_landmarks(rgb);
    if (!lm) {
      t.mouth.push_back(NAN), t.eyes.push_back(NAN);
      continue;
    }
    const auto& p = *lm;
    t.mouth.push_back(tavce::metrics::mouth_opening(p));
    auto eye = [&](int a) {  // points a..a+5 of one eye, corners a and a+3
      const double lids = cv::norm(p[a + 1] - p[a + 5]) + cv::norm(p[a + 2] - p[a + 4]);
      return lids / (2 * cv::norm(p[a] - p[a + 3]));
    };
    t.eyes.push_back(0.5 * (eye(36) + eye(42)));
  }
  return t;
}

}  // namespace

GST_START_TEST(test_render_script_mp4) {
  const Inputs in = golden_inputs();
  const std::string bundle = combined_bundle();
  const std::string wav = in.tmp + "/speech.wav";
  // 48 kHz stereo 24-bit: the networks get it through decodebin, audioconvert
  // and audioresample; the muxed track is the original.
  cut_wav(env_dir("TAVCE_DATA_DIR") + "/audio/japanese_48k.wav", wav, 2.0);
  const std::string mp4 = in.tmp + "/out.mp4";
  const std::string script = env_dir("TAVCE_SOURCE_DIR") + "/pipelines/render.sh";
  run_script({script, in.portrait, wav, mp4, "--model", bundle, "--preprocess", "resize", "--source-coeffs", in.coeffs,
              "--seed", "3"});

  GstDiscoverer* disc = gst_discoverer_new(60 * GST_SECOND, nullptr);
  gchar* uri = gst_filename_to_uri(mp4.c_str(), nullptr);
  GError* error = nullptr;
  GstDiscovererInfo* info = gst_discoverer_discover_uri(disc, uri, &error);
  g_free(uri);
  fail_unless(info != nullptr, "cannot read back %s: %s", mp4.c_str(), error ? error->message : "");
  GList* videos = gst_discoverer_info_get_video_streams(info);
  GList* audios = gst_discoverer_info_get_audio_streams(info);
  fail_unless_equals_int(g_list_length(videos), 1);
  fail_unless_equals_int(g_list_length(audios), 1);
  auto* v = GST_DISCOVERER_VIDEO_INFO(videos->data);
  fail_unless_equals_int(gst_discoverer_video_info_get_width(v), kSize);
  fail_unless_equals_int(gst_discoverer_video_info_get_framerate_num(v), 25);
  gst_discoverer_stream_info_list_free(videos);
  gst_discoverer_stream_info_list_free(audios);
  gst_discoverer_info_unref(info);
  g_object_unref(disc);

  // Per-stream durations from a real demuxer.
  const DecodedMp4 d = decode_mp4(mp4);
  const int frames = static_cast<int>(d.frames.size());
  const GstClockTime video_end = d.video_end, audio_end = d.audio_end;
  // 2.0 s of audio: floor(2.0 * 25) = 50 frames, +-1 (the mel count can lose one).
  fail_unless(std::abs(frames - 50) <= 1, "%d video frames for 2.0 s of audio", frames);
  const double dv = double(video_end) / GST_SECOND, da = double(audio_end) / GST_SECOND;
  fail_unless(std::fabs(dv - da) <= 0.1, "video lasts %.3f s, audio %.3f s", dv, da);

  tavce::testing::remove_bundle_dir(bundle);
  fs::remove_all(in.tmp);
}
GST_END_TEST;

GST_START_TEST(test_replay_recipe_reference_frames) {
  // docs/caps.md: a coefficient dump replayed with filesrc + capsfilter.
  const Inputs in = golden_inputs();
  const std::string bundle = tavce::testing::make_golden_renderer_bundle();
  const std::string desc =
      "filesrc location=" + in.driving + " blocksize=333 "
      "! application/x-tavce-coeffs,framerate=25/1,dims=70,space=bfm-exp64-pose6,format=F32LE "
      "! tavcerenderer preprocess=resize model=" + bundle + " source-image=" + in.portrait +
      " source-coeffs=" + in.coeffs + " ! appsink name=out sync=false";
  GError* error = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &error);
  fail_unless(p != nullptr, "%s", error ? error->message : "");
  GstAppSink* sink = GST_APP_SINK(gst_bin_get_by_name(GST_BIN(p), "out"));
  fail_unless(gst_element_set_state(p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  int t = 0;
  while (GstSample* s = gst_app_sink_pull_sample(sink)) {
    GstBuffer* b = gst_sample_get_buffer(s);
    fail_unless_equals_uint64(GST_BUFFER_PTS(b), t * (GST_SECOND / 25));
    GstMapInfo map;
    gst_buffer_map(b, &map, GST_MAP_READ);
    fail_unless_equals_int(map.size, kSize * kSize * 3);
    int worst = 0;
    for (size_t i = 0; i < map.size; ++i)
      worst = std::max(worst, std::abs(int(map.data[i]) - int(in.expected[t * map.size + i])));
    gst_buffer_unmap(b, &map);
    fail_unless(worst <= 1, "frame %d differs from the reference by %d levels", t, worst);
    gst_sample_unref(s);
    t++;
  }
  fail_unless_equals_int(t, 11);
  GstBus* bus = gst_element_get_bus(p);
  GstMessage* msg = gst_bus_timed_pop_filtered(bus, 10 * GST_SECOND, GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  fail_unless(msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS, "the pipeline did not end with EOS");
  gst_message_unref(msg);
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(p);
  tavce::testing::remove_bundle_dir(bundle);
  fs::remove_all(in.tmp);
}
GST_END_TEST;

// The main job (pipelines/demo.sh with the default bundle, the lite model):
// the MP4 holds audio x 25 (+-1) frames, and the mouth seen on the decoded
// frames (landmarks detected afresh) opens and closes with the speech's
// loudness.
GST_START_TEST(test_demo_mp4_talks) {
  const std::string tmp = (fs::temp_directory_path() / ("tavce-demo-" + std::to_string(getpid()))).string();
  run_script({env_dir("TAVCE_SOURCE_DIR") + "/pipelines/demo.sh", "", tmp});
  const DecodedMp4 d = decode_mp4(tmp + "/demo.mp4");
  const double seconds = double(d.audio.size()) / 16000.0;
  const int expected = static_cast<int>(seconds * 25);
  fail_unless(std::abs(static_cast<int>(d.frames.size()) - expected) <= 1, "%zu frames for %.3f s of audio",
              d.frames.size(), seconds);
  const FaceTrack t = track_faces(d.frames);
  const std::vector<double> energy = tavce::metrics::frame_energy_db(d.audio.data(), d.audio.size(), 640, d.frames.size());
  int faces = 0;
  for (double m : t.mouth) faces += !std::isnan(m);
  fail_unless(faces >= static_cast<int>(0.95 * d.frames.size()), "a face in only %d of %zu frames", faces,
              d.frames.size());
  const auto r = tavce::metrics::lagged_correlation(t.mouth, energy, 4);
  // Measured 0.37 (lag -1: the mouth opens a frame before the sound) with
  // the shipped bundle; a still or randomly moving mouth scores near 0.
  fail_unless(r.best > 0.25, "mouth opening vs loudness: r %.3f at lag %d (lag 0: %.3f)", r.best, r.best_lag,
              r.at_zero);
  fs::remove_all(tmp);
}
GST_END_TEST;

// Silence: the mouth stays as the portrait has it, the eyes still blink.
GST_START_TEST(test_silence_keeps_mouth_closed) {
  const std::string tmp = (fs::temp_directory_path() / ("tavce-silence-" + std::to_string(getpid()))).string();
  fs::create_directories(tmp);
  // 8 s of digital silence, 16 kHz mono 16-bit.
  const uint32_t n = 8 * 16000;
  std::vector<uint8_t> wav(44 + 2 * n, 0);
  std::memcpy(wav.data(), "RIFF", 4);
  GST_WRITE_UINT32_LE(&wav[4], 36 + 2 * n);
  std::memcpy(&wav[8], "WAVEfmt ", 8);
  GST_WRITE_UINT32_LE(&wav[16], 16);
  GST_WRITE_UINT16_LE(&wav[20], 1);
  GST_WRITE_UINT16_LE(&wav[22], 1);
  GST_WRITE_UINT32_LE(&wav[24], 16000);
  GST_WRITE_UINT32_LE(&wav[28], 32000);
  GST_WRITE_UINT16_LE(&wav[32], 2);
  GST_WRITE_UINT16_LE(&wav[34], 16);
  std::memcpy(&wav[36], "data", 4);
  GST_WRITE_UINT32_LE(&wav[40], 2 * n);
  std::ofstream(tmp + "/silence.wav", std::ios::binary).write(reinterpret_cast<const char*>(wav.data()), wav.size());
  run_script({env_dir("TAVCE_SOURCE_DIR") + "/pipelines/demo.sh", tmp + "/silence.wav", tmp});
  const DecodedMp4 d = decode_mp4(tmp + "/demo.mp4");
  fail_unless(std::abs(static_cast<int>(d.frames.size()) - 200) <= 1, "%zu frames for 8 s", d.frames.size());
  const FaceTrack t = track_faces(d.frames);
  const FaceTrack first = track_faces({d.frames.front()});
  double widest = 0, eyes_open = 0, eyes_min = 1e9;
  for (size_t i = 0; i < t.mouth.size(); ++i) {
    if (std::isnan(t.mouth[i])) continue;
    widest = std::max(widest, std::abs(t.mouth[i] - first.mouth[0]));
    eyes_open = std::max(eyes_open, t.eyes[i]);
    eyes_min = std::min(eyes_min, t.eyes[i]);
  }
  fail_unless(widest < 0.03, "in silence the mouth moved by %.3f inter-ocular distances", widest);
  // dlib sees a blink on a 256 px face as about a third less lid gap (measured 0.23 vs 0.36).
  fail_unless(eyes_min < 0.75 * eyes_open, "no blink in 8 s of silence (eye opening %.3f..%.3f)", eyes_min, eyes_open);
  fs::remove_all(tmp);
}
GST_END_TEST;

// A lite coefficient stream offered to a SadTalker renderer bundle fails
// negotiation with an error that names both coefficient spaces.
GST_START_TEST(test_family_mismatch_refused) {
  const Inputs in = golden_inputs();
  const std::string bundle = tavce::testing::make_golden_renderer_bundle();
  const std::string desc =
      "audiotestsrc num-buffers=20 samplesperbuffer=1600 ! audio/x-raw,rate=16000,channels=1 ! tavcemelspec "
      "! tavceaudio2coeff model=tavce-lite ! tavcerenderer preprocess=resize model=" + bundle +
      " source-image=" + in.portrait + " source-coeffs=" + in.coeffs + " ! fakesink";
  GError* error = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &error);
  fail_unless(p != nullptr, "%s", error ? error->message : "");
  gst_element_set_state(p, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(p);
  GstMessage* msg = gst_bus_timed_pop_filtered(bus, 60 * GST_SECOND, GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  fail_unless(msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR, "a lite stream into a SadTalker bundle did not fail");
  GError* err = nullptr;
  gchar* debug = nullptr;
  gst_message_parse_error(msg, &err, &debug);
  const std::string text = std::string(err->message) + "\n" + (debug ? debug : "");
  fail_unless(text.find("lite-v1") != std::string::npos && text.find("bfm-exp64-pose6") != std::string::npos,
              "the error does not name both spaces: %s", text.c_str());
  g_error_free(err);
  g_free(debug);
  gst_message_unref(msg);
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  tavce::testing::remove_bundle_dir(bundle);
  fs::remove_all(in.tmp);
}
GST_END_TEST;

static Suite* render_pipeline_suite() {
  Suite* s = suite_create("render-pipeline");
  TCase* tc = tcase_create("general");
  tcase_set_timeout(tc, 900);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_replay_recipe_reference_frames);
  tcase_add_test(tc, test_render_script_mp4);
  tcase_add_test(tc, test_demo_mp4_talks);
  tcase_add_test(tc, test_family_mismatch_refused);
  tcase_add_test(tc, test_silence_keeps_mouth_closed);
  return s;
}

GST_CHECK_MAIN(render_pipeline);
