// Unit tests of the audio -> coefficient sequencing (lib/tavce/coeffs):
// Savitzky-Golay against maths and the golden scipy coefficients, the blink
// process, gen_camera_pose against its golden sequences, the PoseVAE chunk
// plan, the offline flow's corner cases, and the streaming class against the
// offline flow under random chunkings of its input.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include "tavce/audio/mel_spectrogram.h"
#include "tavce/coeffs/audio2coeff.h"
#include "tavce/coeffs/blink.h"
#include "tavce/coeffs/camera_pose.h"
#include "tavce/coeffs/savgol.h"
#include "tavce/coeffs/sequencing.h"
#include "tavce/coeffs/streaming.h"
#include "tavce/error.h"
#include "tavce/io/safetensors.h"
#include "tavce/io/tensor_io.h"
#include "tavce/nn/state_dict.h"

// check.h defines a `fail` macro that breaks <ios>: include it last.
#include <check.h>

using namespace tavce::coeffs;

namespace {

std::string golden_dir() {
  const char* env = std::getenv("TAVCE_GOLDEN_DIR");
  return env ? env : "../shared/golden";
}

std::vector<float> golden_floats(const std::string& file, const std::string& name) {
  const auto io = tavce::io::SafeTensors::open(golden_dir() + "/" + file);
  const at::Tensor t = tavce::io::to_tensor(io.at(name)).to(at::kFloat).contiguous();
  return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
}

double max_abs_diff(const float* a, const float* b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
  return m;
}

// Networks with the golden (fp16-rounded, data-aware) weights, so that the
// outputs really depend on the audio.
std::shared_ptr<Audio2CoeffNets> golden_nets() {
  static std::shared_ptr<Audio2CoeffNets> nets;
  if (nets) return nets;
  at::set_num_threads(1);
  nets = std::make_shared<Audio2CoeffNets>();
  nets->expnet = tavce::nn::ExpNet(tavce::nn::ExpNetConfig{});
  tavce::nn::PoseVAEConfig pcfg;
  pcfg.training_parts = false;
  nets->pose_vae = tavce::nn::PoseVAE(pcfg);
  nets->correlation = tavce::nn::CorrelationAudioEncoder(tavce::nn::CorrelationAudioEncoderConfig{});
  auto load = [](torch::nn::Module& m, const std::string& file) {
    const auto st = tavce::io::SafeTensors::open(golden_dir() + "/" + file);
    tavce::nn::load_state_dict(m, tavce::io::load_tensors(st, true), file);
    m.eval();
  };
  load(*nets->expnet, "audio2exp/weights.safetensors");
  load(*nets->pose_vae, "audio2pose/weights.safetensors");
  load(*nets->correlation, "correlation/weights.safetensors");
  return nets;
}

// A speech-like test signal: noise bursts under a slow envelope.
std::vector<float> test_signal(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    const double env = 0.5 + 0.5 * std::sin(2 * M_PI * double(i) / 5300.0);
    x[i] = float(0.2 * env * env) * g(rng);
  }
  return x;
}

std::vector<float> ref_coeff(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.3f);
  std::vector<float> r(static_cast<size_t>(n));
  for (float& v : r) v = g(rng);
  return r;
}

}  // namespace

// --- Savitzky-Golay --------------------------------------------------------------

START_TEST(savgol_reproduces_quadratics) {
  // A least-squares quadratic fit of exact quadratic data is the data itself,
  // in the centre and (mode 'interp') at both edges.
  for (int64_t frames : {3, 4, 5, 12, 13, 40}) {
    const int window = savgol_window_for(frames);
    std::vector<float> x(size_t(frames * 2)), y(x.size());
    for (int64_t t = 0; t < frames; ++t) {
      x[size_t(t * 2)] = float(0.3 - 0.05 * t + 0.01 * t * t);
      x[size_t(t * 2 + 1)] = float(-1.0 + 0.2 * t - 0.004 * t * t);
    }
    savgol_filter(x.data(), frames, 2, window, y.data());
    ck_assert_msg(max_abs_diff(x.data(), y.data(), x.size()) < 2e-5, "T=%ld", long(frames));
  }
}
END_TEST

START_TEST(savgol_matches_golden) {
  const std::vector<float> c13 = golden_floats("audio2coeff_seq/io.safetensors", "sg_coeffs_13_2");
  const std::vector<float> c11 = golden_floats("audio2coeff_seq/io.safetensors", "sg_coeffs_11_2");
  const std::vector<double> w13 = savgol_fit_weights(13, 2, 6.0), w11 = savgol_fit_weights(11, 2, 5.0);
  for (int j = 0; j < 13; ++j) ck_assert_double_eq_tol(w13[j], c13[j], 1e-7);
  for (int j = 0; j < 11; ++j) ck_assert_double_eq_tol(w11[j], c11[j], 1e-7);
  // Whole filter (edges included) on the stored raw poses.
  for (const std::string clip : {"main", "short"}) {
    const std::vector<float> raw = golden_floats("audio2coeff_seq/io.safetensors", clip + "_pose_raw");
    const std::vector<float> smooth = golden_floats("audio2coeff_seq/io.safetensors", clip + "_pose_smooth");
    const int64_t frames = int64_t(raw.size()) / 6;
    std::vector<float> out(raw.size()), row(6);
    savgol_filter(raw.data(), frames, 6, savgol_window_for(frames), out.data());
    ck_assert_double_le(max_abs_diff(out.data(), smooth.data(), out.size()), 1e-6);
    for (int64_t t = 0; t < frames; ++t) {  // the row-wise form used by the stream
      savgol_row(raw.data(), frames, 6, savgol_window_for(frames), t, row.data());
      ck_assert_double_le(max_abs_diff(row.data(), out.data() + t * 6, 6), 0.0);
    }
  }
}
END_TEST

START_TEST(savgol_windows_and_short_inputs) {
  ck_assert_int_eq(savgol_window_for(0), 1);
  ck_assert_int_eq(savgol_window_for(1), 1);
  ck_assert_int_eq(savgol_window_for(2), 1);
  ck_assert_int_eq(savgol_window_for(3), 3);
  ck_assert_int_eq(savgol_window_for(4), 3);
  ck_assert_int_eq(savgol_window_for(12), 11);
  ck_assert_int_eq(savgol_window_for(13), 13);
  ck_assert_int_eq(savgol_window_for(1000), 13);
  // Window <= polyorder (T < 3, where the reference raises): identity.
  const float x[4] = {1.f, 2.f, 3.f, 5.f};
  float y[4] = {0};
  savgol_filter(x, 2, 2, 1, y);
  ck_assert(std::memcmp(x, y, sizeof x) == 0);
  // An even or too long window is a clear error, not a crash.
  bool threw = false;
  try {
    savgol_filter(x, 4, 1, 5, y);
  } catch (const tavce::Error&) {
    threw = true;
  }
  ck_assert(threw);
}
END_TEST

// --- blinks --------------------------------------------------------------------

START_TEST(blink_pattern_bounds_determinism) {
  for (int64_t frames : {0, 5, 20, 21, 22, 30, 60, 139, 140, 500}) {
    for (uint64_t seed = 0; seed < 20; ++seed) {
      const std::vector<float> r = blink_ratio_sequence(frames, seed);
      ck_assert_int_eq(int64_t(r.size()), frames);
      ck_assert(r == blink_ratio_sequence(frames, seed));  // deterministic
      if (frames <= 21) {
        for (float v : r) ck_assert(v == 0.0f);
        continue;
      }
      // Blinks are whole [0.5, 0.9, 1, 0.9, 0.5] patterns, the first starts at
      // >= 10, each next one >= 10 frames after the previous end, and every
      // blink ends by frame T-2.
      int64_t prev_end = 0;
      for (int64_t t = 0; t < frames;) {
        if (r[size_t(t)] == 0.0f) {
          ++t;
          continue;
        }
        ck_assert_int_ge(t - prev_end, 10);
        ck_assert_int_lt(t - prev_end, std::min<int64_t>(frames / 2, 70));
        ck_assert_int_le(t + 5, frames - 1);
        for (int k = 0; k < 5; ++k) ck_assert(r[size_t(t + k)] == kBlinkPattern[k]);
        prev_end = t + 5;
        t += 5;
      }
    }
  }
  // Different seeds give different sequences on a long clip.
  ck_assert(blink_ratio_sequence(500, 1) != blink_ratio_sequence(500, 2));
  // The streaming schedule equals the reference distribution for T >= 140.
  for (uint64_t seed = 0; seed < 10; ++seed)
    for (int64_t frames : {140, 141, 333})
      ck_assert(streaming_blink_ratio_sequence(frames, seed) == blink_ratio_sequence(frames, seed));
}
END_TEST

// --- camera pose ---------------------------------------------------------------

START_TEST(camera_pose_matches_golden) {
  for (const std::string axis : {"yaw", "pitch", "roll"}) {
    const std::vector<float> list = golden_floats("animation/io.safetensors", "camera." + axis + "_list");
    const std::vector<float> expected = golden_floats("animation/io.safetensors", "camera." + axis + "_c_seq");
    const std::vector<double> got = camera_pose_batched(std::vector<double>(list.begin(), list.end()), 11, 2);
    ck_assert_int_eq(int64_t(got.size()), 12);
    for (size_t i = 0; i < got.size(); ++i) ck_assert_double_eq_tol(got[i], expected[i], 1e-5);
  }
  // [-8, 8] holds numpy's -1.8e-15 instead of 0 (start + 5 * (second - start)).
  ck_assert_double_eq(camera_pose_sequence({-8, 8}, 11)[5], -8.0 + 5 * ((-8.0 + 1.6) - -8.0));
  ck_assert_int_eq(int64_t(camera_pose_sequence({3}, 0).size()), 0);
  ck_assert_double_eq(camera_pose_sequence({3, 7}, 1)[0], 3.0);
  ck_assert_double_eq(camera_pose_sequence({3, 3, 3}, 4)[3], 3.0);
}
END_TEST

// --- chunk plan and frame counting ------------------------------------------------

START_TEST(chunk_plan_and_counts) {
  ck_assert_int_eq(pose_chunk_count(0), 0);
  ck_assert_int_eq(pose_chunk_count(1), 0);
  ck_assert_int_eq(pose_chunk_count(33), 1);
  ck_assert_int_eq(pose_chunk_count(60), 2);
  ck_assert_int_eq(pose_chunk_count(65), 2);
  const auto st = pose_chunk_plan(Flavour::SadTalker, 60);
  ck_assert_int_eq(int64_t(st.size()), 2);
  ck_assert_int_eq(st[0].windows.front(), 1);
  ck_assert_int_eq(st[1].windows.front(), 28);
  ck_assert_int_eq(st[1].first_frame, 33);
  ck_assert_int_eq(st[1].count, 27);
  const auto tv = pose_chunk_plan(Flavour::Tavce, 60);
  ck_assert_int_eq(tv[0].windows.front(), 0);
  ck_assert_int_eq(tv[0].windows.back(), 31);
  // Short clips: SadTalker pads with window 1, TAVCE with window 0.
  const auto st12 = pose_chunk_plan(Flavour::SadTalker, 12), tv12 = pose_chunk_plan(Flavour::Tavce, 12);
  ck_assert_int_eq(st12[0].windows.front(), 1);
  ck_assert_int_eq(st12[0].windows[21], 1);
  ck_assert_int_eq(st12[0].windows[22], 2);
  ck_assert_int_eq(tv12[0].windows[20], 0);
  ck_assert_int_eq(tv12[0].windows[21], 1);
  ck_assert_int_eq(st12[0].first_frame, 1);
  ck_assert_int_eq(st12[0].count, 11);
  // The mel count gives the reference's floor(n/640) or one frame less.
  for (int64_t n = 0; n < 20000; n += 37) {
    const int64_t m = int64_t(tavce::audio::MelSpectrogram::total_frames(uint64_t(n), {}));
    const int64_t t = frames_for_mel_frames(m);
    ck_assert(t == frames_for_samples(n) || t == frames_for_samples(n) - 1);
    ck_assert_int_le(mel_frames_for_frames(frames_for_samples(n)), std::max<int64_t>(m, 0));
  }
}
END_TEST

// --- offline flow corners --------------------------------------------------------

START_TEST(offline_short_silence_and_errors) {
  auto nets = golden_nets();
  c10::InferenceMode guard;
  const std::vector<float> ref = ref_coeff(70, 3);
  for (int64_t frames : {0, 1, 2, 3, 12, 33}) {
    for (Flavour fl : {Flavour::SadTalker, Flavour::Tavce}) {
      Audio2CoeffOptions opt;
      opt.flavour = fl;
      Audio2CoeffInputs in;
      in.mels = at::full({frames, 1, 80, 16}, -4.0f);  // silence: every mel value at the floor
      in.ref_coeff = at::tensor(ref);
      in.seed = 7;
      const Audio2CoeffResult r = audio2coeff_generate(*nets, opt, in);
      ck_assert_int_eq(r.coeffs.size(0), frames);
      ck_assert_int_eq(r.coeffs.size(1), 70);
      ck_assert_int_eq(r.z.size(0), pose_chunk_count(frames));
      ck_assert(at::isfinite(r.coeffs).all().item<bool>());
      if (frames > 0) {
        // Frame 0 is the reference pose; T < 3 is left unsmoothed.
        ck_assert(at::allclose(r.pose_raw[0], at::tensor(ref).slice(0, 64, 70)));
        if (frames < 3) ck_assert(at::equal(r.pose_smooth, r.pose_raw));
      }
      if (fl == Flavour::Tavce) ck_assert_int_eq(r.gate.size(0), frames);
    }
  }
  auto throws = [&](auto&& f) {
    try {
      f();
    } catch (const tavce::Error&) {
      return true;
    }
    return false;
  };
  Audio2CoeffInputs in;
  in.mels = at::zeros({5, 1, 80, 16});
  in.ref_coeff = at::tensor(ref);
  Audio2CoeffOptions bad_style;
  bad_style.pose_style = 46;
  ck_assert(throws([&] { audio2coeff_generate(*nets, bad_style, in); }));
  Audio2CoeffInputs bad_ref = in;
  bad_ref.ref_coeff = at::zeros({64});
  ck_assert(throws([&] { audio2coeff_generate(*nets, {}, bad_ref); }));
  Audio2CoeffInputs bad_z = in;
  bad_z.z = at::zeros({3, 1, 64});
  ck_assert(throws([&] { audio2coeff_generate(*nets, {}, bad_z); }));
  StreamingOptions so;
  so.ref_coeff = std::vector<float>(12);
  ck_assert(throws([&] { StreamingAudio2Coeff s(nets, so); }));
  // Same seed, same coefficients; another seed, other coefficients.
  in.mels = at::randn({40, 1, 80, 16}).clamp(-4, 4);
  in.seed = 11;
  const at::Tensor a = audio2coeff_generate(*nets, {}, in).coeffs;
  ck_assert(at::equal(a, audio2coeff_generate(*nets, {}, in).coeffs));
  in.seed = 12;
  ck_assert(!at::equal(a, audio2coeff_generate(*nets, {}, in).coeffs));
}
END_TEST

START_TEST(cerl_gate_sequence_matches_golden) {
  // inference.py's per-frame loop (windows max(j-1,0), j) -> diag of the
  // normalised cov matrix; cerl_gate_sequence must give the stored gate.
  auto nets = golden_nets();
  c10::InferenceMode guard;
  const auto io = tavce::io::SafeTensors::open(golden_dir() + "/correlation/io.safetensors");
  const at::Tensor mels = tavce::io::to_tensor(io.at("inf_mels")).to(at::kFloat);
  at::Tensor expected = tavce::io::to_tensor(io.at("inf_cerl_gate")).to(at::kFloat);
  const at::Tensor windows = mels.dim() == 5 ? mels[0] : mels;
  expected = expected.reshape({windows.size(0), -1});
  const at::Tensor got = cerl_gate_sequence(*nets->correlation, windows);
  const double err = (got - expected).abs().max().item<double>();
  ck_assert_msg(err < 1e-5, "gate max abs err %g", err);
}
END_TEST

// --- streaming == offline ---------------------------------------------------------

namespace {

struct StreamCase {
  Flavour flavour;
  int64_t samples;
  bool with_options;  // ref_pose + ref_eyeblink + 73 coefficients
  bool pass_samples;  // finish(total_samples)
  uint64_t seed;
};

void check_stream(const StreamCase& sc, unsigned chunk_seed) {
  auto nets = golden_nets();
  const std::vector<float> wav = test_signal(size_t(sc.samples), 5);
  const std::vector<float> mel = tavce::audio::melspectrogram(wav.data(), wav.size());
  const int64_t m = int64_t(mel.size()) / 80;
  const int64_t frames = sc.pass_samples ? frames_for_samples(sc.samples) : frames_for_mel_frames(m);

  StreamingOptions so;
  so.flavour = sc.flavour;
  so.pose_style = 17;
  so.seed = sc.seed;
  so.ref_coeff = ref_coeff(sc.with_options ? 73 : 70, 9);
  if (sc.with_options) {
    so.ref_pose = ref_coeff(7 * 6, 21);
    so.ref_eyeblink = ref_coeff(5 * 64, 22);
  }

  // Offline, with the draws the stream makes (its blink schedule, z from the seed).
  Audio2CoeffInputs in;
  in.mels = mel_windows_from_mel(mel.data(), m, frames);
  in.ref_coeff = at::tensor(so.ref_coeff);
  std::vector<float> ratio = streaming_blink_ratio_sequence(frames, sc.seed);
  in.ratio = at::from_blob(ratio.data(), {frames, 1}, at::kFloat).clone();
  in.seed = sc.seed;
  const Audio2CoeffResult off = audio2coeff_generate(*nets, so, in);

  StreamingAudio2Coeff s(nets, so);
  const bool gate = sc.flavour == Flavour::Tavce;
  ck_assert_int_eq(s.row_size(), gate ? 198 : 70);
  std::mt19937 rng(chunk_seed);
  std::uniform_int_distribution<int64_t> size(0, 23);
  std::vector<std::vector<float>> rows;
  for (int64_t at_frame = 0; at_frame < m;) {
    const int64_t n = std::min(size(rng), m - at_frame);
    s.push_mel(mel.data() + at_frame * 80, n);
    at_frame += n;
    for (auto& r : s.pop_ready()) rows.push_back(std::move(r));
    // The advertised look-ahead holds.
    ck_assert_int_ge(int64_t(rows.size()), s.frames_known() - s.latency_frames());
  }
  s.finish(sc.pass_samples ? sc.samples : -1);
  for (auto& r : s.pop_ready()) rows.push_back(std::move(r));
  ck_assert_int_eq(int64_t(rows.size()), frames);
  const at::Tensor coeffs = off.coeffs.contiguous();
  double err = 0, gerr = 0;
  for (int64_t t = 0; t < frames; ++t) {
    ck_assert_int_eq(int64_t(rows[size_t(t)].size()), s.row_size());
    err = std::max(err, max_abs_diff(rows[size_t(t)].data(), coeffs.data_ptr<float>() + t * 70, 70));
    if (gate) {
      const at::Tensor g = off.gate.contiguous();
      gerr = std::max(gerr, max_abs_diff(rows[size_t(t)].data() + 70, g.data_ptr<float>() + t * 128, 128));
    }
  }
  std::printf("stream vs offline (%s, T=%ld, latency %ld): max abs coeffs %.3g, gate %.3g\n",
              sc.flavour == Flavour::Tavce ? "tavce" : "sadtalker", long(frames), long(s.latency_frames()), err, gerr);
  ck_assert_msg(err <= 1e-5 && gerr <= 1e-5, "stream vs offline: coeffs %g gate %g (T=%ld)", err, gerr,
                long(frames));

  // reset() replays the same stream.
  s.reset();
  s.push_mel(mel.data(), m);
  s.finish(sc.pass_samples ? sc.samples : -1);
  const auto again = s.pop_ready();
  ck_assert_int_eq(int64_t(again.size()), frames);
  for (int64_t t = 0; t < frames; ++t)
    ck_assert_double_le(max_abs_diff(again[size_t(t)].data(), rows[size_t(t)].data(), 70), 1e-5);
}

}  // namespace

START_TEST(stream_equals_offline_sadtalker) {
  check_stream({Flavour::SadTalker, 150 * 640 + 333, false, false, 4}, 1);
  check_stream({Flavour::SadTalker, 150 * 640 + 333, false, true, 4}, 2);
  check_stream({Flavour::SadTalker, 47 * 640 + 5, true, false, 8}, 3);
}
END_TEST

START_TEST(stream_equals_offline_tavce) {
  check_stream({Flavour::Tavce, 150 * 640 + 100, false, false, 5}, 4);
  check_stream({Flavour::Tavce, 41 * 640 + 100, true, true, 6}, 5);  // mel count implies 40 frames, samples 41
}
END_TEST

START_TEST(stream_short_and_empty) {
  auto nets = golden_nets();
  StreamingOptions so;
  so.ref_coeff = ref_coeff(70, 1);
  for (int64_t m : {0, 1, 4, 5, 8, 12, 40}) {
    StreamingAudio2Coeff s(nets, so);
    std::vector<float> mel(size_t(m * 80), -4.0f);  // silence
    s.push_mel(mel.data(), m);
    s.finish();
    const auto rows = s.pop_ready();
    ck_assert_int_eq(int64_t(rows.size()), frames_for_mel_frames(m));
    for (const auto& r : rows)
      for (float v : r) ck_assert(std::isfinite(v));
    bool threw = false;
    try {
      s.push_mel(mel.data(), m);
    } catch (const tavce::Error&) {
      threw = true;
    }
    ck_assert(threw || m == 0);
  }
}
END_TEST

int main() {
  Suite* s = suite_create("coeffs");
  TCase* maths = tcase_create("maths");
  tcase_add_test(maths, savgol_reproduces_quadratics);
  tcase_add_test(maths, savgol_matches_golden);
  tcase_add_test(maths, savgol_windows_and_short_inputs);
  tcase_add_test(maths, blink_pattern_bounds_determinism);
  tcase_add_test(maths, camera_pose_matches_golden);
  tcase_add_test(maths, chunk_plan_and_counts);
  suite_add_tcase(s, maths);
  TCase* flow = tcase_create("flow");
  tcase_set_timeout(flow, 600);
  tcase_add_test(flow, offline_short_silence_and_errors);
  tcase_add_test(flow, cerl_gate_sequence_matches_golden);
  tcase_add_test(flow, stream_equals_offline_sadtalker);
  tcase_add_test(flow, stream_equals_offline_tavce);
  tcase_add_test(flow, stream_short_and_empty);
  suite_add_tcase(s, flow);
  SRunner* sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
