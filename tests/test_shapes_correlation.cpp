// Check tests for TAVCE's stage-1 correlation model (correlation AudioEncoder,
// IResNet18) and the Deep3DFaceRecon ReconNet: the full-size module trees
// against the key / shape / dtype / param|buffer listings of the official
// containers (golden/shapes_audio.json, golden/shapes_render.json), parameter
// counts, the covariance relationship against its closed form and the CERL
// gate, the 73-d coeff_3dmm layout, and gradient flow through the stage-1
// training path (the modules must stay trainable).
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

#include "tavce/error.h"
#include "tavce/nn/cerl.h"
#include "tavce/nn/correlation.h"
#include "tavce/nn/iresnet.h"
#include "tavce/nn/recon_net.h"
#include "tavce/nn/state_dict.h"

#include "support/layout_check.h"

// Last: check.h defines a macro named fail that breaks std::ios::fail().
#include <check.h>

using tavce::testing::DtypeStyle;
using tavce::testing::golden_dir;
using tavce::testing::Layout;
using tavce::testing::param_count;

namespace {

nlohmann::json read_json(const std::string& file) {
  const std::string p = golden_dir() + "/" + file;
  nlohmann::json out;
  ck_assert_msg(tavce::testing::load_json(p, &out), "cannot read %s (set TAVCE_GOLDEN_DIR)", p.c_str());
  return out;
}

// name -> (shape, dtype, kind); dtype as "F32"/"I64" (shapes_audio.json's
// "float32"/"int64" are mapped to these).
std::string canonical_dtype(const std::string& d) {
  if (d == "float32") return "F32";
  if (d == "int64") return "I64";
  if (d == "float16") return "F16";
  return d;
}

// shapes_audio.json: containers.<name>.keys = {key: {shape, dtype, kind}}.
Layout audio_layout(const std::string& container, const std::string& prefix) {
  static const nlohmann::json j = read_json("shapes_audio.json");
  return tavce::testing::layout_from_keys(j.at("containers").at(container).at("keys"), prefix, canonical_dtype);
}

// shapes_render.json: containers.<name>.rows = [[key, shape, dtype, kind], ...].
Layout render_layout(const std::string& container, const std::string& prefix) {
  static const nlohmann::json j = read_json("shapes_render.json");
  return tavce::testing::layout_from_rows(j.at("containers").at(container).at("rows"), prefix, canonical_dtype);
}

Layout module_layout(const torch::nn::Module& m) { return tavce::testing::module_layout(m, DtypeStyle::kSafetensors); }

// Every key of both sides, with shape, dtype and kind, must agree.
void check_layout(const Layout& expected, const Layout& actual, const char* what) {
  ck_assert_msg(!expected.empty(), "%s: no keys in the shapes file", what);
  const int bad = tavce::testing::layout_differences(expected, actual, what);
  ck_assert_msg(bad == 0, "%s: %d key/shape/dtype/kind differences (see stderr)", what, bad);
  ck_assert_uint_eq(expected.size(), actual.size());
}

START_TEST(test_iresnet18_layout) {
  tavce::nn::IResNet net;  // IResNet18(num_features=128)
  const Layout expected = audio_layout("TAVCE correlation ckpt['image_encoder']", "");
  ck_assert_uint_eq(expected.size(), 187);
  check_layout(expected, module_layout(*net), "image_encoder");
  ck_assert_int_eq(param_count(*net), 14390656);
  // features.weight: a parameter fixed at 1 and excluded from training.
  ck_assert(!net->features->weight.requires_grad());
  ck_assert(at::equal(net->features->weight, at::ones({128})));
  ck_assert(net->features->bias.requires_grad());
}
END_TEST

START_TEST(test_correlation_audio_encoder_layout) {
  tavce::nn::CorrelationAudioEncoder enc;
  check_layout(audio_layout("TAVCE correlation ckpt['audio_encoder']", ""), module_layout(*enc), "audio_encoder");
  ck_assert_int_eq(param_count(*enc), 2878336);
}
END_TEST

START_TEST(test_recon_net_layout) {
  tavce::nn::ReconNet net;
  const Layout expected = render_layout("SadTalker_V0.0.2_256.safetensors", "face_3drecon.");
  ck_assert_uint_eq(expected.size(), 332);
  check_layout(expected, module_layout(*net), "face_3drecon");
  ck_assert_int_eq(param_count(*net), 24034625);
  ck_assert_int_eq(net->cfg.fc_dim(), 257);
}
END_TEST

START_TEST(test_recon_net_forward_and_coeff73) {
  tavce::nn::ReconNet net;
  net->eval();
  c10::InferenceMode guard;
  const at::Tensor coeff = net->forward(at::rand({2, 3, 64, 64}));
  ck_assert_int_eq(coeff.size(0), 2);
  ck_assert_int_eq(coeff.size(1), 257);
  const at::Tensor c = at::arange(2 * 257, at::kFloat).reshape({2, 257});
  const at::Tensor tp = at::tensor({256.f, 256.f, 1.5f, 120.f, 130.f});
  const at::Tensor m = tavce::nn::coeff_3dmm73(c, tp);
  ck_assert_int_eq(m.size(1), 73);
  ck_assert(at::equal(m.slice(1, 0, 64), c.slice(1, 80, 144)));
  ck_assert(at::equal(m.slice(1, 64, 67), c.slice(1, 224, 227)));
  ck_assert(at::equal(m.slice(1, 67, 70), c.slice(1, 254, 257)));
  ck_assert(at::equal(m.slice(1, 70, 73), tp.slice(0, 2, 5).expand({2, 3})));
  bool threw = false;
  try {
    tavce::nn::coeff_3dmm73(c, at::zeros({4}));
  } catch (const tavce::Error&) {
    threw = true;
  }
  ck_assert(threw);
}
END_TEST

// cov(x, y) = 1/2 d d^T, and the CERL gate of that matrix is |d| / ||d||.
START_TEST(test_cov_matrix_closed_form) {
  const at::Tensor x = at::randn({3, 128}, at::kDouble), y = at::randn({3, 128}, at::kDouble);
  const at::Tensor cov = tavce::nn::cov_matrix(x, y);
  const at::Tensor d = x - y;
  ck_assert(at::allclose(cov, 0.5 * d.unsqueeze(2) * d.unsqueeze(1), 1e-12, 1e-12));
  ck_assert(at::allclose(cov, cov.transpose(1, 2)));
  ck_assert(at::allclose(tavce::nn::cerl_gate_from_cov(cov), tavce::nn::cerl_gate(y, x), 1e-10, 1e-10));
  // Identical features: zero matrix.
  ck_assert(at::equal(tavce::nn::cov_matrix(x, x), at::zeros({3, 128, 128}, at::kDouble)));
}
END_TEST

// Gradients reach every trainable parameter through the stage-1 objective,
// and never the frozen features.weight.
START_TEST(test_stage1_gradients) {
  tavce::nn::CorrelationAudioEncoder audio;
  tavce::nn::IResNet image;
  audio->train();
  image->train();
  const at::Tensor audios = at::randn({2, 3, 1, 80, 16});
  const at::Tensor images = at::rand({2, 3, 3, 112, 112}) * 2 - 1;
  const at::Tensor a = tavce::nn::stage1_audio_embeddings(*audio, audios);
  const at::Tensor v = tavce::nn::stage1_image_embeddings(*image, images);
  ck_assert_int_eq(v.size(2), 128);
  const auto l = tavce::nn::stage1_correlation_loss(a, v);
  ck_assert(l.loss_pos.item<double>() >= 0.0 && l.loss_pos.item<double>() <= 2.0);
  ck_assert(l.loss_neg.item<double>() >= 0.0);
  ck_assert(std::fabs(l.loss_corr.item<double>() - l.loss_pos.item<double>() - l.loss_neg.item<double>()) < 1e-6);
  l.loss_corr.backward();
  // The covariance only sees differences of two embeddings, so the last
  // additive biases (fc.bias, features.bias) cancel: defined, zero gradient.
  const auto check = [](const torch::nn::Module& m, const char* what, const std::string& last_bias) {
    for (const auto& p : m.named_parameters()) {
      if (p.key() == "features.weight") {
        ck_assert_msg(!p.value().grad().defined(), "features.weight must stay frozen");
        continue;
      }
      ck_assert_msg(p.value().grad().defined(), "%s %s has no gradient", what, p.key().c_str());
      const double g = p.value().grad().abs().sum().item<double>();
      if (p.key() == last_bias)
        ck_assert_msg(g < 1e-6, "%s %s: expected a zero gradient, got %g", what, p.key().c_str(), g);
      else
        ck_assert_msg(g > 0, "%s %s has a zero gradient", what, p.key().c_str());
    }
  };
  check(*audio, "audio encoder", "fc.bias");
  check(*image, "IResNet18", "features.bias");
}
END_TEST

START_TEST(test_input_checks) {
  tavce::nn::IResNet image;
  image->eval();
  c10::InferenceMode guard;
  bool threw = false;
  try {
    image->forward(at::zeros({1, 3, 128, 128}));
  } catch (const tavce::Error&) {
    threw = true;
  }
  ck_assert(threw);
  threw = false;
  try {
    tavce::nn::ReconNetConfig::from_json(nlohmann::json{{"net_recon", "resnet18"}});
  } catch (const tavce::Error&) {
    threw = true;
  }
  ck_assert(threw);
}
END_TEST

Suite* correlation_suite() {
  Suite* s = suite_create("shapes_correlation");
  TCase* tc = tcase_create("core");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_iresnet18_layout);
  tcase_add_test(tc, test_correlation_audio_encoder_layout);
  tcase_add_test(tc, test_recon_net_layout);
  tcase_add_test(tc, test_recon_net_forward_and_coeff73);
  tcase_add_test(tc, test_cov_matrix_closed_form);
  tcase_add_test(tc, test_stage1_gradients);
  tcase_add_test(tc, test_input_checks);
  suite_add_tcase(s, tc);
  return s;
}

}  // namespace

int main() {
  SRunner* sr = srunner_create(correlation_suite());
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
