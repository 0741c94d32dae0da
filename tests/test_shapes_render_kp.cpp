// Check tests for the renderer-side MappingNet, KPDetector and keypoint
// transformation modules: the full-size module trees against the key / shape /
// dtype / param|buffer listing of the official containers in
// golden/shapes_render.json (taken from the reference modules at their real
// configs), plus closed-form checks of the keypoint transformation and a
// gradient check (the modules must stay trainable).
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include "tavce/error.h"
#include "tavce/io/tensor_io.h"
#include "tavce/nn/keypoint_transform.h"
#include "tavce/nn/kp_detector.h"
#include "tavce/nn/mapping_net.h"
#include "tavce/nn/state_dict.h"

#include "support/layout_check.h"

// Last: check.h defines a macro named fail that breaks std::ios::fail().
#include <check.h>

using tavce::testing::DtypeStyle;
using tavce::testing::golden_dir;
using tavce::testing::Layout;

namespace {

const nlohmann::json& shapes_json() {
  static const nlohmann::json j = [] {
    const std::string p = golden_dir() + "/shapes_render.json";
    nlohmann::json out;
    ck_assert_msg(tavce::testing::load_json(p, &out), "cannot read %s (set TAVCE_GOLDEN_DIR)", p.c_str());
    return out;
  }();
  return j;
}

Layout expected_layout(const std::string& container, const std::string& prefix) {
  return tavce::testing::layout_from_rows(shapes_json().at("containers").at(container).at("rows"), prefix);
}

Layout module_layout(const torch::nn::Module& m) { return tavce::testing::module_layout(m, DtypeStyle::kSafetensors); }

// Every key of both sides, with shape, dtype and kind, must agree.
void check_layout(const Layout& expected, const Layout& actual, const char* what) {
  ck_assert_msg(!expected.empty(), "%s: no rows in shapes_render.json", what);
  const int bad = tavce::testing::layout_differences(expected, actual, what);
  ck_assert_msg(bad == 0, "%s: %d key/shape/dtype/kind differences (see stderr)", what, bad);
  ck_assert_uint_eq(expected.size(), actual.size());
}

START_TEST(test_kp_detector_full_layout) {
  tavce::nn::KPDetector det;  // full-size defaults (facerender.yaml)
  const Layout expected = expected_layout("SadTalker_V0.0.2_256.safetensors", "kp_extractor.");
  check_layout(expected, module_layout(*det), "kp_extractor");
  // 41,940,047 parameters (reference-architecture §3.6).
  int64_t n = 0;
  for (const auto& p : det->parameters()) n += p.numel();
  ck_assert_int_eq(n, 41940047);
}
END_TEST

START_TEST(test_mapping_layouts) {
  tavce::nn::MappingNetConfig c70;
  tavce::nn::MappingNet m70(c70);
  check_layout(expected_layout("mapping_00229-model.pth.tar['mapping']", ""), module_layout(*m70), "mapping_00229");
  tavce::nn::MappingNetConfig c73;
  c73.coeff_nc = 73;
  tavce::nn::MappingNet m73(c73);
  check_layout(expected_layout("mapping_00109-model.pth.tar['mapping']", ""), module_layout(*m73), "mapping_00109");
  int64_t n70 = 0, n73 = 0;
  for (const auto& p : m70->parameters()) n70 += p.numel();
  for (const auto& p : m73->parameters()) n73 += p.numel();
  ck_assert_int_eq(n70, 10195190);
  ck_assert_int_eq(n73, 10216694);
}
END_TEST

// The constant anti-alias Gaussian the module builds equals the float32 one the
// reference built (stored exactly in golden/kp_detector).
START_TEST(test_kp_detector_gaussian_buffer) {
  const auto stored =
      tavce::io::load_tensors(tavce::io::SafeTensors::open(golden_dir() + "/kp_detector/weights.safetensors"));
  tavce::nn::KPDetectorConfig cfg;
  cfg.block_expansion = 8;
  cfg.max_features = 64;
  cfg.reshape_channel = 1024;
  tavce::nn::KPDetector det(cfg);
  const at::Tensor diff = (det->down->weight - stored.at("down.weight")).abs().max();
  ck_assert_msg(diff.item<double>() < 1e-7, "down.weight differs by %g", diff.item<double>());
}
END_TEST

START_TEST(test_keypoint_transform_closed_form) {
  c10::InferenceMode guard;
  // Uniform logits: mean bin 32.5 -> 32.5 * 3 - 99 = -1.5 degrees.
  const at::Tensor deg = tavce::nn::headpose_pred_to_degree(at::zeros({2, 66}));
  ck_assert(at::allclose(deg, at::full({2}, -1.5f), 0, 1e-5));
  // A peaked bin k gives about 3k - 99.
  at::Tensor peaked = at::full({1, 66}, -1e4f);
  peaked.index_put_({0, 40}, 0.0f);
  ck_assert_float_eq_tol(tavce::nn::headpose_pred_to_degree(peaked).item<float>(), 21.0f, 1e-4f);
  // 180 degrees are converted with 3.14, not pi: cos(3.14) != -1.
  const at::Tensor z = at::zeros({1});
  const at::Tensor r = tavce::nn::get_rotation_matrix(at::full({1}, 180.0f), z, z);
  ck_assert_float_eq_tol(r.index({0, 0, 0}).item<float>(), float(std::cos(3.14)), 1e-6f);
  ck_assert_float_eq_tol(r.index({0, 0, 2}).item<float>(), float(std::sin(3.14)), 1e-6f);
  // R = P . Y . Rz: compare with the product of single-axis rotations.
  const at::Tensor y = at::full({1}, 30.0f), p = at::full({1}, -20.0f), rl = at::full({1}, 10.0f);
  const at::Tensor expected = at::matmul(at::matmul(tavce::nn::get_rotation_matrix(z, p, z),
                                                    tavce::nn::get_rotation_matrix(y, z, z)),
                                         tavce::nn::get_rotation_matrix(z, z, rl));
  ck_assert(at::allclose(tavce::nn::get_rotation_matrix(y, p, rl), expected, 1e-6, 1e-6));
  // Pitch rotates about x: (0,1,0) -> (0,cos,sin).
  const at::Tensor rp = tavce::nn::get_rotation_matrix(z, at::full({1}, 90.0f), z);
  ck_assert_float_eq_tol(rp.index({0, 2, 1}).item<float>(), float(std::sin(3.14 / 2)), 1e-6f);

  // Zero angles, t = (1,2,3): only y survives; inputs untouched.
  tavce::nn::HeadPose he;
  he.yaw = he.pitch = he.roll = at::zeros({1, 66});
  he.yaw_in = he.pitch_in = he.roll_in = at::zeros({1});
  he.t = at::tensor({1.0f, 2.0f, 3.0f}).view({1, 3});
  he.exp = at::zeros({1, 45});
  const at::Tensor kp = at::rand({1, 15, 3});
  const auto out = tavce::nn::keypoint_transformation(kp, he);
  ck_assert(at::equal(he.t, at::tensor({1.0f, 2.0f, 3.0f}).view({1, 3})));
  ck_assert(at::equal(out.t, at::tensor({0.0f, 2.0f, 0.0f}).view({1, 3})));
  ck_assert(at::allclose(out.value, kp + at::tensor({0.0f, 2.0f, 0.0f}), 0, 1e-6));
  // Bad shapes are reported as tavce::Error.
  bool thrown = false;
  try {
    tavce::nn::headpose_pred_to_degree(at::zeros({1, 65}));
  } catch (const tavce::Error&) {
    thrown = true;
  }
  ck_assert(thrown);
}
END_TEST

// Gradients reach every input of the transformation and every parameter of a
// small MappingNet and KPDetector (no inference-only shortcuts).
START_TEST(test_trainable) {
  tavce::nn::MappingNetConfig mc;
  mc.descriptor_nc = 16;
  tavce::nn::MappingNet map(mc);
  tavce::nn::KPDetectorConfig kc;
  kc.block_expansion = 4;
  kc.max_features = 16;
  kc.reshape_channel = 256;
  tavce::nn::KPDetector det(kc);
  // B=2: in training mode the 1x1 bottleneck BatchNorm needs more than one value per channel.
  const at::Tensor image = at::rand({2, 3, 128, 128});
  const at::Tensor coeffs = at::randn({2, 70, 27});
  const at::Tensor kp = det->forward(image);
  const tavce::nn::HeadPose he = map->forward(coeffs);
  const auto out = tavce::nn::keypoint_transformation(kp, he);
  out.value.sum().backward();
  for (const auto& p : map->named_parameters()) {
    ck_assert_msg(p.value().grad().defined(), "no grad for mapping %s", p.key().c_str());
    ck_assert_msg(p.value().grad().abs().sum().item<double>() > 0, "zero grad for mapping %s", p.key().c_str());
  }
  for (const auto& p : det->named_parameters())
    ck_assert_msg(p.value().grad().defined(), "no grad for kp_detector %s", p.key().c_str());
  ck_assert(det->kp->weight.grad().abs().sum().item<double>() > 0);
}
END_TEST

Suite* shapes_suite() {
  Suite* s = suite_create("shapes_render_kp");
  TCase* tc = tcase_create("layout");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_kp_detector_full_layout);
  tcase_add_test(tc, test_mapping_layouts);
  tcase_add_test(tc, test_kp_detector_gaussian_buffer);
  suite_add_tcase(s, tc);
  TCase* fn = tcase_create("functions");
  tcase_set_timeout(fn, 300);
  tcase_add_test(fn, test_keypoint_transform_closed_form);
  tcase_add_test(fn, test_trainable);
  suite_add_tcase(s, fn);
  return s;
}

}  // namespace

int main() {
  SRunner* runner = srunner_create(shapes_suite());
  srunner_run_all(runner, CK_NORMAL);
  const int failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
