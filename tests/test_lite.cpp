// The lite family (lib/tavce/families/lite): properties that must hold
// whatever the trained weights are.
//   - the motion space: an uncentred PCA round-trips rows in its span, its
//     basis is orthonormal, and it survives a bundle round trip;
//   - the renderer: a rest row (zero motion) renders the portrait unchanged,
//     and rows inside the trained range never fold the mesh on real portraits;
//   - the audio stream: rows do not depend on how the mel is cut;
//   - the trainers: the loss falls on a tiny set and a resumed run equals an
//     uninterrupted one, weight for weight; TAVC separates aligned from
//     shifted changes, CAR raises the alignment, measured offsets move the
//     mel windows;
//   - bundles: a lite bundle is refused where a SadTalker one is needed.
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include <ATen/ATen.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "tavce/error.h"
#include "tavce/face/landmarks.h"
#include "tavce/families/lite/audio_stream.h"
#include "tavce/families/lite/lite_bundle.h"
#include "tavce/families/lite/motion_extract.h"
#include "tavce/families/lite/portrait_animator.h"
#include "tavce/nn/state_dict.h"
#include "tavce/pipeline/audio2coeff_session.h"
#include "tavce/pipeline/renderer_session.h"
#include "tavce/runtime/threads.h"
#include "tavce/train/lite_training.h"
#include "tavce/train/tavc_training.h"

#include <check.h>

namespace {

namespace fs = std::filesystem;
using namespace tavce;

std::string data_dir() {
  const char* d = std::getenv("TAVCE_DATA_DIR");
  return d ? d : "../shared/data";
}

std::string temp_dir(const char* tag) {
  const fs::path p = fs::temp_directory_path() / ("tavce-lite-" + std::string(tag) + "-" + std::to_string(getpid()));
  fs::create_directories(p);
  return p.string();
}

// A synthetic but face-like motion space: displacement rows mixing a jaw
// drop (lower lip and chin down), a lip spread and a pucker.
lite::MotionSpace synthetic_space(const lite::Points& rest) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const auto& idx = lite::mouth_jaw_indices();
  std::vector<std::vector<double>> rows;
  for (int n = 0; n < 400; ++n) {
    const double open = 0.25 * u(rng), spread = 0.06 * (u(rng) - 0.5), pucker = 0.04 * (u(rng) - 0.5);
    std::vector<double> d(lite::kMouthJawValues, 0.0);
    for (size_t j = 0; j < idx.size(); ++j) {
      const int i = idx[j];
      const bool lower = (i >= 55 && i <= 59) || (i >= 65 && i <= 67);
      const bool jaw = i >= 3 && i <= 13;
      d[2 * j + 1] = lower ? open : jaw ? open * std::max(0.0, 1 - std::abs(i - 8) / 6.0) : 0.0;
      if (i == 48 || i == 60) d[2 * j] = -spread + pucker;
      if (i == 54 || i == 64) d[2 * j] = spread - pucker;
    }
    rows.push_back(d);
  }
  return lite::MotionSpace::fit(rows, 3, rest);
}

// 68 distinct canonical points with the eye corners where the canonical
// frame puts them: enough for the motion space, which never looks at a face.
lite::Points toy_rest_shape() {
  lite::Points rest(lite::kLandmarks);
  for (int i = 0; i < lite::kLandmarks; ++i) rest[i] = {0.01 * i, 0.02 * (i % 7) + 0.1};
  rest[36] = {-0.7, 0}, rest[39] = {-0.3, 0}, rest[42] = {0.3, 0}, rest[45] = {0.7, 0};
  return rest;
}

cv::Mat read_rgb(const std::string& path) {
  cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR), rgb;
  ck_assert_msg(!bgr.empty(), "cannot read %s", path.c_str());
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

START_TEST(test_pca_round_trip) {
  const lite::Points rest = toy_rest_shape();
  const lite::MotionSpace m = synthetic_space(rest);
  // Orthonormal rows.
  for (int a = 0; a < m.components; ++a)
    for (int b = 0; b < m.components; ++b) {
      double dot = 0;
      for (int j = 0; j < lite::kMouthJawValues; ++j)
        dot += m.basis[a * lite::kMouthJawValues + j] * m.basis[b * lite::kMouthJawValues + j];
      ck_assert_double_eq_tol(dot, a == b ? 1.0 : 0.0, 1e-9);
    }
  // Anything in the span comes back exactly; zero is the rest shape.
  const std::vector<double> c = {0.1, -0.02, 0.01};
  const std::vector<double> d = m.reconstruct(c.data());
  const std::vector<double> back = m.project(d.data());
  for (int k = 0; k < 3; ++k) ck_assert_double_eq_tol(back[k], c[k], 1e-12);
  const std::vector<double> zero(3, 0.0);
  for (double v : m.reconstruct(zero.data())) ck_assert_double_eq(v, 0.0);
  // The trained range holds the training rows.
  for (int k = 0; k < 3; ++k) ck_assert(m.lo[k] <= m.hi[k]);
}
END_TEST

START_TEST(test_bundle_round_trip) {
  const std::string dir = temp_dir("bundle");
  at::manual_seed(1);
  const lite::Points rest = toy_rest_shape();
  const lite::MotionSpace m = synthetic_space(rest);
  lite::AudioNetConfig cfg;
  cfg.channels = 8, cfg.embed = 16, cfg.outputs = 3;
  lite::AudioNet net(cfg);
  lite::write_lite_bundle(dir, "tiny-lite", "test", net, m, {{"test", true}}, "test");
  const models::Bundle b = models::verify_bundle(dir);
  ck_assert(b.is_lite());
  ck_assert_str_eq(b.coefficient_space.c_str(), lite::kLiteSpace);
  const lite::MotionSpace back = lite::load_motion_space(dir, b);
  ck_assert_int_eq(back.components, 3);
  for (size_t i = 0; i < m.basis.size(); ++i) ck_assert_double_eq_tol(back.basis[i], m.basis[i], 1e-6);
  const lite::AudioNet net2 = lite::load_audio_net(dir, b);
  const auto a = nn::state_dict(*net), c = nn::state_dict(*net2);
  for (const auto& [k, v] : a) ck_assert(at::equal(v, c.at(k)));
  fs::remove_all(dir);
}
END_TEST

struct RealPortrait {
  cv::Mat rgb;
  lite::Points points;
};

RealPortrait portrait(const std::string& name) {
  RealPortrait p;
  p.rgb = read_rgb(data_dir() + "/image/" + name);
  auto lm = face::detect_landmarks(p.rgb);
  ck_assert_msg(lm.has_value(), "no face in %s", name.c_str());
  p.points = *lm;
  return p;
}

START_TEST(test_rest_row_renders_portrait) {
  const RealPortrait p = portrait("happy.png");
  const lite::LitePortrait lp = lite::prepare_portrait(p.rgb, p.points, true, "happy.png");
  auto space = std::make_shared<lite::MotionSpace>(synthetic_space(lp.canonical));
  lite::PortraitAnimator animator(space);
  std::vector<float> row(static_cast<size_t>(animator.dims()), 0.0f);
  cv::Mat out;
  animator.render(lp, row.data(), {}, out);
  cv::Mat diff;
  cv::absdiff(out, p.rgb, diff);
  double max_diff = 0;
  cv::minMaxLoc(diff.reshape(1), nullptr, &max_diff);
  ck_assert_msg(max_diff <= 1.0, "a rest row changed the portrait by %g levels", max_diff);
  // And a real opening changes the mouth, and only around the face.
  row[0] = static_cast<float>(space->hi[0]);
  animator.render(lp, row.data(), {}, out);
  cv::absdiff(out, p.rgb, diff);
  cv::minMaxLoc(diff.reshape(1), nullptr, &max_diff);
  ck_assert_msg(max_diff > 20, "opening the mouth changed nothing");
}
END_TEST

START_TEST(test_mesh_never_folds_in_trained_range) {
  // The shipped bundle's space and real portraits of every kind.
  const std::string bundle_dir = std::string(TAVCE_SOURCE_MODELS) + "/tavce-lite";
  const models::Bundle b = models::verify_bundle(bundle_dir);
  auto space = std::make_shared<lite::MotionSpace>(lite::load_motion_space(bundle_dir, b));
  lite::PortraitAnimator animator(space);
  const lite::RowLayout L = space->layout();
  std::mt19937 rng(7);
  for (const char* name : {"happy.png", "people_0.png", "art_0.png"}) {
    const RealPortrait p = portrait(name);
    const lite::LitePortrait lp = lite::prepare_portrait(p.rgb, p.points, true, name);
    int bare = 0, guarded = 0;
    for (int n = 0; n < 400; ++n) {
      // Even rows: the bulk of the trained distribution, each component
      // within one standard deviation, through the bare mesh. Odd rows: any
      // row of the trained range (each component between its percentiles),
      // through the renderer's guard, which scales back motion that would
      // turn a thin lip-corner triangle over.
      const bool bulk = n % 2 == 0;
      std::vector<float> row(static_cast<size_t>(L.dims()), 0.0f);
      for (int k = 0; k < space->components; ++k) {
        const double lo = bulk ? std::max(space->lo[k], -space->stddev[k]) : space->lo[k];
        const double hi = bulk ? std::min(space->hi[k], space->stddev[k]) : space->hi[k];
        row[k] = static_cast<float>(std::uniform_real_distribution<double>(lo, hi)(rng));
      }
      row[L.eye_closure(0)] = row[L.eye_closure(1)] = static_cast<float>((n % 5) / 4.0);
      row[L.roll()] = static_cast<float>(0.05 * ((n % 3) - 1));
      const lite::Points dst = animator.destination(lp, row.data(), {}, /*guard=*/!bulk);
      (bulk ? bare : guarded) += lite::folded_triangles(lp.mesh, dst) != 0;
    }
    ck_assert_msg(bare == 0 && guarded == 0, "%s: %d bulk rows fold the bare mesh, %d rows fold despite the guard",
                  name, bare, guarded);
  }
}
END_TEST

START_TEST(test_stream_equals_offline) {
  at::manual_seed(5);
  const lite::Points rest = toy_rest_shape();
  auto space = std::make_shared<const lite::MotionSpace>(synthetic_space(rest));
  lite::AudioNetConfig cfg;
  cfg.channels = 8, cfg.embed = 16, cfg.outputs = 3;
  lite::AudioNet net(cfg);
  net->eval();
  const int64_t mel_frames = 611;  // ~7.6 s
  std::vector<float> mel(static_cast<size_t>(mel_frames) * 80);
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-4, 4);
  for (float& v : mel) v = u(rng);
  auto run = [&](const std::vector<int64_t>& chunks) {
    lite::AudioStream s(net.ptr(), space, {9, true, 1.0});
    std::vector<std::vector<float>> rows;
    int64_t at = 0;
    for (int64_t c : chunks) {
      s.push_mel(mel.data() + at * 80, c);
      at += c;
      for (auto& r : s.pop_ready()) rows.push_back(r);
    }
    s.finish();
    for (auto& r : s.pop_ready()) rows.push_back(r);
    return rows;
  };
  const auto offline = run({mel_frames});
  ck_assert_int_eq(static_cast<int>(offline.size()), static_cast<int>((mel_frames - 1) * 200 / 640));
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<int64_t> chunks;
    for (int64_t left = mel_frames; left > 0;) {
      const int64_t c = std::min<int64_t>(left, 1 + static_cast<int64_t>(rng() % 23));
      chunks.push_back(c);
      left -= c;
    }
    const auto streamed = run(chunks);
    ck_assert_int_eq(static_cast<int>(streamed.size()), static_cast<int>(offline.size()));
    for (size_t i = 0; i < offline.size(); ++i)
      for (size_t k = 0; k < offline[i].size(); ++k)
        ck_assert_msg(std::abs(streamed[i][k] - offline[i][k]) < 1e-5, "frame %zu value %zu differs", i, k);
  }
}
END_TEST

// A clip whose mouth opening follows its audio's loudness.
std::vector<lite::ClipData> synthetic_clips() {
  const RealPortrait p = portrait("happy.png");
  std::vector<lite::ClipData> clips;
  for (int c = 0; c < 3; ++c) {
    lite::ClipData clip;
    clip.name = "synthetic/clip" + std::to_string(c);
    clip.width = p.rgb.cols, clip.height = p.rgb.rows;
    const int frames = 120;
    const int64_t mel_frames = 1 + frames * 640 / 200;
    clip.mel.assign(static_cast<size_t>(mel_frames) * 80, -4.0f);
    for (int t = 0; t < frames; ++t) {
      const double open = 0.5 + 0.5 * std::sin(0.3 * t + c);
      lite::Points pts = p.points;
      for (int i : {55, 56, 57, 58, 59, 65, 66, 67}) pts[i].y += 12 * open;
      for (int i = 5; i <= 11; ++i) pts[i].y += 6 * open;
      for (const auto& q : pts) {
        clip.landmarks.push_back(static_cast<float>(q.x));
        clip.landmarks.push_back(static_cast<float>(q.y));
      }
      for (int64_t m = t * 640 / 200; m < (t + 1) * 640 / 200 + 1 && m < mel_frames; ++m)
        for (int b = 0; b < 80; ++b) clip.mel[m * 80 + b] = static_cast<float>(-4 + 6 * open * (b < 40 ? 1 : 0.3));
    }
    clips.push_back(std::move(clip));
  }
  return clips;
}

START_TEST(test_trainer_learns_and_resumes_exactly) {
  runtime::configure_threads(1);
  const auto clips = synthetic_clips();
  train::LiteTrainConfig cfg;
  cfg.components = 2;
  cfg.net.channels = 8, cfg.net.embed = 16, cfg.net.outputs = 2;
  cfg.steps = 60, cfg.segments = 4, cfg.segment_frames = 16, cfg.warmup_steps = 5, cfg.lr = 3e-3;
  const train::LiteTrainData data = train::prepare_lite_data(clips, cfg);

  at::manual_seed(2);
  lite::AudioNet a(cfg.net);
  train::LiteTrainer full(cfg, data, a);
  const double before = full.evaluate(data.clips).loss;
  full.run(60, 10, {});
  const double after = full.evaluate(data.clips).loss;
  ck_assert_msg(after < 0.6 * before, "loss %g -> %g did not fall", before, after);

  // Interrupted at step 30, resumed from its checkpoint in a new trainer.
  const std::string dir = temp_dir("resume");
  at::manual_seed(2);
  lite::AudioNet b(cfg.net);
  {
    train::LiteTrainer first(cfg, data, b);
    first.run(30, 10, {});
    first.save_checkpoint(dir + "/ckpt.safetensors");
  }
  at::manual_seed(99);  // a different initialisation: the checkpoint must restore everything
  lite::AudioNet c(cfg.net);
  train::LiteTrainer resumed(cfg, data, c);
  resumed.load_checkpoint(dir + "/ckpt.safetensors");
  ck_assert_int_eq(static_cast<int>(resumed.step()), 30);
  resumed.run(60, 10, {});
  const auto x = nn::state_dict(*a), y = nn::state_dict(*c);
  for (const auto& [k, v] : x) ck_assert_msg(at::equal(v, y.at(k)), "%s differs after resume", k.c_str());
  // A checkpoint of another config is refused.
  train::LiteTrainConfig other = cfg;
  other.lr = 1e-3;
  lite::AudioNet d(cfg.net);
  train::LiteTrainer wrong(other, data, d);
  ck_assert_int_eq(0, [&] {
    try {
      wrong.load_checkpoint(dir + "/ckpt.safetensors");
      return 1;
    } catch (const Error&) {
      return 0;
    }
  }());
  fs::remove_all(dir);
}
END_TEST

// TAVCE's "covariance" cosine is the squared cosine of the two changes:
// cos(vec(d_a d_a^T / 2), vec(d_v d_v^T / 2)) = cos^2(d_a, d_v).
START_TEST(test_squared_cosine_is_covariance_cosine) {
  at::manual_seed(5);
  const at::Tensor a = at::randn({6, 16}, at::kDouble), v = at::randn({6, 16}, at::kDouble);
  const at::Tensor got = lite::squared_cosine(a, v), signed_cos = lite::cosine(a, v);
  for (int64_t i = 0; i < 6; ++i) {
    const at::Tensor ca = 0.5 * at::outer(a[i], a[i]), cv = 0.5 * at::outer(v[i], v[i]);
    const double want = (ca * cv).sum().item<double>() / (ca.norm().item<double>() * cv.norm().item<double>());
    ck_assert_msg(std::abs(got[i].item<double>() - want) < 1e-9, "row %lld: %g vs %g", static_cast<long long>(i),
                  got[i].item<double>(), want);
    const double dot = (a[i] * v[i]).sum().item<double>();
    const double c = dot / (a[i].norm().item<double>() * v[i].norm().item<double>());
    ck_assert(std::abs(signed_cos[i].item<double>() - c) < 1e-9);
  }
  // A zero change (a frame pair that does not move) compares as 0, not NaN.
  ck_assert(lite::squared_cosine(at::zeros({1, 4}), at::ones({1, 4})).item<double>() == 0.0);
}
END_TEST

train::LiteTrainConfig tiny_lite_config() {
  train::LiteTrainConfig cfg;
  cfg.components = 2;
  cfg.net.channels = 8, cfg.net.embed = 16, cfg.net.outputs = 2;
  cfg.steps = 60, cfg.segments = 4, cfg.segment_frames = 16, cfg.warmup_steps = 5, cfg.lr = 3e-3;
  return cfg;
}

train::TavcTrainConfig tiny_tavc_config() {
  train::TavcTrainConfig cfg;
  cfg.net.channels = 8, cfg.net.hidden = 16, cfg.net.dim = 8, cfg.net.components = 2, cfg.net.similarity = "cos";
  cfg.steps = 150, cfg.batch = 64, cfg.lr = 3e-3;
  return cfg;
}

// On clips whose mouth opens with the loudness, TAVC learns that aligned
// changes agree and changes 5-15 frames away do not; resume is exact.
START_TEST(test_tavc_learns_and_resumes_exactly) {
  runtime::configure_threads(1);
  const auto clips = synthetic_clips();
  const train::LiteTrainData data = train::prepare_lite_data(clips, tiny_lite_config());
  const train::TavcTrainConfig cfg = tiny_tavc_config();
  at::manual_seed(4);
  lite::TavcNet a(cfg.net);
  train::TavcTrainer full(cfg, data, a);
  full.run(cfg.steps, 50, {});
  const train::TavcScores s = full.evaluate(data.clips);
  ck_assert_msg(s.pairs > 300, "%lld pairs", static_cast<long long>(s.pairs));
  ck_assert_msg(s.positive > 0.5 && s.positive > s.negative_shift + 0.4 && s.positive > s.negative_far + 0.2,
                "positive %g, far %g, shifted %g", s.positive, s.negative_far, s.negative_shift);

  const std::string dir = temp_dir("tavc");
  at::manual_seed(4);
  lite::TavcNet b(cfg.net);
  {
    train::TavcTrainer first(cfg, data, b);
    first.run(70, 50, {});
    first.save_checkpoint(dir + "/ckpt.safetensors");
  }
  at::manual_seed(77);
  lite::TavcNet c(cfg.net);
  train::TavcTrainer resumed(cfg, data, c);
  resumed.load_checkpoint(dir + "/ckpt.safetensors");
  resumed.run(cfg.steps, 50, {});
  const auto x = nn::state_dict(*a), y = nn::state_dict(*c);
  for (const auto& [k, v] : x) ck_assert_msg(at::equal(v, y.at(k)), "%s differs after resume", k.c_str());

  // The saved model carries its motion space; other files are refused.
  lite::save_tavc(dir + "/tavc.safetensors", {c, *data.space, {{"test", true}}});
  const lite::TavcModel back = lite::load_tavc(dir + "/tavc.safetensors");
  ck_assert(back.net->cfg.similarity == "cos");
  ck_assert(back.space.basis.size() == data.space->basis.size());
  for (size_t i = 0; i < back.space.basis.size(); ++i)  // stored as float32
    ck_assert(std::abs(back.space.basis[i] - data.space->basis[i]) < 1e-6);
  const auto z = nn::state_dict(*back.net);
  for (const auto& [k, v] : y) ck_assert_msg(at::equal(v, z.at(k)), "%s differs after save/load", k.c_str());
  ck_assert_int_eq(0, [&] {
    try {
      lite::load_tavc(dir + "/ckpt.safetensors");
      return 1;
    } catch (const Error& e) {
      return std::string(e.what()).find("ckpt.safetensors") != std::string::npos ? 0 : 2;
    }
  }());
  fs::remove_all(dir);
}
END_TEST

// CAR: refused without a TAVC net; with one, it raises the alignment of the
// predicted motion with the audio over the same run without it.
START_TEST(test_car_raises_alignment) {
  runtime::configure_threads(1);
  const auto clips = synthetic_clips();
  train::LiteTrainConfig cfg = tiny_lite_config();
  const train::LiteTrainData data = train::prepare_lite_data(clips, cfg);
  const train::TavcTrainConfig tcfg = tiny_tavc_config();
  at::manual_seed(4);
  lite::TavcNet tavc(tcfg.net);
  train::TavcTrainer(tcfg, data, tavc).run(tcfg.steps, 50, {});

  cfg.car_weight = 1.0;
  ck_assert_int_eq(0, [&] {
    try {
      train::LiteTrainer t(cfg, data, lite::AudioNet(cfg.net));
      return 1;
    } catch (const Error&) {
      return 0;
    }
  }());
  auto alignment_after = [&](double weight) {
    train::LiteTrainConfig c = cfg;
    c.car_weight = weight, c.steps = 30;
    at::manual_seed(2);
    train::LiteTrainer t(c, data, lite::AudioNet(c.net), tavc);
    t.run(c.steps, 10, {});
    return t.evaluate(data.clips).tavc;
  };
  const double without = alignment_after(0.0), with = alignment_after(2.0);
  ck_assert_msg(with > without, "alignment with CAR %g, without %g", with, without);
}
END_TEST

// A clip measured with the audio leading by d frames trains frame t on the
// mel window of frame t - d; an unconfident measurement is ignored.
START_TEST(test_sync_offset_moves_windows) {
  auto clips = synthetic_clips();
  clips.resize(1);
  const train::LiteTrainConfig cfg = tiny_lite_config();
  const train::LiteTrainData plain = train::prepare_lite_data(clips, cfg);
  clips[0].extra["av_offset_frames"] = "2";
  clips[0].extra["av_lse_c"] = "8.5";
  const train::LiteTrainData moved = train::prepare_lite_data(clips, cfg, plain.space);
  ck_assert_int_eq(static_cast<int>(moved.clips[0].av_offset), 2);
  for (int64_t t = 2; t < moved.clips[0].frames(); ++t)
    ck_assert_msg(at::equal(moved.clips[0].windows[t], plain.clips[0].windows[t - 2]), "frame %lld",
                  static_cast<long long>(t));
  clips[0].extra["av_lse_c"] = "1.0";  // below sync_min_lse_c
  ck_assert_int_eq(static_cast<int>(train::prepare_lite_data(clips, cfg, plain.space).clips[0].av_offset), 0);
  clips[0].extra["av_lse_c"] = "high";
  ck_assert_int_eq(0, [&] {
    try {
      train::prepare_lite_data(clips, cfg, plain.space);
      return 1;
    } catch (const Error&) {
      return 0;
    }
  }());
}
END_TEST

START_TEST(test_sessions_run_lite_bundle) {
  // The shipped bundle through the same sessions the elements drive.
  const std::string bundle_dir = std::string(TAVCE_SOURCE_MODELS) + "/tavce-lite";
  pipeline::Audio2CoeffSettings as;
  as.model = bundle_dir;
  pipeline::Audio2CoeffSession audio(as);
  // Named copies: ck_assert_str_eq keeps the char pointer past the full
  // expression, which would dangle into a returned temporary (ASan found it).
  const std::string audio_space = audio.info().space;
  ck_assert_str_eq(audio_space.c_str(), "lite-v1");
  pipeline::RendererSettings rs;
  rs.model = bundle_dir;
  pipeline::RendererSession render(rs);
  ck_assert_int_eq(render.coeff_dims(), audio.info().dims);
  const std::string render_space = render.coeff_space();
  ck_assert_str_eq(render_space.c_str(), "lite-v1");
  render.set_portrait_file(data_dir() + "/image/people_0.png");
  std::vector<float> silence(80 * 100, -4.0f);
  audio.push_mel(silence.data(), 100);
  audio.finish();
  int frames = 0;
  for (const auto& r : audio.pop_ready()) render.push(r.data(), static_cast<int64_t>(r.size()));
  for (const auto& f : render.pop_ready()) {
    ck_assert_int_eq(f.image.width, 256);
    ++frames;
  }
  ck_assert_int_eq(frames, (100 - 1) * 200 / 640);
  // yaw cannot be honoured by a 2-D warp: a clear error, not a silent no-op.
  rs.yaw = {10.0};
  ck_assert_int_eq(0, [&] {
    try {
      pipeline::RendererSession s(rs);
      return 1;
    } catch (const Error& e) {
      return std::string(e.what()).find("yaw") != std::string::npos ? 0 : 2;
    }
  }());
  // No face: a clear error naming the file.
  pipeline::RendererSettings plain;
  plain.model = bundle_dir;
  pipeline::RendererSession s2(plain);
  const std::string noface = temp_dir("noface") + "/grey.png";
  cv::imwrite(noface, cv::Mat(200, 200, CV_8UC3, cv::Scalar(128, 128, 128)));
  ck_assert_int_eq(0, [&] {
    try {
      s2.set_portrait_file(noface);
      return 1;
    } catch (const Error& e) {
      return std::string(e.what()).find("grey.png") != std::string::npos ? 0 : 2;
    }
  }());
}
END_TEST

}  // namespace

int main() {
  Suite* s = suite_create("lite");
  TCase* tc = tcase_create("lite");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_pca_round_trip);
  tcase_add_test(tc, test_bundle_round_trip);
  tcase_add_test(tc, test_rest_row_renders_portrait);
  // Not registered yet: on happy.png some rows within 1.5 sd fold a lip-corner
  // triangle (issue 13 is open on it; the runtime guard pulls such rows back).
  tcase_add_test(tc, test_mesh_never_folds_in_trained_range);
  tcase_add_test(tc, test_stream_equals_offline);
  tcase_add_test(tc, test_trainer_learns_and_resumes_exactly);
  tcase_add_test(tc, test_squared_cosine_is_covariance_cosine);
  tcase_add_test(tc, test_tavc_learns_and_resumes_exactly);
  tcase_add_test(tc, test_car_raises_alignment);
  tcase_add_test(tc, test_sync_offset_moves_windows);
  tcase_add_test(tc, test_sessions_run_lite_bundle);
  suite_add_tcase(s, tc);
  SRunner* r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  const int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed == 0 ? 0 : 1;
}
