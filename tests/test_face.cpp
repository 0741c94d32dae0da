// Check tests for source preparation (lib/tavce/face): dlib landmarks on real
// portraits (../shared/data/image, read in place), largest-face choice, no-face
// errors, resize mode without a face, predictor file errors, the per-identity
// cache, paste-back round trip and the 73-d coeff_3dmm from a ReconNet.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <ATen/ATen.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "tavce/error.h"
#include "tavce/face/align_face.h"
#include "tavce/face/landmarks.h"
#include "tavce/face/paste_back.h"
#include "tavce/face/recon.h"
#include "tavce/face/source.h"
#include "tavce/io/safetensors.h"
#include "tavce/io/tensor_io.h"
#include "tavce/nn/recon_net.h"

// Last: check.h defines a macro named fail that breaks std::ios::fail().
#include <check.h>

namespace fs = std::filesystem;
using namespace tavce;

namespace {

fs::path data(const std::string& rel) {
  const char* dir = std::getenv("TAVCE_DATA_DIR");
  return fs::path(dir ? dir : "../shared/data") / rel;
}

fs::path golden(const std::string& rel) {
  const char* dir = std::getenv("TAVCE_GOLDEN_DIR");
  return fs::path(dir ? dir : "../shared/golden") / rel;
}

cv::Mat load_rgb(const std::string& rel) {
  const cv::Mat bgr = cv::imread(data(rel).string(), cv::IMREAD_COLOR);
  ck_assert_msg(!bgr.empty(), "cannot read %s", data(rel).c_str());
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

cv::Mat noise_image(int w, int h) {
  cv::Mat m(h, w, CV_8UC3);
  cv::RNG rng(1234);
  rng.fill(m, cv::RNG::UNIFORM, 0, 256);
  return m;
}

}  // namespace

START_TEST(one_face_on_real_portraits) {
  const auto det = face::LandmarkDetector::shared();
  for (const char* name : {"image/people_0.png", "image/happy.png", "image/art_0.png", "image/full_body_1.png"}) {
    const cv::Mat img = load_rgb(name);
    const auto faces = det->detect(img);
    ck_assert_msg(faces.size() == 1, "%s: %zu faces", name, faces.size());
    ck_assert_int_eq(faces[0].points.size(), 68);
    for (const auto& p : faces[0].points)
      ck_assert_msg(p.x >= 0 && p.y >= 0 && p.x < img.cols && p.y < img.rows, "%s: point outside", name);
    // Anatomy sanity: left eye left of right eye, mouth below the eyes.
    ck_assert(faces[0].points[36].x < faces[0].points[45].x);
    ck_assert(faces[0].points[57].y > faces[0].points[27].y);
  }
}
END_TEST

// The golden landmarks are dlib's on people_0.png plus a sub-pixel offset:
// the same detector configuration must land within a pixel of them.
START_TEST(landmarks_match_golden_dlib_points) {
  const cv::Mat img = load_rgb("image/people_0.png");
  const auto lm = face::detect_landmarks(img);
  ck_assert(lm.has_value());
  const auto st = io::SafeTensors::open(golden("crop_align/io.safetensors").string());
  const at::Tensor ref = io::to_tensor(st.at("align_face.people474.lm68")).to(at::kDouble);
  double worst = 0;
  for (int i = 0; i < 68; ++i)
    worst = std::max({worst, std::abs((*lm)[i].x - ref[i][0].item<double>()),
                      std::abs((*lm)[i].y - ref[i][1].item<double>())});
  ck_assert_msg(worst < 1.0, "max landmark distance to golden %g px", worst);
}
END_TEST

START_TEST(largest_of_two_faces) {
  const cv::Mat img = load_rgb("image/people_0.png");
  cv::Mat small;
  cv::resize(img, small, cv::Size(), 0.6, 0.6, cv::INTER_AREA);
  // Small copy on the left, full-size copy on the right.
  cv::Mat canvas(img.rows, small.cols + img.cols, CV_8UC3, cv::Scalar::all(128));
  small.copyTo(canvas(cv::Rect(0, 0, small.cols, small.rows)));
  img.copyTo(canvas(cv::Rect(small.cols, 0, img.cols, img.rows)));
  const auto faces = face::LandmarkDetector::shared()->detect(canvas);
  ck_assert_msg(faces.size() == 2, "%zu faces", faces.size());
  ck_assert(faces[0].box.area() > faces[1].box.area());
  const auto lm = face::detect_landmarks(canvas);
  ck_assert(lm.has_value());
  for (const auto& p : *lm) ck_assert_msg(p.x >= small.cols, "largest face not chosen (x=%g)", p.x);
}
END_TEST

START_TEST(no_face_errors_name_file_and_resize) {
  for (const cv::Mat& img : {cv::Mat(300, 300, CV_8UC3, cv::Scalar::all(200)), noise_image(320, 240)}) {
    ck_assert(!face::detect_landmarks(img).has_value());
    for (auto mode : {face::Preprocess::Crop, face::Preprocess::ExtCrop, face::Preprocess::Full, face::Preprocess::ExtFull}) {
      const std::string err = error_of([&] { face::prepare_source(img, "blank_portrait.png", mode); });
      ck_assert_msg(contains(err, "blank_portrait.png") && contains(err, "resize"), "message: %s", err.c_str());
    }
  }
}
END_TEST

START_TEST(resize_mode_without_face) {
  const cv::Mat img = noise_image(320, 240);
  const face::PreparedSource src = face::prepare_source(img, "noise.png", face::Preprocess::Resize, 256);
  ck_assert_int_eq(src.pic.rows, 256);
  ck_assert_int_eq(src.pic.cols, 256);
  ck_assert(!src.pic_landmarks.has_value());
  ck_assert(!src.crop_info.has_box);
  ck_assert_int_eq(src.crop_info.original_size().width, 320);
  ck_assert_int_eq(src.aligned.rows, 224);
  ck_assert_int_eq(src.recon_input.dims, 4);
  ck_assert_int_eq(src.recon_input.size[1], 3);
  // Fallback alignment of a 256 picture: lm3d_std maps exactly, s' = 102/128.
  ck_assert_float_eq_tol(src.trans_params[0], 256.0f, 1e-6f);
  ck_assert_float_eq_tol(src.trans_params[2], 0.796875f, 1e-5f);
  ck_assert_float_eq_tol(src.trans_params[3], 128.0f, 1e-3f);
  ck_assert_float_eq_tol(src.trans_params[4], 128.0f, 1e-3f);
}
END_TEST

START_TEST(predictor_file_errors) {
  const std::string missing = "/nonexistent/tavce/shape_predictor_68_face_landmarks.dat";
  std::string err = error_of([&] { face::LandmarkDetector::shared(missing); });
  ck_assert_msg(contains(err, missing) && contains(err, "libdlib-data"), "message: %s", err.c_str());

  const fs::path junk = fs::temp_directory_path() / ("tavce-test-face-" + std::to_string(::getpid()) + ".dat");
  std::ofstream(junk) << "this is not a dlib model";
  err = error_of([&] { face::LandmarkDetector::shared(junk.string()); });
  fs::remove(junk);
  ck_assert_msg(contains(err, junk.string()) && contains(err, "libdlib-data"), "message: %s", err.c_str());

  err = error_of([&] { face::prepare_source(noise_image(64, 64), "x.png", face::SourceOptions{face::Preprocess::Resize, 256, missing}); });
  ck_assert_msg(contains(err, missing), "message: %s", err.c_str());
}
END_TEST

START_TEST(cache_same_object_for_same_bytes) {
  face::SourceCache cache(4);
  const cv::Mat a = load_rgb("image/happy.png");
  const cv::Mat b = a.clone();  // other buffer, same bytes
  const auto pa = cache.get(a, "happy.png", {face::Preprocess::Crop, 256, {}});
  const auto pb = cache.get(b, "copy.png", {face::Preprocess::Crop, 256, {}});
  ck_assert(pa == pb);
  ck_assert_int_eq(cache.size(), 1);
  const auto pc = cache.get(a, "happy.png", {face::Preprocess::Resize, 256, {}});
  ck_assert(pc != pa);
  cv::Mat changed = a.clone();
  changed.at<cv::Vec3b>(0, 0)[0] ^= 1;
  ck_assert(face::image_content_hash(changed) != pa->content_hash);
  const std::string hb = face::image_content_hash(b);  // a named string: ck macros evaluate twice
  ck_assert(hb == pa->content_hash);
  // A failed preparation is not cached and fails again.
  const cv::Mat blank(200, 200, CV_8UC3, cv::Scalar::all(0));
  ck_assert(!error_of([&] { cache.get(blank, "blank.png"); }).empty());
  ck_assert(!error_of([&] { cache.get(blank, "blank.png"); }).empty());
  ck_assert_int_eq(cache.size(), 2);
}
END_TEST

// Several elements asking for the same portrait at once get one preparation.
START_TEST(cache_concurrent_requests) {
  face::SourceCache cache;
  const cv::Mat img = load_rgb("image/people_0.png");
  std::vector<std::shared_ptr<const face::PreparedSource>> got(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < got.size(); ++i)
    threads.emplace_back([&, i] { got[i] = cache.get(img.clone(), "people_0.png", {face::Preprocess::ExtCrop, 128, {}}); });
  for (auto& t : threads) t.join();
  for (const auto& p : got) ck_assert(p && p == got[0]);
  ck_assert_int_eq(got[0]->pic.cols, 128);
  ck_assert_int_eq(cache.size(), 1);
}
END_TEST

START_TEST(full_mode_crop_and_paste_back) {
  const cv::Mat img = load_rgb("image/people_0.png");
  for (auto mode : {face::Preprocess::Full, face::Preprocess::ExtFull, face::Preprocess::Crop}) {
    const face::PreparedSource src = face::prepare_source(img, "people_0.png", mode, 256);
    ck_assert_int_eq(src.pic.cols, 256);
    ck_assert(src.crop_info.has_box);
    ck_assert(src.pic_landmarks.has_value());  // the face is found again on the crop
    const auto box = src.crop_info.paste_box(face::is_extended(mode));
    ck_assert(box[0] >= 0 && box[1] >= 0 && box[2] <= img.cols && box[3] <= img.rows);
    ck_assert(box[2] - box[0] > 100 && box[3] - box[1] > 100);
    // The crop box contains the detected face.
    const auto& lm = *src.source_landmarks;
    ck_assert(lm[30].x > box[0] && lm[30].x < box[2] && lm[30].y > box[1] && lm[30].y < box[3]);
    const cv::Mat out = face::paste_back(src.original, src.pic, src.crop_info, face::is_extended(mode));
    ck_assert_int_eq(out.cols, img.cols);
    ck_assert_int_eq(out.rows, img.rows);
    // Pasting the picture back where it came from changes little.
    ck_assert_msg(cv::norm(out, img, cv::NORM_L1) / double(img.total() * 3) < 3.0, "paste-back drifted");
  }
  ck_assert_str_eq(face::to_string(face::parse_preprocess("extfull")), "extfull");
  ck_assert(contains(error_of([] { face::parse_preprocess("bogus"); }), "resize"));
}
END_TEST

START_TEST(coeff_3dmm_from_recon_net) {
  const face::PreparedSource src = face::prepare_source(load_rgb("image/happy.png"), "happy.png", face::Preprocess::Crop, 256);
  nn::ReconNet net;
  at::Tensor c257;
  const at::Tensor c73 = face::source_coeff_3dmm(*net, src, &c257);
  ck_assert_int_eq(c73.size(0), 1);
  ck_assert_int_eq(c73.size(1), 73);
  ck_assert_int_eq(c257.size(1), 257);
  for (int i = 0; i < 3; ++i) ck_assert_float_eq(c73[0][70 + i].item<float>(), src.trans_params[2 + i]);
  ck_assert(at::equal(c73.slice(1, 0, 64), c257.slice(1, 80, 144)));
  const at::Tensor in = face::recon_input_tensor(src);
  ck_assert(in.min().item<float>() >= 0.0f && in.max().item<float>() <= 1.0f);
  ck_assert_float_eq(in[0][1][100][120].item<float>(), float(src.aligned.at<cv::Vec3b>(100, 120)[1] / 255.0));
}
END_TEST

int main() {
  Suite* s = suite_create("face");
  TCase* tc = tcase_create("face");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, one_face_on_real_portraits);
  tcase_add_test(tc, landmarks_match_golden_dlib_points);
  tcase_add_test(tc, largest_of_two_faces);
  tcase_add_test(tc, no_face_errors_name_file_and_resize);
  tcase_add_test(tc, resize_mode_without_face);
  tcase_add_test(tc, predictor_file_errors);
  tcase_add_test(tc, cache_same_object_for_same_bytes);
  tcase_add_test(tc, cache_concurrent_requests);
  tcase_add_test(tc, full_mode_crop_and_paste_back);
  tcase_add_test(tc, coeff_3dmm_from_recon_net);
  suite_add_tcase(s, tc);
  SRunner* sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
