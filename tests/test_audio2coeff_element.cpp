// GstHarness tests of tavceaudio2coeff: caps on both pads, rows from real
// speech with exact timestamps, determinism per seed, end of stream, flush,
// discontinuities, latency, and the errors a user sees (wrong mel caps,
// missing or corrupt model, bad source coefficients, too little audio).
//
// The model is a bundle made of the golden test weights (random ExpNet and
// PoseVAE with the reference architectures, tests/support/golden_bundle.h),
// written once into a temporary directory by main(); the portrait's
// coefficients come from a small raw float32 file (source-coeffs), so no
// face reconstruction is involved. Speech is ../shared/data/audio.

// The C++ headers come first: Check defines a `fail` macro that would break
// std::basic_ios::fail() in them.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "support/golden_bundle.h"
#include "tavce/audio/mel_spectrogram.h"
#include "tavce/pipeline/audio2coeff_session.h"
#include "tavce/pipeline/renderer_session.h"
#include "../gst/tavcecoeffcaps.h"
#include "../gst/tavcemelcaps.h"

#include <glib/gstdio.h>
#include <unistd.h>

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

namespace {

constexpr int kMels = 80;
constexpr int kDims = 70;
constexpr GstClockTime kMelFrame = 12500000;   // 12.5 ms: hop 200 at 16 kHz
constexpr GstClockTime kVideoFrame = 40000000;  // 40 ms: 25 fps
constexpr size_t kSamplesPerVideoFrame = 640;   // 16000 / 25

// Made by main() before any test runs (the tests fork and inherit them).
std::string g_bundle;        // golden expnet + pose_vae bundle
std::string g_coeffs;        // 70 float32: the portrait's reference coefficients
std::string g_coeffs_short;  // 69 float32: one too few
std::string g_tmpdir;        // holds the two coefficient files

// ---------------------------------------------------------------------------
// Input data

// 16-bit PCM samples of a mono WAV in ../shared/data/audio (RIFF chunks walked).
std::vector<int16_t> read_wav_s16_mono(const char* name) {
  const char* dir = g_getenv("TAVCE_DATA_DIR");
  fail_unless(dir != nullptr, "TAVCE_DATA_DIR is not set (meson test sets it)");
  const std::string path = std::string(dir) + "/audio/" + name;
  std::ifstream f(path, std::ios::binary);
  fail_unless(f.good(), "missing test data %s", path.c_str());
  std::vector<guint8> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  fail_unless(b.size() >= 12 && std::memcmp(b.data(), "RIFF", 4) == 0, "%s is not a WAV file", path.c_str());
  int channels = 0, rate = 0, bits = 0;
  size_t pos = 12;
  while (pos + 8 <= b.size()) {
    const guint32 size = GST_READ_UINT32_LE(&b[pos + 4]);
    const guint8* body = &b[pos + 8];
    if (std::memcmp(&b[pos], "fmt ", 4) == 0) {
      channels = GST_READ_UINT16_LE(body + 2);
      rate = int(GST_READ_UINT32_LE(body + 4));
      bits = GST_READ_UINT16_LE(body + 14);
    } else if (std::memcmp(&b[pos], "data", 4) == 0) {
      fail_unless(channels == 1 && rate == 16000 && bits == 16, "%s is not 16 kHz mono 16-bit", path.c_str());
      const size_t n = std::min<size_t>(size, b.size() - pos - 8) / 2;
      std::vector<int16_t> s(n);
      for (size_t i = 0; i < n; ++i) s[i] = int16_t(GST_READ_UINT16_LE(body + 2 * i));
      return s;
    }
    pos += 8 + size + (size & 1);
  }
  fail("%s has no data chunk", path.c_str());
  return {};
}

// The first `n` samples of real speech.
std::vector<int16_t> speech(size_t n) {
  std::vector<int16_t> s = read_wav_s16_mono("noisy_narrative.wav");
  fail_unless(s.size() >= n, "the speech clip is shorter than %zu samples", n);
  s.resize(n);
  return s;
}

// The normalised mel frames of these samples (the lib's whole-signal front
// end, which test_mel ties to the reference): frames x 80 floats.
std::vector<float> mel_of(const std::vector<int16_t>& s) {
  std::vector<float> x(s.size());
  for (size_t i = 0; i < s.size(); ++i) x[i] = float(s[i]) / 32768.0f;
  return tavce::audio::melspectrogram(x.data(), x.size());
}

std::string write_floats(const std::string& dir, const char* name, const std::vector<float>& v) {
  const std::string path = dir + "/" + name;
  std::vector<guint8> b(v.size() * 4);
  for (size_t i = 0; i < v.size(); ++i) GST_WRITE_FLOAT_LE(&b[4 * i], v[i]);
  GError* err = nullptr;
  if (!g_file_set_contents(path.c_str(), reinterpret_cast<const gchar*>(b.data()), gssize(b.size()), &err))
    g_error("cannot write %s: %s", path.c_str(), err->message);
  return path;
}

// A plausible portrait: small expression values, a slight head turn, the
// translation SadTalker's reconstruction gives for a centred face.
std::vector<float> reference_coeffs(size_t n) {
  std::vector<float> c(n);
  for (size_t i = 0; i < n; ++i) c[i] = 0.1f * std::sin(0.7f * float(i) + 0.3f);
  if (n >= 70) {
    c[64] = 0.05f; c[65] = -0.1f; c[66] = 0.02f;   // angles, rad
    c[67] = 0.01f; c[68] = 0.02f; c[69] = 0.05f;   // translation
  }
  return c;
}

// ---------------------------------------------------------------------------
// Element and harness helpers

struct Props {
  std::string model = g_bundle;
  std::string source_coeffs = g_coeffs;
  guint64 seed = 7;
  gboolean blink = TRUE;
  gint pose_style = 0;
  std::string ref_pose, ref_eyeblink;
};

// The element with its properties set (before any state change), with a bus.
GstElement* make_element(const Props& p, GstBus** bus) {
  GstElement* e = gst_element_factory_make("tavceaudio2coeff", nullptr);
  fail_unless(e != nullptr, "tavceaudio2coeff is not registered (GST_PLUGIN_PATH?)");
  gst_object_ref_sink(e);
  g_object_set(e, "model", p.model.c_str(), "source-coeffs", p.source_coeffs.c_str(), "device", "cpu",
               "threads", 1u, "seed", p.seed, "blink", p.blink, "pose-style", p.pose_style, nullptr);
  if (!p.ref_pose.empty()) g_object_set(e, "ref-pose", p.ref_pose.c_str(), nullptr);
  if (!p.ref_eyeblink.empty()) g_object_set(e, "ref-eyeblink", p.ref_eyeblink.c_str(), nullptr);
  if (bus) {
    *bus = gst_bus_new();
    gst_element_set_bus(e, *bus);
  }
  return e;
}

// A harness around a configured element (the harness sets it to PLAYING,
// which loads the model).
GstHarness* make_harness(const Props& p = {}, GstBus** bus = nullptr) {
  GstElement* e = make_element(p, bus);
  GstHarness* h = gst_harness_new_with_element(e, "sink", "src");
  gst_object_unref(e);
  return h;
}

void teardown(GstHarness* h, GstBus* bus = nullptr) {
  if (bus) {
    gst_element_set_bus(h->element, nullptr);
    gst_object_unref(bus);
  }
  gst_harness_teardown(h);
}

void set_mel_caps(GstHarness* h, const tavce::audio::MelConfig& cfg = {}) {
  gst_harness_set_src_caps(h, tavce::gst::mel_caps_new(cfg));
}

GstBuffer* mel_buffer(const float* frames, size_t n, GstClockTime pts, bool discont = false) {
  GstBuffer* buf = gst_buffer_new_allocate(nullptr, n * kMels * 4, nullptr);
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_WRITE);
  for (size_t i = 0; i < n * kMels; ++i) GST_WRITE_FLOAT_LE(map.data + 4 * i, frames[i]);
  gst_buffer_unmap(buf, &map);
  GST_BUFFER_PTS(buf) = pts;
  GST_BUFFER_DURATION(buf) = n * kMelFrame;
  if (discont) GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
  return buf;
}

// Pushes mel frames [from, to) in buffers of `per_buffer` frames, stamped as
// tavcemelspec stamps them (frame m at base + m x 12.5 ms), the first one DISCONT.
void push_mel(GstHarness* h, const std::vector<float>& mel, GstClockTime base, size_t per_buffer = 8,
              size_t from = 0, size_t to = size_t(-1)) {
  const size_t frames = std::min(mel.size() / kMels, to);
  for (size_t m = from; m < frames; m += per_buffer) {
    const size_t k = std::min(per_buffer, frames - m);
    fail_unless_equals_int(gst_harness_push(h, mel_buffer(&mel[m * kMels], k, base + m * kMelFrame, m == from)),
                           GST_FLOW_OK);
  }
}

std::vector<GstBuffer*> pull_all(GstHarness* h) {
  std::vector<GstBuffer*> out;
  while (GstBuffer* b = gst_harness_try_pull(h)) out.push_back(b);
  return out;
}

void unref_all(std::vector<GstBuffer*>& bufs) {
  for (GstBuffer* b : bufs) gst_buffer_unref(b);
  bufs.clear();
}

std::vector<float> row_of(GstBuffer* b) {
  GstMapInfo map;
  fail_unless(gst_buffer_map(b, &map, GST_MAP_READ));
  fail_unless_equals_uint64(map.size, kDims * 4);
  std::vector<float> v(kDims);
  for (int i = 0; i < kDims; ++i) v[i] = GST_READ_FLOAT_LE(map.data + 4 * i);
  gst_buffer_unmap(b, &map);
  return v;
}

std::vector<std::vector<float>> rows_of(const std::vector<GstBuffer*>& bufs) {
  std::vector<std::vector<float>> rows;
  for (GstBuffer* b : bufs) rows.push_back(row_of(b));
  return rows;
}

// Checks one run's timestamps: row i at base + i x 40 ms, 40 ms long,
// OFFSET i, DISCONT on the first row only; and that every value is finite.
void check_run(const std::vector<GstBuffer*>& bufs, GstClockTime base) {
  for (size_t i = 0; i < bufs.size(); ++i) {
    GstBuffer* b = bufs[i];
    fail_unless_equals_uint64(GST_BUFFER_PTS(b), base + i * kVideoFrame);
    fail_unless_equals_uint64(GST_BUFFER_DURATION(b), kVideoFrame);
    fail_unless_equals_uint64(GST_BUFFER_OFFSET(b), i);
    fail_unless_equals_uint64(GST_BUFFER_OFFSET_END(b), i + 1);
    fail_unless_equals_int(GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DISCONT) ? 1 : 0, i == 0 ? 1 : 0);
    for (float v : row_of(b)) fail_unless(std::isfinite(v), "row %zu holds a non-finite value", i);
  }
}

void check_row_count(size_t rows, size_t samples) {
  const long want = long(samples / kSamplesPerVideoFrame);
  fail_unless(std::labs(long(rows) - want) <= 1, "%zu rows for %zu samples, expected %ld (+-1)", rows, samples,
              want);
}

bool got_eos(GstHarness* h) {
  bool eos = false;
  while (GstEvent* e = gst_harness_try_pull_event(h)) {
    eos = eos || GST_EVENT_TYPE(e) == GST_EVENT_EOS;
    gst_event_unref(e);
  }
  return eos;
}

// The first message of this type on the bus, as "message\ndebug", with its code.
std::string pop_message(GstBus* bus, GstMessageType type, GQuark* domain = nullptr, gint* code = nullptr) {
  GstMessage* msg = gst_bus_pop_filtered(bus, type);
  if (!msg) return "";
  GError* err = nullptr;
  gchar* dbg = nullptr;
  if (type == GST_MESSAGE_ERROR)
    gst_message_parse_error(msg, &err, &dbg);
  else
    gst_message_parse_warning(msg, &err, &dbg);
  std::string text = std::string(err->message) + "\n" + (dbg ? dbg : "");
  if (domain) *domain = err->domain;
  if (code) *code = err->code;
  g_error_free(err);
  g_free(dbg);
  gst_message_unref(msg);
  return text;
}

// READY->PAUSED must fail (not crash) and post an error; returns its text.
std::string start_error(const Props& p, GQuark* domain = nullptr, gint* code = nullptr) {
  GstBus* bus = nullptr;
  GstElement* e = make_element(p, &bus);
  fail_unless_equals_int(gst_element_set_state(e, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int(gst_element_set_state(e, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  const std::string text = pop_message(bus, GST_MESSAGE_ERROR, domain, code);
  fail_unless_equals_int(gst_element_set_state(e, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_element_set_bus(e, nullptr);
  gst_object_unref(bus);
  gst_object_unref(e);
  fail_if(text.empty(), "no error message on the bus");
  return text;
}

bool contains(const std::string& text, const char* what) { return text.find(what) != std::string::npos; }

// The rows of a whole run of `mel` through a fresh element.
std::vector<std::vector<float>> run_rows(const Props& p, const std::vector<float>& mel) {
  GstHarness* h = make_harness(p);
  set_mel_caps(h);
  push_mel(h, mel, 0);
  fail_unless(gst_harness_push_event(h, gst_event_new_eos()));
  std::vector<GstBuffer*> bufs = pull_all(h);
  auto rows = rows_of(bufs);
  unref_all(bufs);
  gst_harness_teardown(h);
  return rows;
}

}  // namespace

// ---------------------------------------------------------------------------
// Caps

GST_START_TEST(test_coeff_caps_helper) {
  const tavce::gst::CoeffCapsInfo info;
  GstCaps* caps = tavce::gst::coeff_caps_new(info);
  // The specification in docs/caps.md, written out.
  GstCaps* spec = gst_caps_from_string(
      "application/x-tavce-coeffs, framerate=(fraction)25/1, dims=(int)70, space=(string)bfm-exp64-pose6, "
      "format=(string)F32LE");
  fail_unless(gst_caps_is_equal(caps, spec), "built %" GST_PTR_FORMAT, caps);
  GstCaps* tmpl = tavce::gst::coeff_caps_template();
  fail_unless(gst_caps_is_subset(caps, tmpl));
  tavce::gst::CoeffCapsInfo back;
  back.dims = 1;
  std::string why;
  fail_unless(tavce::gst::coeff_caps_to_info(spec, &back, &why), "%s", why.c_str());
  fail_unless(back == info && back.dims == 70 && back.space == "bfm-exp64-pose6" && back.fps_num == 25 &&
              back.fps_den == 1);
  fail_unless_equals_uint64(back.row_bytes(), 280);

  const char* bad[] = {
      "application/x-tavce-coeffs, framerate=(fraction)25/1, space=(string)bfm-exp64-pose6, format=(string)F32LE",
      "application/x-tavce-coeffs, framerate=(fraction)25/1, dims=(int)70, format=(string)F32LE",
      "application/x-tavce-coeffs, framerate=(fraction)25/1, dims=(int)70, space=(string)x, format=(string)S16LE",
      "application/x-tavce-coeffs, dims=(int)70, space=(string)x, format=(string)F32LE",
      "audio/x-tavce-mel, framerate=(fraction)25/1, dims=(int)70, space=(string)x, format=(string)F32LE",
  };
  for (const char* s : bad) {
    GstCaps* c = gst_caps_from_string(s);
    why.clear();
    fail_if(tavce::gst::coeff_caps_to_info(c, &back, &why), "accepted %s", s);
    fail_if(why.empty());
    gst_caps_unref(c);
  }
  // Row times never drift: row 10^7 (111 hours) is exactly 4e5 s after the base.
  fail_unless_equals_uint64(tavce::gst::coeff_row_time(GST_SECOND, 10000000, info), GST_SECOND + 400000 * GST_SECOND);
  tavce::gst::CoeffCapsInfo ntsc;
  ntsc.fps_num = 30000;
  ntsc.fps_den = 1001;
  fail_unless_equals_uint64(tavce::gst::coeff_row_time(0, 30000, ntsc), 1001 * GST_SECOND);
  gst_caps_unref(tmpl);
  gst_caps_unref(spec);
  gst_caps_unref(caps);
}
GST_END_TEST;

GST_START_TEST(test_caps_on_both_pads) {
  GstHarness* h = make_harness();
  // Sink: the CAPS query narrows the template to the model's front end, which
  // is exactly what tavcemelspec produces.
  GstPad* sink = gst_element_get_static_pad(h->element, "sink");
  GstCaps* offered = gst_pad_query_caps(sink, nullptr);
  GstCaps* melspec = tavce::gst::mel_caps_new(tavce::audio::MelConfig{});
  fail_unless(gst_caps_can_intersect(offered, melspec), "sink offers %" GST_PTR_FORMAT, offered);
  fail_unless(gst_caps_is_fixed(offered));
  gst_caps_unref(offered);
  gst_object_unref(sink);

  gst_harness_set_src_caps(h, melspec);
  GstCaps* out = gst_pad_get_current_caps(h->sinkpad);
  fail_unless(out != nullptr, "no caps on the src pad after the mel caps");
  GstCaps* spec = gst_caps_from_string(
      "application/x-tavce-coeffs, framerate=(fraction)25/1, dims=(int)70, space=(string)bfm-exp64-pose6, "
      "format=(string)F32LE");
  fail_unless(gst_caps_is_equal(out, spec), "negotiated %" GST_PTR_FORMAT, out);
  gst_caps_unref(spec);
  gst_caps_unref(out);

  // The pad templates gst-inspect shows: any F32LE mel stream in, any
  // coefficient stream out (the bundle fixes dims, space and rate).
  GstElementFactory* f = gst_element_factory_find("tavceaudio2coeff");
  fail_unless(f != nullptr);
  GstCaps* mel = tavce::gst::mel_caps_new(tavce::audio::MelConfig{});
  GstCaps* coeffs = tavce::gst::coeff_caps_new(tavce::gst::CoeffCapsInfo{});
  fail_unless(gst_element_factory_can_sink_all_caps(f, mel));
  fail_unless(gst_element_factory_can_src_all_caps(f, coeffs));
  gst_caps_unref(coeffs);
  gst_caps_unref(mel);
  gst_object_unref(f);
  teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_wrong_mel_caps_error) {
  tavce::audio::MelConfig forty;
  forty.n_mels = 40;
  tavce::audio::MelConfig hop160;
  hop160.hop = 160;
  for (const tavce::audio::MelConfig& cfg : {forty, hop160}) {
    GstBus* bus = nullptr;
    GstHarness* h = make_harness({}, &bus);
    // A refused sticky event still "succeeds" on the pushing side; the buffer
    // push is what fails, and the bus says why.
    gst_harness_push_event(h, gst_event_new_caps(tavce::gst::mel_caps_new(cfg)));
    GstSegment segment;
    gst_segment_init(&segment, GST_FORMAT_TIME);
    gst_harness_push_event(h, gst_event_new_segment(&segment));
    fail_unless_equals_int(gst_harness_push(h, gst_buffer_new_allocate(nullptr, 40 * 4, nullptr)),
                           GST_FLOW_NOT_NEGOTIATED);
    GQuark domain = 0;
    gint code = 0;
    const std::string text = pop_message(bus, GST_MESSAGE_ERROR, &domain, &code);
    fail_if(text.empty(), "no error on the bus");
    fail_unless(domain == GST_CORE_ERROR && code == GST_CORE_ERROR_NEGOTIATION, "%s", text.c_str());
    fail_unless(contains(text, "n-mels=80") && contains(text, "hop=200") && contains(text, "sample-rate=16000"),
                "%s", text.c_str());
    fail_unless(contains(text, cfg.n_mels == 40 ? "n-mels=40" : "hop=160"), "%s", text.c_str());
    fail_unless(contains(text, "tavcemelspec"), "%s", text.c_str());
    teardown(h, bus);
  }
}
GST_END_TEST;

GST_START_TEST(test_buffer_without_caps_error) {
  GstBus* bus = nullptr;
  GstHarness* h = make_harness({}, &bus);
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  gst_harness_push_event(h, gst_event_new_segment(&segment));
  fail_unless_equals_int(gst_harness_push(h, gst_buffer_new_allocate(nullptr, kMels * 4, nullptr)),
                         GST_FLOW_NOT_NEGOTIATED);
  const std::string text = pop_message(bus, GST_MESSAGE_ERROR);
  fail_unless(contains(text, "no caps at all"), "%s", text.c_str());
  teardown(h, bus);
}
GST_END_TEST;

// ---------------------------------------------------------------------------
// Streaming

GST_START_TEST(test_speech_through_melspec) {
  // Real speech, as S16 audio through tavcemelspec in the same harness, in
  // 100 ms buffers starting at 2 s: the coefficient rows follow the audio time.
  const std::vector<int16_t> s = speech(3 * 16000 + 123);
  const std::string desc = "tavcemelspec ! tavceaudio2coeff device=cpu threads=1 seed=3 model=\"" + g_bundle +
                           "\" source-coeffs=\"" + g_coeffs + "\"";
  GstHarness* h = gst_harness_new_parse(desc.c_str());
  gst_harness_set_src_caps_str(h, "audio/x-raw, format=S16LE, layout=interleaved, channels=1, rate=16000");
  const GstClockTime base = 2 * GST_SECOND;
  for (size_t pos = 0; pos < s.size(); pos += 1600) {
    const size_t n = std::min<size_t>(1600, s.size() - pos);
    GstBuffer* buf = gst_buffer_new_memdup(&s[pos], n * 2);  // host order is LE on every tested machine
    GST_BUFFER_PTS(buf) = base + gst_util_uint64_scale(pos, GST_SECOND, 16000);
    fail_unless_equals_int(gst_harness_push(h, buf), GST_FLOW_OK);
  }
  fail_unless(gst_harness_push_event(h, gst_event_new_eos()));
  std::vector<GstBuffer*> bufs = pull_all(h);
  check_row_count(bufs.size(), s.size());
  check_run(bufs, base);
  // The expression follows the speech: rows are not all the same.
  const auto rows = rows_of(bufs);
  double spread = 0.0;
  for (const auto& r : rows) spread = std::max(spread, double(std::fabs(r[0] - rows[0][0])));
  fail_unless(spread > 0.0, "every row has the same first coefficient");
  fail_unless(got_eos(h), "EOS was not forwarded");
  unref_all(bufs);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_seed_determinism) {
  const std::vector<float> mel = mel_of(speech(2 * 16000));
  Props a;
  a.seed = 11;
  Props b = a;
  b.seed = 12;
  const auto r1 = run_rows(a, mel);
  const auto r2 = run_rows(a, mel);
  const auto r3 = run_rows(b, mel);
  check_row_count(r1.size(), 2 * 16000);
  fail_unless_equals_uint64(r1.size(), r2.size());
  fail_unless_equals_uint64(r1.size(), r3.size());
  for (size_t i = 0; i < r1.size(); ++i)
    for (int k = 0; k < kDims; ++k)
      if (r1[i][k] != r2[i][k]) fail("seed 11 twice: row %zu value %d differs (%g vs %g)", i, k, r1[i][k], r2[i][k]);
  bool differs = false;
  for (size_t i = 0; i < r1.size() && !differs; ++i) differs = r1[i] != r3[i];
  fail_unless(differs, "seeds 11 and 12 gave identical coefficients");
}
GST_END_TEST;

GST_START_TEST(test_eos_pushes_tail) {
  const size_t n = 3 * 16000;
  const std::vector<float> mel = mel_of(speech(n));
  GstHarness* h = make_harness();
  set_mel_caps(h);
  const GstClockTime base = 500 * GST_MSECOND;
  push_mel(h, mel, base, 5);
  std::vector<GstBuffer*> before = pull_all(h);
  // Rows wait for their look-ahead (ExpNet window, PoseVAE chunk): some are still held.
  fail_unless(before.size() < n / kSamplesPerVideoFrame, "all %zu rows came before EOS", before.size());
  fail_if(got_eos(h));
  fail_unless(gst_harness_push_event(h, gst_event_new_eos()));
  std::vector<GstBuffer*> after = pull_all(h);
  fail_unless(!after.empty(), "EOS pushed no tail");
  std::vector<GstBuffer*> all = before;
  all.insert(all.end(), after.begin(), after.end());
  check_row_count(all.size(), n);
  check_run(all, base);
  fail_unless(got_eos(h), "EOS was not forwarded");
  unref_all(all);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_flush_then_new_data) {
  const std::vector<float> mel = mel_of(speech(3 * 16000));
  const auto want = run_rows({}, mel);
  GstHarness* h = make_harness();
  set_mel_caps(h);
  push_mel(h, mel, 0, 8, 0, 120);  // half the clip
  std::vector<GstBuffer*> bufs = pull_all(h);
  unref_all(bufs);
  fail_unless(gst_harness_push_event(h, gst_event_new_flush_start()));
  fail_unless(gst_harness_push_event(h, gst_event_new_flush_stop(TRUE)));
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  fail_unless(gst_harness_push_event(h, gst_event_new_segment(&segment)));
  // The whole clip again, at 10 s: nothing of the first half may leak in.
  const GstClockTime base = 10 * GST_SECOND;
  push_mel(h, mel, base);
  fail_unless(gst_harness_push_event(h, gst_event_new_eos()));
  bufs = pull_all(h);
  check_row_count(bufs.size(), 3 * 16000);
  check_run(bufs, base);
  // A flush restarts the draws too: the same rows as a fresh element.
  const auto got = rows_of(bufs);
  fail_unless_equals_uint64(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) fail_unless(got[i] == want[i], "row %zu differs after the flush", i);
  unref_all(bufs);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_discont_starts_new_run) {
  const std::vector<float> mel = mel_of(speech(2 * 16000));
  GstHarness* h = make_harness();
  set_mel_caps(h);
  push_mel(h, mel, 0);
  // Another clip after a gap: the first run is drained before the new one.
  const GstClockTime base2 = 5 * GST_SECOND;
  push_mel(h, mel, base2);  // its first buffer is DISCONT
  fail_unless(gst_harness_push_event(h, gst_event_new_eos()));
  std::vector<GstBuffer*> bufs = pull_all(h);
  size_t split = 0;
  while (split < bufs.size() && GST_BUFFER_PTS(bufs[split]) < base2) ++split;
  std::vector<GstBuffer*> first(bufs.begin(), bufs.begin() + split);
  std::vector<GstBuffer*> second(bufs.begin() + split, bufs.end());
  check_row_count(first.size(), 2 * 16000);
  check_row_count(second.size(), 2 * 16000);
  check_run(first, 0);
  check_run(second, base2);
  unref_all(bufs);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_base_from_segment_without_pts) {
  const std::vector<float> mel = mel_of(speech(16000));
  GstHarness* h = make_harness();
  gst_harness_push_event(h, gst_event_new_stream_start("a2c"));
  gst_harness_push_event(h, gst_event_new_caps(tavce::gst::mel_caps_new(tavce::audio::MelConfig{})));
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  segment.start = 3 * GST_SECOND;
  segment.time = 3 * GST_SECOND;
  fail_unless(gst_harness_push_event(h, gst_event_new_segment(&segment)));
  const size_t frames = mel.size() / kMels;
  for (size_t m = 0; m < frames; m += 10)
    fail_unless_equals_int(gst_harness_push(h, mel_buffer(&mel[m * kMels], std::min<size_t>(10, frames - m),
                                                          GST_CLOCK_TIME_NONE)),
                           GST_FLOW_OK);
  fail_unless(gst_harness_push_event(h, gst_event_new_eos()));
  std::vector<GstBuffer*> bufs = pull_all(h);
  check_row_count(bufs.size(), 16000);
  check_run(bufs, 3 * GST_SECOND);
  unref_all(bufs);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_replayed_dump) {
  // What `filesrc location=x.mel ! capsfilter caps=audio/x-tavce-mel,... !`
  // delivers: a BYTES segment and untimed buffers cut at arbitrary byte
  // positions. The rows equal those of whole, timed frames, from time 0.
  const std::vector<float> mel = mel_of(speech(16000));
  const auto want = run_rows({}, mel);
  std::vector<guint8> bytes(mel.size() * 4);
  for (size_t i = 0; i < mel.size(); ++i) GST_WRITE_FLOAT_LE(&bytes[4 * i], mel[i]);
  GstHarness* h = make_harness();
  gst_harness_push_event(h, gst_event_new_stream_start("replay"));
  gst_harness_push_event(h, gst_event_new_caps(tavce::gst::mel_caps_new(tavce::audio::MelConfig{})));
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_BYTES);
  fail_unless(gst_harness_push_event(h, gst_event_new_segment(&segment)));
  size_t pos = 0, step = 1;
  while (pos < bytes.size()) {
    const size_t n = std::min(bytes.size() - pos, step);
    GstBuffer* buf = gst_buffer_new_memdup(&bytes[pos], n);
    GST_BUFFER_OFFSET(buf) = pos;
    if (pos == 0) GST_BUFFER_DTS(buf) = 0;  // as basesrc stamps the first buffer
    fail_unless_equals_int(gst_harness_push(h, buf), GST_FLOW_OK);
    pos += n;
    step = step * 7 % 1013 + 1;
  }
  fail_unless(gst_harness_push_event(h, gst_event_new_eos()));
  // Downstream saw a TIME segment.
  bool time_segment = false;
  while (GstEvent* e = gst_harness_try_pull_event(h)) {
    if (GST_EVENT_TYPE(e) == GST_EVENT_SEGMENT) {
      const GstSegment* seg = nullptr;
      gst_event_parse_segment(e, &seg);
      fail_unless_equals_int(seg->format, GST_FORMAT_TIME);
      fail_unless_equals_uint64(seg->start, 0);
      time_segment = true;
    }
    gst_event_unref(e);
  }
  fail_unless(time_segment, "no segment forwarded");
  std::vector<GstBuffer*> bufs = pull_all(h);
  // Equal up to float rounding: the networks may batch the frames differently.
  const auto got = rows_of(bufs);
  fail_unless_equals_uint64(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    for (int k = 0; k < kDims; ++k)
      if (std::fabs(got[i][k] - want[i][k]) > 1e-5f * (1.0f + std::fabs(want[i][k])))
        fail("row %zu value %d: %g with split frames, %g with whole ones", i, k, got[i][k], want[i][k]);
  check_run(bufs, 0);
  unref_all(bufs);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_audio_shorter_than_one_frame) {
  const std::vector<float> mel = mel_of(speech(500));  // 31 ms: 3 mel frames
  fail_unless_equals_uint64(mel.size() / kMels, 3);
  GstBus* bus = nullptr;
  GstHarness* h = make_harness({}, &bus);
  set_mel_caps(h);
  push_mel(h, mel, 0);
  fail_unless(gst_harness_push_event(h, gst_event_new_eos()));
  std::vector<GstBuffer*> bufs = pull_all(h);
  fail_unless_equals_uint64(bufs.size(), 0);
  fail_unless(got_eos(h));
  const std::string text = pop_message(bus, GST_MESSAGE_WARNING);
  fail_unless(contains(text, "shorter than one 40 ms"), "warning: '%s'", text.c_str());
  fail_unless(pop_message(bus, GST_MESSAGE_ERROR).empty());
  teardown(h, bus);
}
GST_END_TEST;

GST_START_TEST(test_latency_query) {
  // The expected value from the session itself (same bundle and settings).
  tavce::pipeline::Audio2CoeffSettings s;
  s.model = g_bundle;
  s.source_coeffs = g_coeffs;
  s.device = "cpu";
  s.threads = 1;
  int64_t frames = 0;
  {
    tavce::pipeline::Audio2CoeffSession session(s);
    frames = session.info().latency_frames;
  }
  GstHarness* h = make_harness();
  set_mel_caps(h);
  gst_harness_set_upstream_latency(h, 10 * GST_MSECOND);
  GstPad* src = gst_element_get_static_pad(h->element, "src");
  GstQuery* q = gst_query_new_latency();
  fail_unless(gst_pad_query(src, q));
  gboolean live = FALSE;
  GstClockTime min = 0, max = 0;
  gst_query_parse_latency(q, &live, &min, &max);
  fail_unless(live, "the harness source is live; the answer must say so");
  fail_unless(frames > 0, "the session reports no look-ahead");
  fail_unless_equals_uint64(min, 10 * GST_MSECOND + GstClockTime(frames) * kVideoFrame);
  fail_unless_equals_uint64(max, GST_CLOCK_TIME_NONE);
  gst_query_unref(q);
  gst_object_unref(src);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_state_cycle_restarts) {
  const std::vector<float> mel = mel_of(speech(16000));
  const auto want = run_rows({}, mel);
  GstHarness* h = make_harness();
  set_mel_caps(h);
  push_mel(h, mel, 0, 8, 0, 40);
  std::vector<GstBuffer*> bufs = pull_all(h);
  unref_all(bufs);
  fail_unless_equals_int(gst_element_set_state(h->element, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int(gst_element_set_state(h->element, GST_STATE_PLAYING), GST_STATE_CHANGE_SUCCESS);
  set_mel_caps(h);
  push_mel(h, mel, 0);
  fail_unless(gst_harness_push_event(h, gst_event_new_eos()));
  bufs = pull_all(h);
  const auto got = rows_of(bufs);
  fail_unless_equals_uint64(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) fail_unless(got[i] == want[i], "row %zu differs after a restart", i);
  unref_all(bufs);
  gst_harness_teardown(h);
}
GST_END_TEST;

// Runs a gst-launch description to EOS; fails on an error message.
void run_launch(const std::string& desc) {
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch(desc.c_str(), &err);
  fail_unless(pipeline != nullptr && err == nullptr, "cannot build '%s': %s", desc.c_str(), err ? err->message : "?");
  fail_if(gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE, "'%s' did not start",
          desc.c_str());
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* msg =
      gst_bus_timed_pop_filtered(bus, 120 * GST_SECOND, GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  fail_unless(msg != nullptr, "'%s' timed out", desc.c_str());
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    GError* e = nullptr;
    gst_message_parse_error(msg, &e, nullptr);
    fail("'%s' failed: %s", desc.c_str(), e->message);
  }
  gst_message_unref(msg);
  gst_object_unref(bus);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
}

std::vector<float> read_f32_file(const std::string& path) {
  gchar* data = nullptr;
  gsize len = 0;
  fail_unless(g_file_get_contents(path.c_str(), &data, &len, nullptr), "cannot read %s", path.c_str());
  std::vector<float> v(len / 4);
  for (size_t i = 0; i < v.size(); ++i) v[i] = GST_READ_FLOAT_LE(reinterpret_cast<const guint8*>(data) + 4 * i);
  fail_unless_equals_uint64(len % 4, 0);
  g_free(data);
  return v;
}

GST_START_TEST(test_launch_save_and_replay) {
  // The recipes of docs/caps.md with real elements: WAV -> coefficients to a
  // file, and the same through a mel dump replayed with filesrc + capsfilter.
  const std::string wav = std::string(g_getenv("TAVCE_DATA_DIR")) + "/audio/noisy_narrative.wav";
  const std::string a2c = "tavceaudio2coeff device=cpu threads=1 seed=5 model=\"" + g_bundle + "\" source-coeffs=\"" +
                          g_coeffs + "\"";
  const std::string front = "filesrc location=\"" + wav + "\" ! wavparse ! audioconvert ! audioresample ! tavcemelspec";
  const std::string direct = g_tmpdir + "/direct.coeffs", mel = g_tmpdir + "/speech.mel", replayed = g_tmpdir + "/replayed.coeffs";
  run_launch(front + " ! " + a2c + " ! filesink location=\"" + direct + "\"");
  run_launch(front + " ! filesink location=\"" + mel + "\"");
  GstCaps* caps = tavce::gst::mel_caps_new(tavce::audio::MelConfig{});
  gchar* mel_caps = gst_caps_to_string(caps);
  gst_caps_unref(caps);
  run_launch("filesrc location=\"" + mel + "\" ! " + mel_caps + " ! " + a2c + " ! filesink location=\"" + replayed + "\"");
  g_free(mel_caps);

  const std::vector<float> want = read_f32_file(direct);
  const std::vector<float> got = read_f32_file(replayed);
  const size_t samples = read_wav_s16_mono("noisy_narrative.wav").size();
  fail_unless_equals_uint64(want.size() % kDims, 0);
  check_row_count(want.size() / kDims, samples);
  fail_unless_equals_uint64(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    if (std::fabs(got[i] - want[i]) > 1e-5f * (1.0f + std::fabs(want[i])))
      fail("value %zu (row %zu): %g replayed, %g direct", i, i / kDims, got[i], want[i]);
}
GST_END_TEST;

// ---------------------------------------------------------------------------
// Start-up errors and properties

GST_START_TEST(test_missing_model_dir) {
  Props p;
  p.model = g_tmpdir + "/no-such-bundle";
  GQuark domain = 0;
  gint code = 0;
  const std::string text = start_error(p, &domain, &code);
  fail_unless(domain == GST_RESOURCE_ERROR && code == GST_RESOURCE_ERROR_NOT_FOUND, "%s", text.c_str());
  fail_unless(contains(text, "no-such-bundle"), "%s", text.c_str());
}
GST_END_TEST;

GST_START_TEST(test_corrupt_model_json) {
  const std::string dir = tavce::testing::make_golden_audio2coeff_bundle();
  const std::string manifest = dir + "/model.json";
  fail_unless(g_file_set_contents(manifest.c_str(), "{ \"schema_version\": 1, \"name\": ", -1, nullptr));
  Props p;
  p.model = dir;
  const std::string text = start_error(p);
  fail_unless(contains(text, "model.json"), "%s", text.c_str());

  // Valid JSON, wrong content: the field is named.
  fail_unless(g_file_set_contents(manifest.c_str(), "{\"schema_version\": 1}", -1, nullptr));
  const std::string text2 = start_error(p);
  fail_unless(contains(text2, "model.json"), "%s", text2.c_str());
  tavce::testing::remove_bundle_dir(dir);
}
GST_END_TEST;

GST_START_TEST(test_truncated_weights) {
  const std::string dir = tavce::testing::make_golden_audio2coeff_bundle();
  const std::string weights = dir + "/expnet.safetensors";
  fail_unless(truncate(weights.c_str(), 1000) == 0);
  Props p;
  p.model = dir;
  const std::string text = start_error(p);
  fail_unless(contains(text, "expnet.safetensors"), "%s", text.c_str());
  tavce::testing::remove_bundle_dir(dir);
}
GST_END_TEST;

GST_START_TEST(test_source_coeffs_wrong_length) {
  Props p;
  p.source_coeffs = g_coeffs_short;
  const std::string text = start_error(p);
  fail_unless(contains(text, "69") || contains(text, "276") || contains(text, "70"), "%s", text.c_str());

  Props missing;
  missing.source_coeffs = g_tmpdir + "/absent.f32";
  GQuark domain = 0;
  gint code = 0;
  const std::string text2 = start_error(missing, &domain, &code);
  fail_unless(domain == GST_RESOURCE_ERROR && code == GST_RESOURCE_ERROR_NOT_FOUND, "%s", text2.c_str());
  fail_unless(contains(text2, "absent.f32") && contains(text2, "source-coeffs"), "%s", text2.c_str());
}
GST_END_TEST;

GST_START_TEST(test_no_portrait) {
  Props p;
  p.source_coeffs = "";
  const std::string text = start_error(p);
  fail_unless(contains(text, "source-image") && contains(text, "source-coeffs"), "%s", text.c_str());
}
GST_END_TEST;

GST_START_TEST(test_properties) {
  GstElement* e = gst_element_factory_make("tavceaudio2coeff", nullptr);
  fail_unless(e != nullptr);
  gst_object_ref_sink(e);
  gchar *model = nullptr, *device = nullptr, *image = nullptr, *coeffs = nullptr;
  gint preprocess = -1, pose_style = -1;
  guint64 seed = 1;
  gboolean blink = FALSE;
  guint threads = 9;
  g_object_get(e, "model", &model, "device", &device, "source-image", &image, "source-coeffs", &coeffs,
               "preprocess", &preprocess, "pose-style", &pose_style, "seed", &seed, "blink", &blink, "threads",
               &threads, nullptr);
  fail_unless_equals_string(model, "");
  fail_unless_equals_string(device, "auto");
  fail_unless_equals_string(image, "");
  fail_unless_equals_string(coeffs, "");
  fail_unless_equals_int(preprocess, 0);
  fail_unless_equals_int(pose_style, 0);
  fail_unless_equals_uint64(seed, 0);
  fail_unless(blink);
  fail_unless_equals_int(threads, 0);
  g_free(model);
  g_free(device);
  g_free(image);
  g_free(coeffs);

  // Ranges, the enum's nicks, and every property settable only up to READY.
  GObjectClass* klass = G_OBJECT_GET_CLASS(e);
  GParamSpec* ps = g_object_class_find_property(klass, "pose-style");
  fail_unless_equals_int(G_PARAM_SPEC_INT(ps)->maximum, 45);
  ps = g_object_class_find_property(klass, "preprocess");
  GEnumClass* ec = G_PARAM_SPEC_ENUM(ps)->enum_class;
  for (const char* nick : {"crop", "extcrop", "resize", "full", "extfull"})
    fail_unless(g_enum_get_value_by_nick(ec, nick) != nullptr, "no preprocess '%s'", nick);
  guint n = 0;
  GParamSpec** all = g_object_class_list_properties(klass, &n);
  for (guint i = 0; i < n; ++i)
    if (all[i]->owner_type == G_OBJECT_TYPE(e))
      fail_unless(all[i]->flags & GST_PARAM_MUTABLE_READY, "%s is not MUTABLE_READY", all[i]->name);
  g_free(all);
  gst_util_set_object_arg(G_OBJECT(e), "preprocess", "extfull");
  g_object_get(e, "preprocess", &preprocess, nullptr);
  fail_unless_equals_int(preprocess, 4);
  gst_object_unref(e);
}
GST_END_TEST;

GST_START_TEST(test_golden_renderer_bundle_loads) {
  // The other helper of tests/support/golden_bundle.h (used by the renderer
  // tests): every network loads strictly, for crop (mapping, 70) and full
  // (mapping_full, 73).
  const std::string dir = tavce::testing::make_golden_renderer_bundle();
  for (const char* mode : {"crop", "full"}) {
    tavce::pipeline::RendererSettings s;
    s.model = dir;
    s.device = "cpu";
    s.threads = 1;
    s.preprocess = mode;
    try {
      tavce::pipeline::RendererSession session(s);
      fail_unless_equals_int(session.coeff_dims(), 70);
      // A named copy: the macro keeps the char pointer past the full
      // expression, which would dangle into the returned temporary.
      const std::string space = session.coeff_space();
      fail_unless_equals_string(space.c_str(), "bfm-exp64-pose6");
    } catch (const std::exception& e) {
      fail("renderer session on the golden bundle (%s): %s", mode, e.what());
    }
  }
  tavce::testing::remove_bundle_dir(dir);
}
GST_END_TEST;

GST_START_TEST(test_reference_pose_and_blinks) {
  // ref-pose adds the reference's head motion relative to its first frame:
  // a still reference changes nothing, a moving one shifts each frame's pose
  // by exactly ref[t mod N] - ref[0] (SadTalker's using_refpose), expression
  // untouched. ref-eyeblink replaces the expression reference: other rows.
  const std::vector<float> mel = mel_of(speech(2 * 16000));
  Props base;
  const auto plain = run_rows(base, mel);
  const int n = 7;  // shorter than the clip: the reference loops
  std::vector<float> still, moving;
  for (int t = 0; t < n; ++t)
    for (int k = 0; k < 70; ++k) {
      const float v = reference_coeffs(70)[size_t(k)];
      still.push_back(v);
      moving.push_back(k >= 64 ? v + 0.01f * float(t * (k - 63)) : v);
    }
  Props p = base;
  p.ref_pose = write_floats(g_tmpdir, "still.coeffs", still);
  const auto same = run_rows(p, mel);
  fail_unless_equals_uint64(same.size(), plain.size());
  for (size_t i = 0; i < plain.size(); ++i)
    for (int k = 0; k < kDims; ++k)
      fail_unless(std::fabs(same[i][k] - plain[i][k]) < 1e-6f, "still reference moved row %zu value %d", i, k);
  p.ref_pose = write_floats(g_tmpdir, "moving.coeffs", moving);
  const auto moved = run_rows(p, mel);
  fail_unless_equals_uint64(moved.size(), plain.size());
  for (size_t i = 0; i < plain.size(); ++i)
    for (int k = 0; k < 70; ++k) {
      const float expect = k >= 64 ? 0.01f * float(int(i % n) * (k - 63)) : 0.0f;
      fail_unless(std::fabs((moved[i][k] - plain[i][k]) - expect) < 1e-5f,
                  "row %zu value %d moved by %g, expected %g", i, k, moved[i][k] - plain[i][k], expect);
    }
  Props b = base;
  b.ref_eyeblink = write_floats(g_tmpdir, "blink.coeffs", moving);
  const auto blinked = run_rows(b, mel);
  fail_unless_equals_uint64(blinked.size(), plain.size());
  bool differs = false;
  for (size_t i = 0; i < plain.size() && !differs; ++i)
    for (int k = 0; k < 64 && !differs; ++k) differs = std::fabs(blinked[i][k] - plain[i][k]) > 1e-6f;
  fail_unless(differs, "ref-eyeblink left the expression unchanged");
  // A file of the wrong length is an error at start, naming it.
  Props bad = base;
  bad.ref_pose = write_floats(g_tmpdir, "bad.coeffs", std::vector<float>(69, 0.0f));
  const std::string text = start_error(bad);
  fail_unless(contains(text, "bad.coeffs"), "%s", text.c_str());
}
GST_END_TEST;

GST_START_TEST(test_reference_pose_from_video) {
  // A real video as ref-pose: every frame goes through dlib, the crop and the
  // bundle's recon network. Frame 0's offset is exactly zero (motion is
  // relative to the reference's first frame), expression is untouched, and
  // the speaker's head motion moves later frames.
  const char* data = g_getenv("TAVCE_DATA_DIR");
  fail_unless(data != nullptr);
  const std::string video = std::string(data) + "/video/grid/bbaf2n.mpg";
  const std::string bundle = tavce::testing::make_golden_audio2coeff_bundle(/*with_recon=*/true);
  const std::vector<float> mel = mel_of(speech(2 * 16000));
  Props base;
  base.model = bundle;
  const auto plain = run_rows(base, mel);
  Props p = base;
  p.ref_pose = video;
  const auto moved = run_rows(p, mel);
  fail_unless_equals_uint64(moved.size(), plain.size());
  double largest = 0.0;
  for (size_t i = 0; i < plain.size(); ++i)
    for (int k = 0; k < 70; ++k) {
      const double d = std::fabs(moved[i][k] - plain[i][k]);
      fail_unless(std::isfinite(moved[i][k]));
      if (k < 64 || i == 0) fail_unless(d < 1e-6, "row %zu value %d moved by %g", i, k, d);
      else largest = std::max(largest, d);
    }
  fail_unless(largest > 1e-4, "the reference video's head motion changed nothing (max %g)", largest);
  tavce::testing::remove_bundle_dir(bundle);
}
GST_END_TEST;

static Suite* audio2coeff_suite() {
  Suite* s = suite_create("tavceaudio2coeff");
  TCase* tc = tcase_create("general");
  tcase_set_timeout(tc, 300);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_coeff_caps_helper);
  tcase_add_test(tc, test_properties);
  tcase_add_test(tc, test_caps_on_both_pads);
  tcase_add_test(tc, test_wrong_mel_caps_error);
  tcase_add_test(tc, test_buffer_without_caps_error);
  tcase_add_test(tc, test_speech_through_melspec);
  tcase_add_test(tc, test_seed_determinism);
  tcase_add_test(tc, test_reference_pose_and_blinks);
  tcase_add_test(tc, test_reference_pose_from_video);
  tcase_add_test(tc, test_eos_pushes_tail);
  tcase_add_test(tc, test_flush_then_new_data);
  tcase_add_test(tc, test_discont_starts_new_run);
  tcase_add_test(tc, test_base_from_segment_without_pts);
  tcase_add_test(tc, test_replayed_dump);
  tcase_add_test(tc, test_audio_shorter_than_one_frame);
  tcase_add_test(tc, test_latency_query);
  tcase_add_test(tc, test_state_cycle_restarts);
  tcase_add_test(tc, test_launch_save_and_replay);
  tcase_add_test(tc, test_missing_model_dir);
  tcase_add_test(tc, test_corrupt_model_json);
  tcase_add_test(tc, test_truncated_weights);
  tcase_add_test(tc, test_source_coeffs_wrong_length);
  tcase_add_test(tc, test_no_portrait);
  tcase_add_test(tc, test_golden_renderer_bundle_loads);
  return s;
}

int main(int argc, char** argv) {
  gst_check_init(&argc, &argv);
  // The fixtures every test shares: made once here, inherited by the forked tests.
  try {
    g_bundle = tavce::testing::make_golden_audio2coeff_bundle();
  } catch (const std::exception& e) {
    g_printerr("cannot make the golden bundle: %s\n", e.what());
    return 1;
  }
  gchar* tmp = g_dir_make_tmp("tavce-a2c-test-XXXXXX", nullptr);
  g_tmpdir = tmp;
  g_free(tmp);
  g_coeffs = write_floats(g_tmpdir, "portrait.f32", reference_coeffs(70));
  g_coeffs_short = write_floats(g_tmpdir, "short.f32", reference_coeffs(69));

  const int failed = gst_check_run_suite(audio2coeff_suite(), "tavceaudio2coeff", __FILE__);

  tavce::testing::remove_bundle_dir(g_bundle);
  tavce::testing::remove_bundle_dir(g_tmpdir);
  return failed;
}
