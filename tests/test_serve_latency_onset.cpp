// The definitions tavce-serve-latency measures with (tools/serve_latency/
// onset.h, stats.h), on signals whose answer is known by construction:
//  - audio onset: silence then a tone starting at a known sample is found in
//    the 10 ms window holding that sample (or the next, when the window's RMS
//    is diluted below the threshold), never before; pure silence has none;
//  - mouth difference: a patch against itself shifted by up to max_shift
//    pixels differs by 0; a changed region inside it by the known amount;
//  - idle threshold: margin x the largest idle difference, never below the floor;
//  - percentiles: nearest rank on a known list.
// C++ headers first: Check's `fail` macro breaks std::basic_ios::fail().
#include <cmath>
#include <cstdint>
#include <vector>

#include "serve_latency/onset.h"
#include "serve_latency/stats.h"

#include <check.h>

using serve_latency::Patch;

namespace {

Patch textured(int w, int h, int ox = 0, int oy = 0) {
  Patch p{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h)};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)  // a pattern that changes with every pixel step
      p.px[static_cast<size_t>(y) * w + x] = static_cast<uint8_t>((37 * (x + ox) + 91 * (y + oy) + (x + ox) * (y + oy)) % 251);
  return p;
}

}  // namespace

START_TEST(test_audio_onset) {
  const int rate = 48000;
  std::vector<int16_t> s(rate, 0);
  const size_t start = 12345;
  for (size_t i = start; i < s.size(); ++i) s[i] = static_cast<int16_t>(8000 * std::sin(2 * M_PI * 440 * i / rate));
  const auto onset = serve_latency::audio_onset(s.data(), s.size(), rate, -40);
  ck_assert(onset.has_value());
  const size_t window = rate / 100;
  ck_assert_uint_ge(*onset + window, start + 1);          // the window holds a tone sample ...
  ck_assert_uint_le(*onset, (start / window + 1) * window);  // ... at the latest the next window
  std::vector<int16_t> silence(rate, 3);  // -80 dBFS of hum
  ck_assert(!serve_latency::audio_onset(silence.data(), silence.size(), rate, -40).has_value());
}
END_TEST

START_TEST(test_patch_difference_aligns_sway) {
  const Patch ref = textured(40, 30);
  for (int dy = -3; dy <= 3; ++dy)
    for (int dx = -3; dx <= 3; ++dx)
      ck_assert_double_eq_tol(serve_latency::patch_difference(textured(40, 30, dx, dy), ref, 3), 0.0, 1e-12);
  // A shift larger than allowed is not explained away.
  ck_assert_double_gt(serve_latency::patch_difference(textured(40, 30, 6, 0), ref, 3), 10.0);
  // A 10x10 region 50 levels brighter in the 34x24 core: 5000 / 816.
  Patch open = ref;
  for (int y = 10; y < 20; ++y)
    for (int x = 15; x < 25; ++x) open.px[static_cast<size_t>(y) * 40 + x] = static_cast<uint8_t>(std::min(255, open.px[static_cast<size_t>(y) * 40 + x] + 50));
  const double expected_max = 5000.0 / (34 * 24);
  const double d = serve_latency::patch_difference(open, ref, 3);
  ck_assert_double_le(d, expected_max + 1e-9);
  ck_assert_double_gt(d, 0.5 * expected_max);  // a clipped pixel or a shift lowers it a little, not away
}
END_TEST

START_TEST(test_idle_threshold) {
  const Patch a = textured(20, 20), b = textured(20, 20, 1, 0);
  const serve_latency::IdleModel same = serve_latency::learn_idle({&a, &a, &a}, 1.5, 2.0, 2);
  ck_assert_double_eq_tol(same.max_idle_difference, 0.0, 1e-12);
  ck_assert_double_eq_tol(same.threshold, 2.0, 1e-12);  // the floor
  const serve_latency::IdleModel mixed = serve_latency::learn_idle({&a, &b}, 1.5, 0.0, 0);
  ck_assert_double_gt(mixed.max_idle_difference, 0.0);
  ck_assert_double_eq_tol(mixed.threshold, 1.5 * mixed.max_idle_difference, 1e-12);
}
END_TEST

START_TEST(test_percentiles) {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);
  const nlohmann::json s = serve_latency::summarize(v);
  ck_assert_int_eq(s["count"].get<int>(), 100);
  ck_assert_double_eq(s["p50"].get<double>(), 50);
  ck_assert_double_eq(s["p95"].get<double>(), 95);
  ck_assert_double_eq(s["max"].get<double>(), 100);
  ck_assert(serve_latency::summarize({})["p95"].is_null());
}
END_TEST

START_TEST(test_split_whole_frames) {
  // -3.5 ms of timing in every offset; one detection a frame late, one two frames early.
  const double r = -3.5 / 40;
  const nlohmann::json s = serve_latency::split_whole_frames({r, r, 1 + r, -2 + r, r}, 40);
  ck_assert_int_eq(s["whole_frames"]["0"].get<int>(), 3);
  ck_assert_int_eq(s["whole_frames"]["1"].get<int>(), 1);
  ck_assert_int_eq(s["whole_frames"]["-2"].get<int>(), 1);
  ck_assert_double_eq_tol(s["residual_ms"]["max"].get<double>(), -3.5, 1e-9);
  ck_assert_double_eq_tol(s["residual_ms"]["min"].get<double>(), -3.5, 1e-9);
  // Past half a frame the rest wraps to the next whole frame: +25 ms is 1 frame - 15 ms.
  const nlohmann::json w = serve_latency::split_whole_frames({25.0 / 40}, 40);
  ck_assert_int_eq(w["whole_frames"]["1"].get<int>(), 1);
  ck_assert_double_eq_tol(w["residual_ms"]["p50"].get<double>(), -15, 1e-9);
}
END_TEST

int main() {
  Suite* s = suite_create("serve-latency-onset");
  TCase* tc = tcase_create("general");
  tcase_add_test(tc, test_audio_onset);
  tcase_add_test(tc, test_patch_difference_aligns_sway);
  tcase_add_test(tc, test_idle_threshold);
  tcase_add_test(tc, test_percentiles);
  tcase_add_test(tc, test_split_whole_frames);
  suite_add_tcase(s, tc);
  SRunner* r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  const int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed == 0 ? 0 : 1;
}
