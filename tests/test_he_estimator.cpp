// Check tests for the face-vid2vid HEEstimator (reference-architecture §3.10):
// the full-size module tree against every he_estimator row of
// docs/state_dict_keys.tsv (key, shape, param|buffer, int64 step counters),
// the 30,254,838 parameter count, output shapes, the reference's yaw/roll
// head swap, and gradient flow in training mode. No golden case exists.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
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

// key -> (shape, kind)
using Layout = std::map<std::string, std::pair<std::vector<int64_t>, std::string>>;

// Rows of state_dict_keys.tsv (container<TAB>key<TAB>shape<TAB>param|buffer)
// whose container is an ['he_estimator'] entry; shape "AxBxC" or "scalar".
Layout expected_layout() {
  const std::string p = golden_dir() + "/../docs/state_dict_keys.tsv";
  std::ifstream in(p);
  ck_assert_msg(in.good(), "cannot read %s (set TAVCE_GOLDEN_DIR)", p.c_str());
  Layout out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, '\t');) cols.push_back(c);
    if (cols.size() != 4 || cols[0].find("['he_estimator']") == std::string::npos) continue;
    std::vector<int64_t> shape;
    if (cols[2] != "scalar") {
      std::stringstream dims(cols[2]);
      for (std::string d; std::getline(dims, d, 'x');) shape.push_back(std::stoll(d));
    }
    const bool dup = out.count(cols[1]) != 0;
    ck_assert_msg(!dup, "duplicate he_estimator key %s in %s", cols[1].c_str(), p.c_str());
    out[cols[1]] = {shape, cols[3]};
  }
  return out;
}

START_TEST(test_he_layout) {
  HEEstimator net;
  const Layout expected = expected_layout();
  ck_assert_uint_eq(expected.size(), 402u);
  Layout actual;
  for (const auto& p : net->named_parameters(true)) {
    ck_assert_msg(p.value().scalar_type() == at::kFloat, "%s is not float32", p.key().c_str());
    actual[p.key()] = {p.value().sizes().vec(), "param"};
  }
  for (const auto& b : net->named_buffers(true)) {
    const bool counter = b.key().size() >= 19 && b.key().compare(b.key().size() - 19, 19, "num_batches_tracked") == 0;
    ck_assert_msg(b.value().scalar_type() == (counter ? at::kLong : at::kFloat), "%s has the wrong dtype",
                  b.key().c_str());
    actual[b.key()] = {b.value().sizes().vec(), "buffer"};
  }
  int bad = 0;
  for (const auto& [key, e] : expected) {
    auto it = actual.find(key);
    if (it == actual.end()) {
      if (bad++ < 20) std::fprintf(stderr, "missing %s\n", key.c_str());
      continue;
    }
    if (it->second != e && bad++ < 20)
      std::fprintf(stderr, "%s is %s %s, expected %s %s\n", key.c_str(), shape_str(it->second.first).c_str(),
                   it->second.second.c_str(), shape_str(e.first).c_str(), e.second.c_str());
  }
  for (const auto& [key, a] : actual)
    if (!expected.count(key) && bad++ < 20) std::fprintf(stderr, "unexpected %s\n", key.c_str());
  ck_assert_msg(bad == 0, "%d key/shape/kind differences (see stderr)", bad);
  ck_assert_uint_eq(expected.size(), actual.size());

  ck_assert_int_eq(tavce::testing::param_count(*net), 30254838);

  // A dict with exactly these keys loads strictly.
  tavce::nn::TensorMap dict;
  for (const auto& [key, e] : expected)
    dict[key] = key.find("num_batches_tracked") != std::string::npos ? at::zeros(e.first, at::kLong)
                                                                      : at::rand(e.first);
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
