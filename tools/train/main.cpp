// tavce-train SUBCOMMAND [options]: training in C++.
//   sync-data --data DIR --out CACHE [--force] [--threads N]
//       every talking-face video under DIR (one folder level: DIR/<set>/<clip>.<ext>)
//       -> SyncNet face crops per 25 fps frame + 16 kHz audio, cached as
//       CACHE/<set>/<clip>.safetensors (what the lip-sync scorer sees)
//   syncnet --clips CACHE --out BUNDLE [--size small|reference] [--folds N --fold K]
//       [--exclude set/clip,...] [--steps S] [--lr LR] [--seed SEED] [--threads N] [--name NAME]
//       trains SyncNet on the cached clips (those of fold K left out when --fold is given)
//       and writes a model bundle with a "syncnet" module
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "common/cli.h"
#include "common/media_decode.h"
#include "lite_command.h"
#include "tavce/error.h"
#include "tavce/models/arch_configs.h"
#include "tavce/models/bundle.h"
#include "tavce/models/bundle_weights.h"
#include "tavce/nn/state_dict.h"
#include "tavce/nn/syncnet.h"
#include "tavce/pipeline/sync_face_track.h"
#include "tavce/runtime/threads.h"
#include "tavce/train/sync_clip.h"
#include "tavce/train/syncnet_training.h"
#include "tavce/util/utc_time.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tavce {
namespace {

const std::set<std::string> kVideoExtensions = {".mpg", ".mpeg", ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm"};

int sync_data(const tools::Args& args) {
  const std::string data = args.get("data", "");
  const std::string out = args.get("out", "");
  if (data.empty() || out.empty()) throw Error("sync-data needs --data DIR and --out CACHE");
  if (!fs::is_directory(data)) throw Error("--data '" + data + "' is not a directory");
  runtime::configure_threads(args.get_int("threads", 0));
  std::vector<fs::path> videos;
  for (const auto& e : fs::recursive_directory_iterator(data))
    if (e.is_regular_file() && kVideoExtensions.count(e.path().extension().string())) videos.push_back(e.path());
  std::sort(videos.begin(), videos.end());
  if (videos.empty()) throw Error("no video files under '" + data + "'");

  pipeline::SyncFaceTracker tracker;
  for (const fs::path& v : videos) {
    const std::string set = v.parent_path().filename().string();
    const std::string name = set + "/" + v.stem().string();
    const fs::path dest = fs::path(out) / set / (v.stem().string() + ".safetensors");
    if (fs::exists(dest) && !args.has("force")) {
      std::fprintf(stderr, "%s: cached\n", name.c_str());
      continue;
    }
    const auto t0 = std::chrono::steady_clock::now();
    tracker.reset();
    std::vector<std::vector<uint8_t>> crops;
    std::vector<uint8_t> has_face;
    int64_t detected = 0;
    const std::vector<float> audio = tools::decode_talking_face(v.string(), [&](const tools::BgrFrame& f) {
      pipeline::SyncImageView view;
      view.data = f.data;
      view.width = f.width;
      view.height = f.height;
      view.stride = f.stride;
      view.pixel_stride = 3;
      view.r = 2;
      view.g = 1;
      view.b = 0;
      pipeline::SyncFaceTracker::Frame fr = tracker.push(view);
      detected += fr.detected ? 1 : 0;
      has_face.push_back(fr.crop.empty() ? 0 : 1);
      crops.push_back(std::move(fr.crop));
    });
    const int64_t side = pipeline::SyncFaceTracker::kCropSize;
    train::SyncClip clip;
    clip.name = name;
    clip.crops = at::zeros({static_cast<int64_t>(crops.size()), side, side, 3}, at::kByte);
    for (size_t t = 0; t < crops.size(); ++t)
      if (!crops[t].empty()) std::memcpy(clip.crops[static_cast<int64_t>(t)].data_ptr<uint8_t>(), crops[t].data(), crops[t].size());
    clip.has_face = at::from_blob(has_face.data(), {static_cast<int64_t>(has_face.size())}, at::kByte).to(at::kBool);
    clip.audio = at::from_blob(const_cast<float*>(audio.data()), {static_cast<int64_t>(audio.size())}, at::kFloat).clone();
    fs::create_directories(dest.parent_path());
    train::save_sync_clip(dest.string(), clip);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "%s: %zu frames (%lld with a detected face), %.2f s of audio, %.1f s\n", name.c_str(),
                 crops.size(), static_cast<long long>(detected), audio.size() / 16000.0, secs);
  }
  return 0;
}

// The project's small SyncNet (models/syncnet) or syncnet_v2's sizes.
nn::SyncNetConfig sync_config(const std::string& size) {
  nn::SyncNetConfig c;
  if (size == "reference") return c;
  if (size != "small") throw Error("--size must be small or reference, not '" + size + "'");
  c.num_layers_in_fc_layers = 128;
  c.audio_channels = {32, 64, 96, 64, 64, 128};
  c.lip_channels = {32, 64, 96, 96, 64, 128};
  c.lip_downsample = 1;
  c.lip_region = {96, 48, 96, 128};  // the mouth and chin at full resolution
  return c;
}

int syncnet(const tools::Args& args) {
  const std::string clips_dir = args.get("clips", "");
  const std::string out = args.get("out", "");
  if (clips_dir.empty() || out.empty()) throw Error("syncnet needs --clips CACHE and --out BUNDLE");
  const int threads = runtime::configure_threads(args.get_int("threads", 0));
  std::vector<train::SyncClip> all = train::load_sync_clips(clips_dir);

  // Clip selection: everything except --exclude and, with --fold K, fold K.
  const int folds = args.get_int("folds", 2);
  const int fold = args.get_int("fold", -1);
  const std::vector<std::string> excluded = tools::split_list(args.get("exclude", ""));
  std::vector<std::string> names;
  for (const auto& c : all) names.push_back(c.name);
  const std::vector<int> fold_of = train::assign_folds(names, folds);
  std::vector<train::SyncClip> clips;
  json used = json::array(), left_out = json::array();
  for (size_t i = 0; i < all.size(); ++i) {
    const bool skip = (fold >= 0 && fold_of[i] == fold) ||
                      std::find(excluded.begin(), excluded.end(), all[i].name) != excluded.end();
    (skip ? left_out : used).push_back(all[i].name);
    if (!skip) clips.push_back(std::move(all[i]));
  }
  if (clips.empty()) throw Error("no clips left to train on");

  train::SyncTrainOptions o;
  o.steps = args.get_int("steps", static_cast<int>(o.steps));
  o.lr = args.get_double("lr", o.lr);
  o.seed = static_cast<uint64_t>(args.get_int("seed", static_cast<int>(o.seed)));
  o.groups_per_step = args.get_int("groups", static_cast<int>(o.groups_per_step));
  o.windows_per_group = args.get_int("windows", static_cast<int>(o.windows_per_group));
  const std::string size = args.get("size", "small");
  const nn::SyncNetConfig cfg = sync_config(size);
  at::manual_seed(o.seed);
  nn::SyncNet net(cfg);
  int64_t params = 0;
  for (const auto& p : net->parameters()) params += p.numel();
  std::fprintf(stderr, "training SyncNet (%s, %lld parameters) on %zu clips, %lld steps, %d threads\n", size.c_str(),
               static_cast<long long>(params), clips.size(), static_cast<long long>(o.steps), threads);

  train::SyncTrainProgress last;
  train::train_syncnet(*net, clips, o, [&](const train::SyncTrainProgress& p) {
    last = p;
    std::fprintf(stderr, "step %lld/%lld  loss %.4f  aligned-first %.3f  lr %.2e  %.0f s\n",
                 static_cast<long long>(p.step), static_cast<long long>(o.steps), p.loss, p.accuracy, p.lr, p.seconds);
  });

  fs::create_directories(out);
  const std::string file = "syncnet.safetensors";
  models::save_tensors((fs::path(out) / file).string(), nn::state_dict(*net), {{"format", "pt"}, {"module", "syncnet"}});
  models::Bundle bundle;
  bundle.name = args.get("name", fs::absolute(out).filename().string());
  bundle.description =
      "SyncNet for the LSE-D / LSE-C lip-sync metric, trained by tavce-train syncnet. An internal metric: "
      "its scores are not comparable with published numbers of syncnet_v2.model.";
  bundle.licence = "LGPL-2.1-or-later (the project's own weights); trained on third-party clips for research use";
  bundle.architecture["syncnet"] = models::to_json(cfg);
  bundle.files[file] = models::describe_file(out, file, {"syncnet"});
  bundle.provenance = {{"trainer", "tavce-train syncnet"},
                       {"date", util::utc_now()},
                       {"size", size},
                       {"parameters", params},
                       {"clips", used},
                       {"left_out", left_out},
                       {"folds", folds},
                       {"fold_left_out", fold},
                       {"steps", o.steps},
                       {"groups_per_step", o.groups_per_step},
                       {"windows_per_group", o.windows_per_group},
                       {"lr", o.lr},
                       {"seed", o.seed},
                       {"threads", threads},
                       {"final_loss", last.loss},
                       {"final_aligned_first", last.accuracy},
                       {"seconds", last.seconds}};
  models::write_bundle(out, bundle);
  models::verify_bundle(out);
  std::fprintf(stderr, "wrote %s\n", out.c_str());
  return 0;
}

}  // namespace
}  // namespace tavce

int main(int argc, char** argv) {
  using namespace tavce;
  return tools::run_tool("tavce-train", [&]() {
    const tools::Args args = tools::parse_args(argc, argv, {"force", "resume"});
    if (!args.positional.empty() && args.positional[0] == "lite") return tools::lite_train(args);
    if (!args.positional.empty() && args.positional[0] == "lite-tavc") return tools::lite_tavc_train(args);
    if (args.positional.empty() || (args.positional[0] != "sync-data" && args.positional[0] != "syncnet")) {
      std::fprintf(stderr,
                   "usage: tavce-train sync-data --data DIR --out CACHE [--force]\n"
                   "       tavce-train syncnet --clips CACHE --out BUNDLE [--size small|reference] [--folds N --fold K]\n"
                   "                           [--exclude set/clip,...] [--steps S] [--lr LR] [--seed SEED] [--threads N]\n"
                   "       tavce-train lite --data DATASET --out BUNDLE [--config FILE] [--steps N] [--holdout LIST]\n"
                   "                        [--tavc TAVC.safetensors [--car-weight W]] [--work DIR] [--resume] [--threads N]\n"
                   "       tavce-train lite-tavc --data DATASET --out TAVC.safetensors [--config FILE] [--steps N]\n"
                   "                             [--holdout LIST] [--work DIR] [--resume] [--threads N]\n");
      return 2;
    }
    return args.positional[0] == "sync-data" ? sync_data(args) : syncnet(args);
  });
}
