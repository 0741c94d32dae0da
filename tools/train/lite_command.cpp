// tavce-train lite: the lite family's audio network and motion space.
#include "lite_command.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "lite_clips.h"
#include "loss_plot.h"
#include "tavce/error.h"
#include "tavce/families/lite/lite_bundle.h"
#include "tavce/families/lite/tavc_net.h"
#include "tavce/runtime/threads.h"
#include "tavce/train/lite_training.h"
#include "tavce/util/utc_time.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tavce::tools {

int lite_train(const Args& args) {
  const std::string out = args.get("out", "");
  if (!args.has("data") || out.empty())
    throw Error("lite needs --data DATASET (pipelines/extract-dataset.sh output) and --out BUNDLE");
  const std::string work = args.get("work", out + ".work");
  train::LiteTrainConfig cfg = train::LiteTrainConfig::from_json(training_config(args));
  if (args.has("steps")) cfg.steps = args.get_int("steps", static_cast<int>(cfg.steps));
  if (args.has("seed")) cfg.seed = static_cast<uint64_t>(args.get_int("seed", 1));
  cfg.net.outputs = cfg.components;
  const int threads = runtime::configure_threads(args.get_int("threads", 0));
  at::manual_seed(static_cast<uint64_t>(cfg.seed));

  LiteClipSplit split = split_lite_clips(args);
  // With a TAVC model (CAR), the audio network predicts in the space its motion encoder reads.
  lite::TavcModel tavc;
  std::shared_ptr<lite::MotionSpace> space;
  if (args.has("tavc")) {
    tavc = lite::load_tavc(args.get("tavc", ""));
    space = std::make_shared<lite::MotionSpace>(tavc.space);
    if (space->components != cfg.components)
      throw Error(args.get("tavc", "") + ": its motion space has " + std::to_string(space->components) +
                  " components, the config asks for " + std::to_string(cfg.components));
  }
  if (args.has("car-weight")) cfg.car_weight = args.get_double("car-weight", cfg.car_weight);
  std::vector<std::string> skipped;
  const train::LiteTrainData data = train::prepare_lite_data(split.train, cfg, space, &skipped);
  for (const auto& s : skipped) std::fprintf(stderr, "skipped: %s\n", s.c_str());
  train::LiteTrainData val;
  if (!split.held_out.empty()) val = train::prepare_lite_data(split.held_out, cfg, data.space, &skipped);

  lite::AudioNet net(cfg.net);
  int64_t params = 0;
  for (const auto& p : net->parameters()) params += p.numel();
  train::LiteTrainer trainer(cfg, data, net, tavc.net);
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
  LossSeries train_curve{"train", logged_series(log_path, "loss")};
  LossSeries val_curve{"held out", logged_series(log_path, "val_loss")};
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
        if (tavc.net) j["tavc"] = p.tavc;
        train_curve.points.emplace_back(static_cast<double>(p.step), p.loss);
        if (!val.clips.empty()) {
          last_val = trainer.evaluate(val.clips);
          j["val_loss"] = last_val.loss;
          j["val_coeff_l1"] = last_val.coeff_l1;
          if (tavc.net) j["val_tavc"] = last_val.tavc;
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
                     {"training_clips", split.training_clips},
                     {"held_out", split.held_out_names},
                     {"excluded", split.excluded},
                     {"steps", trainer.step()},
                     {"final_train_loss", last.loss},
                     {"landmarks", "dlib shape_predictor_68_face_landmarks (Debian libdlib-data), trained on iBUG "
                                   "300-W: non-commercial use only upstream; used at run time, not shipped"}};
  if (!val.clips.empty()) provenance["final_held_out_loss"] = last_val.loss;
  if (tavc.net) provenance["tavc"] = {{"file", fs::path(args.get("tavc", "")).filename().string()},
                                      {"car_weight", cfg.car_weight},
                                      {"final_train_alignment", last.tavc},
                                      {"trained", tavc.provenance}};
  int sync_corrected = 0;
  for (const auto& c : data.clips) sync_corrected += c.av_offset != 0;
  provenance["sync_corrected_clips"] = sync_corrected;
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
