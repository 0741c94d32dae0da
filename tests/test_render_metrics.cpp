// The render evaluation's measures (lib/tavce/metrics: mouth landmarks,
// correlation, lip closure, audio energy, masked PSNR/SSIM) against values
// worked out by hand and against invariances the definitions promise.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <unistd.h>
#include <vector>

#include <opencv2/core.hpp>

#include "tavce/error.h"
#include "tavce/metrics/audio_energy.h"
#include "tavce/metrics/correlation.h"
#include "tavce/metrics/image_similarity.h"
#include "tavce/metrics/lip_closure.h"
#include "tavce/metrics/mouth_landmarks.h"

// Last: check.h defines a macro named fail that breaks std::ios::fail().
#include <check.h>

namespace {

using tavce::metrics::FacePoints;
namespace fs = std::filesystem;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

// A synthetic 68-point face: eye corners 36/39 at x 10/30 and 42/45 at x 50/70
// (y 40), so the eye centres are 40 px apart (IOD 40); inner lips 60..67 around
// y 100 with a gap of `gap` px; the other points spread over a face outline.
FacePoints toy_face(double gap) {
  FacePoints p(68);
  for (int i = 0; i < 17; ++i) p[i] = {0.0 + 5 * i, 60.0 + 8 * std::min(i, 16 - i)};  // jaw, chin at y 124
  for (int i = 17; i < 27; ++i) p[i] = {5.0 + 7 * (i - 17), 25.0};                   // brows
  for (int i = 27; i < 36; ++i) p[i] = {40.0 + (i - 31), 50.0 + 2 * (i - 27)};        // nose
  for (int i = 36; i < 48; ++i) p[i] = {10.0 + 5 * (i - 36), 40.0};
  p[36] = {10, 40}, p[39] = {30, 40}, p[42] = {50, 40}, p[45] = {70, 40};
  for (int i = 48; i < 60; ++i) p[i] = {25.0 + 3 * (i - 48), 100.0};                 // outer lips
  p[60] = {30, 100}, p[64] = {50, 100};
  p[61] = {35, 100}, p[62] = {40, 100}, p[63] = {45, 100};
  p[67] = {35, 100 + gap}, p[66] = {40, 100 + gap}, p[65] = {45, 100 + gap};
  return p;
}

FacePoints similar(const FacePoints& p, double angle, double scale, cv::Point2d shift) {
  FacePoints out;
  for (const auto& q : p)
    out.push_back({scale * (std::cos(angle) * q.x - std::sin(angle) * q.y) + shift.x,
                   scale * (std::sin(angle) * q.x + std::cos(angle) * q.y) + shift.y});
  return out;
}

START_TEST(test_lmd_in_iod_and_pose_free) {
  const FacePoints real = toy_face(8);
  // Every mouth point 10 px lower: 10 / IOD 40 = 0.25 IOD.
  FacePoints moved = real;
  for (int i = 48; i < 68; ++i) moved[i].y += 10;
  ck_assert_double_eq_tol(tavce::metrics::mouth_landmark_distance(real, moved), 0.25, 1e-12);
  // The same face turned, enlarged and shifted is the same mouth.
  const FacePoints turned = similar(moved, 0.5, 3.0, {100, -20});
  ck_assert_double_eq_tol(tavce::metrics::mouth_landmark_distance(real, turned), 0.25, 1e-12);
  ck_assert_double_eq_tol(tavce::metrics::mouth_landmark_distance(moved, turned), 0.0, 1e-12);
  // Bad input says what is wrong.
  FacePoints few(10);
  bool threw = false;
  try {
    (void)tavce::metrics::mouth_opening(few);
  } catch (const tavce::Error& e) {
    threw = std::string(e.what()).find("68 landmarks") != std::string::npos;
  }
  ck_assert(threw);
}
END_TEST

START_TEST(test_mouth_opening) {
  // Gap 6 px over IOD 40 = 0.15, whatever the pose.
  ck_assert_double_eq_tol(tavce::metrics::mouth_opening(toy_face(6)), 0.15, 1e-12);
  ck_assert_double_eq_tol(tavce::metrics::mouth_opening(similar(toy_face(6), -1.0, 0.5, {3, 4})), 0.15, 1e-12);
  ck_assert_double_eq_tol(tavce::metrics::mouth_opening(toy_face(0)), 0.0, 1e-12);
}
END_TEST

START_TEST(test_pearson) {
  // (1,2,3,4) vs (1,3,2,4): deviations (-1.5,-.5,.5,1.5) and (-1.5,.5,-.5,1.5),
  // covariance sum 4, each variance sum 5: r = 0.8.
  ck_assert_double_eq_tol(tavce::metrics::pearson({1, 2, 3, 4}, {1, 3, 2, 4}), 0.8, 1e-12);
  // A NaN frame is left out, whatever its partner.
  ck_assert_double_eq_tol(tavce::metrics::pearson({1, 2, kNaN, 3, 4}, {1, 3, 100, 2, 4}), 0.8, 1e-12);
  ck_assert_double_eq_tol(tavce::metrics::pearson({1, 2, 3}, {-2, -4, -6}), -1.0, 1e-12);
  ck_assert(std::isnan(tavce::metrics::pearson({1, 1, 1, 1}, {1, 2, 3, 4})));  // constant: undefined
}
END_TEST

START_TEST(test_best_lag) {
  // a follows b by 4 frames: a[t] = b[t - 4].
  std::vector<double> a(100), b(100);
  for (int t = 0; t < 100; ++t) b[t] = std::sin(0.37 * t) + 0.3 * std::sin(1.3 * t);
  for (int t = 0; t < 100; ++t) a[t] = t >= 4 ? b[t - 4] : 0.0;
  const auto r = tavce::metrics::lagged_correlation(a, b, 15);
  ck_assert_int_eq(r.best_lag, 4);
  ck_assert_double_eq_tol(r.best, 1.0, 1e-12);
  ck_assert(r.at_zero < 0.9);
  // And the other way round.
  const auto back = tavce::metrics::lagged_correlation(b, a, 15);
  ck_assert_int_eq(back.best_lag, -4);
}
END_TEST

START_TEST(test_align_and_closure) {
  const fs::path dir = fs::temp_directory_path() / ("tavce-test-align-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "clip.align").string();
  std::ofstream(path) << "0 10000 sil\n10000 15000 bin\n15000 17500 m\n17500 22500 at\n22500 27500 blue\n";
  const auto words = tavce::metrics::read_align(path);
  ck_assert_int_eq(words.size(), 5);
  ck_assert_double_eq_tol(words[1].start, 0.4, 1e-12);
  ck_assert(tavce::metrics::starts_bilabial("bin") && tavce::metrics::starts_bilabial("place"));
  ck_assert(!tavce::metrics::starts_bilabial("m") && !tavce::metrics::starts_bilabial("at") &&
            !tavce::metrics::starts_bilabial("sil"));
  // "bin" starts at 0.4 s = frame 10: window 8 .. floor(0.52 * 25) = 13, closed at frame 12.
  // "blue" starts at 0.9 s = frame 22: window 20 .. floor(1.02 * 25) = 25, never closed.
  std::vector<double> opening(30, 0.2);
  opening[12] = 0.01;
  opening[14] = 0.0;  // outside bin's window: must not count
  opening[21] = kNaN;
  opening[7] = 0.0;   // before bin's window
  const auto c = tavce::metrics::bilabial_closures(words, opening, 25.0, 0.04);
  ck_assert_int_eq(c.size(), 2);
  ck_assert_int_eq(c[0].first_frame, 8);
  ck_assert_int_eq(c[0].last_frame, 13);
  ck_assert(c[0].closed);
  ck_assert_double_eq_tol(c[0].min_opening, 0.01, 1e-12);
  ck_assert_int_eq(c[1].first_frame, 20);
  ck_assert_int_eq(c[1].last_frame, 25);
  ck_assert(!c[1].closed);
  ck_assert_double_eq_tol(c[1].min_opening, 0.2, 1e-12);
  // A malformed line names the file and the line.
  std::ofstream(path) << "0 10000 sil\n20000 10000 bin\n";
  bool named = false;
  try {
    (void)tavce::metrics::read_align(path);
  } catch (const tavce::Error& e) {
    named = std::string(e.what()).find(path + ":2") != std::string::npos;
  }
  ck_assert(named);
  fs::remove_all(dir);
}
END_TEST

START_TEST(test_frame_energy) {
  // Constant 0.5: RMS 0.5 = -6.0206 dB. A full-scale sine over whole periods:
  // RMS 1/sqrt(2) = -3.0103 dB. Silence: the floor. A half frame of 0.5: RMS 0.5/sqrt(2).
  std::vector<float> s(640 * 4, 0.0f);
  for (int i = 0; i < 640; ++i) s[i] = 0.5f;
  for (int i = 0; i < 640; ++i) s[640 + i] = static_cast<float>(std::sin(2 * M_PI * i / 64.0));
  for (int i = 0; i < 320; ++i) s[3 * 640 + i] = 0.5f;
  const auto e = tavce::metrics::frame_energy_db(s.data(), 640 * 3 + 320, 640);
  ck_assert_int_eq(e.size(), 4);
  ck_assert_double_eq_tol(e[0], 20 * std::log10(0.5), 1e-6);
  ck_assert_double_eq_tol(e[1], 20 * std::log10(1 / std::sqrt(2.0)), 1e-5);
  ck_assert_double_eq_tol(e[2], -80.0, 1e-12);
  ck_assert_double_eq_tol(e[3], 20 * std::log10(0.5 / std::sqrt(2.0)), 1e-6);
}
END_TEST

START_TEST(test_masked_psnr_ssim) {
  const cv::Mat a(32, 32, CV_8UC3, cv::Scalar(100, 100, 100)), b(32, 32, CV_8UC3, cv::Scalar(110, 110, 110));
  cv::Mat all(32, 32, CV_8UC1, cv::Scalar(255));
  // MSE 100: 10 log10(255^2 / 100) = 28.1308 dB.
  ck_assert_double_eq_tol(tavce::metrics::masked_psnr(a, b, all), 10 * std::log10(65025.0 / 100.0), 1e-9);
  // Flat images: SSIM = luminance term (2 mx my + C1) / (mx^2 + my^2 + C1).
  const double c1 = std::pow(0.01 * 255, 2);
  ck_assert_double_eq_tol(tavce::metrics::masked_ssim(a, b, all), (2 * 100 * 110 + c1) / (100 * 100 + 110 * 110 + c1),
                          1e-9);
  // Differences outside the mask do not count.
  cv::Mat c = a.clone(), left = cv::Mat::zeros(32, 32, CV_8UC1);
  c(cv::Rect(16, 0, 16, 32)).setTo(cv::Scalar(0, 255, 0));
  left(cv::Rect(0, 0, 8, 32)).setTo(255);
  ck_assert(std::isinf(tavce::metrics::masked_psnr(a, c, left)));
  ck_assert_double_eq_tol(tavce::metrics::masked_ssim(a, c, left), 1.0, 1e-9);
  ck_assert(tavce::metrics::masked_ssim(a, c, all) < 0.9);
  bool threw = false;
  try {
    (void)tavce::metrics::masked_psnr(a, b, cv::Mat::zeros(32, 32, CV_8UC1));
  } catch (const tavce::Error&) {
    threw = true;
  }
  ck_assert(threw);
}
END_TEST

START_TEST(test_face_mask_leaves_out_the_mouth) {
  const FacePoints real = toy_face(6), generated = toy_face(20);
  const cv::Mat m = tavce::metrics::face_outside_mouth_mask(cv::Size(120, 140), real, generated, 0.1);
  ck_assert_int_eq(m.at<uint8_t>(40, 20), 255);   // an eye
  ck_assert_int_eq(m.at<uint8_t>(103, 40), 0);    // between the lips
  ck_assert_int_eq(m.at<uint8_t>(60, 12), 255);   // a cheek beside the nose, above the jaw's hull
  ck_assert_int_eq(m.at<uint8_t>(10, 40), 0);     // above the brows: not face
}
END_TEST

Suite* suite() {
  Suite* s = suite_create("render_metrics");
  TCase* tc = tcase_create("core");
  tcase_add_test(tc, test_lmd_in_iod_and_pose_free);
  tcase_add_test(tc, test_mouth_opening);
  tcase_add_test(tc, test_pearson);
  tcase_add_test(tc, test_best_lag);
  tcase_add_test(tc, test_align_and_closure);
  tcase_add_test(tc, test_frame_energy);
  tcase_add_test(tc, test_masked_psnr_ssim);
  tcase_add_test(tc, test_face_mask_leaves_out_the_mouth);
  suite_add_tcase(s, tc);
  return s;
}

}  // namespace

int main() {
  SRunner* sr = srunner_create(suite());
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
