// Check tests for the face-vid2vid HEEstimator (reference-architecture §3.10):
// the full-size module tree against every he_estimator row of
// docs/state_dict_keys.tsv (key, shape, param|buffer, int64 step counters),
// the 30,254,838 parameter count, output shapes, the reference's yaw/roll
// head swap, and gradient flow in training mode. No golden case exists.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include "tavce/error.h"
#include "tavce/nn/he_estimator.h"
#include "tavce/nn/state_dict.h"

#include "support/layout_check.h"

// Last: check.h defines a macro named fail that breaks std::ios::fail().
#include <check.h>

using tavce::nn::HEEstimator;
using tavce::nn::HEEstimatorConfig;
using tavce::nn::HeadPose;
using tavce::testing::golden_dir;
using tavce::testing::shape_str;

namespace {

// Every ['he_estimator'] row of state_dict_keys.tsv (beside the golden directory).
tavce::testing::Layout expected_layout() {
  tavce::testing::Layout out;
  const std::string p = golden_dir() + "/../docs/state_dict_keys.tsv";
  ck_assert_msg(tavce::testing::layout_from_keys_tsv(p, "['he_estimator']", tavce::testing::DtypeStyle::kTorch, &out),
                "cannot use %s (set TAVCE_GOLDEN_DIR; see stderr)", p.c_str());
  return out;
}

START_TEST(test_he_layout) {
  HEEstimator net;
  const tavce::testing::Layout expected = expected_layout();
  ck_assert_uint_eq(expected.size(), 402u);
  // Key, shape, dtype (int64 step counters, float32 else) and param|buffer.
  const tavce::testing::Layout actual = tavce::testing::module_layout(*net, tavce::testing::DtypeStyle::kTorch);
  const int bad = tavce::testing::layout_differences(expected, actual, "he_estimator");
  ck_assert_msg(bad == 0, "%d key/shape/dtype/kind differences (see stderr)", bad);

  ck_assert_int_eq(tavce::testing::param_count(*net), 30254838);

  // A dict with exactly these keys loads strictly.
  tavce::nn::TensorMap dict;
  for (const auto& [key, e] : expected)
    dict[key] = std::get<1>(e) == "int64" ? at::zeros(std::get<0>(e), at::kLong) : at::rand(std::get<0>(e));
  tavce::nn::load_state_dict(*net, dict, "he_estimator");
}
END_TEST

START_TEST(test_he_config) {
  const HEEstimatorConfig d;
  ck_assert_int_eq(d.block_expansion, 64);
  ck_assert_int_eq(d.feature_channel, 32);
  ck_assert_int_eq(d.num_kp, 15);
  ck_assert_int_eq(d.image_channel, 3);
  ck_assert_int_eq(d.max_features, 2048);
  ck_assert_int_eq(d.num_bins, 66);
  ck_assert(!d.estimate_jacobian);
  const auto c = HEEstimatorConfig::from_json(nlohmann::json{{"block_expansion", 16}, {"num_kp", 4},
                                                             {"num_bins", 10}, {"image_channel", 1},
                                                             {"estimate_jacobian", true}});
  ck_assert_int_eq(c.block_expansion, 16);
  ck_assert_int_eq(c.num_kp, 4);
  ck_assert_int_eq(c.num_bins, 10);
  ck_assert_int_eq(c.image_channel, 1);
  ck_assert(c.estimate_jacobian);
  ck_assert_int_eq(c.max_features, 2048);
  HEEstimator small(c);
  ck_assert(small->conv1->weight.sizes() == at::IntArrayRef({16, 1, 7, 7}));
  ck_assert(small->fc_exp->weight.sizes() == at::IntArrayRef({12, 2048}));
  ck_assert(small->fc_yaw->weight.sizes() == at::IntArrayRef({10, 2048}));
}
END_TEST

START_TEST(test_he_forward_shapes) {
  HEEstimator net;
  net->eval();
  c10::InferenceMode guard;
  const HeadPose he = net->forward(at::rand({2, 3, 256, 256}));
  ck_assert(he.yaw.sizes() == at::IntArrayRef({2, 66}));
  ck_assert(he.pitch.sizes() == at::IntArrayRef({2, 66}));
  ck_assert(he.roll.sizes() == at::IntArrayRef({2, 66}));
  ck_assert(he.t.sizes() == at::IntArrayRef({2, 3}));
  ck_assert(he.exp.sizes() == at::IntArrayRef({2, 45}));
  ck_assert(!he.yaw_in.defined() && !he.pitch_in.defined() && !he.roll_in.defined());
  ck_assert(at::isfinite(he.exp).all().item<bool>());
  bool threw = false;
  try {
    net->forward(at::zeros({1, 4, 64, 64}));
  } catch (const tavce::Error&) {
    threw = true;
  }
  ck_assert(threw);
}
END_TEST

// The reference returns yaw = fc_roll(out), roll = fc_yaw(out).
START_TEST(test_he_yaw_roll_swap) {
  HEEstimator net;
  net->eval();
  {
    at::NoGradGuard ng;
    for (auto* fc : {&net->fc_roll, &net->fc_pitch, &net->fc_yaw}) (*fc)->weight.zero_();
    net->fc_roll->bias.copy_(at::arange(66, at::kFloat));
    net->fc_pitch->bias.copy_(at::arange(66, at::kFloat) + 100);
    net->fc_yaw->bias.copy_(-at::arange(66, at::kFloat));
  }
  c10::InferenceMode guard;
  const HeadPose he = net->forward(at::rand({1, 3, 64, 64}));
  ck_assert(at::equal(he.yaw, at::arange(66, at::kFloat).unsqueeze(0)));
  ck_assert(at::equal(he.pitch, at::arange(66, at::kFloat).unsqueeze(0) + 100));
  ck_assert(at::equal(he.roll, -at::arange(66, at::kFloat).unsqueeze(0)));
}
END_TEST

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Gradients reach every parameter in training mode. Conv biases feed a
// training-mode BatchNorm, which removes any per-channel constant: their
// gradient is analytically zero (as in the reference), so for them only the
// presence of a gradient is required.
START_TEST(test_he_gradients) {
  at::manual_seed(0);
  HEEstimator net;
  net->train();
  const HeadPose he = net->forward(at::randn({2, 3, 64, 64}));
  at::Tensor loss = at::zeros({});
  for (const at::Tensor& o : {he.yaw, he.pitch, he.roll, he.t, he.exp}) loss = loss + (o * at::randn(o.sizes())).sum();
  loss.backward();
  for (const auto& p : net->named_parameters()) {
    const std::string& k = p.key();
    const at::Tensor& g = p.value().grad();
    ck_assert_msg(g.defined(), "%s has no gradient", k.c_str());
    ck_assert_msg(at::isfinite(g).all().item<bool>(), "%s has a non-finite gradient", k.c_str());
    const bool conv_bias = ends_with(k, ".bias") && k.find("norm") == std::string::npos &&
                           (k.rfind("conv") != std::string::npos || ends_with(k, "skip.bias"));
    if (!conv_bias) ck_assert_msg(g.abs().sum().item<double>() > 0, "%s has a zero gradient", k.c_str());
  }
}
END_TEST

Suite* he_suite() {
  Suite* s = suite_create("he_estimator");
  TCase* tc = tcase_create("core");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_he_layout);
  tcase_add_test(tc, test_he_config);
  tcase_add_test(tc, test_he_forward_shapes);
  tcase_add_test(tc, test_he_yaw_roll_swap);
  tcase_add_test(tc, test_he_gradients);
  suite_add_tcase(s, tc);
  return s;
}

}  // namespace

int main() {
  SRunner* sr = srunner_create(he_suite());
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
