// tavce-train lite: the lite family's audio network and motion space.
#include "lite_command.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "loss_plot.h"
#include "tavce/error.h"
#include "tavce/families/lite/lite_bundle.h"
#include "tavce/runtime/threads.h"
#include "tavce/train/lite_training.h"
#include "tavce/util/utc_time.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tavce::tools {

namespace {

// "set/clip" or "set/*" or "set/prefix*" patterns.
bool matches(const std::string& name, const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) {
    if (!p.empty() && p.back() == '*') {
      if (name.compare(0, p.size() - 1, p, 0, p.size() - 1) == 0) return true;
    } else if (name == p) {
      return true;
    }
  }
  return false;
}

// What ../shared/data/README.md says of each source's licence.
std::string licence_note(const std::string& name) {
  auto starts = [&](const char* p) { return name.rfind(p, 0) == 0; };
  if (starts("grid/") || starts("grid_s1/") || starts("multi/grid_")) return "GRID corpus, CC BY 4.0 (Cooke et al. 2006)";
  if (starts("multi/lrs2_")) return "LRS2 (BBC), research only, non-commercial";
  if (starts("multi/lrs3_")) return "LRS3 (TED), research only, non-commercial";
  if (starts("multi/mead_") || starts("multi/eamm_")) return "MEAD, research only, non-commercial";
  if (starts("multi/kim_") || starts("multi/webcam_")) return "no licence: tests only";
  if (starts("hdtf/")) return "HDTF-style example clips (SadTalker / video-retalking examples), third-party footage";
  if (starts("vox/")) return "VoxCeleb2-style tracks (PC-AVS demo material), third-party footage";
  return "unknown";
}

}  // namespace

int lite_train(const Args& args) {
  const std::string data_dir = args.get("data", ""), out = args.get("out", "");
  if (data_dir.empty() || out.empty())
    throw Error("lite needs --data DATASET (pipelines/extract-dataset.sh output) and --out BUNDLE");
  const std::string work = args.get("work", out + ".work");
  train::LiteTrainConfig cfg;
  if (args.has("config")) {
    std::ifstream in(args.get("config", ""));
    if (!in) throw Error("cannot read --config " + args.get("config", ""));
    cfg = train::LiteTrainConfig::from_json(json::parse(in));
  }
  if (args.has("steps")) cfg.steps = args.get_int("steps", static_cast<int>(cfg.steps));
  if (args.has("seed")) cfg.seed = static_cast<uint64_t>(args.get_int("seed", 1));
  cfg.net.outputs = cfg.components;
  const int threads = runtime::configure_threads(args.get_int("threads", 0));
  at::manual_seed(static_cast<uint64_t>(cfg.seed));

  // Clips without a licence are for tests only and never trained on.
  std::vector<std::string> exclude = split_list(args.get("exclude", "multi/kim_*,multi/webcam_*"));
  const std::vector<std::string> holdout = split_list(args.get("holdout", ""));
  std::vector<lite::ClipData> all = lite::load_clips(data_dir), train_clips, val_clips;
  json used = json::array(), held = json::array(), excluded = json::array();
  for (auto& c : all) {
    if (matches(c.name, exclude)) {
      excluded.push_back(c.name);
    } else if (matches(c.name, holdout)) {
      held.push_back(c.name);
      val_clips.push_back(std::move(c));
    } else {
      used.push_back({{"clip", c.name}, {"licence", licence_note(c.name)}});
      train_clips.push_back(std::move(c));
    }
  }
  std::vector<std::string> skipped;
  const train::LiteTrainData data = train::prepare_lite_data(train_clips, cfg, nullptr, &skipped);
  for (const auto& s : skipped) std::fprintf(stderr, "skipped: %s\n", s.c_str());
  train::LiteTrainData val;
  if (!val_clips.empty()) val = train::prepare_lite_data(val_clips, cfg, data.space, &skipped);

  lite::AudioNet net(cfg.net);
  int64_t params = 0;
  for (const auto& p : net->parameters()) params += p.numel();
  train::LiteTrainer trainer(cfg, data, net);
  fs::create_directories(work);
  const std::string ckpt = (fs::path(work) / "checkpoint.safetensors").string();
  const std::string log_path = (fs::path(work) / "log.jsonl").string();
  if (args.has("resume") && fs::exists(ckpt)) {
    trainer.load_checkpoint(ckpt);
    std::fprintf(stderr, "resumed from %s at step %lld\n", ckpt.c_str(), static_cast<long long>(trainer.step()));
  } else {
    fs::remove(log_path);
  }
  std::fprintf(stderr, "lite: %zu training clips (%zu held out), %lld parameters, %lld steps, %d threads\n",
               data.clips.size(), val.clips.size(), static_cast<long long>(params), static_cast<long long>(cfg.steps),
               threads);

  // Loss curves are rebuilt from the log, so a resumed run keeps its history.
  LossSeries train_curve{"train", {}}, val_curve{"held out", {}};
  {
    std::ifstream old(log_path);
    std::string line;
    while (std::getline(old, line)) {
      const json j = json::parse(line, nullptr, false);
      if (j.is_discarded()) continue;
      if (j.contains("loss")) train_curve.points.emplace_back(j["step"].get<double>(), j["loss"].get<double>());
      if (j.contains("val_loss")) val_curve.points.emplace_back(j["step"].get<double>(), j["val_loss"].get<double>());
    }
  }
  std::ofstream log(log_path, std::ios::app);
  const int64_t log_every = args.get_int("log-every", 50);
  const int64_t start_step = trainer.step();
  train::LiteTrainProgress last, last_val;
  trainer.run(
      cfg.steps, log_every,
      [&](const train::LiteTrainProgress& p) {
        last = p;
        json j = {{"step", p.step}, {"loss", p.loss}, {"coeff_l1", p.coeff_l1}, {"velocity_l1", p.velocity_l1},
                  {"lr", p.lr}, {"seconds", p.seconds}};
        train_curve.points.emplace_back(static_cast<double>(p.step), p.loss);
        if (!val.clips.empty()) {
          last_val = trainer.evaluate(val.clips);
          j["val_loss"] = last_val.loss;
          j["val_coeff_l1"] = last_val.coeff_l1;
          val_curve.points.emplace_back(static_cast<double>(p.step), last_val.loss);
        }
        log << j.dump() << "\n" << std::flush;
        const double rate = p.seconds / static_cast<double>(std::max<int64_t>(1, p.step - start_step));
        std::fprintf(stderr, "step %lld/%lld  loss %.4f (coeff %.4f, velocity %.4f)%s  lr %.2e  ETA %.0f s\n",
                     static_cast<long long>(p.step), static_cast<long long>(cfg.steps), p.loss, p.coeff_l1,
                     p.velocity_l1,
                     val.clips.empty() ? "" : ("  held out " + std::to_string(last_val.loss)).c_str(), p.lr,
                     rate * static_cast<double>(cfg.steps - p.step));
        std::vector<LossSeries> curves{train_curve};
        if (!val_curve.points.empty()) curves.push_back(val_curve);
        write_loss_plot((fs::path(work) / "loss.png").string(), "tavce-train lite: L1 loss", curves);
      },
      args.get_int("checkpoint-every", 250), [&](int64_t) { trainer.save_checkpoint(ckpt); });
  trainer.save_checkpoint(ckpt);

  json clip_licences = json::object();
  json provenance = {{"trainer", "tavce-train lite"},
                     {"date", util::utc_now()},
                     {"commit", args.get("commit", "")},
                     {"config", cfg.to_json()},
                     {"parameters", params},
                     {"threads", threads},
                     {"training_clips", used},
                     {"held_out", held},
                     {"excluded", excluded},
                     {"steps", trainer.step()},
                     {"final_train_loss", last.loss},
                     {"landmarks", "dlib shape_predictor_68_face_landmarks (Debian libdlib-data), trained on iBUG "
                                   "300-W: non-commercial use only upstream; used at run time, not shipped"}};
  if (!val.clips.empty()) provenance["final_held_out_loss"] = last_val.loss;
  lite::write_lite_bundle(out, args.get("name", fs::absolute(out).filename().string()),
                          "tavce-lite: the project's own landmark-driven talking-head model (mesh warp of the "
                          "portrait, painted mouth interior, small audio network), trained by tavce-train lite",
                          trainer.net(), *data.space, provenance,
                          "LGPL-2.1-or-later (the project's own weights); trained on GRID (CC BY 4.0) and "
                          "research-only clips (see provenance.training_clips)");
  std::fprintf(stderr, "wrote %s\n", out.c_str());
  return 0;
}

}  // namespace tavce::tools
