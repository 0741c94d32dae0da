// GstHarness tests of tavcerenderer over a bundle made of the golden renderer
// weights (reduced 128x128 generator, full-size mapping). The truth is the
// reference's own output: ../shared/golden/animation holds the frames the
// SadTalker loop renders for a source picture, its coefficients and an
// 11-frame driving sequence. Also: timestamps, chunked replay, batching,
// identity switch through the image pad, flush, latency and the errors a user
// meets (no model, corrupt model, no portrait, wrong coefficients).
// Head-pose overrides (yaw/pitch/roll, camera-frames) are checked against
// render::Animator called directly with the same per-frame angles: the golden
// case has no override frames, only gen_camera_pose's degree sequences
// (animation/case.json camera_pose_seq), which feed the Animator here.

// C++ headers first: Check's `fail` macro breaks std::basic_ios::fail().
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <unistd.h>
#include <gst/video/video.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "support/golden_bundle.h"
#include "tavce/error.h"
#include "tavce/io/safetensors.h"
#include "tavce/pipeline/model_store.h"
#include "tavce/pipeline/renderer_session.h"
#include "tavce/render/animator.h"
#include "tavce/render/driving.h"
#include "tavce/render/frames.h"
#include "../gst/tavcecoeffcaps.h"

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

namespace {

constexpr GstClockTime kFrame = GST_SECOND / 25;
constexpr int kSize = 128;
constexpr int kFrames = 11;

struct Fixture {
  std::string bundle, tmp, portrait, coeffs;
  std::vector<float> driving;    // (11, 70)
  std::vector<float> source73;   // (73) the source's coefficients
  std::vector<float> camera_yaw_list, camera_pitch_list, camera_roll_list;  // gen_camera_pose inputs
  std::vector<float> camera_yaw, camera_pitch, camera_roll;  // its (2, 6) outputs, row-major = time order
  std::vector<uint8_t> expected;  // (11, 128, 128, 3): rint(golden frame * 255)
};

Fixture* fx = nullptr;

std::vector<float> floats(const tavce::io::TensorView& v) {
  std::vector<float> out(static_cast<size_t>(v.numel()));
  std::memcpy(out.data(), v.data, out.size() * sizeof(float));
  return out;
}

void remove_fixture() {
  if (!fx) return;
  tavce::testing::remove_bundle_dir(fx->bundle);
  std::filesystem::remove_all(fx->tmp);
}

void setup_fixture() {
  if (fx) return;
  fx = new Fixture;
  std::atexit(remove_fixture);  // Check runs each test in its own process
  fx->bundle = tavce::testing::make_golden_renderer_bundle();
  fx->tmp = (std::filesystem::temp_directory_path() / ("tavce-renderer-" + std::to_string(getpid()))).string();
  std::filesystem::create_directories(fx->tmp);
  const auto io = tavce::io::SafeTensors::open(tavce::testing::golden_dir() + "/animation/io.safetensors");

  // The source picture as the PNG the reference read (RGB values 0..255).
  const std::vector<float> pic = floats(io.at("source_pic_u8"));
  cv::Mat rgb(kSize, kSize, CV_8UC3);
  for (size_t i = 0; i < pic.size(); ++i) rgb.data[i] = static_cast<uint8_t>(pic[i]);
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  fx->portrait = fx->tmp + "/source.png";
  cv::imwrite(fx->portrait, bgr);

  const std::vector<float> c73 = floats(io.at("source_coeff73"));
  fx->source73 = c73;
  fx->camera_yaw_list = floats(io.at("camera.yaw_list"));
  fx->camera_pitch_list = floats(io.at("camera.pitch_list"));
  fx->camera_roll_list = floats(io.at("camera.roll_list"));
  fx->camera_yaw = floats(io.at("camera.yaw_c_seq"));
  fx->camera_pitch = floats(io.at("camera.pitch_c_seq"));
  fx->camera_roll = floats(io.at("camera.roll_c_seq"));
  fx->coeffs = fx->tmp + "/source.f32";
  std::ofstream(fx->coeffs, std::ios::binary).write(reinterpret_cast<const char*>(c73.data()), 73 * 4);

  fx->driving = floats(io.at("driving_coeff70"));
  const std::vector<float> frames = floats(io.at("default.frames"));  // (11, 3, H, W)
  fx->expected.resize(static_cast<size_t>(kFrames) * kSize * kSize * 3);
  for (int t = 0; t < kFrames; ++t)
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < kSize * kSize; ++p)
        fx->expected[(static_cast<size_t>(t) * kSize * kSize + p) * 3 + c] =
            static_cast<uint8_t>(std::nearbyint(frames[(static_cast<size_t>(t) * 3 + c) * kSize * kSize + p] * 255.0f));
}

GstElement* make_renderer(const char* extra_model = nullptr) {
  setup_fixture();
  GstElement* e = gst_element_factory_make("tavcerenderer", nullptr);
  fail_unless(e != nullptr, "tavcerenderer not found (is the plugin blacklisted? run gst-inspect-1.0 -b)");
  g_object_set(e, "model", extra_model ? extra_model : fx->bundle.c_str(), "source-image", fx->portrait.c_str(),
               "source-coeffs", fx->coeffs.c_str(), nullptr);
  gst_util_set_object_arg(G_OBJECT(e), "preprocess", "resize");
  return e;
}

GstCaps* coeff_caps(int dims = 70) {
  tavce::gst::CoeffCapsInfo info;
  info.dims = dims;
  return tavce::gst::coeff_caps_new(info);
}

GstBuffer* row_buffer(int t, GstClockTime pts) {
  GstBuffer* b = gst_buffer_new_allocate(nullptr, 70 * 4, nullptr);
  GstMapInfo map;
  gst_buffer_map(b, &map, GST_MAP_WRITE);
  for (int k = 0; k < 70; ++k) GST_WRITE_FLOAT_LE(map.data + 4 * k, fx->driving[static_cast<size_t>(t) * 70 + k]);
  gst_buffer_unmap(b, &map);
  GST_BUFFER_PTS(b) = pts;
  GST_BUFFER_DURATION(b) = kFrame;
  return b;
}

GstHarness* start_harness(GstElement* e) {
  GstHarness* h = gst_harness_new_with_element(e, "sink", "src");
  gst_harness_set_sink_caps_str(h, "video/x-raw, format=RGB");
  GstCaps* caps = coeff_caps();
  gst_harness_set_src_caps(h, caps);
  return h;
}

// Max abs difference (levels) between an output frame and frame t of
// `frames` (default: the golden frames without overrides).
int frame_error(GstBuffer* buf, int t, const std::vector<uint8_t>* frames = nullptr) {
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_READ);
  fail_unless_equals_int(map.size, kSize * kSize * 3);
  int worst = 0;
  const uint8_t* exp = (frames ? *frames : fx->expected).data() + static_cast<size_t>(t) * kSize * kSize * 3;
  for (size_t i = 0; i < map.size; ++i) worst = std::max(worst, std::abs(int(map.data[i]) - int(exp[i])));
  gst_buffer_unmap(buf, &map);
  return worst;
}

void expect_golden_frames(GstHarness* h, GstClockTime base) {
  for (int t = 0; t < kFrames; ++t) {
    GstBuffer* out = gst_harness_pull(h);
    fail_unless(out != nullptr, "frame %d missing", t);
    fail_unless_equals_uint64(GST_BUFFER_PTS(out), base + t * kFrame);
    fail_unless_equals_uint64(GST_BUFFER_DURATION(out), kFrame);
    // atol 1e-3 on [0,1] is a quarter level: after rounding, at most one level.
    const int err = frame_error(out, t);
    fail_unless(err <= 1, "frame %d differs from the reference by %d levels", t, err);
    gst_buffer_unref(out);
  }
}

// The 11 frames of the animation case with per-frame angle overrides (empty:
// none), rendered by render::Animator on the whole clip: an independent path
// (offline windows, render_clip) to the session's streaming windower.
std::vector<uint8_t> animator_frames(const std::vector<float>& yaw, const std::vector<float>& pitch,
                                     const std::vector<float>& roll) {
  c10::InferenceMode guard;
  auto models = tavce::pipeline::LoadedBundle::get(fx->bundle, "cpu");
  tavce::render::Animator animator(models->kp_detector(), models->generator(), models->mapping());
  cv::Mat bgr = cv::imread(fx->portrait, cv::IMREAD_COLOR);
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  const at::Tensor image = tavce::render::image_from_rgb8(rgb.data, rgb.rows, rgb.cols, static_cast<int64_t>(rgb.step));
  const at::Tensor c73 = at::from_blob(fx->source73.data(), {1, 73}, at::kFloat).clone();
  tavce::render::SourceState state = animator.prepare_source(image, tavce::render::source_semantics(c73, false));
  const at::Tensor sequence = at::from_blob(fx->driving.data(), {kFrames, 70}, at::kFloat).clone();
  auto per_frame = [](const std::vector<float>& v) {
    if (v.empty()) return at::Tensor();
    fail_unless(v.size() >= static_cast<size_t>(kFrames));
    return at::from_blob(const_cast<float*>(v.data()), {kFrames}, at::kFloat).clone();
  };
  tavce::render::ClipControls controls;
  controls.yaw_deg = per_frame(yaw);
  controls.pitch_deg = per_frame(pitch);
  controls.roll_deg = per_frame(roll);
  tavce::render::ClipOptions options;
  options.batch_size = 1;
  const tavce::render::ClipResult clip =
      animator.render_clip(state, tavce::render::semantic_windows(sequence), options, controls);
  const at::Tensor bytes = tavce::render::to_rgb8(clip.frames, tavce::render::ByteRounding::kRint).contiguous();
  return std::vector<uint8_t>(bytes.data_ptr<uint8_t>(), bytes.data_ptr<uint8_t>() + bytes.numel());
}

// "a,b,c" with enough digits to give back the same float32 values.
std::string degree_list(const std::vector<float>& v) {
  std::string s;
  char buf[32];
  for (float x : v) {
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(x));
    s += (s.empty() ? "" : ",") + std::string(buf);
  }
  return s;
}

// Pushes the 11 driving rows, EOS, and returns how many frames differ from
// `expected` by more than one level and how many differ from the golden
// (no-override) frames by more than 8.
std::pair<int, int> render_and_compare(GstElement* e, const std::vector<uint8_t>& expected) {
  GstHarness* h = start_harness(e);
  for (int t = 0; t < kFrames; ++t) fail_unless_equals_int(gst_harness_push(h, row_buffer(t, t * kFrame)), GST_FLOW_OK);
  gst_harness_push_event(h, gst_event_new_eos());
  int wrong = 0, changed = 0;
  for (int t = 0; t < kFrames; ++t) {
    GstBuffer* out = gst_harness_pull(h);
    fail_unless(out != nullptr, "frame %d missing", t);
    const int err = frame_error(out, t, &expected);
    if (err > 1) {
      wrong++;
      fprintf(stderr, "frame %d: %d levels from the Animator's\n", t, err);
    }
    if (frame_error(out, t) > 8) changed++;
    gst_buffer_unref(out);
  }
  gst_harness_teardown(h);
  return {wrong, changed};
}

// The first error on the bus, waiting for it: the aggregator handles events
// and data on its own thread.
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

// Puts a stand-alone element to PAUSED and returns the error it posted.
std::string start_error(GstElement* e) {
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(e, bus);
  const GstStateChangeReturn r = gst_element_set_state(e, GST_STATE_PAUSED);
  fail_unless_equals_int(r, GST_STATE_CHANGE_FAILURE);
  const std::string text = pop_error(bus);
  gst_element_set_state(e, GST_STATE_NULL);
  gst_element_set_bus(e, nullptr);
  gst_object_unref(bus);
  return text;
}

}  // namespace

GST_START_TEST(test_reference_frames) {
  // The reference's default case: 11 frames equal to the golden ones, stamped
  // from the coefficient timestamps (base 1 s: not from zero, not from a clock).
  GstHarness* h = start_harness(make_renderer());
  const GstClockTime base = GST_SECOND;
  for (int t = 0; t < kFrames; ++t) fail_unless_equals_int(gst_harness_push(h, row_buffer(t, base + t * kFrame)), GST_FLOW_OK);
  gst_harness_push_event(h, gst_event_new_eos());
  expect_golden_frames(h, base);
  GstCaps* caps = gst_pad_get_current_caps(h->sinkpad);
  GstVideoInfo info;
  fail_unless(gst_video_info_from_caps(&info, caps));
  fail_unless_equals_int(GST_VIDEO_INFO_WIDTH(&info), kSize);
  fail_unless_equals_int(GST_VIDEO_INFO_FPS_N(&info), 25);
  gst_caps_unref(caps);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_window_lookahead) {
  // Frame i needs rows up to i + 13: nothing may leave before row 13 arrives.
  GstHarness* h = start_harness(make_renderer());
  for (int t = 0; t < 11; ++t) gst_harness_push(h, row_buffer(t, t * kFrame));
  fail_unless(gst_harness_try_pull(h) == nullptr, "a frame left before its window was complete");
  gst_harness_push_event(h, gst_event_new_eos());
  expect_golden_frames(h, 0);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_chunked_replay) {
  // A filesrc replay: rows cut at arbitrary byte positions, no timestamps.
  GstHarness* h = start_harness(make_renderer());
  std::vector<uint8_t> bytes(fx->driving.size() * 4);
  for (size_t i = 0; i < fx->driving.size(); ++i) GST_WRITE_FLOAT_LE(&bytes[4 * i], fx->driving[i]);
  size_t pos = 0, step = 7;
  while (pos < bytes.size()) {
    const size_t n = std::min(step, bytes.size() - pos);
    gst_harness_push(h, gst_buffer_new_memdup(bytes.data() + pos, n));
    pos += n;
    step = step * 3 % 301 + 1;
  }
  gst_harness_push_event(h, gst_event_new_eos());
  expect_golden_frames(h, 0);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_batching_same_frames) {
  GstElement* e = make_renderer();
  g_object_set(e, "batch-size", 3u, nullptr);
  GstHarness* h = start_harness(e);
  for (int t = 0; t < kFrames; ++t) gst_harness_push(h, row_buffer(t, t * kFrame));
  gst_harness_push_event(h, gst_event_new_eos());
  expect_golden_frames(h, 0);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_latency) {
  GstHarness* h = start_harness(make_renderer());
  GstElement* e = h->element;
  g_object_set(e, "latency", (guint64)0, nullptr);
  GstQuery* q = gst_query_new_latency();
  fail_unless(gst_pad_peer_query(h->sinkpad, q));
  gboolean live;
  GstClockTime min, max;
  gst_query_parse_latency(q, &live, &min, &max);
  // 13 frames of look-ahead at 25 fps, batch 1.
  fail_unless_equals_uint64(min, 13 * kFrame);
  gst_query_unref(q);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_flush_restarts_run) {
  GstHarness* h = start_harness(make_renderer());
  for (int t = 0; t < 5; ++t) gst_harness_push(h, row_buffer(t, t * kFrame));
  gst_harness_push_event(h, gst_event_new_flush_start());
  gst_harness_push_event(h, gst_event_new_flush_stop(TRUE));
  GstSegment seg;
  gst_segment_init(&seg, GST_FORMAT_TIME);
  gst_harness_push_event(h, gst_event_new_segment(&seg));
  for (int t = 0; t < kFrames; ++t) gst_harness_push(h, row_buffer(t, 5 * GST_SECOND + t * kFrame));
  gst_harness_push_event(h, gst_event_new_eos());
  expect_golden_frames(h, 5 * GST_SECOND);  // the 5 rows before the flush left no trace
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_image_pad_switches_identity) {
  // A portrait on the image pad replaces source-image: the frames change.
  GstHarness* h = start_harness(make_renderer());
  GstHarness* img = gst_harness_new_with_element(h->element, "image", nullptr);
  gst_harness_set_src_caps_str(img, "video/x-raw, format=RGB, width=128, height=128, framerate=0/1");
  cv::Mat other = cv::imread(fx->portrait, cv::IMREAD_COLOR);
  cv::Mat rgb;
  cv::cvtColor(other, rgb, cv::COLOR_BGR2RGB);
  cv::flip(rgb, rgb, 1);  // a different identity: the mirrored portrait
  GstBuffer* ib = gst_buffer_new_allocate(nullptr, kSize * kSize * 3, nullptr);
  gst_buffer_fill(ib, 0, rgb.data, kSize * kSize * 3);
  gst_harness_push(img, ib);
  gst_harness_push_event(img, gst_event_new_eos());  // its EOS must not end the stream
  for (int t = 0; t < kFrames; ++t) gst_harness_push(h, row_buffer(t, t * kFrame));
  gst_harness_push_event(h, gst_event_new_eos());
  int differing = 0;
  for (int t = 0; t < kFrames; ++t) {
    GstBuffer* out = gst_harness_pull(h);
    fail_unless(out != nullptr);
    if (frame_error(out, t) > 8) differing++;
    gst_buffer_unref(out);
  }
  fail_unless_equals_int(differing, kFrames);
  gst_harness_teardown(img);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_eos_before_any_image) {
  GstElement* e = gst_element_factory_make("tavcerenderer", nullptr);
  setup_fixture();
  g_object_set(e, "model", fx->bundle.c_str(), "source-coeffs", fx->coeffs.c_str(), nullptr);
  gst_util_set_object_arg(G_OBJECT(e), "preprocess", "resize");
  GstHarness* h = start_harness(e);
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(h->element, bus);
  GstHarness* img = gst_harness_new_with_element(h->element, "image", nullptr);
  gst_harness_set_src_caps_str(img, "video/x-raw, format=RGB, width=128, height=128, framerate=0/1");
  gst_harness_push_event(img, gst_event_new_eos());
  gst_harness_push(h, row_buffer(0, 0));
  // The error comes from the aggregator's thread: wait for it.
  GstMessage* msg = gst_bus_timed_pop_filtered(bus, 30 * GST_SECOND, GST_MESSAGE_ERROR);
  fail_unless(msg != nullptr, "no error when the image pad ended without an image");
  GError* err = nullptr;
  gst_message_parse_error(msg, &err, nullptr);
  fail_unless(strstr(err->message, "ended before delivering an image") != nullptr, "%s", err->message);
  g_error_free(err);
  gst_message_unref(msg);
  gst_element_set_bus(h->element, nullptr);
  gst_object_unref(bus);
  gst_harness_teardown(img);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_wrong_dims_refused) {
  GstElement* e = make_renderer();
  GstHarness* h = gst_harness_new_with_element(e, "sink", "src");
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(h->element, bus);
  GstCaps* caps = coeff_caps(73);
  gst_harness_set_src_caps(h, caps);
  const std::string text = pop_error(bus);
  fail_unless(text.find("(73 per frame) but the model takes 'bfm-exp64-pose6' (70 per frame)") != std::string::npos, "%s",
              text.c_str());
  gst_element_set_bus(h->element, nullptr);
  gst_object_unref(bus);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_missing_model) {
  GstElement* e = make_renderer("/nonexistent/tavce-bundle");
  const std::string text = start_error(e);
  fail_unless(text.find("/nonexistent/tavce-bundle") != std::string::npos, "%s", text.c_str());
  gst_object_unref(e);
}
GST_END_TEST;

GST_START_TEST(test_corrupt_model) {
  setup_fixture();
  // A copy of the bundle whose generator weights lost their tail.
  const std::string broken = fx->tmp + "/broken";
  std::filesystem::remove_all(broken);
  std::filesystem::copy(fx->bundle, broken);
  const std::string gen = broken + "/generator.safetensors";
  fail_unless(std::filesystem::exists(gen), "bundle layout changed: %s", gen.c_str());
  std::filesystem::resize_file(gen, std::filesystem::file_size(gen) / 2);
  GstElement* e = make_renderer(broken.c_str());
  const std::string text = start_error(e);
  fail_unless(text.find("truncated") != std::string::npos, "%s", text.c_str());
  gst_object_unref(e);
}
GST_END_TEST;

GST_START_TEST(test_portrait_missing) {
  GstElement* e = make_renderer();
  g_object_set(e, "source-image", "/nonexistent/face.png", nullptr);
  const std::string text = start_error(e);
  fail_unless(text.find("/nonexistent/face.png") != std::string::npos, "%s", text.c_str());
  gst_object_unref(e);
}
GST_END_TEST;

GST_START_TEST(test_constant_yaw_override) {
  // yaw=25: every frame turns the head (differs from the golden frames) and
  // equals the Animator's frames with yaw_deg = 25 for every frame.
  GstElement* e = make_renderer();
  g_object_set(e, "yaw", "25", nullptr);
  const auto [wrong, changed] = render_and_compare(e, animator_frames(std::vector<float>(kFrames, 25.0f), {}, {}));
  fail_unless_equals_int(wrong, 0);
  fail_unless_equals_int(changed, kFrames);
}
GST_END_TEST;

GST_START_TEST(test_camera_lists_override) {
  // The golden camera case (3-value yaw, 1-value pitch, 2-value roll over 11
  // frames): the element interpolates the lists itself; the Animator gets the
  // reference's gen_camera_pose output.
  setup_fixture();
  GstElement* e = make_renderer();
  g_object_set(e, "yaw", degree_list(fx->camera_yaw_list).c_str(), "pitch",
               degree_list(fx->camera_pitch_list).c_str(), "roll", degree_list(fx->camera_roll_list).c_str(),
               "camera-frames", static_cast<guint64>(kFrames), nullptr);
  const auto [wrong, changed] = render_and_compare(e, animator_frames(fx->camera_yaw, fx->camera_pitch, fx->camera_roll));
  fail_unless_equals_int(wrong, 0);
  fail_unless(changed > 0, "the camera lists changed no frame");
}
GST_END_TEST;

GST_START_TEST(test_camera_list_needs_frames) {
  GstElement* e = make_renderer();
  g_object_set(e, "yaw", "0,20,-10", nullptr);
  const std::string text = start_error(e);
  fail_unless(text.find("camera-frames") != std::string::npos, "%s", text.c_str());
  gst_object_unref(e);
}
GST_END_TEST;

GST_START_TEST(test_session_camera_list_needs_frames) {
  // The library refuses it too (for users of RendererSession without the element).
  setup_fixture();
  tavce::pipeline::RendererSettings settings;
  settings.model = fx->bundle;
  settings.device = "cpu";
  settings.roll = {0.0, 10.0};
  std::string text;
  try {
    tavce::pipeline::RendererSession session(settings);
  } catch (const tavce::Error& e) {
    text = e.what();
  }
  fail_unless(text.find("roll lists 2 angles") != std::string::npos, "%s", text.c_str());
  settings.camera_frames = 11;  // with the clip length it is accepted
  tavce::pipeline::RendererSession session(settings);
}
GST_END_TEST;

GST_START_TEST(test_bad_angle_refused) {
  GstElement* e = make_renderer();
  g_object_set(e, "pitch", "10,abc", nullptr);
  const std::string text = start_error(e);
  fail_unless(text.find("'abc' is not a number") != std::string::npos, "%s", text.c_str());
  gst_object_unref(e);
}
GST_END_TEST;

GST_START_TEST(test_portrait_without_face) {
  // A portrait with no face in a face-based mode: the error names the file
  // and suggests preprocess=resize.
  setup_fixture();
  cv::Mat blank(200, 160, CV_8UC3, cv::Scalar(90, 120, 150));
  const std::string path = fx->tmp + "/no-face.png";
  cv::imwrite(path, blank);
  GstElement* e = make_renderer();
  g_object_set(e, "source-image", path.c_str(), nullptr);
  gst_util_set_object_arg(G_OBJECT(e), "preprocess", "crop");
  const std::string text = start_error(e);
  fail_unless(text.find("no-face.png") != std::string::npos, "%s", text.c_str());
  fail_unless(text.find("resize") != std::string::npos, "%s", text.c_str());
  gst_object_unref(e);
}
GST_END_TEST;

static Suite* renderer_suite() {
  Suite* s = suite_create("tavcerenderer");
  TCase* tc = tcase_create("general");
  tcase_set_timeout(tc, 600);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_reference_frames);
  tcase_add_test(tc, test_window_lookahead);
  tcase_add_test(tc, test_chunked_replay);
  tcase_add_test(tc, test_batching_same_frames);
  tcase_add_test(tc, test_latency);
  tcase_add_test(tc, test_flush_restarts_run);
  tcase_add_test(tc, test_image_pad_switches_identity);
  tcase_add_test(tc, test_eos_before_any_image);
  tcase_add_test(tc, test_wrong_dims_refused);
  tcase_add_test(tc, test_missing_model);
  tcase_add_test(tc, test_corrupt_model);
  tcase_add_test(tc, test_portrait_missing);
  tcase_add_test(tc, test_portrait_without_face);
  tcase_add_test(tc, test_constant_yaw_override);
  tcase_add_test(tc, test_camera_lists_override);
  tcase_add_test(tc, test_camera_list_needs_frames);
  tcase_add_test(tc, test_session_camera_list_needs_frames);
  tcase_add_test(tc, test_bad_angle_refused);
  return s;
}

GST_CHECK_MAIN(renderer);
