// Check tests for lib/tavce/render: the streaming windower against the offline
// windows, batch invariance of the animation loop (our consecutive batching
// vs the reference's batch-major order), the uint8 conversions, the driving
// sequence semantics (still / expression_scale / full) and bad inputs.
// The networks are the golden reduced ones (TAVCE_GOLDEN_DIR), so it is fast.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include "tavce/error.h"
#include "tavce/io/safetensors.h"
#include "tavce/io/tensor_io.h"
#include "tavce/nn/state_dict.h"
#include "tavce/render/animator.h"
#include "tavce/render/driving.h"
#include "tavce/render/frames.h"
#include "tavce/render/windower.h"

#include "support/layout_check.h"

// Last: check.h defines a macro named fail that breaks std::ios::fail().
#include <check.h>

namespace {

using tavce::testing::golden_dir;
namespace render = tavce::render;

#define ASSERT_THROWS_ERROR(stmt)                                                         \
  do {                                                                                    \
    bool thrown_ = false;                                                                 \
    try {                                                                                 \
      stmt;                                                                               \
    } catch (const tavce::Error&) {                                                       \
      thrown_ = true;                                                                     \
    }                                                                                     \
    ck_assert_msg(thrown_, "expected tavce::Error from: %s", #stmt);                      \
  } while (0)

double max_abs(const at::Tensor& a, const at::Tensor& b) {
  ck_assert_msg(a.sizes() == b.sizes(), "shape mismatch");
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// Windows of a (T, D) sequence through the streaming windower, one row per
// push, popping after each; checks readiness and order on the way.
at::Tensor stream_windows(const at::Tensor& seq, int64_t radius) {
  const int64_t t = seq.size(0), d = seq.size(1), l = 2 * radius + 1;
  render::CoefficientWindower w(d, radius);
  ck_assert_int_eq(w.latency_frames(), radius);
  std::vector<render::Window> all;
  const at::Tensor c = seq.contiguous();
  for (int64_t i = 0; i < t; ++i) {
    w.push(c.data_ptr<float>() + i * d);
    for (auto& win : w.pop_ready()) all.push_back(std::move(win));
    // Before EOS a frame waits for row i + radius.
    ck_assert_int_eq(static_cast<int64_t>(all.size()), std::max<int64_t>(0, i + 1 - radius));
  }
  w.finish();
  for (auto& win : w.pop_ready()) all.push_back(std::move(win));
  ck_assert_int_eq(static_cast<int64_t>(all.size()), t);
  for (int64_t i = 0; i < t; ++i) {
    ck_assert_int_eq(all[i].frame_index, i);
    ck_assert_int_eq(static_cast<int64_t>(all[i].window.size()), d * l);
  }
  return render::windows_to_tensor(all, d);
}

START_TEST(test_windower_matches_offline) {
  std::mt19937 rng(1234);
  std::vector<int64_t> lengths{1, 2, 5, 13, 14, 26, 27, 28, 41};
  for (int k = 0; k < 4; ++k) lengths.push_back(std::uniform_int_distribution<int64_t>(1, 80)(rng));
  for (const int64_t radius : {int64_t(13), int64_t(2), int64_t(0)}) {
    for (const int64_t t : lengths) {
      const at::Tensor seq = at::randn({t, 70});
      const at::Tensor offline = render::semantic_windows(seq, radius);
      const at::Tensor online = stream_windows(seq, radius);
      ck_assert_msg(at::equal(offline, online), "windower != offline windows for T=%lld radius=%lld",
                    static_cast<long long>(t), static_cast<long long>(radius));
      // Spot check against the reference's formula for one frame.
      const int64_t i = t / 2;
      const at::Tensor win = render::semantic_window(seq, i, radius);
      for (int64_t k = 0; k < 2 * radius + 1; ++k) {
        const int64_t j = std::min(std::max(i - radius + k, int64_t(0)), t - 1);
        ck_assert(at::equal(win.select(1, k), seq[j]));
      }
      ck_assert(at::equal(win, offline[i]));
    }
  }
  // reset() starts a new stream; push() after finish() is an error.
  render::CoefficientWindower w(3, 1);
  const float row[3] = {1, 2, 3};
  w.push(row);
  w.finish();
  ck_assert_int_eq(static_cast<int64_t>(w.pop_ready().size()), 1);
  ASSERT_THROWS_ERROR(w.push(row));
  w.reset();
  w.push(row);
  ck_assert_int_eq(static_cast<int64_t>(w.pop_ready().size()), 0);
  ASSERT_THROWS_ERROR(render::windows_to_tensor({}, 70));
  ASSERT_THROWS_ERROR(render::windows_to_tensor({render::Window{0, std::vector<float>(10)}}, 70));
  ASSERT_THROWS_ERROR(render::CoefficientWindower(0));
  ASSERT_THROWS_ERROR(render::CoefficientWindower(70, -1));
}
END_TEST

START_TEST(test_driving_semantics) {
  const int64_t t = 6;
  const at::Tensor gen = at::randn({t, 70});
  const at::Tensor src = at::randn({1, 73});
  // expression_scale: exp only, driving only.
  render::DrivingOptions o;
  o.expression_scale = 1.5f;
  const at::Tensor scaled = render::prepare_driving(gen, src, o);
  ck_assert_int_eq(scaled.size(1), 70);
  ck_assert(at::equal(scaled.narrow(1, 0, 64), gen.narrow(1, 0, 64) * 1.5f));
  ck_assert(at::equal(scaled.narrow(1, 64, 6), gen.narrow(1, 64, 6)));
  const at::Tensor sem = render::source_semantics(src, false);
  ck_assert_int_eq(sem.dim(), 3);
  ck_assert_int_eq(sem.size(1), 70);
  ck_assert_int_eq(sem.size(2), 27);
  for (int64_t k = 0; k < 27; ++k) ck_assert(at::equal(sem[0].select(1, k), src[0].narrow(0, 0, 70)));
  // still: the source pose in every frame, expression still driven (and scaled).
  o.still = true;
  const at::Tensor still = render::prepare_driving(gen, src, o);
  ck_assert(at::equal(still.narrow(1, 0, 64), gen.narrow(1, 0, 64) * 1.5f));
  for (int64_t i = 0; i < t; ++i) ck_assert(at::equal(still[i].narrow(0, 64, 6), src[0].narrow(0, 64, 6)));
  // full: 73 dims, source crop params appended; still then also keeps them.
  render::DrivingOptions f;
  f.full = true;
  const at::Tensor full = render::prepare_driving(gen, src.view({73}), f);
  ck_assert_int_eq(full.size(1), 73);
  ck_assert(at::equal(full.narrow(1, 0, 70), gen));
  for (int64_t i = 0; i < t; ++i) ck_assert(at::equal(full[i].narrow(0, 70, 3), src[0].narrow(0, 70, 3)));
  f.still = true;
  const at::Tensor full_still = render::prepare_driving(gen, src, f);
  for (int64_t i = 0; i < t; ++i) ck_assert(at::equal(full_still[i].narrow(0, 64, 9), src[0].narrow(0, 64, 9)));
  ck_assert_int_eq(render::source_semantics(src, true).size(1), 73);
  // Columns past 70 of the generated coeffs are ignored ([:, :70]).
  ck_assert(at::equal(render::prepare_driving(at::cat({gen, at::randn({t, 3})}, 1), src, {}), gen));

  // The reference batch layout: T=5, batch 2 -> (2, 3, D, L), padded with the
  // last window; row b holds frames 3b..3b+2.
  const at::Tensor win = render::semantic_windows(gen);
  const at::Tensor target = render::reference_target_semantics(win.narrow(0, 0, 5), 2);
  ck_assert_int_eq(target.size(0), 2);
  ck_assert_int_eq(target.size(1), 3);
  ck_assert(at::equal(target[0][0], win[0]));
  ck_assert(at::equal(target[0][2], win[2]));
  ck_assert(at::equal(target[1][0], win[3]));
  ck_assert(at::equal(target[1][1], win[4]));
  ck_assert(at::equal(target[1][2], win[4]));  // the padding copy

  // Bad inputs.
  ASSERT_THROWS_ERROR(render::prepare_driving(at::randn({t, 69}), src, {}));
  ASSERT_THROWS_ERROR(render::prepare_driving(at::randn({0, 70}), src, {}));
  ASSERT_THROWS_ERROR(render::prepare_driving(at::randn({70}), src, {}));
  ASSERT_THROWS_ERROR(render::prepare_driving(gen, at::randn({1, 70}), {}));
  ASSERT_THROWS_ERROR(render::source_semantics(at::randn({2, 73}), false));
  ASSERT_THROWS_ERROR(render::semantic_windows(at::randn({0, 70})));
  ASSERT_THROWS_ERROR(render::semantic_window(gen, t));
  ASSERT_THROWS_ERROR(render::reference_target_semantics(win, 0));
  ASSERT_THROWS_ERROR(render::reference_target_semantics(gen, 2));
}
END_TEST

START_TEST(test_rgb8_rounding) {
  // Definition: float32 product, then round half to even (np.rint) or
  // truncation, clipped to [0, 255].
  std::vector<float> values{0.0f, 1.0f, 0.5f, 0.25f, 0.999f, 1e-7f, 0.0019607844f};
  int halves_even_down = 0, halves_even_up = 0;
  for (int k = 0; k < 255; ++k) {
    float x = (k + 0.5f) / 255.0f;
    x = std::nextafter(std::nextafter(std::nextafter(x, 0.0f), 0.0f), 0.0f);
    for (int s = 0; s < 7; ++s, x = std::nextafter(x, 2.0f)) {
      values.push_back(x);
      if (x * 255.0f == k + 0.5f) (k % 2 == 0 ? halves_even_down : halves_even_up)++;
    }
  }
  // 0.5 * 255 = 127.5 exactly: rint -> 128 (even), truncation -> 127.
  ck_assert_int_gt(halves_even_down + halves_even_up, 0);
  const int64_t n = static_cast<int64_t>(values.size());
  const at::Tensor flat = at::from_blob(values.data(), {n}, at::kFloat).clone();
  const at::Tensor pred = flat.view({1, 1, 1, n}).expand({2, 3, 1, n}).contiguous();
  const at::Tensor r = render::to_rgb8(pred, render::ByteRounding::kRint);
  const at::Tensor tr = render::to_rgb8(pred, render::ByteRounding::kTruncate);
  ck_assert(r.scalar_type() == at::kByte);
  ck_assert_int_eq(r.dim(), 4);
  ck_assert_int_eq(r.size(1), 1);
  ck_assert_int_eq(r.size(2), n);
  ck_assert_int_eq(r.size(3), 3);
  for (int64_t i = 0; i < n; ++i) {
    const float p = values[i] * 255.0f;
    const int want_r = static_cast<int>(std::min(255.0f, std::max(0.0f, std::nearbyint(p))));
    const int want_t = static_cast<int>(std::min(255.0f, std::max(0.0f, p)));
    for (int c = 0; c < 3; ++c) {
      ck_assert_int_eq(r[1][0][i][c].item<uint8_t>(), want_r);
      ck_assert_int_eq(tr[0][0][i][c].item<uint8_t>(), want_t);
    }
  }
  ck_assert_int_eq(r[0][0][2][0].item<uint8_t>(), 128);   // 0.5: rint(127.5) = 128
  ck_assert_int_eq(tr[0][0][2][0].item<uint8_t>(), 127);  // truncation
  ck_assert_int_eq(r[0][0][4][0].item<uint8_t>(), 255);   // 0.999 -> 254.745
  ck_assert_int_eq(tr[0][0][4][0].item<uint8_t>(), 254);
  // Channel order: HWC with the channel last.
  const at::Tensor rgb = at::zeros({1, 3, 2, 2});
  rgb[0][0].fill_(1.0);
  rgb[0][2].fill_(0.5);
  const at::Tensor px = render::to_rgb8(rgb);
  ck_assert_int_eq(px[0][1][1][0].item<uint8_t>(), 255);
  ck_assert_int_eq(px[0][1][1][1].item<uint8_t>(), 0);
  ck_assert_int_eq(px[0][1][1][2].item<uint8_t>(), 128);
  ASSERT_THROWS_ERROR(render::to_rgb8(at::zeros({1, 4, 2, 2})));
  ASSERT_THROWS_ERROR(render::to_rgb8(at::zeros({3, 2, 2})));
  // image_from_rgb8: x * float32(1/255), CHW.
  const at::Tensor u8 = at::arange(0, 12, at::kFloat).view({2, 2, 3});
  const at::Tensor img = render::image_from_rgb8(u8);
  ck_assert_int_eq(img.size(1), 3);
  ck_assert_float_eq(img[0][2][1][0].item<float>(), 8.0f * (1.0f / 255.0f));
  ASSERT_THROWS_ERROR(render::image_from_rgb8(at::zeros({2, 2, 4})));
}
END_TEST

nlohmann::json folder_config(const std::string& folder) {
  nlohmann::json j;
  const std::string p = golden_dir() + "/" + folder + "/case.json";
  ck_assert_msg(tavce::testing::load_json(p, &j), "cannot read %s (set TAVCE_GOLDEN_DIR)", p.c_str());
  return j.at("config");
}

void load(torch::nn::Module& m, const std::string& rel, bool spectral) {
  const std::string p = golden_dir() + "/" + rel;
  const auto st = tavce::io::SafeTensors::open(p);
  tavce::nn::TensorMap t = tavce::io::load_tensors(st, true);
  if (spectral) t = tavce::nn::fold_spectral_norm(t);
  tavce::nn::load_state_dict(m, t, p);
}

std::unique_ptr<render::Animator> golden_animator() {
  tavce::nn::KPDetector kp(tavce::nn::KPDetectorConfig::from_json(folder_config("kp_detector")));
  load(*kp, "kp_detector/weights.safetensors", false);
  tavce::nn::OcclusionAwareSpadeGenerator gen(
      tavce::nn::SpadeGeneratorConfig::from_json(folder_config("generator")));
  load(*gen, "generator/weights.safetensors", true);
  tavce::nn::MappingNet map(tavce::nn::MappingNetConfig::from_json(folder_config("mapping")));
  load(*map, "mapping/weights.safetensors", false);
  kp->eval();
  gen->eval();
  map->eval();
  return std::make_unique<render::Animator>(kp, gen, map);
}

at::Tensor golden_io(const std::string& name) {
  static const auto st = tavce::io::SafeTensors::open(golden_dir() + "/animation/io.safetensors");
  return tavce::io::to_tensor(st.at(name)).to(at::kFloat);
}

struct Run {
  render::ClipOrder order;
  int64_t batch;
};

// Renders the clip in each (order, batch) and compares with `expected` (the
// reference order at batch 2).
void check_batch_orders(render::Animator& animator, render::SourceState& state, const at::Tensor& windows,
                        const render::ClipControls& controls, const render::ClipResult& expected, double tol,
                        const char* label, std::initializer_list<Run> runs) {
  for (const Run& run : runs) {
    render::ClipOptions o;
    o.batch_size = run.batch;
    o.order = run.order;
    const render::ClipResult got = animator.render_clip(state, windows, o, controls);
    const char* order = run.order == render::ClipOrder::kReference ? "reference" : "consecutive";
    const double e = max_abs(got.frames, expected.frames), ek = max_abs(got.kp_driving, expected.kp_driving);
    std::fprintf(stderr, "%s: %s order batch %lld vs reference order batch 2: frames %.3g, kp_driving %.3g\n", label,
                 order, static_cast<long long>(run.batch), e, ek);
    ck_assert_msg(e <= tol, "%s %s batch %lld: frames differ from the reference order by %g", label, order,
                  static_cast<long long>(run.batch), e);
    ck_assert_msg(ek <= tol, "%s %s batch %lld: kp_driving differ by %g", label, order,
                  static_cast<long long>(run.batch), ek);
  }
}

START_TEST(test_batch_invariance) {
  auto animator = golden_animator();
  c10::InferenceMode guard;
  const at::Tensor src_coeff = golden_io("source_coeff73");
  // The first 5 frames of the golden clip (T < 27: clamped at both ends;
  // one padded window at batch 2 and 3, a short last batch of 2 at batch 3).
  // Kept short: the reduced generator still costs ~1 s per frame here.
  const at::Tensor seq =
      render::prepare_driving(golden_io("driving_coeff70").narrow(0, 0, 5), src_coeff, {});
  const at::Tensor windows = render::semantic_windows(seq);
  const int64_t t = windows.size(0);
  const at::Tensor source_image = render::image_from_rgb8(golden_io("source_pic_u8"));
  const at::Tensor source_sem = render::source_semantics(src_coeff, false);
  render::SourceState state = animator->prepare_source(source_image, source_sem);

  // Per-frame pose overrides ride along in both orders.
  render::ClipControls controls;
  controls.yaw_deg = at::linspace(-20, 20, t);
  render::ClipOptions ref;
  ref.batch_size = 2;
  ref.order = render::ClipOrder::kReference;
  const render::ClipResult expected = animator->render_clip(state, windows, ref, controls);
  ck_assert_int_eq(expected.frames.size(0), t);
  // float32: the frame assignment is the same, but convolution/GEMM kernels
  // block differently per batch size, so the sums round differently: ~3e-5 on
  // these random weights, even with one thread (the golden notes see 1.5e-5
  // between B=1 and B=2 in the reference itself). A wrong frame would differ
  // by ~0.8 of the frame std.
  using O = render::ClipOrder;
  check_batch_orders(*animator, state, windows, controls, expected, 1e-4, "float32",
                     {{O::kConsecutive, 3}});
  {
    // Without oneDNN, LibTorch's CPU convolutions run per batch item
    // (im2col + GEMM of the same shape for every item), so the kernel noise
    // vanishes and 1e-5 proves that the batched orders give the reference's
    // frames. (float64 shows the same, at ~10x the cost.)
    at::globalContext().setUserEnabledMkldnn(false);
    render::SourceState pstate = animator->prepare_source(source_image, source_sem);
    const render::ClipResult pexp = animator->render_clip(pstate, windows, ref, controls);
    check_batch_orders(*animator, pstate, windows, controls, pexp, 1e-5, "float32 without oneDNN",
                       {{O::kConsecutive, 1}, {O::kConsecutive, 3}, {O::kReference, 3}});
    at::globalContext().setUserEnabledMkldnn(true);
  }
  // The override is used: yaw changes the frames.
  const render::ClipResult no_override = animator->render_clip(state, windows, ref);
  ck_assert(max_abs(no_override.frames, expected.frames) > 1e-3);
  // Streamed windows render the same as the offline ones (frame by frame).
  render::CoefficientWindower w(seq.size(1));
  std::vector<at::Tensor> streamed;
  const at::Tensor c = seq.contiguous();
  auto take = [&](std::vector<render::Window> ready) {
    for (auto& win : ready) {
      const at::Tensor wt = render::windows_to_tensor({win}, seq.size(1));
      render::FrameControls fc;
      fc.yaw_deg = controls.yaw_deg.narrow(0, win.frame_index, 1);
      streamed.push_back(animator->render(state, wt, fc).prediction);
    }
  };
  for (int64_t i = 0; i < t; ++i) {
    w.push(c.data_ptr<float>() + i * seq.size(1));
    take(w.pop_ready());
  }
  w.finish();
  take(w.pop_ready());
  ck_assert(max_abs(at::cat(streamed, 0), expected.frames) <= 1e-4);  // batch 1 vs 2, as above

  // Bad inputs.
  ASSERT_THROWS_ERROR(animator->render(state, windows.narrow(1, 0, 69)));
  ASSERT_THROWS_ERROR(animator->render(state, windows.narrow(2, 0, 20)));
  ASSERT_THROWS_ERROR(animator->render(state, windows[0]));
  render::FrameControls bad;
  bad.yaw_deg = at::zeros({3});
  ASSERT_THROWS_ERROR(animator->render(state, windows.narrow(0, 0, 2), bad));
  render::FrameControls gate;
  gate.cerl_gate = at::zeros({2, 128});
  ASSERT_THROWS_ERROR(animator->render(state, windows.narrow(0, 0, 2), gate));  // no fusion block
  ASSERT_THROWS_ERROR(animator->render_clip(state, windows.narrow(0, 0, 0)));
  render::ClipOptions zero;
  zero.batch_size = 0;
  ASSERT_THROWS_ERROR(animator->render_clip(state, windows, zero));
  render::ClipControls short_yaw;
  short_yaw.yaw_deg = at::zeros({t - 1});
  ASSERT_THROWS_ERROR(animator->render_clip(state, windows, {}, short_yaw));
  ASSERT_THROWS_ERROR(animator->prepare_source(at::zeros({3, 128, 128}), render::source_semantics(src_coeff, false)));
  ASSERT_THROWS_ERROR(animator->prepare_source(render::image_from_rgb8(golden_io("source_pic_u8")),
                                               render::source_semantics(src_coeff, true)));
  render::SourceState empty;
  ASSERT_THROWS_ERROR(animator->render(empty, windows.narrow(0, 0, 1)));
}
END_TEST

Suite* render_suite() {
  Suite* s = suite_create("render");
  TCase* tc = tcase_create("sequences");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_windower_matches_offline);
  tcase_add_test(tc, test_driving_semantics);
  tcase_add_test(tc, test_rgb8_rounding);
  suite_add_tcase(s, tc);
  TCase* loop = tcase_create("loop");
  tcase_set_timeout(loop, 300);
  tcase_add_test(loop, test_batch_invariance);
  suite_add_tcase(s, loop);
  return s;
}

}  // namespace

int main() {
  SRunner* runner = srunner_create(render_suite());
  srunner_run_all(runner, CK_NORMAL);
  const int failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
