// SyncNet training (lib/tavce/train): the group loss against a direct
// computation, the stratified folds, the clip cache round trip, sized
// configs (keys, shapes, gradients), and the property training exists for:
// a few steps on a clip whose lips follow its audio lower the loss, and the
// same seed gives the same weights.
#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <unistd.h>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include "tavce/error.h"
#include "tavce/models/arch_configs.h"
#include "tavce/models/bundle_weights.h"
#include "tavce/nn/state_dict.h"
#include "tavce/nn/syncnet.h"
#include "tavce/train/sync_clip.h"
#include "tavce/train/syncnet_training.h"

// Last: check.h defines a macro named fail that breaks std::ios::fail().
#include <check.h>

namespace {

namespace fs = std::filesystem;
using tavce::train::SyncClip;

// A tiny SyncNet: every key of the reference, narrow layers, 56x56 lips.
tavce::nn::SyncNetConfig tiny_config() {
  tavce::nn::SyncNetConfig c;
  c.num_layers_in_fc_layers = 16;
  c.audio_channels = {8, 8, 8, 8, 8, 16};
  c.lip_channels = {8, 8, 8, 8, 8, 16};
  c.lip_downsample = 4;
  return c;
}

// A clip whose "mouth" (the crop's lower middle) brightens with the loudness
// of each frame's audio: noise bursts with a random level per frame.
SyncClip synthetic_clip(int64_t frames, uint64_t seed) {
  at::manual_seed(seed);
  SyncClip c;
  c.name = "synthetic/clip" + std::to_string(seed);
  const at::Tensor level = at::rand({frames});
  const at::Tensor noise = at::randn({frames, 640});
  c.audio = (noise * (200.0 + 8000.0 * level).unsqueeze(1)).reshape({-1});
  c.crops = at::full({frames, 224, 224, 3}, 90, at::kByte);
  for (int64_t t = 0; t < frames; ++t)
    c.crops[t].slice(0, 140, 200).slice(1, 60, 164).fill_(static_cast<int64_t>(40 + 200 * level[t].item<double>()));
  c.has_face = at::ones({frames}, at::kBool);
  tavce::train::compute_clip_mfcc(c);
  return c;
}

START_TEST(test_group_loss_matches_direct) {
  // 3 lip windows at v0 = 4, audio windows a0 = 0 .. 9, vshift 2: the loss is
  // the softmax cross-entropy of -distance over the in-range offsets and the
  // zero embedding.
  at::manual_seed(3);
  const at::Tensor lip = at::randn({3, 5}, at::kDouble), aud = at::randn({10, 5}, at::kDouble);
  const int64_t v0 = 4, a0 = 0;
  const int vshift = 2;
  auto [loss, acc] = tavce::train::sync_group_loss(lip, aud, v0, a0, vshift);
  double expect = 0.0;
  int right = 0;
  for (int64_t i = 0; i < 3; ++i) {
    std::vector<double> logits;
    double aligned = 0.0;
    for (int o = -vshift; o <= vshift; ++o) {
      const int64_t j = v0 + i + o - a0;
      if (j < 0 || j >= 10) continue;
      const double d = std::sqrt((lip[i] - aud[j]).pow(2).sum().item<double>() + 1e-6);
      logits.push_back(-d);
      if (o == 0) aligned = -d;
    }
    logits.push_back(-std::sqrt(lip[i].pow(2).sum().item<double>() + 1e-6));  // the zero (padding) embedding
    double lse = 0.0, best = -std::numeric_limits<double>::infinity();
    for (double l : logits) lse += std::exp(l), best = std::max(best, l);
    expect += (std::log(lse) - aligned) / 3.0;
    right += aligned == best ? 1 : 0;
  }
  ck_assert_double_eq_tol(loss.item<double>(), expect, 1e-9);
  ck_assert_double_eq_tol(acc, right / 3.0, 1e-12);

  // Offsets past the audio are masked, not clamped: at the clip's end only
  // the in-range candidates count (window 2 of v0 = 7 sees audio 7..9 only).
  auto [edge, edge_acc] = tavce::train::sync_group_loss(lip, aud, 7, 0, vshift);
  ck_assert(std::isfinite(edge.item<double>()));
  (void)edge_acc;
}
END_TEST

START_TEST(test_folds_stratified) {
  const std::vector<std::string> names = {"vox/b", "grid/c", "grid/a", "vox/a", "hdtf/x", "grid/b", "vox/c"};
  const std::vector<int> f = tavce::train::assign_folds(names, 2);
  // Sorted within each folder, round-robin: grid a,b,c -> 0,1,0; vox a,b,c -> 0,1,0; hdtf x -> 0.
  const std::vector<int> expect = {1, 0, 0, 0, 0, 1, 0};
  for (size_t i = 0; i < names.size(); ++i) ck_assert_int_eq(f[i], expect[i]);
  // Independent of the order given.
  const std::vector<std::string> rev(names.rbegin(), names.rend());
  const std::vector<int> g = tavce::train::assign_folds(rev, 2);
  for (size_t i = 0; i < names.size(); ++i) ck_assert_int_eq(g[names.size() - 1 - i], f[i]);
  ck_assert_int_eq(tavce::train::assign_folds(names, 1)[3], 0);
}
END_TEST

START_TEST(test_clip_cache_round_trip) {
  const SyncClip c = synthetic_clip(12, 5);
  const fs::path dir = fs::temp_directory_path() / ("tavce-syncclip-" + std::to_string(getpid()));
  fs::create_directories(dir / "synthetic");
  const std::string path = (dir / "synthetic" / "clip5.safetensors").string();
  tavce::train::save_sync_clip(path, c);
  const std::vector<SyncClip> back = tavce::train::load_sync_clips(dir.string());
  ck_assert_uint_eq(back.size(), 1);
  ck_assert_str_eq(back[0].name.c_str(), c.name.c_str());
  ck_assert(at::equal(back[0].crops, c.crops));
  ck_assert(at::equal(back[0].has_face, c.has_face));
  ck_assert(at::equal(back[0].audio, c.audio));
  ck_assert(at::allclose(back[0].mfcc, c.mfcc));
  // MFCC at 100 Hz: 12 frames = 0.48 s -> 1 + ceil((7680 - 400) / 160) = 47 steps of 13.
  ck_assert_int_eq(c.mfcc.size(0), 47);
  ck_assert_int_eq(c.mfcc.size(1), 13);

  // A cache file of another kind is refused with a message naming it.
  const std::string other = (dir / "synthetic" / "other.safetensors").string();
  tavce::models::save_tensors(other, {{"weight", at::zeros({2})}});
  bool threw = false;
  try {
    tavce::train::load_sync_clip(other);
  } catch (const tavce::Error& e) {
    threw = std::string(e.what()).find("other.safetensors") != std::string::npos;
  }
  ck_assert(threw);
  fs::remove_all(dir);
}
END_TEST

START_TEST(test_sized_config) {
  // The small shipped size keeps every reference key; the last lip kernel
  // follows the mouth region's map; JSON round trip; both branches backpropagate.
  tavce::nn::SyncNetConfig small;
  small.num_layers_in_fc_layers = 128;
  small.audio_channels = {32, 64, 96, 64, 64, 128};
  small.lip_channels = {32, 64, 96, 96, 64, 128};
  small.lip_region = {96, 48, 96, 128};
  tavce::nn::SyncNet net(small), ref;
  const tavce::nn::TensorMap a = tavce::nn::state_dict(*net), b = tavce::nn::state_dict(*ref);
  ck_assert_uint_eq(a.size(), b.size());
  for (const auto& [k, v] : b) ck_assert_msg(a.count(k), "missing key %s", k.c_str());
  // 96x128 -> 45x61 -> 22x30 -> 10x14 -> 5x7 -> 2x3 before the last convolution (6x6 at 224x224).
  ck_assert_int_eq(a.at("netcnnlip.18.weight").size(3), 2);
  ck_assert_int_eq(a.at("netcnnlip.18.weight").size(4), 3);
  ck_assert_int_eq(b.at("netcnnlip.18.weight").size(3), 6);
  const tavce::nn::SyncNetConfig back = tavce::nn::SyncNetConfig::from_json(tavce::models::to_json(small));
  ck_assert(back.lip_channels == small.lip_channels && back.audio_channels == small.audio_channels);
  ck_assert(back.lip_region == small.lip_region);
  ck_assert_int_eq(back.num_layers_in_fc_layers, 128);

  net->train();
  const at::Tensor v = net->forward_lip(at::rand({2, 3, 5, 224, 224}) * 255);
  const at::Tensor m = net->forward_aud(at::randn({2, 1, 13, 20}));
  ck_assert_int_eq(v.size(1), 128);
  (v.pow(2).sum() + m.pow(2).sum()).backward();
  for (const auto& item : net->named_parameters()) {
    const at::Tensor& g = item.value().grad();
    ck_assert_msg(g.defined() && g.abs().sum().item<double>() > 0, "no gradient for %s", item.key().c_str());
  }

  bool threw = false;
  try {
    tavce::nn::SyncNetConfig bad;
    bad.lip_downsample = 3;
    tavce::nn::SyncNet x(bad);
  } catch (const tavce::Error&) {
    threw = true;
  }
  ck_assert(threw);
}
END_TEST

START_TEST(test_training_learns_and_is_deterministic) {
  const std::vector<SyncClip> clips = {synthetic_clip(60, 1), synthetic_clip(60, 2)};
  tavce::train::SyncTrainOptions o;
  o.steps = 200;
  o.groups_per_step = 2;
  o.windows_per_group = 8;
  o.vshift = 4;
  o.lr = 3e-3;
  o.warmup_steps = 5;
  o.log_every = 50;
  o.augment = false;
  auto run = [&](tavce::nn::SyncNet& net) {
    std::vector<double> losses;
    tavce::train::train_syncnet(*net, clips, o, [&](const tavce::train::SyncTrainProgress& p) { losses.push_back(p.loss); });
    return losses;
  };
  at::manual_seed(7);
  tavce::nn::SyncNet a(tiny_config());
  at::manual_seed(7);
  tavce::nn::SyncNet b(tiny_config());
  const std::vector<double> la = run(a), lb = run(b);
  ck_assert_uint_eq(la.size(), 4);
  // Chance is log(10) = 2.30 for 9 offsets and the zero embedding; the loudness cue is easy to learn.
  ck_assert_msg(la.back() < 0.6 * la.front(), "loss %f %f %f %f", la[0], la[1], la[2], la[3]);
  ck_assert(!a->is_training());
  const tavce::nn::TensorMap wa = tavce::nn::state_dict(*a), wb = tavce::nn::state_dict(*b);
  for (const auto& [k, v] : wa) ck_assert_msg(at::equal(v, wb.at(k)), "%s differs between equal runs", k.c_str());

  // No usable group: a clear error.
  SyncClip faceless = synthetic_clip(30, 3);
  faceless.has_face.fill_(false);
  bool threw = false;
  try {
    tavce::nn::SyncNet c(tiny_config());
    tavce::train::train_syncnet(*c, {faceless}, o);
  } catch (const tavce::Error& e) {
    threw = std::string(e.what()).find("consecutive windows with a face") != std::string::npos;
  }
  ck_assert(threw);
}
END_TEST

Suite* suite() {
  Suite* s = suite_create("sync_training");
  TCase* tc = tcase_create("core");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_group_loss_matches_direct);
  tcase_add_test(tc, test_folds_stratified);
  tcase_add_test(tc, test_clip_cache_round_trip);
  tcase_add_test(tc, test_sized_config);
  tcase_add_test(tc, test_training_learns_and_is_deterministic);
  suite_add_tcase(s, tc);
  return s;
}

}  // namespace

int main() {
  SRunner* sr = srunner_create(suite());
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
