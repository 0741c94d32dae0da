// GstHarness tests of tavcemelspec: caps, errors, timestamps, values, events,
// latency. Values are compared with the lib's whole-signal melspectrogram(),
// which the lib tests tie to the reference front end; timestamps with the
// 12.5 ms frame period written out as a literal.

// The C++ headers come first: Check defines a `fail` macro that would break
// std::basic_ios::fail() in them.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tavce/audio/mel_spectrogram.h"
#include "../gst/tavcemelcaps.h"

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

namespace {

constexpr int kMels = 80;
constexpr GstClockTime kFrame = 12500000;  // 12.5 ms: hop 200 at 16 kHz
const char* kF32Caps = "audio/x-raw, format=F32LE, layout=interleaved, channels=1, rate=16000";
const char* kS16Caps = "audio/x-raw, format=S16LE, layout=interleaved, channels=1, rate=16000";

// Speech-like test signal: two tones, an envelope and noise, with silence at
// the start so the dB floor is exercised too.
std::vector<float> test_signal(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    if (i < 300) continue;
    const double t = double(i) / 16000.0;
    x[i] = float(0.4 * std::sin(2 * M_PI * 220.0 * t) * (0.5 + 0.5 * std::sin(2 * M_PI * 3.0 * t)) +
                 0.2 * std::sin(2 * M_PI * 1800.0 * t)) + noise(rng);
  }
  return x;
}

std::vector<int16_t> to_s16(const std::vector<float>& x) {
  std::vector<int16_t> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = int16_t(std::lround(std::clamp(x[i], -1.0f, 1.0f) * 32767.0f));
  return y;
}

std::vector<float> s16_as_float(const std::vector<int16_t>& x) {
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = float(x[i]) / 32768.0f;
  return y;
}

template <typename T>
std::vector<guint8> le_bytes(const std::vector<T>& x) {
  std::vector<guint8> b(x.size() * sizeof(T));
  for (size_t i = 0; i < x.size(); ++i) {
    if constexpr (sizeof(T) == 4) GST_WRITE_FLOAT_LE(&b[4 * i], x[i]);
    else GST_WRITE_UINT16_LE(&b[2 * i], guint16(x[i]));
  }
  return b;
}

GstBuffer* bytes_buffer(const guint8* data, size_t n, GstClockTime pts = GST_CLOCK_TIME_NONE) {
  GstBuffer* buf = gst_buffer_new_memdup(data, n);
  GST_BUFFER_PTS(buf) = pts;
  return buf;
}

// Pushes `bytes` in chunks of random size (1..max_chunk bytes, so samples are
// split across buffers), each stamped with the time of its first whole sample.
void push_random_chunks(GstHarness* h, const std::vector<guint8>& bytes, size_t bytes_per_sample,
                        GstClockTime base, size_t max_chunk, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> len(1, max_chunk);
  size_t pos = 0;
  while (pos < bytes.size()) {
    const size_t n = std::min(len(rng), bytes.size() - pos);
    const GstClockTime pts = base + gst_util_uint64_scale(pos / bytes_per_sample, GST_SECOND, 16000);
    fail_unless_equals_int(gst_harness_push(h, bytes_buffer(&bytes[pos], n, pts)), GST_FLOW_OK);
    pos += n;
  }
}

std::vector<GstBuffer*> pull_all(GstHarness* h) {
  std::vector<GstBuffer*> out;
  while (GstBuffer* b = gst_harness_try_pull(h)) out.push_back(b);
  return out;
}

std::vector<float> payload(const std::vector<GstBuffer*>& bufs) {
  std::vector<float> v;
  for (GstBuffer* b : bufs) {
    GstMapInfo map;
    fail_unless(gst_buffer_map(b, &map, GST_MAP_READ));
    fail_unless_equals_int(map.size % (kMels * 4), 0);
    for (gsize i = 0; i < map.size; i += 4) v.push_back(GST_READ_FLOAT_LE(map.data + i));
    gst_buffer_unmap(b, &map);
  }
  return v;
}

void unref_all(std::vector<GstBuffer*>& bufs) {
  for (GstBuffer* b : bufs) gst_buffer_unref(b);
  bufs.clear();
}

bool got_eos(GstHarness* h) {
  bool eos = false;
  while (GstEvent* e = gst_harness_try_pull_event(h)) {
    eos = eos || GST_EVENT_TYPE(e) == GST_EVENT_EOS;
    gst_event_unref(e);
  }
  return eos;
}

void expect_same_mel(const std::vector<float>& got, const std::vector<float>& want) {
  fail_unless_equals_uint64(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    if (got[i] != want[i])
      fail("mel value %zu (frame %zu, band %zu): element %.9g, whole-signal %.9g", i, i / kMels, i % kMels,
           double(got[i]), double(want[i]));
}

// The first error message on the bus, as "message\ndebug", with its code.
std::string pop_error(GstBus* bus, GQuark* domain = nullptr, gint* code = nullptr) {
  GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  if (!msg) return "";
  GError* err = nullptr;
  gchar* dbg = nullptr;
  gst_message_parse_error(msg, &err, &dbg);
  std::string text = std::string(err->message) + "\n" + (dbg ? dbg : "");
  if (domain) *domain = err->domain;
  if (code) *code = err->code;
  g_error_free(err);
  g_free(dbg);
  gst_message_unref(msg);
  return text;
}

GstHarness* harness_with_bus(GstBus** bus) {
  GstHarness* h = gst_harness_new("tavcemelspec");
  *bus = gst_bus_new();
  gst_element_set_bus(h->element, *bus);
  return h;
}

}  // namespace

GST_START_TEST(test_caps_negotiation) {
  for (const char* in_caps : {kF32Caps, kS16Caps}) {
    GstHarness* h = gst_harness_new("tavcemelspec");
    gst_harness_set_src_caps_str(h, in_caps);
    GstCaps* caps = gst_pad_get_current_caps(h->sinkpad);
    fail_unless(caps != nullptr);
    // The specification in docs/caps.md, written out.
    GstCaps* expected = gst_caps_from_string(
        "audio/x-tavce-mel, sample-rate=(int)16000, n-mels=(int)80, n-fft=(int)800, hop=(int)200, "
        "win=(int)800, fmin=(double)55, fmax=(double)7600, preemphasis=(double)0.97, "
        "norm=(string)sadtalker-db-symmetric4, rate=(fraction)80/1, format=(string)F32LE");
    fail_unless(gst_caps_is_equal(caps, expected), "negotiated %" GST_PTR_FORMAT, caps);
    // Consumers read the caps back into the same front-end parameters.
    tavce::audio::MelConfig cfg;
    cfg.n_mels = 1;
    std::string why;
    fail_unless(tavce::gst::mel_caps_to_config(caps, &cfg, &why), "%s", why.c_str());
    const tavce::audio::MelConfig ref;
    fail_unless(cfg.n_mels == ref.n_mels && cfg.hop == ref.hop && cfg.fmax == ref.fmax &&
                cfg.max_abs_value == ref.max_abs_value && cfg.preemphasis == ref.preemphasis);
    gst_caps_unref(expected);
    gst_caps_unref(caps);
    gst_harness_teardown(h);
  }
}
GST_END_TEST;

GST_START_TEST(test_mel_caps_parse_rejects_mismatch) {
  tavce::audio::MelConfig cfg;
  std::string why;
  GstCaps* wrong_rate = gst_caps_from_string(
      "audio/x-tavce-mel, sample-rate=(int)16000, n-mels=(int)80, n-fft=(int)800, hop=(int)200, "
      "win=(int)800, fmin=(double)55, fmax=(double)7600, preemphasis=(double)0.97, "
      "norm=(string)sadtalker-db-symmetric4, rate=(fraction)100/1, format=(string)F32LE");
  fail_if(tavce::gst::mel_caps_to_config(wrong_rate, &cfg, &why));
  fail_unless(why.find("rate") != std::string::npos, "%s", why.c_str());
  gst_caps_unref(wrong_rate);
  GstCaps* audio = gst_caps_from_string(kF32Caps);
  fail_if(tavce::gst::mel_caps_to_config(audio, &cfg, &why));
  gst_caps_unref(audio);
}
GST_END_TEST;

GST_START_TEST(test_wrong_rate_or_channels_error) {
  const char* bad[] = {
      "audio/x-raw, format=F32LE, layout=interleaved, channels=1, rate=44100",
      "audio/x-raw, format=S16LE, layout=interleaved, channels=2, rate=16000, channel-mask=(bitmask)0x3",
      "audio/x-raw, format=S32LE, layout=interleaved, channels=1, rate=16000",
  };
  for (const char* caps_str : bad) {
    GstBus* bus = nullptr;
    GstHarness* h = harness_with_bus(&bus);
    GstCaps* caps = gst_caps_from_string(caps_str);
    // A refused sticky event still "succeeds" on the pushing side (GStreamer
    // leaves the failure to the data flow), so the buffer push is what fails.
    gst_harness_push_event(h, gst_event_new_caps(caps));
    gst_caps_unref(caps);
    GstSegment segment;
    gst_segment_init(&segment, GST_FORMAT_TIME);
    gst_harness_push_event(h, gst_event_new_segment(&segment));
    fail_unless_equals_int(gst_harness_push(h, gst_buffer_new_allocate(nullptr, 3200, nullptr)),
                           GST_FLOW_NOT_NEGOTIATED);
    GQuark domain = 0;
    gint code = 0;
    const std::string text = pop_error(bus, &domain, &code);
    fail_if(text.empty(), "no error message on the bus for %s", caps_str);
    fail_unless(domain == GST_CORE_ERROR && code == GST_CORE_ERROR_NEGOTIATION);
    fail_unless(text.find("audioconvert ! audioresample") != std::string::npos, "%s", text.c_str());
    fail_unless(text.find("16000") != std::string::npos, "%s", text.c_str());
    gst_element_set_bus(h->element, nullptr);
    gst_object_unref(bus);
    gst_harness_teardown(h);
  }
}
GST_END_TEST;

GST_START_TEST(test_buffer_without_caps_error) {
  GstBus* bus = nullptr;
  GstHarness* h = harness_with_bus(&bus);
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  fail_unless(gst_harness_push_event(h, gst_event_new_segment(&segment)));
  fail_unless_equals_int(gst_harness_push(h, gst_buffer_new_allocate(nullptr, 3200, nullptr)),
                         GST_FLOW_NOT_NEGOTIATED);
  const std::string text = pop_error(bus);
  fail_unless(text.find("audioconvert ! audioresample") != std::string::npos, "%s", text.c_str());
  gst_element_set_bus(h->element, nullptr);
  gst_object_unref(bus);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_bytes_segment_error) {
  GstBus* bus = nullptr;
  GstHarness* h = harness_with_bus(&bus);
  GstCaps* caps = gst_caps_from_string(kF32Caps);
  fail_unless(gst_harness_push_event(h, gst_event_new_caps(caps)));
  gst_caps_unref(caps);
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_BYTES);
  gst_harness_push_event(h, gst_event_new_segment(&segment));  // sticky: refusal shows on the bus
  GQuark domain = 0;
  gint code = 0;
  const std::string text = pop_error(bus, &domain, &code);
  fail_unless(domain == GST_STREAM_ERROR && code == GST_STREAM_ERROR_FORMAT);
  fail_unless(text.find("TIME") != std::string::npos && text.find("bytes") != std::string::npos, "%s",
              text.c_str());
  gst_element_set_bus(h->element, nullptr);
  gst_object_unref(bus);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_timestamps) {
  const GstClockTime base = 3 * GST_SECOND + 123456789;
  const size_t n = 16000 + 4321;
  GstHarness* h = gst_harness_new("tavcemelspec");
  gst_harness_set_src_caps_str(h, kF32Caps);
  push_random_chunks(h, le_bytes(test_signal(n, 1)), 4, base, 3000, 2);
  fail_unless(gst_harness_push_event(h, gst_event_new_eos()));
  std::vector<GstBuffer*> bufs = pull_all(h);
  const guint64 frames = 1 + n / 200;
  fail_unless_equals_uint64(bufs.size(), frames);
  for (guint64 m = 0; m < frames; ++m) {
    GstBuffer* b = bufs[m];
    fail_unless_equals_uint64(GST_BUFFER_PTS(b), base + m * kFrame);
    fail_unless_equals_uint64(GST_BUFFER_DURATION(b), kFrame);
    fail_unless_equals_uint64(GST_BUFFER_OFFSET(b), m);
    fail_unless_equals_uint64(GST_BUFFER_OFFSET_END(b), m + 1);
    fail_unless_equals_int(GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DISCONT), m == 0);
    fail_unless_equals_uint64(gst_buffer_get_size(b), kMels * 4);
  }
  fail_unless(got_eos(h));
  unref_all(bufs);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_base_from_segment_without_pts) {
  GstHarness* h = gst_harness_new("tavcemelspec");
  GstCaps* caps = gst_caps_from_string(kS16Caps);
  fail_unless(gst_harness_push_event(h, gst_event_new_caps(caps)));
  gst_caps_unref(caps);
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  segment.start = segment.time = segment.position = 2 * GST_SECOND;
  fail_unless(gst_harness_push_event(h, gst_event_new_segment(&segment)));
  const std::vector<guint8> bytes = le_bytes(to_s16(test_signal(2000, 3)));
  fail_unless_equals_int(gst_harness_push(h, bytes_buffer(bytes.data(), bytes.size())), GST_FLOW_OK);
  std::vector<GstBuffer*> bufs = pull_all(h);
  fail_unless(!bufs.empty());
  for (size_t m = 0; m < bufs.size(); ++m) fail_unless_equals_uint64(GST_BUFFER_PTS(bufs[m]), 2 * GST_SECOND + m * kFrame);
  unref_all(bufs);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_values_f32_random_chunks) {
  const size_t n = 3 * 16000 + 77;
  const std::vector<float> x = test_signal(n, 4);
  const std::vector<float> want = tavce::audio::melspectrogram(x.data(), x.size());
  for (unsigned seed : {5u, 6u}) {
    GstHarness* h = gst_harness_new("tavcemelspec");
    gst_harness_set_src_caps_str(h, kF32Caps);
    push_random_chunks(h, le_bytes(x), 4, 0, seed == 5 ? 37 : 5001, seed);
    fail_unless(gst_harness_push_event(h, gst_event_new_eos()));
    std::vector<GstBuffer*> bufs = pull_all(h);
    expect_same_mel(payload(bufs), want);
    unref_all(bufs);
    gst_harness_teardown(h);
  }
}
GST_END_TEST;

GST_START_TEST(test_values_s16_random_chunks) {
  const size_t n = 2 * 16000 + 199;
  const std::vector<int16_t> pcm = to_s16(test_signal(n, 7));
  const std::vector<float> xf = s16_as_float(pcm);
  const std::vector<float> want = tavce::audio::melspectrogram(xf.data(), xf.size());
  GstHarness* h = gst_harness_new("tavcemelspec");
  gst_harness_set_src_caps_str(h, kS16Caps);
  // Odd chunk sizes split samples across buffers.
  push_random_chunks(h, le_bytes(pcm), 2, 0, 999, 8);
  fail_unless(gst_harness_push_event(h, gst_event_new_eos()));
  std::vector<GstBuffer*> bufs = pull_all(h);
  expect_same_mel(payload(bufs), want);
  unref_all(bufs);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_eos_tail_frame_count) {
  for (size_t n : {size_t(0), size_t(1), size_t(199), size_t(200), size_t(201), size_t(399), size_t(400),
                   size_t(401), size_t(16000), size_t(16123)}) {
    GstHarness* h = gst_harness_new("tavcemelspec");
    gst_harness_set_src_caps_str(h, kF32Caps);
    if (n > 0) {
      const std::vector<guint8> bytes = le_bytes(test_signal(n, 9));
      fail_unless_equals_int(gst_harness_push(h, bytes_buffer(bytes.data(), bytes.size(), 0)), GST_FLOW_OK);
    }
    fail_unless(gst_harness_push_event(h, gst_event_new_eos()));
    std::vector<GstBuffer*> bufs = pull_all(h);
    const size_t want = n == 0 ? 0 : 1 + n / 200;
    fail_unless(payload(bufs).size() == want * kMels, "n=%zu: %zu frames, want %zu", n,
                payload(bufs).size() / kMels, want);
    fail_unless(got_eos(h), "EOS not forwarded for n=%zu", n);
    unref_all(bufs);
    gst_harness_teardown(h);
  }
}
GST_END_TEST;

GST_START_TEST(test_flush_resets) {
  const std::vector<float> a = test_signal(5000, 10), b = test_signal(7000, 11);
  GstHarness* h = gst_harness_new("tavcemelspec");
  gst_harness_set_src_caps_str(h, kF32Caps);
  push_random_chunks(h, le_bytes(a), 4, 0, 1500, 12);
  std::vector<GstBuffer*> before = pull_all(h);
  fail_unless(!before.empty());
  unref_all(before);

  fail_unless(gst_harness_push_event(h, gst_event_new_flush_start()));
  fail_unless(gst_harness_push_event(h, gst_event_new_flush_stop(TRUE)));
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  fail_unless(gst_harness_push_event(h, gst_event_new_segment(&segment)));
  const GstClockTime base = 10 * GST_SECOND;
  push_random_chunks(h, le_bytes(b), 4, base, 1500, 13);
  fail_unless(gst_harness_push_event(h, gst_event_new_eos()));

  std::vector<GstBuffer*> after = pull_all(h);
  expect_same_mel(payload(after), tavce::audio::melspectrogram(b.data(), b.size()));
  fail_unless_equals_uint64(GST_BUFFER_PTS(after.front()), base);
  fail_unless(GST_BUFFER_FLAG_IS_SET(after.front(), GST_BUFFER_FLAG_DISCONT));
  unref_all(after);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_discont_drains_and_restarts) {
  const std::vector<float> a = test_signal(4100, 14), b = test_signal(3333, 15);
  GstHarness* h = gst_harness_new("tavcemelspec");
  gst_harness_set_src_caps_str(h, kF32Caps);
  const std::vector<guint8> ab = le_bytes(a), bb = le_bytes(b);
  fail_unless_equals_int(gst_harness_push(h, bytes_buffer(ab.data(), ab.size(), GST_SECOND)), GST_FLOW_OK);
  GstBuffer* second = bytes_buffer(bb.data(), bb.size(), 5 * GST_SECOND);
  GST_BUFFER_FLAG_SET(second, GST_BUFFER_FLAG_DISCONT);
  fail_unless_equals_int(gst_harness_push(h, second), GST_FLOW_OK);
  fail_unless(gst_harness_push_event(h, gst_event_new_eos()));

  std::vector<GstBuffer*> bufs = pull_all(h);
  const size_t fa = 1 + a.size() / 200, fb = 1 + b.size() / 200;
  fail_unless_equals_uint64(bufs.size(), fa + fb);
  std::vector<GstBuffer*> first_run(bufs.begin(), bufs.begin() + fa), second_run(bufs.begin() + fa, bufs.end());
  expect_same_mel(payload(first_run), tavce::audio::melspectrogram(a.data(), a.size()));
  expect_same_mel(payload(second_run), tavce::audio::melspectrogram(b.data(), b.size()));
  fail_unless_equals_uint64(GST_BUFFER_PTS(first_run.back()), GST_SECOND + (fa - 1) * kFrame);
  fail_unless_equals_uint64(GST_BUFFER_PTS(second_run.front()), 5 * GST_SECOND);
  fail_unless_equals_uint64(GST_BUFFER_OFFSET(second_run.front()), 0);
  fail_unless(GST_BUFFER_FLAG_IS_SET(second_run.front(), GST_BUFFER_FLAG_DISCONT));
  unref_all(bufs);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_frames_per_buffer) {
  const size_t n = 16000;  // 81 frames = 11 x 7 + 4
  const std::vector<float> x = test_signal(n, 16);
  GstHarness* h = gst_harness_new("tavcemelspec");
  g_object_set(h->element, "frames-per-buffer", 7u, nullptr);
  gst_harness_set_src_caps_str(h, kF32Caps);
  const GstClockTime base = GST_SECOND / 2;
  push_random_chunks(h, le_bytes(x), 4, base, 2000, 17);
  fail_unless(gst_harness_push_event(h, gst_event_new_eos()));
  std::vector<GstBuffer*> bufs = pull_all(h);
  fail_unless_equals_uint64(bufs.size(), 12);
  for (size_t i = 0; i < bufs.size(); ++i) {
    const guint64 k = i + 1 < bufs.size() ? 7 : 4;
    fail_unless_equals_uint64(gst_buffer_get_size(bufs[i]), k * kMels * 4);
    fail_unless_equals_uint64(GST_BUFFER_PTS(bufs[i]), base + 7 * i * kFrame);
    fail_unless_equals_uint64(GST_BUFFER_DURATION(bufs[i]), k * kFrame);
    fail_unless_equals_uint64(GST_BUFFER_OFFSET(bufs[i]), 7 * i);
    fail_unless_equals_uint64(GST_BUFFER_OFFSET_END(bufs[i]), 7 * i + k);
  }
  expect_same_mel(payload(bufs), tavce::audio::melspectrogram(x.data(), x.size()));
  unref_all(bufs);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_latency_query) {
  GstHarness* h = gst_harness_new("tavcemelspec");
  gst_harness_set_src_caps_str(h, kF32Caps);
  gst_harness_set_upstream_latency(h, 10 * GST_MSECOND);
  GstPad* src = gst_element_get_static_pad(h->element, "src");
  for (guint fpb : {1u, 7u}) {
    g_object_set(h->element, "frames-per-buffer", fpb, nullptr);
    GstQuery* q = gst_query_new_latency();
    fail_unless(gst_pad_query(src, q));
    gboolean live = FALSE;
    GstClockTime min = 0, max = 0;
    gst_query_parse_latency(q, &live, &min, &max);
    fail_unless(live);
    // 10 ms upstream + 25 ms STFT look-ahead + (fpb - 1) x 12.5 ms.
    fail_unless_equals_uint64(min, 10 * GST_MSECOND + 25 * GST_MSECOND + (fpb - 1) * kFrame);
    fail_unless_equals_uint64(max, GST_CLOCK_TIME_NONE);
    gst_query_unref(q);
  }
  gst_object_unref(src);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_state_cycle_restarts) {
  const std::vector<float> x = test_signal(6000, 18);
  const std::vector<guint8> bytes = le_bytes(x);
  GstHarness* h = gst_harness_new("tavcemelspec");
  gst_harness_set_src_caps_str(h, kF32Caps);
  fail_unless_equals_int(gst_harness_push(h, bytes_buffer(bytes.data(), bytes.size() / 2, 0)), GST_FLOW_OK);
  std::vector<GstBuffer*> bufs = pull_all(h);
  unref_all(bufs);
  // Stop mid-stream, restart: nothing of the first half may leak into the second run.
  fail_unless_equals_int(gst_element_set_state(h->element, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int(gst_element_set_state(h->element, GST_STATE_PLAYING), GST_STATE_CHANGE_SUCCESS);
  gst_harness_set_src_caps_str(h, kF32Caps);
  fail_unless_equals_int(gst_harness_push(h, bytes_buffer(bytes.data(), bytes.size(), 0)), GST_FLOW_OK);
  fail_unless(gst_harness_push_event(h, gst_event_new_eos()));
  bufs = pull_all(h);
  expect_same_mel(payload(bufs), tavce::audio::melspectrogram(x.data(), x.size()));
  unref_all(bufs);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_trailing_half_sample_warns) {
  GstBus* bus = nullptr;
  GstHarness* h = harness_with_bus(&bus);
  gst_harness_set_src_caps_str(h, kS16Caps);
  const std::vector<guint8> bytes = le_bytes(to_s16(test_signal(1000, 19)));
  fail_unless_equals_int(gst_harness_push(h, bytes_buffer(bytes.data(), bytes.size() - 1, 0)), GST_FLOW_OK);
  fail_unless(gst_harness_push_event(h, gst_event_new_eos()));
  std::vector<GstBuffer*> bufs = pull_all(h);
  fail_unless_equals_uint64(payload(bufs).size(), (1 + 999 / 200) * kMels);  // 999 whole samples
  GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_WARNING);
  fail_unless(msg != nullptr, "no warning about the dropped byte");
  gst_message_unref(msg);
  unref_all(bufs);
  gst_element_set_bus(h->element, nullptr);
  gst_object_unref(bus);
  gst_harness_teardown(h);
}
GST_END_TEST;

static Suite* melspec_suite() {
  Suite* s = suite_create("tavcemelspec");
  TCase* tc = tcase_create("general");
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_caps_negotiation);
  tcase_add_test(tc, test_mel_caps_parse_rejects_mismatch);
  tcase_add_test(tc, test_wrong_rate_or_channels_error);
  tcase_add_test(tc, test_buffer_without_caps_error);
  tcase_add_test(tc, test_bytes_segment_error);
  tcase_add_test(tc, test_timestamps);
  tcase_add_test(tc, test_base_from_segment_without_pts);
  tcase_add_test(tc, test_values_f32_random_chunks);
  tcase_add_test(tc, test_values_s16_random_chunks);
  tcase_add_test(tc, test_eos_tail_frame_count);
  tcase_add_test(tc, test_flush_resets);
  tcase_add_test(tc, test_discont_drains_and_restarts);
  tcase_add_test(tc, test_frames_per_buffer);
  tcase_add_test(tc, test_latency_query);
  tcase_add_test(tc, test_state_cycle_restarts);
  tcase_add_test(tc, test_trailing_half_sample_warns);
  return s;
}

GST_CHECK_MAIN(melspec);
