// Check tests for the SPADE generator, its dense-motion network and TAVCE's
// CERL block: the full-size module trees against golden/shapes_render.json
// (the SadTalker safetensors' "generator." keys and TAVCE ckpt['generator'],
// spectral-norm triples folded into a plain weight), the CERL closed form
// against the reference's matrix formula, the source cache against the plain
// forward, and a gradient check (the modules must stay trainable).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include "tavce/error.h"
#include "tavce/nn/cerl.h"
#include "tavce/nn/spade_generator.h"
#include "tavce/nn/state_dict.h"

#include "support/layout_check.h"

// Last: check.h defines a macro named fail that breaks std::ios::fail().
#include <check.h>

using tavce::nn::OcclusionAwareSpadeGenerator;
using tavce::nn::SpadeGeneratorConfig;

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

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The container's rows under prefix, with each spectral-norm triple
// (X.weight_orig param, X.weight_u (out) and X.weight_v (in*k*k) buffers)
// replaced by the X.weight param that fold_spectral_norm produces.
Layout expected_layout(const std::string& container, const std::string& prefix, int* sn_triples) {
  const Layout raw = tavce::testing::layout_from_rows(shapes_json().at("containers").at(container).at("rows"), prefix);
  Layout out;
  *sn_triples = 0;
  for (const auto& [key, row] : raw) {
    if (ends_with(key, ".weight_u") || ends_with(key, ".weight_v")) {
      ck_assert_msg(raw.count(key.substr(0, key.size() - 2) + "_orig"), "%s without weight_orig", key.c_str());
      continue;
    }
    if (!ends_with(key, ".weight_orig")) {
      out[key] = row;
      continue;
    }
    const std::string stem = key.substr(0, key.size() - 5);
    const auto& shape = std::get<0>(row);
    int64_t fan = 1;
    for (size_t i = 1; i < shape.size(); ++i) fan *= shape[i];
    ck_assert_msg(raw.count(stem + "_u") && std::get<0>(raw.at(stem + "_u")) == std::vector<int64_t>{shape[0]},
                  "%s_u missing or mis-shaped", stem.c_str());
    ck_assert_msg(raw.count(stem + "_v") && std::get<0>(raw.at(stem + "_v")) == std::vector<int64_t>{fan},
                  "%s_v missing or mis-shaped", stem.c_str());
    out[stem] = row;
    ++*sn_triples;
  }
  return out;
}

Layout module_layout(const torch::nn::Module& m) { return tavce::testing::module_layout(m, DtypeStyle::kSafetensors); }

void check_layout(const Layout& expected, const Layout& actual, const char* what) {
  ck_assert_msg(!expected.empty(), "%s: no rows in shapes_render.json", what);
  const int bad = tavce::testing::layout_differences(expected, actual, what);
  ck_assert_msg(bad == 0, "%s: %d key/shape/dtype/kind differences (see stderr)", what, bad);
  ck_assert_uint_eq(expected.size(), actual.size());
}

int64_t count_params(const torch::nn::Module& m) { return tavce::testing::param_count(m); }

START_TEST(test_sadtalker_generator_layout) {
  OcclusionAwareSpadeGenerator gen(SpadeGeneratorConfig::sadtalker());
  int sn = 0;
  const Layout expected = expected_layout("SadTalker_V0.0.2_256.safetensors", "generator.", &sn);
  ck_assert_int_eq(sn, 6 * 2 + 2 * 3);  // G_middle_0..5 conv_0/1, up_0/up_1 conv_0/1/s
  check_layout(expected, module_layout(*gen), "generator");
  // 100,988,176 parameters (reference-architecture §3.9; weight_orig counted as weight).
  ck_assert_int_eq(count_params(*gen), 100988176);
  ck_assert_int_eq(count_params(*gen->dense_motion_network), 43545549);
}
END_TEST

START_TEST(test_tavce_generator_layout) {
  OcclusionAwareSpadeGenerator gen(SpadeGeneratorConfig::tavce());
  int sn = 0;
  const Layout expected = expected_layout("TAVCE facerender ckpt['generator']", "", &sn);
  ck_assert_int_eq(sn, 18);
  check_layout(expected, module_layout(*gen), "TAVCE generator");
  ck_assert_int_eq(count_params(*gen), 101382544);
}
END_TEST

// The closed-form gate equals the reference's diag(normalize(cov(prev, cur))),
// cov built as TAVCE inference.py does; d = 0 gives a zero gate.
START_TEST(test_cerl_gate_closed_form) {
  c10::InferenceMode guard;
  at::manual_seed(3);
  const at::Tensor prev = at::randn({3, 128}) * 0.5;
  const at::Tensor cur = prev + at::randn({3, 128}) * 0.3;
  const at::Tensor z = at::stack({prev, cur}, 1);
  const at::Tensor m = z - z.mean(1, true);
  const at::Tensor cov = at::bmm(m.transpose(1, 2), m);
  const at::Tensor gate = tavce::nn::cerl_gate(prev, cur);
  ck_assert(at::allclose(gate, tavce::nn::cerl_gate_from_cov(cov), 0, 1e-6));
  // A unit vector in [0, 1]^128.
  ck_assert(at::allclose(gate.norm(2, {1}), at::ones({3}), 0, 1e-5));
  ck_assert(gate.min().item<float>() >= 0.0f);
  ck_assert(at::equal(tavce::nn::cerl_gate(prev, prev), at::zeros({3, 128})));
}
END_TEST

SpadeGeneratorConfig small_config(bool fusion) {
  // The golden reduced config (1/8 channels, 128x128 images).
  SpadeGeneratorConfig c;
  c.block_expansion = 8;
  c.max_features = 64;
  c.reshape_channel = 4;
  c.feature_channel = 4;
  c.dense_motion.block_expansion = 8;
  c.dense_motion.max_features = 32;
  c.decoder = {32, 8, 32, 16};
  c.fusion = fusion;
  c.fusion_feat_dim = 64;
  return c;
}

// A batch-1 cached source rendered for two frames equals the plain forward of
// the repeated source; with CERL and without.
START_TEST(test_source_cache) {
  c10::InferenceMode guard;
  at::manual_seed(5);
  OcclusionAwareSpadeGenerator gen(small_config(true));
  gen->eval();
  const at::Tensor src = at::rand({1, 3, 128, 128});
  const at::Tensor kp_s = at::rand({1, 15, 3}) * 2 - 1;
  const at::Tensor kp_d = at::rand({2, 15, 3}) * 2 - 1;
  const auto full = gen->forward(src.expand({2, 3, 128, 128}), kp_s.expand({2, 15, 3}), kp_d);
  const auto cached_src = gen->encode_source(src, /*cache_volume=*/true);
  const auto cached = gen->render(cached_src, kp_s, kp_d);
  ck_assert(at::allclose(full.prediction, cached.prediction, 0, 1e-5));
  ck_assert(at::allclose(full.occlusion_map, cached.occlusion_map, 0, 1e-5));

  tavce::nn::CerlInput cerl;
  cerl.audio_prev = at::randn({2, 128});
  cerl.audio_cur = at::randn({2, 128});
  const auto full_c = gen->forward(src.expand({2, 3, 128, 128}), kp_s.expand({2, 15, 3}), kp_d, cerl);
  const auto cached_c = gen->render(gen->encode_source(src), kp_s, kp_d, cerl);
  ck_assert(at::allclose(full_c.prediction, cached_c.prediction, 0, 1e-5));
  ck_assert(!at::allclose(full_c.prediction, full.prediction, 0, 1e-5));

  // CERL input to a model without fusion is an error.
  OcclusionAwareSpadeGenerator plain(small_config(false));
  bool thrown = false;
  try {
    plain->forward(src, kp_s, kp_d.narrow(0, 0, 1), cerl);
  } catch (const tavce::Error&) {
    thrown = true;
  }
  ck_assert(thrown);
}
END_TEST

// Gradients reach the parameters TAVCE stage 2 trains (dense motion, proj1,
// proj2) and the rest, in training mode.
START_TEST(test_trainable) {
  at::manual_seed(7);
  OcclusionAwareSpadeGenerator gen(small_config(true));
  gen->train();
  const at::Tensor src = at::rand({2, 3, 128, 128});
  const at::Tensor kp_s = at::rand({2, 15, 3}) * 2 - 1;
  const at::Tensor kp_d = at::rand({2, 15, 3}) * 2 - 1;
  tavce::nn::CerlInput cerl;
  cerl.audio_prev = at::randn({2, 128});
  cerl.audio_cur = at::randn({2, 128});
  const auto out = gen->forward(src, kp_s, kp_d, cerl);
  (out.prediction.mean() + out.occlusion_map.mean()).backward();
  for (const auto& p : gen->named_parameters()) {
    ck_assert_msg(p.value().grad().defined(), "no grad for %s", p.key().c_str());
  }
  for (const char* name : {"proj1.weight", "proj2.weight", "linear.weight", "dense_motion_network.mask.weight",
                           "dense_motion_network.compress.weight", "decoder.G_middle_0.conv_0.weight"}) {
    const at::Tensor g = gen->named_parameters()[name].grad();
    ck_assert_msg(g.abs().sum().item<double>() > 0, "zero grad for %s", name);
  }
}
END_TEST

Suite* shapes_suite() {
  Suite* s = suite_create("shapes_render_gen");
  TCase* tc = tcase_create("layout");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_sadtalker_generator_layout);
  tcase_add_test(tc, test_tavce_generator_layout);
  suite_add_tcase(s, tc);
  TCase* fn = tcase_create("functions");
  tcase_set_timeout(fn, 300);
  tcase_add_test(fn, test_cerl_gate_closed_form);
  tcase_add_test(fn, test_source_cache);
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
