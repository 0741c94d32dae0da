// The dataset extraction pipeline (docs/dataset.md) end to end: the
// documented gst-launch chain (decodebin, tavcefacetrack, tavcesyncscore,
// tavcemelspec, tavcedatasetsink) on one real clip of ../shared/data, read
// back with tavce::lite::load_clip and checked against what a plain decode of
// the same file gives (frames at 25 fps, samples at 16 kHz), plus a face-less
// clip made here with videotestsrc, which must be skipped with its reason.
// Also the pure decisions of lite/clip_extraction.h (offset median, skips,
// mel alignment).

// C++ headers before Check's (its `fail` macro breaks std::basic_ios::fail).
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tavce/families/lite/clip_extraction.h"

#include <gst/check/gstcheck.h>

namespace fs = std::filesystem;
namespace lite = tavce::lite;

namespace {

std::string data_dir() {
  const char* d = std::getenv("TAVCE_DATA_DIR");
  return d ? d : "../shared/data";
}

std::string temp_dir() {
  gchar* d = g_dir_make_tmp("tavce-dataset-XXXXXX", nullptr);
  fail_unless(d != nullptr);
  std::string s = d;
  g_free(d);
  return s;
}

struct RunResult {
  bool eos = false;
  std::string error, warning;
  GstStructure* clip_message = nullptr;  // tavce-dataset-clip
};

// Runs a pipeline to EOS or error (at most `seconds`), collecting the sink's messages.
RunResult run(const std::string& description, int seconds = 300) {
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch(description.c_str(), &err);
  fail_unless(pipeline != nullptr && err == nullptr, "cannot parse: %s", err ? err->message : "?");
  GstBus* bus = gst_element_get_bus(pipeline);
  fail_unless(gst_element_set_state(pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  RunResult r;
  const gint64 deadline = g_get_monotonic_time() + static_cast<gint64>(seconds) * G_USEC_PER_SEC;
  while (!r.eos && r.error.empty()) {
    GstMessage* m = gst_bus_timed_pop(bus, 100 * GST_MSECOND);
    fail_unless(g_get_monotonic_time() < deadline, "the pipeline did not finish in %d s", seconds);
    if (!m) continue;
    switch (GST_MESSAGE_TYPE(m)) {
      case GST_MESSAGE_EOS: r.eos = true; break;
      case GST_MESSAGE_ERROR: {
        GError* e = nullptr;
        gst_message_parse_error(m, &e, nullptr);
        r.error = e->message;
        g_error_free(e);
        break;
      }
      case GST_MESSAGE_WARNING: {
        GError* e = nullptr;
        gst_message_parse_warning(m, &e, nullptr);
        r.warning = e->message;
        g_error_free(e);
        break;
      }
      case GST_MESSAGE_ELEMENT:
        if (gst_message_has_name(m, "tavce-dataset-clip")) r.clip_message = gst_structure_copy(gst_message_get_structure(m));
        break;
      default: break;
    }
    gst_message_unref(m);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(pipeline);
  return r;
}

// The decoded stream lengths, counted without any tavce element.
void count_decoded(const std::string& file, guint64* frames, guint64* samples) {
  const std::string desc = "filesrc location=\"" + file + "\" ! decodebin name=d "
      "d. ! video/x-raw ! queue ! videoconvert ! videorate ! video/x-raw,format=RGB,framerate=25/1 ! "
      "fakesink name=v signal-handoffs=true "
      "d. ! audio/x-raw ! queue ! audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=16000,channels=1 ! "
      "fakesink name=a signal-handoffs=true";
  GstElement* pipeline = gst_parse_launch(desc.c_str(), nullptr);
  fail_unless(pipeline != nullptr);
  *frames = *samples = 0;
  GstElement* v = gst_bin_get_by_name(GST_BIN(pipeline), "v");
  GstElement* a = gst_bin_get_by_name(GST_BIN(pipeline), "a");
  g_signal_connect(v, "handoff", G_CALLBACK(+[](GstElement*, GstBuffer*, GstPad*, gpointer n) {
    ++*static_cast<guint64*>(n);
  }), frames);
  g_signal_connect(a, "handoff", G_CALLBACK(+[](GstElement*, GstBuffer* b, GstPad*, gpointer n) {
    *static_cast<guint64*>(n) += gst_buffer_get_size(b) / 2;
  }), samples);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* m = gst_bus_timed_pop_filtered(bus, 120 * GST_SECOND,
                                             static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  fail_unless(m && GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS, "plain decode of %s failed", file.c_str());
  gst_message_unref(m);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(v);
  gst_object_unref(a);
  gst_object_unref(bus);
  gst_object_unref(pipeline);
}

// The documented pipeline, with the video source left to the caller.
std::string extraction(const std::string& video_src, const std::string& audio_src, const std::string& out,
                       const std::string& manifest) {
  return video_src + " ! videoconvert ! videorate ! video/x-raw,format=RGB,framerate=25/1 ! tavcefacetrack ! s.video " +
         audio_src + " ! audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=16000,channels=1 ! tee name=t "
         "t. ! queue ! s.audio t. ! queue ! tavcemelspec frames-per-buffer=16 ! w.mel "
         "tavcesyncscore name=s ! w.sink tavcedatasetsink name=w clip-name=test/clip location=\"" + out +
         "\" manifest-location=\"" + manifest + "\" source=test commit=test";
}

}  // namespace

GST_START_TEST(test_real_clip) {
  const std::string file = data_dir() + "/video/grid_s1/bbaf2n.mp4";
  fail_unless(fs::exists(file), "%s is missing", file.c_str());
  const std::string dir = temp_dir(), out = dir + "/test/clip.safetensors", manifest = dir + "/test/clip.json";
  const std::string src = "filesrc location=\"" + file + "\" ! decodebin name=d ";
  RunResult r = run(src + extraction("d. ! video/x-raw ! queue", "d. ! audio/x-raw ! queue", out, manifest));
  fail_unless(r.eos, "no EOS: %s", r.error.c_str());
  fail_unless(r.warning.empty(), "warning: %s", r.warning.c_str());
  fail_unless(r.clip_message != nullptr);
  gboolean written = FALSE;
  gst_structure_get_boolean(r.clip_message, "written", &written);
  fail_unless(written);
  gst_structure_free(r.clip_message);

  guint64 frames = 0, samples = 0;
  count_decoded(file, &frames, &samples);
  const lite::ClipData clip = lite::load_clip(out);
  ck_assert_int_eq(clip.frames(), static_cast<int64_t>(frames));
  ck_assert_int_eq(clip.width, 272);
  ck_assert_int_eq(clip.height, 272);
  // The mel covers the audio (1 + N / 200 frames at 80 fps), shifted to the
  // first video frame and cut at the video's end.
  const int64_t shift = std::stoll(clip.extra.at("mel_shift_frames"));
  const int64_t expect = std::min<int64_t>(1 + static_cast<int64_t>(samples) / 200 + shift,
                                           1 + static_cast<int64_t>(frames) * 80 / 25);
  ck_assert_int_eq(clip.mel_frames(), expect);
  for (float v : clip.mel) fail_unless(v >= -4.0f && v <= 4.0f);
  // A frontal studio face: found in every frame, every point inside the image.
  int64_t with_face = 0;
  for (int64_t t = 0; t < clip.frames(); ++t) {
    if (!clip.has_face(t)) continue;
    ++with_face;
    for (const auto& p : clip.points(t))
      fail_unless(p.x >= 0 && p.x < clip.width && p.y >= 0 && p.y < clip.height, "frame %ld point %f,%f", (long)t,
                  p.x, p.y);
  }
  ck_assert_int_eq(with_face, clip.frames());
  // The sync offset: measured over at least one window, within SyncNet's +-15 search.
  const int offset = std::stoi(clip.extra.at(lite::kAvOffsetFrames));
  fail_unless(std::abs(offset) <= 15);
  fail_unless(std::stoi(clip.extra.at(lite::kAvOffsetWindows)) >= 1);
  fail_unless(std::isfinite(std::stod(clip.extra.at(lite::kAvLseC))));
  // The manifest entry repeats the metadata.
  std::ifstream in(manifest);
  std::string line;
  fail_unless(static_cast<bool>(std::getline(in, line)));
  const nlohmann::json j = nlohmann::json::parse(line);
  fail_unless(j.at("name") == "test/clip");
  fail_unless(j.at("frames") == clip.frames());
  fail_unless(j.at(lite::kAvOffsetFrames) == offset);
  fail_unless(j.at("face_box_median").size() == 4);
  fs::remove_all(dir);
}
GST_END_TEST;

GST_START_TEST(test_faceless_clip_skipped) {
  const std::string dir = temp_dir(), out = dir + "/test/clip.safetensors";
  RunResult r = run(extraction("videotestsrc num-buffers=50 ! video/x-raw,width=320,height=240,framerate=25/1",
                               "audiotestsrc num-buffers=50 samplesperbuffer=640 ! audio/x-raw,rate=16000", out,
                               dir + "/test/clip.json"));
  fail_unless(r.eos, "no EOS: %s", r.error.c_str());
  fail_unless(r.warning.find("a face in 0 of 50 frames") != std::string::npos, "warning: %s", r.warning.c_str());
  fail_unless(r.clip_message != nullptr);
  gboolean written = TRUE;
  gst_structure_get_boolean(r.clip_message, "written", &written);
  fail_if(written);
  const char* reason = gst_structure_get_string(r.clip_message, "reason");
  fail_unless(reason && std::string(reason).find("a face in 0 of 50") == 0, "reason %s", reason);
  gst_structure_free(r.clip_message);
  fail_if(fs::exists(out), "a skipped clip must leave no file");
  fs::remove_all(dir);
}
GST_END_TEST;

GST_START_TEST(test_sink_needs_facetrack) {
  const std::string dir = temp_dir();
  RunResult r = run("videotestsrc num-buffers=5 ! video/x-raw,format=RGB,framerate=25/1 ! w.sink "
                    "audiotestsrc num-buffers=5 ! audio/x-raw,rate=16000,channels=1 ! tavcemelspec ! w.mel "
                    "tavcedatasetsink name=w location=\"" + dir + "/x.safetensors\"");
  fail_unless(r.error.find("tavcefacetrack") != std::string::npos, "error: %s", r.error.c_str());
  fs::remove_all(dir);
}
GST_END_TEST;

GST_START_TEST(test_offset_median_and_rules) {
  using W = lite::SyncWindowScore;
  lite::AvOffset o = lite::median_av_offset({W{true, 2, 1.0}, W{false, 9, NAN}, W{true, -1, 3.0}, W{true, 2, 2.0}});
  ck_assert_int_eq(o.frames, 2);
  ck_assert_int_eq(o.windows, 3);
  fail_unless(std::abs(o.lse_c - 2.0) < 1e-9);
  ck_assert_int_eq(lite::median_av_offset({W{true, 0, 1}, W{true, 1, 1}}).frames, 0);     // 0.5 -> 0
  ck_assert_int_eq(lite::median_av_offset({W{true, -2, 1}, W{true, -1, 1}}).frames, -1);  // -1.5 -> -1
  o = lite::median_av_offset({W{false, 3, NAN}});
  ck_assert_int_eq(o.windows, 0);
  ck_assert_int_eq(o.frames, 0);
  fail_unless(std::isnan(o.lse_c));

  const lite::SkipRule rule;
  fail_unless(lite::skip_reason(75, 75, 241, rule).empty());
  fail_unless(lite::skip_reason(75, 75, 0, rule) == "no audio");
  fail_unless(lite::skip_reason(9, 9, 30, rule).find("9 frames") == 0);
  fail_unless(lite::skip_reason(75, 39, 241, rule).find("a face in 39 of 75") == 0);

  const std::vector<float> mel = {1, 1, 2, 2, 3, 3};  // 3 frames of 2 bands
  fail_unless(lite::align_mel(mel, 1, 2, -4) == std::vector<float>({-4, -4, 1, 1, 2, 2, 3, 3}));
  fail_unless(lite::align_mel(mel, -2, 2, -4) == std::vector<float>({3, 3}));
}
GST_END_TEST;

static Suite* dataset_suite() {
  Suite* s = suite_create("dataset");
  TCase* tc = tcase_create("general");
  tcase_set_timeout(tc, 600);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_offset_median_and_rules);
  tcase_add_test(tc, test_sink_needs_facetrack);
  tcase_add_test(tc, test_faceless_clip_skipped);
  tcase_add_test(tc, test_real_clip);
  return s;
}

GST_CHECK_MAIN(dataset);
