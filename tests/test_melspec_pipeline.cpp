// Pipeline tests of the tavce plugin with real parsers and converters on
// ../shared/data: registry scan, WAV -> mel frame counts and values, stereo
// downmix, resampling, and the error a user sees without converters.
// The truth is read from the WAV files here, independently of GStreamer.

// C++ headers before Check's (its `fail` macro breaks std::basic_ios::fail).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tavce/audio/mel_spectrogram.h"

#include <glib/gstdio.h>
#include <unistd.h>

#include <gst/check/gstcheck.h>

namespace {

constexpr int kMels = 80;

std::string data_file(const char* name) {
  const char* dir = g_getenv("TAVCE_DATA_DIR");
  fail_unless(dir != nullptr, "TAVCE_DATA_DIR is not set (meson test sets it)");
  const std::string path = std::string(dir) + "/audio/" + name;
  fail_unless(g_file_test(path.c_str(), G_FILE_TEST_IS_REGULAR), "missing test data %s", path.c_str());
  return path;
}

// The parts of a PCM WAV (any sample width) we check against: walks the RIFF chunks (files carry
// LIST and JUNK chunks before `data`).
struct Wav {
  int channels = 0;
  int rate = 0;
  int bits = 0;
  std::vector<guint8> data;
  size_t frames() const { return data.size() / size_t(channels * bits / 8); }
};

Wav read_wav(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<guint8> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  fail_unless(b.size() >= 12 && std::memcmp(b.data(), "RIFF", 4) == 0 && std::memcmp(&b[8], "WAVE", 4) == 0,
              "%s is not a RIFF/WAVE file", path.c_str());
  Wav w;
  size_t pos = 12;
  while (pos + 8 <= b.size()) {
    const guint32 size = GST_READ_UINT32_LE(&b[pos + 4]);
    const guint8* body = &b[pos + 8];
    fail_unless(pos + 8 + size <= b.size() || std::memcmp(&b[pos], "data", 4) == 0, "truncated chunk");
    if (std::memcmp(&b[pos], "fmt ", 4) == 0) {
      w.channels = GST_READ_UINT16_LE(body + 2);
      w.rate = int(GST_READ_UINT32_LE(body + 4));
      w.bits = GST_READ_UINT16_LE(body + 14);
    } else if (std::memcmp(&b[pos], "data", 4) == 0) {
      const size_t n = std::min<size_t>(size, b.size() - pos - 8);
      w.data.assign(body, body + n);
      break;
    }
    pos += 8 + size + (size & 1);  // chunks are word aligned
  }
  fail_unless(w.channels > 0 && w.bits % 8 == 0 && w.bits > 0 && !w.data.empty(), "%s: no PCM data found",
              path.c_str());
  return w;
}

// Writes a 16 kHz 16-bit PCM WAV to a fresh temporary file and returns its path.
std::string write_temp_wav(const std::vector<gint16>& interleaved, int channels) {
  gchar* path = nullptr;
  const int fd = g_file_open_tmp("tavce-melspec-XXXXXX.wav", &path, nullptr);
  fail_unless(fd >= 0, "cannot create a temporary file");
  close(fd);
  const guint32 data_bytes = guint32(interleaved.size() * 2);
  std::vector<guint8> b(44 + data_bytes);
  std::memcpy(&b[0], "RIFF", 4);
  GST_WRITE_UINT32_LE(&b[4], 36 + data_bytes);
  std::memcpy(&b[8], "WAVEfmt ", 8);
  GST_WRITE_UINT32_LE(&b[16], 16);
  GST_WRITE_UINT16_LE(&b[20], 1);  // PCM
  GST_WRITE_UINT16_LE(&b[22], channels);
  GST_WRITE_UINT32_LE(&b[24], 16000);
  GST_WRITE_UINT32_LE(&b[28], 16000 * 2 * channels);
  GST_WRITE_UINT16_LE(&b[32], 2 * channels);
  GST_WRITE_UINT16_LE(&b[34], 16);
  std::memcpy(&b[36], "data", 4);
  GST_WRITE_UINT32_LE(&b[40], data_bytes);
  for (size_t i = 0; i < interleaved.size(); ++i) GST_WRITE_UINT16_LE(&b[44 + 2 * i], guint16(interleaved[i]));
  fail_unless(g_file_set_contents(path, reinterpret_cast<const gchar*>(b.data()), gssize(b.size()), nullptr));
  std::string result = path;
  g_free(path);
  return result;
}

struct MelSink {
  std::vector<float> values;
  guint64 buffers = 0;
  GstClockTime last_pts = GST_CLOCK_TIME_NONE;
};

void on_handoff(GstElement*, GstBuffer* buf, GstPad*, gpointer user) {
  auto* sink = static_cast<MelSink*>(user);
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) return;
  for (gsize i = 0; i + 4 <= map.size; i += 4) sink->values.push_back(GST_READ_FLOAT_LE(map.data + i));
  gst_buffer_unmap(buf, &map);
  sink->buffers++;
  sink->last_pts = GST_BUFFER_PTS(buf);
}

// Runs "filesrc ! <middle> ! fakesink" to EOS and returns the mel payload.
// With expect_error, returns the error texts instead of failing on them.
MelSink run_pipeline(const std::string& path, const char* middle, std::vector<std::string>* errors = nullptr) {
  const std::string desc = std::string("filesrc name=src ! ") + middle + " ! fakesink name=sink signal-handoffs=true";
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch(desc.c_str(), &err);
  fail_unless(pipeline != nullptr && err == nullptr, "cannot build '%s': %s", desc.c_str(),
              err ? err->message : "?");
  GstElement* src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  g_object_set(src, "location", path.c_str(), nullptr);
  MelSink result;
  g_signal_connect(sink, "handoff", G_CALLBACK(on_handoff), &result);

  fail_if(gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE && !errors);
  GstBus* bus = gst_element_get_bus(pipeline);
  for (;;) {
    GstMessage* msg = gst_bus_timed_pop_filtered(bus, 120 * GST_SECOND,
                                                 GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    fail_unless(msg != nullptr, "pipeline '%s' timed out", desc.c_str());
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS) {
      gst_message_unref(msg);
      break;
    }
    GError* e = nullptr;
    gchar* dbg = nullptr;
    gst_message_parse_error(msg, &e, &dbg);
    const std::string text = std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(msg))) + ": " + e->message;
    g_error_free(e);
    g_free(dbg);
    gst_message_unref(msg);
    if (!errors) fail("pipeline '%s' failed: %s", desc.c_str(), text.c_str());
    errors->push_back(text);
    // Collect whatever else is already queued (the source's not-negotiated).
    while (GstMessage* more = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
      gst_message_parse_error(more, &e, &dbg);
      errors->push_back(std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(more))) + ": " + e->message);
      g_error_free(e);
      g_free(dbg);
      gst_message_unref(more);
    }
    break;
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(src);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
  return result;
}

}  // namespace

GST_START_TEST(test_plugin_registered) {
  GstPlugin* plugin = gst_registry_find_plugin(gst_registry_get(), "tavce");
  fail_unless(plugin != nullptr, "plugin 'tavce' not found on GST_PLUGIN_PATH=%s", g_getenv("GST_PLUGIN_PATH"));
  // A plugin that failed to load at scan time stays in the registry, flagged.
  fail_if(GST_OBJECT_FLAG_IS_SET(plugin, GST_PLUGIN_FLAG_BLACKLISTED), "plugin 'tavce' is blacklisted");
  fail_unless_equals_string(gst_plugin_get_license(plugin), "LGPL");
  const char* dir = g_getenv("GST_PLUGIN_PATH");
  const gchar* file = gst_plugin_get_filename(plugin);
  fail_unless(dir && file && g_str_has_prefix(file, dir), "loaded %s, expected it under %s", file, dir);
  gst_object_unref(plugin);

  GstElementFactory* factory = gst_element_factory_find("tavcemelspec");
  fail_unless(factory != nullptr);
  fail_unless_equals_string(gst_element_factory_get_metadata(factory, GST_ELEMENT_METADATA_KLASS),
                            "Filter/Analyzer/Audio");
  fail_unless(gst_element_factory_get_num_pad_templates(factory) == 2);
  GstElement* element = gst_element_factory_create(factory, nullptr);
  fail_unless(element != nullptr);
  GParamSpec* pspec = g_object_class_find_property(G_OBJECT_GET_CLASS(element), "frames-per-buffer");
  fail_unless(pspec != nullptr && std::strlen(g_param_spec_get_blurb(pspec)) > 20);
  gst_object_unref(element);
  gst_object_unref(factory);
}
GST_END_TEST;

GST_START_TEST(test_news_mono_wav) {
  const std::string path = data_file("news_eng_60s.wav");
  const Wav wav = read_wav(path);
  fail_unless(wav.channels == 1 && wav.rate == 16000 && wav.bits == 16);
  const size_t n = wav.frames();
  MelSink mel = run_pipeline(path, "wavparse ! audioconvert ! audioresample ! tavcemelspec frames-per-buffer=16");
  fail_unless_equals_uint64(mel.values.size() / kMels, 1 + n / 200);
  fail_unless_equals_uint64(mel.values.size() % kMels, 0);
  fail_unless_equals_uint64(mel.last_pts, (n / 200) / 16 * 16 * 12500000ull);

  // 16 kHz mono S16 passes the converters untouched, so the values must be
  // exactly the lib's whole-file result on the samples read here.
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = float(gint16(GST_READ_UINT16_LE(&wav.data[2 * i]))) / 32768.0f;
  const std::vector<float> want = tavce::audio::melspectrogram(x.data(), x.size());
  fail_unless_equals_uint64(mel.values.size(), want.size());
  fail_unless(std::memcmp(mel.values.data(), want.data(), want.size() * sizeof(float)) == 0,
              "pipeline mel differs from the whole-file mel");
}
GST_END_TEST;

GST_START_TEST(test_stereo_downmix) {
  const std::string path = data_file("radio31_8s.wav");
  const Wav wav = read_wav(path);
  fail_unless(wav.channels == 2 && wav.rate == 16000 && wav.bits == 16);
  const size_t n = wav.frames();
  MelSink mel = run_pipeline(path, "wavparse ! audioconvert dithering=none ! audioresample ! tavcemelspec");
  fail_unless_equals_uint64(mel.values.size() / kMels, 1 + n / 200);

  // audioconvert's downmix is the mean of both channels (up to its integer
  // rounding): compare with the mean computed here, on average since quiet
  // bands are sensitive to the rounding. This file's channels are nearly
  // equal, so the distinct-channel test below is the one that tells a
  // downmix from a dropped channel.
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    const float l = float(gint16(GST_READ_UINT16_LE(&wav.data[4 * i])));
    const float r = float(gint16(GST_READ_UINT16_LE(&wav.data[4 * i + 2])));
    x[i] = 0.5f * (l + r) / 32768.0f;
  }
  const std::vector<float> want = tavce::audio::melspectrogram(x.data(), x.size());
  fail_unless_equals_uint64(mel.values.size(), want.size());
  double sum = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    fail_unless(mel.values[i] >= -4.0f && mel.values[i] <= 4.0f);
    sum += std::fabs(double(mel.values[i]) - want[i]);
  }
  const double mean = sum / double(want.size());
  fail_unless(mean < 0.02, "mean |mel - mel(mean of channels)| = %g", mean);
}
GST_END_TEST;

// radio31's channels are nearly identical, so this one tells a downmix from
// "take the left channel": two different signals, compared with their mean.
GST_START_TEST(test_stereo_downmix_distinct_channels) {
  const size_t n = 2 * 16000 + 37;
  std::mt19937 rng(21);
  std::normal_distribution<double> noise(0.0, 300.0);
  std::vector<gint16> lr(2 * n);
  std::vector<float> mean(n);
  for (size_t i = 0; i < n; ++i) {
    const double t = double(i) / 16000.0;
    const gint16 l = gint16(std::lround(9000.0 * std::sin(2 * M_PI * 300.0 * t) + noise(rng)));
    const gint16 r = gint16(std::lround(7000.0 * std::sin(2 * M_PI * 2500.0 * t) + noise(rng)));
    lr[2 * i] = l;
    lr[2 * i + 1] = r;
    mean[i] = 0.5f * (float(l) + float(r)) / 32768.0f;
  }
  const std::string path = write_temp_wav(lr, 2);
  MelSink mel = run_pipeline(path, "wavparse ! audioconvert dithering=none ! tavcemelspec");
  g_unlink(path.c_str());
  const std::vector<float> want = tavce::audio::melspectrogram(mean.data(), mean.size());
  fail_unless_equals_uint64(mel.values.size(), want.size());
  double sum = 0.0;
  for (size_t i = 0; i < want.size(); ++i) sum += std::fabs(double(mel.values[i]) - want[i]);
  const double diff = sum / double(want.size());
  // Measured: ~3e-4 (integer rounding); the left channel alone gives ~0.35.
  fail_unless(diff < 0.01, "mean |mel - mel(mean of channels)| = %g", diff);
}
GST_END_TEST;

GST_START_TEST(test_resampled_48k) {
  const std::string path = data_file("japanese_48k.wav");
  const Wav wav = read_wav(path);
  fail_unless(wav.rate == 48000);
  MelSink mel = run_pipeline(path, "wavparse ! audioconvert ! audioresample ! tavcemelspec");
  // audioresample emits n * 16000 / 48000 samples, give or take one.
  const guint64 frames = mel.values.size() / kMels;
  const guint64 want = 1 + (wav.frames() / 3) / 200;
  fail_unless(frames + 1 >= want && frames <= want + 1, "%" G_GUINT64_FORMAT " frames, want ~%" G_GUINT64_FORMAT,
              frames, want);
}
GST_END_TEST;

GST_START_TEST(test_missing_converters_error) {
  std::vector<std::string> errors;
  run_pipeline(data_file("japanese_48k.wav"), "wavparse ! tavcemelspec name=mel", &errors);
  bool found = false;
  for (const std::string& e : errors)
    found = found || (e.rfind("mel: ", 0) == 0 && e.find("audioconvert ! audioresample") != std::string::npos);
  std::string all;
  for (const std::string& e : errors) all += e + "\n";
  fail_unless(found, "no actionable error from tavcemelspec; errors were:\n%s", all.c_str());
}
GST_END_TEST;

static Suite* melspec_pipeline_suite() {
  Suite* s = suite_create("tavcemelspec-pipeline");
  TCase* tc = tcase_create("general");
  tcase_set_timeout(tc, 300);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_plugin_registered);
  tcase_add_test(tc, test_news_mono_wav);
  tcase_add_test(tc, test_stereo_downmix);
  tcase_add_test(tc, test_stereo_downmix_distinct_channels);
  tcase_add_test(tc, test_resampled_48k);
  tcase_add_test(tc, test_missing_converters_error);
  return s;
}

GST_CHECK_MAIN(melspec_pipeline);
