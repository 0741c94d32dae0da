// Check tests for the inference fast paths of lib/tavce/nn/fast_conv.h: the
// (oneDNN Winograd) 3x3 convolution and the phase-decomposed conv on a
// nearest-upsampled map against at::conv2d / upsample + conv2d on random
// inputs, cache invalidation when the weights change, when the fast path may
// be taken, and the SPADE block/decoder fast path against the reference path.
#include <cmath>
#include <cstdio>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "tavce/nn/fast_conv.h"
#include "tavce/nn/spade.h"

// Last: check.h defines a macro named fail that breaks std::ios::fail().
#include <check.h>

using tavce::nn::ConvParams;

namespace {

ConvParams random_conv(int64_t cin, int64_t cout, bool bias = true) {
  ConvParams p;
  p.weight = at::randn({cout, cin, 3, 3}) / std::sqrt(9.0 * cin);
  if (bias) p.bias = at::randn({cout}) * 0.1;
  return p;
}

at::Tensor reference(const at::Tensor& x, const std::vector<ConvParams>& convs) {
  std::vector<at::Tensor> outs;
  for (const ConvParams& c : convs) outs.push_back(at::conv2d(x, c.weight, c.bias, 1, 1));
  return at::cat(outs, 1);
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  ck_assert_msg(a.sizes() == b.sizes(), "shape mismatch");
  return (a - b).abs().max().item<double>();
}

}  // namespace

START_TEST(test_winograd_matches_conv2d) {
  at::manual_seed(1);
  c10::InferenceMode guard;
  struct Case {
    int64_t n, c, h, w;
    std::vector<int64_t> ks;
  };
  const std::vector<Case> cases = {
      {1, 64, 16, 16, {64}},    {2, 32, 13, 9, {48}},       {1, 128, 32, 32, {256}},
      {1, 16, 7, 11, {8, 24}},  {1, 64, 20, 24, {32, 16, 64}}, {3, 3, 5, 5, {4}},
  };
  for (const Case& c : cases) {
    std::vector<ConvParams> convs;
    for (size_t i = 0; i < c.ks.size(); ++i) convs.push_back(random_conv(c.c, c.ks[i], /*bias=*/i != 1));
    const at::Tensor x = at::randn({c.n, c.c, c.h, c.w});
    tavce::nn::WinogradConv3x3 conv;
    const at::Tensor y = conv.forward(x, convs);
    const double err = max_abs_diff(y, reference(x, convs));
    std::fprintf(stderr, "winograd (%ld,%ld,%ld,%ld)->%ld: max abs err %.3g (winograd kernel: %d)\n", (long)c.n,
                 (long)c.c, (long)c.h, (long)c.w, (long)y.size(1), err, (int)conv.used_winograd());
    ck_assert_msg(err < 1e-4, "winograd conv differs from conv2d by %g", err);
    ck_assert(y.is_contiguous());
    // Second call (cached primitive) and a non-contiguous input.
    const at::Tensor xt = at::randn({c.n, c.c, c.w, c.h}).transpose(2, 3);
    ck_assert(max_abs_diff(conv.forward(xt, convs), reference(xt, convs)) < 1e-4);
  }
  // The 512-channel case the decoder runs: the Winograd kernel where oneDNN has one.
  std::vector<ConvParams> big = {random_conv(512, 512)};
  const at::Tensor x = at::randn({1, 512, 16, 16});
  tavce::nn::WinogradConv3x3 conv;
  ck_assert(max_abs_diff(conv.forward(x, big), reference(x, big)) < 1e-4);
  std::fprintf(stderr, "oneDNN compiled: %d, winograd used for 512->512: %d\n", (int)tavce::nn::fast_conv_compiled(),
               (int)conv.used_winograd());
}
END_TEST

START_TEST(test_upsampled_matches_upsample_conv) {
  at::manual_seed(2);
  c10::InferenceMode guard;
  struct Case {
    int64_t n, c, h, w, s;
    std::vector<int64_t> ks;
  };
  const std::vector<Case> cases = {
      {1, 16, 8, 8, 2, {32}},    {2, 8, 5, 7, 2, {8, 12}},  {1, 16, 6, 9, 4, {16, 8, 8}},
      {1, 4, 3, 4, 3, {5}},      {1, 12, 1, 1, 4, {6}},     {1, 8, 10, 6, 1, {8}},
      {1, 32, 16, 16, 5, {16}},
  };
  for (const Case& c : cases) {
    std::vector<ConvParams> convs;
    for (size_t i = 0; i < c.ks.size(); ++i) convs.push_back(random_conv(c.c, c.ks[i], /*bias=*/i != 1));
    const at::Tensor x = at::randn({c.n, c.c, c.h, c.w});
    tavce::nn::UpsampledConv3x3 conv;
    const at::Tensor y = conv.forward(x, c.s, convs);
    const at::Tensor expected = reference(at::upsample_nearest2d(x, {c.s * c.h, c.s * c.w}), convs);
    const double err = max_abs_diff(y, expected);
    std::fprintf(stderr, "upsampled x%ld (%ld,%ld,%ld,%ld)->%ld: max abs err %.3g\n", (long)c.s, (long)c.n, (long)c.c,
                 (long)c.h, (long)c.w, (long)y.size(1), err);
    ck_assert_msg(err < 1e-5, "phase-decomposed conv differs by %g", err);
    ck_assert(y.is_contiguous());
    // With the fused ReLU (a second cache-hitting call).
    const double err_relu = max_abs_diff(conv.forward(x, c.s, convs, /*relu=*/true), expected.relu());
    ck_assert_msg(err_relu < 1e-5, "phase-decomposed conv + ReLU differs by %g", err_relu);
  }
}
END_TEST

START_TEST(test_cache_follows_weights) {
  at::manual_seed(3);
  std::vector<ConvParams> convs = {random_conv(32, 32)};
  const at::Tensor x = at::randn({1, 32, 12, 12});
  tavce::nn::WinogradConv3x3 wino;
  tavce::nn::UpsampledConv3x3 up;
  {
    at::NoGradGuard no_grad;
    wino.forward(x, convs);
    up.forward(x, 2, convs);
    convs[0].weight.mul_(-0.5);  // an in-place load bumps the version counter
    convs[0].bias.add_(1.0);
    ck_assert(max_abs_diff(wino.forward(x, convs), reference(x, convs)) < 1e-4);
    ck_assert(max_abs_diff(up.forward(x, 2, convs), reference(at::upsample_nearest2d(x, {24, 24}), convs)) < 1e-5);
    // Another scale with the same weights.
    ck_assert(max_abs_diff(up.forward(x, 4, convs), reference(at::upsample_nearest2d(x, {48, 48}), convs)) < 1e-5);
  }
}
END_TEST

START_TEST(test_applicable) {
  const at::Tensor x = at::randn({1, 4, 8, 8});
  const at::Tensor w = at::randn({4, 4, 3, 3}).requires_grad_();
  ck_assert(!tavce::nn::fast_conv_applicable(x, w));  // autograd would record
  ck_assert(!tavce::nn::fast_conv_applicable(x.to(at::kDouble), w.detach().to(at::kDouble)));
  {
    at::NoGradGuard no_grad;
    ck_assert(tavce::nn::fast_conv_applicable(x, w));
  }
  {
    c10::InferenceMode guard;
    ck_assert(tavce::nn::fast_conv_applicable(x, w));
  }
}
END_TEST

// The block and the decoder: fast path (no grad) against the reference path
// (grad enabled, parameters requiring grad), at the decoder's scales 1, 2, 4.
START_TEST(test_spade_fast_path) {
  at::manual_seed(4);
  tavce::nn::SpadeDecoderConfig cfg;
  cfg.ic = 16, cfg.oc = 8, cfg.label_nc = 16, cfg.nhidden = 32;
  tavce::nn::SpadeDecoder decoder(cfg);
  decoder->eval();
  for (auto& p : decoder->parameters()) {
    at::NoGradGuard no_grad;
    p.normal_(0, 0.2);
  }
  const at::Tensor feature = at::randn({2, 16, 8, 8});
  const at::Tensor ref = decoder->forward(feature);
  ck_assert(ref.requires_grad());
  at::Tensor fast;
  {
    c10::InferenceMode guard;
    fast = decoder->forward(feature);
  }
  const double err = max_abs_diff(fast, ref.detach());
  std::fprintf(stderr, "decoder fast vs reference: max abs err %.3g\n", err);
  // Winograd rounding, amplified through the 10 blocks: the parity tolerance.
  ck_assert_msg(err < 1e-3, "decoder fast path differs by %g", err);

  tavce::nn::SpadeResnetBlock block(16, 8, 16, 32);
  for (auto& p : block->parameters()) {
    at::NoGradGuard no_grad;
    p.normal_(0, 0.2);
  }
  for (int64_t s : {1, 2, 4}) {
    const at::Tensor x = at::randn({1, 16, 6 * s, 5 * s});
    const at::Tensor seg = at::randn({1, 16, 6, 5});
    const at::Tensor r = block->forward(x, seg).detach();
    at::NoGradGuard no_grad;
    const double e = max_abs_diff(block->forward(x, seg), r);
    ck_assert_msg(e < 1e-4, "block fast path at scale %ld differs by %g", (long)s, e);
  }
}
END_TEST

Suite* fast_conv_suite() {
  Suite* s = suite_create("fast_conv");
  TCase* tc = tcase_create("fast_conv");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_winograd_matches_conv2d);
  tcase_add_test(tc, test_upsampled_matches_upsample_conv);
  tcase_add_test(tc, test_cache_follows_weights);
  tcase_add_test(tc, test_applicable);
  tcase_add_test(tc, test_spade_fast_path);
  suite_add_tcase(s, tc);
  return s;
}

int main() {
  SRunner* runner = srunner_create(fast_conv_suite());
  srunner_run_all(runner, CK_NORMAL);
  const int failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? 0 : 1;
}
