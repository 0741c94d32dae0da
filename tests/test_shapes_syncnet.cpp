// Check tests for the SyncNet lip-sync metric: the full-size S module tree
// against the syncnet_v2.model listing of golden/shapes_audio.json (every key,
// shape, dtype, param|buffer), gradient flow through both branches (the module
// must stay trainable), and small torch-free checks of the MFCC front end and
// the LSE arithmetic (edge cases the golden data does not cover).
#include <cmath>
#include <cstdio>
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

#include "tavce/audio/mfcc.h"
#include "tavce/error.h"
#include "tavce/metrics/lse.h"
#include "tavce/nn/state_dict.h"
#include "tavce/nn/syncnet.h"

#include "support/layout_check.h"

// Last: check.h defines a macro named fail that breaks std::ios::fail().
#include <check.h>

using tavce::nn::SyncNet;

using tavce::testing::DtypeStyle;
using tavce::testing::golden_dir;
using tavce::testing::Layout;

namespace {

const char* kContainer = "syncnet_v2.model";

const nlohmann::json& shapes_json() {
  static const nlohmann::json j = [] {
    const std::string p = golden_dir() + "/shapes_audio.json";
    nlohmann::json out;
    ck_assert_msg(tavce::testing::load_json(p, &out), "cannot read %s (set TAVCE_GOLDEN_DIR)", p.c_str());
    return out;
  }();
  return j;
}

Layout expected_layout() {
  return tavce::testing::layout_from_keys(shapes_json().at("containers").at(kContainer).at("keys"), "");
}

Layout module_layout(const torch::nn::Module& m) { return tavce::testing::module_layout(m, DtypeStyle::kTorch); }

START_TEST(test_syncnet_layout) {
  SyncNet net;
  const Layout expected = expected_layout(), actual = module_layout(*net);
  ck_assert_uint_eq(expected.size(), shapes_json().at("containers").at(kContainer).at("n_keys").get<size_t>());
  const int bad = tavce::testing::layout_differences(expected, actual, nullptr);
  ck_assert_msg(bad == 0, "%d key/shape/dtype/kind differences (see stderr)", bad);
  ck_assert_uint_eq(expected.size(), actual.size());

  int64_t params = 0, elements = 0;
  for (const auto& p : net->parameters()) params += p.numel();
  for (const auto& b : net->buffers()) elements += b.numel();
  elements += params;
  const auto& c = shapes_json().at("containers").at(kContainer);
  ck_assert_int_eq(params, c.at("n_param_elements").get<int64_t>());
  ck_assert_int_eq(elements, c.at("n_elements").get<int64_t>());

  // A dict with exactly these keys loads strictly.
  tavce::nn::TensorMap dict;
  for (const auto& [key, v] : expected)
    dict[key] = std::get<1>(v) == "int64" ? at::zeros(std::get<0>(v), at::kLong) : at::rand(std::get<0>(v));
  tavce::nn::load_state_dict(*net, dict, kContainer);
}
END_TEST

START_TEST(test_syncnet_bad_input) {
  SyncNet net;
  net->eval();
  c10::InferenceMode guard;
  bool threw = false;
  try {
    net->forward_aud(at::zeros({1, 1, 13, 16}));
  } catch (const tavce::Error&) {
    threw = true;
  }
  ck_assert(threw);
  threw = false;
  try {
    net->forward_lip(at::zeros({1, 3, 4, 224, 224}));
  } catch (const tavce::Error&) {
    threw = true;
  }
  ck_assert(threw);
}
END_TEST

// Gradients reach every parameter of both branches in training mode.
START_TEST(test_syncnet_gradients) {
  SyncNet net;
  net->train();
  const at::Tensor aud = net->forward_aud(at::randn({2, 1, 13, 20}));
  const at::Tensor lip = net->forward_lip(at::rand({2, 3, 5, 224, 224}) * 255);
  ck_assert_int_eq(aud.size(1), 1024);
  ck_assert_int_eq(lip.size(1), 1024);
  (aud - lip).square().mean().backward();
  for (const auto& p : net->named_parameters())
    ck_assert_msg(p.value().grad().defined() && p.value().grad().abs().sum().item<double>() > 0,
                  "%s has no gradient", p.key().c_str());
}
END_TEST

START_TEST(test_mfcc_edges) {
  using namespace tavce::audio;
  MfccConfig cfg;
  ck_assert_int_eq(cfg.frame_length(), 400);
  ck_assert_int_eq(cfg.frame_step(), 160);
  // Filterbank: 26 triangles with peak 1 on integer bins, nothing past bin 256.
  const std::vector<double> fb = mfcc_filterbank(cfg);
  ck_assert_uint_eq(fb.size(), 26u * 257u);
  for (int j = 0; j < 26; ++j) {
    double peak = 0;
    for (int k = 0; k < 257; ++k) peak = std::max(peak, fb[j * 257 + k]);
    ck_assert(peak <= 1.0 && peak > 0.0);
  }
  // Frame count: one frame up to 400 samples, then 1 + ceil((N - 400) / 160).
  std::vector<double> x(1000, 0.0);
  ck_assert_int_eq(compute_mfcc(x.data(), 1, cfg).frames, 1);
  ck_assert_int_eq(compute_mfcc(x.data(), 400, cfg).frames, 1);
  ck_assert_int_eq(compute_mfcc(x.data(), 401, cfg).frames, 2);
  ck_assert_int_eq(compute_mfcc(x.data(), 560, cfg).frames, 2);
  ck_assert_int_eq(compute_mfcc(x.data(), 561, cfg).frames, 3);
  // Silence: every energy becomes float64 eps, c0 = log(eps), the other
  // cepstra are the DCT of a constant (zero).
  const MfccResult z = compute_mfcc(x.data(), x.size(), cfg);
  for (int64_t m = 0; m < z.frames; ++m) {
    ck_assert(z.frame_energy[m] == std::numeric_limits<double>::epsilon());
    ck_assert(z.mfcc[m * 13] == std::log(std::numeric_limits<double>::epsilon()));
    for (int c = 1; c < 13; ++c) ck_assert(std::fabs(z.mfcc[m * 13 + c]) < 1e-9);
  }
  bool threw = false;
  try {
    compute_mfcc(x.data(), 0, cfg);
  } catch (const tavce::Error&) {
    threw = true;
  }
  ck_assert(threw);
  // evaluate() windowing.
  ck_assert_int_eq(syncnet_window_count(50, 32000), 45);
  ck_assert_int_eq(syncnet_window_count(30, 32000), 25);
  ck_assert_int_eq(syncnet_window_count(50, 3000), -1);
  std::vector<double> tone(16000);
  for (size_t i = 0; i < tone.size(); ++i) tone[i] = 1000 * std::sin(0.05 * i);
  const MfccResult t = compute_mfcc(tone.data(), tone.size(), cfg);
  ck_assert_int_eq(t.frames, 99);
  const std::vector<float> w = syncnet_mfcc_windows(t, 13, 20);
  ck_assert_uint_eq(w.size(), 20u * 13u * 20u);
  ck_assert(w[(3 * 13 + 2) * 20 + 5] == float(t.mfcc[(4 * 3 + 5) * 13 + 2]));
  threw = false;
  try {
    syncnet_mfcc_windows(t, 13, 21);  // needs 100 frames
  } catch (const tavce::Error&) {
    threw = true;
  }
  ck_assert(threw);
}
END_TEST

START_TEST(test_lse_edges) {
  using namespace tavce::metrics;
  // scipy.signal.medfilt with zero padding.
  const std::vector<double> m = median_filter({5, 1, 4, 2, 3}, 3);
  const std::vector<double> expect = {1, 4, 2, 3, 2};
  for (size_t i = 0; i < m.size(); ++i) ck_assert(m[i] == expect[i]);
  // Audio leading video by 2 frames: cc[j] = im[j + 2]... gives offset 2
  // (minimum at k = vshift - 2, where im[i] meets cc[i - 2]).
  const int64_t n = 30, d = 16, vshift = 5;
  at::manual_seed(3);
  const at::Tensor seq = at::randn({n + 4, d});
  const at::Tensor im = seq.slice(0, 0, n).contiguous();
  const at::Tensor cc = seq.slice(0, 2, n + 2).contiguous();  // cc[j] = seq[j + 2] = im[j + 2]
  const LseResult r = evaluate_lse(im.data_ptr<float>(), cc.data_ptr<float>(), n, d, vshift);
  ck_assert_int_eq(r.minidx, vshift - 2);
  ck_assert_int_eq(r.offset, 2);
  ck_assert(r.conf > 0);
  ck_assert_uint_eq(r.dists.size(), size_t(n * (2 * vshift + 1)));
  // The eps is added to the difference: identical rows are sqrt(d) * 1e-6 apart.
  ck_assert(std::fabs(r.dists[10 * (2 * vshift + 1) + r.minidx] - std::sqrt(double(d)) * 1e-6) < 1e-12);
}
END_TEST

Suite* syncnet_suite() {
  Suite* s = suite_create("shapes_syncnet");
  TCase* tc = tcase_create("core");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_syncnet_layout);
  tcase_add_test(tc, test_syncnet_bad_input);
  tcase_add_test(tc, test_syncnet_gradients);
  tcase_add_test(tc, test_mfcc_edges);
  tcase_add_test(tc, test_lse_edges);
  suite_add_tcase(s, tc);
  return s;
}

}  // namespace

int main() {
  SRunner* sr = srunner_create(syncnet_suite());
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
