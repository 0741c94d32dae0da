// Check tests for the audio-side networks (ExpNet, PoseVAE, the wav2lip
// encoder): the full-size module trees against the key / shape / dtype /
// param|buffer listing of the official containers in golden/shapes_audio.json
// (taken from the reference modules at their real configs), strict loading of
// a full-container dict, the Audio2Pose.test chunk arithmetic, and gradient
// flow through the training paths (the modules must stay trainable).
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

#include "tavce/error.h"
#include "tavce/nn/expnet.h"
#include "tavce/nn/pose_vae.h"
#include "tavce/nn/state_dict.h"
#include "tavce/nn/wav2lip_audio_encoder.h"

#include "support/layout_check.h"

// Last: check.h defines a macro named fail that breaks std::ios::fail().
#include <check.h>

using tavce::nn::ExpNet;
using tavce::nn::PoseVAE;
using tavce::nn::PoseVAEConfig;

using tavce::testing::DtypeStyle;
using tavce::testing::golden_dir;
using tavce::testing::Layout;
using tavce::testing::param_count;

namespace {

const char* kSadTalker = "SadTalker_V0.0.2_256.safetensors (audio2exp. and audio2pose. prefixes only)";

const nlohmann::json& shapes_json() {
  static const nlohmann::json j = [] {
    const std::string p = golden_dir() + "/shapes_audio.json";
    nlohmann::json out;
    ck_assert_msg(tavce::testing::load_json(p, &out), "cannot read %s (set TAVCE_GOLDEN_DIR)", p.c_str());
    return out;
  }();
  return j;
}

Layout expected_layout(const std::string& container, const std::string& prefix) {
  return tavce::testing::layout_from_keys(shapes_json().at("containers").at(container).at("keys"), prefix);
}

Layout module_layout(const torch::nn::Module& m) { return tavce::testing::module_layout(m, DtypeStyle::kTorch); }

// Every key of both sides, with shape, dtype and kind, must agree.
void check_layout(const Layout& expected, const Layout& actual, const char* what) {
  ck_assert_msg(!expected.empty(), "%s: no keys in shapes_audio.json", what);
  const int bad = tavce::testing::layout_differences(expected, actual, what);
  ck_assert_msg(bad == 0, "%s: %d key/shape/dtype/kind differences (see stderr)", what, bad);
  ck_assert_uint_eq(expected.size(), actual.size());
}

// A dict with the container's keys and shapes (values: small random numbers).
tavce::nn::TensorMap fake_container(const std::string& container, const std::string& prefix) {
  tavce::nn::TensorMap out;
  for (const auto& [key, v] : expected_layout(container, prefix)) {
    const auto& shape = std::get<0>(v);
    out[key] = std::get<1>(v) == "int64" ? at::zeros(shape, at::kLong) : at::rand(shape) * 0.1 + 0.5;
  }
  return out;
}

START_TEST(test_expnet_layouts) {
  ExpNet net;
  check_layout(expected_layout(kSadTalker, "audio2exp."), module_layout(*net), "audio2exp.");
  check_layout(expected_layout("TAVCE audio2exp ckpt['netG']", ""), module_layout(*net), "TAVCE netG");
  ck_assert_int_eq(param_count(*net), 2849664);
  ck_assert_int_eq(param_count(*net->audio_encoder), 2812672);
}
END_TEST

START_TEST(test_pose_vae_layouts) {
  PoseVAE net;  // full: with netG.encoder and netD_motion
  check_layout(expected_layout(kSadTalker, "audio2pose."), module_layout(*net), "audio2pose.");
  check_layout(expected_layout("TAVCE audio2pose ckpt['audio_encoder']", ""), module_layout(*net->audio_encoder),
               "TAVCE audio_encoder");
  check_layout(expected_layout("TAVCE audio2pose ckpt['netG']", ""), module_layout(*net->netG), "TAVCE netG");
  ck_assert_int_eq(param_count(*net), 11251897);
  ck_assert_int_eq(param_count(*net->netG), 6329272);
  ck_assert_int_eq(param_count(*net->netG->encoder), 3172775);
  ck_assert_int_eq(param_count(*net->netG->decoder), 3156497);
  ck_assert_int_eq(param_count(*net->netD_motion), 2109953);
  // The encoder MLP input is the mutated 454, not 192 (and not 716).
  ck_assert_int_eq(net->cfg.encoder_input_size(), 454);
}
END_TEST

START_TEST(test_correlation_encoder_layout) {
  // The TAVCE correlation model registers the same encoder as audio_encoder.*.
  tavce::nn::Wav2LipAudioEncoder enc;
  check_layout(expected_layout("TAVCE correlation ckpt['audio_encoder']", "audio_encoder."), module_layout(*enc),
               "correlation audio_encoder");
}
END_TEST

START_TEST(test_pose_vae_strict_loading) {
  const tavce::nn::TensorMap full = fake_container(kSadTalker, "audio2pose.");
  ck_assert_uint_eq(full.size(), 419);
  // The full module takes the full container strictly.
  PoseVAE net;
  tavce::nn::load_state_dict(*net, full, "audio2pose");
  ck_assert(at::equal(net->netG->decoder->classbias, full.at("netG.decoder.classbias")));
  // The inference-only module rejects it (unexpected training keys) ...
  PoseVAEConfig cfg;
  cfg.training_parts = false;
  PoseVAE small(cfg);
  bool threw = false;
  try {
    tavce::nn::load_state_dict(*small, full, "audio2pose");
  } catch (const tavce::Error&) {
    threw = true;
  }
  ck_assert(threw);
  // ... and takes its 245 inference keys strictly.
  tavce::nn::TensorMap inference;
  for (const auto& [k, v] : full)
    if (k.rfind("netG.encoder.", 0) != 0 && k.rfind("netD_motion.", 0) != 0) inference[k] = v;
  ck_assert_uint_eq(inference.size(), 245);
  tavce::nn::load_state_dict(*small, inference, "audio2pose inference");
}
END_TEST

START_TEST(test_pose_vae_chunk_count) {
  ck_assert_int_eq(tavce::nn::pose_vae_chunk_count(1, 32), 0);
  ck_assert_int_eq(tavce::nn::pose_vae_chunk_count(2, 32), 1);
  ck_assert_int_eq(tavce::nn::pose_vae_chunk_count(20, 32), 1);
  ck_assert_int_eq(tavce::nn::pose_vae_chunk_count(33, 32), 1);
  ck_assert_int_eq(tavce::nn::pose_vae_chunk_count(34, 32), 2);
  ck_assert_int_eq(tavce::nn::pose_vae_chunk_count(40, 32), 2);
  ck_assert_int_eq(tavce::nn::pose_vae_chunk_count(65, 32), 2);
}
END_TEST

// Frame 0 has zero motion, chunk outputs land in order, wrong z shapes are rejected.
START_TEST(test_pose_vae_generate_shapes) {
  PoseVAEConfig cfg;
  cfg.training_parts = false;
  PoseVAE net(cfg);
  net->eval();
  c10::InferenceMode guard;
  const at::Tensor mels = at::randn({1, 5, 1, 80, 16});
  const at::Tensor ref_pose = at::randn({1, 6});
  const at::Tensor cls = at::zeros({1}, at::kLong);
  const auto seq = tavce::nn::pose_vae_generate(*net, mels, ref_pose, cls, at::randn({1, 1, 64}));
  ck_assert_int_eq(seq.pose.size(1), 5);
  ck_assert(at::equal(seq.pose_motion.select(1, 0), at::zeros({1, 6})));
  ck_assert(at::allclose(seq.pose.select(1, 0), ref_pose));
  bool threw = false;
  try {
    tavce::nn::pose_vae_generate(*net, mels, ref_pose, cls, at::randn({2, 1, 64}));
  } catch (const tavce::Error&) {
    threw = true;
  }
  ck_assert(threw);
  // A single frame needs no draw and is all reference pose.
  const auto one = tavce::nn::pose_vae_generate(*net, mels.slice(1, 0, 1), ref_pose, cls, at::zeros({0, 1, 64}));
  ck_assert_int_eq(one.pose.size(1), 1);
}
END_TEST

// Gradients reach every parameter used by the training paths.
START_TEST(test_training_gradients) {
  ExpNet exp_net;
  exp_net->train();
  const at::Tensor mels = at::randn({2, 3, 1, 80, 16});
  const at::Tensor out = exp_net->forward(mels, at::randn({2, 3, 64}), at::rand({2, 3, 1}));
  out.square().mean().backward();
  for (const auto& p : exp_net->named_parameters())
    ck_assert_msg(p.value().grad().defined() && p.value().grad().abs().sum().item<double>() > 0,
                  "ExpNet %s has no gradient", p.key().c_str());

  PoseVAE pose_net;
  pose_net->train();
  const at::Tensor emb = pose_net->audio_encoder->forward(at::randn({2, 32, 1, 80, 16}), false);
  const auto res = pose_net->netG->forward(at::randn({2, 32, 6}), emb, at::tensor({3, 40}, at::kLong),
                                           at::randn({2, 6}), at::randn({2, 64}));
  const at::Tensor d = pose_net->netD_motion->forward(res.pose_motion);
  ck_assert_int_eq(d.size(0), 2);
  ck_assert_int_eq(d.size(1), 8);
  (res.pose_motion.square().mean() + res.mu.square().mean() + d.mean()).backward();
  for (const auto& p : pose_net->named_parameters()) {
    // linear_logvar is unused by the reference (logvar uses linear_means).
    if (p.key().find("linear_logvar") != std::string::npos) continue;
    ck_assert_msg(p.value().grad().defined(), "PoseVAE %s has no gradient", p.key().c_str());
  }
}
END_TEST

Suite* audio_suite() {
  Suite* s = suite_create("shapes_audio");
  TCase* tc = tcase_create("core");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_expnet_layouts);
  tcase_add_test(tc, test_pose_vae_layouts);
  tcase_add_test(tc, test_correlation_encoder_layout);
  tcase_add_test(tc, test_pose_vae_strict_loading);
  tcase_add_test(tc, test_pose_vae_chunk_count);
  tcase_add_test(tc, test_pose_vae_generate_shapes);
  tcase_add_test(tc, test_training_gradients);
  suite_add_tcase(s, tc);
  return s;
}

}  // namespace

int main() {
  SRunner* sr = srunner_create(audio_suite());
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
