// tavce-train lite-tavc: TAVC on the lite motion space (lite_command.h).
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "lite_clips.h"
#include "lite_command.h"
#include "loss_plot.h"
#include "tavce/error.h"
#include "tavce/runtime/threads.h"
#include "tavce/train/tavc_training.h"
#include "tavce/util/utc_time.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tavce::tools {

namespace {

json scores_json(const train::TavcScores& s) {
  return {{"positive", s.positive}, {"negative_far", s.negative_far}, {"negative_shift", s.negative_shift},
          {"pairs", s.pairs}};
}

}  // namespace

int lite_tavc_train(const Args& args) {
  const std::string out = args.get("out", "");
  if (!args.has("data") || out.empty())
    throw Error("lite-tavc needs --data DATASET (pipelines/extract-dataset.sh output) and --out TAVC.safetensors");
  const std::string work = args.get("work", out + ".work");
  train::TavcTrainConfig cfg = train::TavcTrainConfig::from_json(training_config(args));
  if (args.has("steps")) cfg.steps = args.get_int("steps", static_cast<int>(cfg.steps));
  if (args.has("seed")) cfg.seed = static_cast<uint64_t>(args.get_int("seed", 1));
  if (args.has("components")) cfg.net.components = args.get_int("components", 8);
  const int threads = runtime::configure_threads(args.get_int("threads", 0));
  at::manual_seed(cfg.seed);

  // The motion space is fitted exactly as `tavce-train lite` fits it.
  LiteClipSplit split = split_lite_clips(args);
  train::LiteTrainConfig space_cfg;
  space_cfg.components = static_cast<int>(cfg.net.components);
  space_cfg.big_set = cfg.big_set;
  std::vector<std::string> skipped;
  const train::LiteTrainData data = train::prepare_lite_data(split.train, space_cfg, nullptr, &skipped);
  train::LiteTrainData val;
  if (!split.held_out.empty()) val = train::prepare_lite_data(split.held_out, space_cfg, data.space, &skipped);
  for (const auto& s : skipped) std::fprintf(stderr, "skipped: %s\n", s.c_str());

  lite::TavcNet net(cfg.net);
  train::TavcTrainer trainer(cfg, data, net);
  fs::create_directories(work);
  const std::string ckpt = (fs::path(work) / "checkpoint.safetensors").string();
  const std::string log_path = (fs::path(work) / "log.jsonl").string();
  if (args.has("resume") && fs::exists(ckpt)) {
    trainer.load_checkpoint(ckpt);
    std::fprintf(stderr, "resumed from %s at step %lld\n", ckpt.c_str(), static_cast<long long>(trainer.step()));
  } else {
    fs::remove(log_path);
  }
  std::fprintf(stderr, "lite-tavc: %zu training clips (%zu held out), %lld steps, %d threads\n", data.clips.size(),
               val.clips.size(), static_cast<long long>(cfg.steps), threads);

  LossSeries train_curve{"train loss", logged_series(log_path, "loss")};
  LossSeries pos_curve{"held-out positive cos^2", logged_series(log_path, "val_positive")};
  LossSeries neg_curve{"held-out shifted cos^2", logged_series(log_path, "val_negative_shift")};
  std::ofstream log(log_path, std::ios::app);
  const int64_t start_step = trainer.step();
  train::TavcTrainProgress last;
  train::TavcScores last_val;
  trainer.run(
      cfg.steps, args.get_int("log-every", 100),
      [&](const train::TavcTrainProgress& p) {
        last = p;
        json j = {{"step", p.step}, {"loss", p.loss}, {"positive", p.positive}, {"negative", p.negative},
                  {"lr", p.lr}, {"seconds", p.seconds}};
        train_curve.points.emplace_back(static_cast<double>(p.step), p.loss);
        std::string held;
        if (!val.clips.empty()) {
          last_val = trainer.evaluate(val.clips);
          j["val_positive"] = last_val.positive;
          j["val_negative_far"] = last_val.negative_far;
          j["val_negative_shift"] = last_val.negative_shift;
          pos_curve.points.emplace_back(static_cast<double>(p.step), last_val.positive);
          neg_curve.points.emplace_back(static_cast<double>(p.step), last_val.negative_shift);
          char buf[128];
          std::snprintf(buf, sizeof buf, "  held out: positive %.3f, far %.3f, shifted %.3f", last_val.positive,
                        last_val.negative_far, last_val.negative_shift);
          held = buf;
        }
        log << j.dump() << "\n" << std::flush;
        const double rate = p.seconds / static_cast<double>(std::max<int64_t>(1, p.step - start_step));
        std::fprintf(stderr, "step %lld/%lld  loss %.4f (positive %.3f, negative %.3f)%s  ETA %.0f s\n",
                     static_cast<long long>(p.step), static_cast<long long>(cfg.steps), p.loss, p.positive,
                     p.negative, held.c_str(), rate * static_cast<double>(cfg.steps - p.step));
        std::vector<LossSeries> curves{train_curve};
        if (!pos_curve.points.empty()) curves.push_back(pos_curve), curves.push_back(neg_curve);
        write_loss_plot((fs::path(work) / "loss.png").string(), "tavce-train lite-tavc", curves);
      },
      args.get_int("checkpoint-every", 250), [&](int64_t) { trainer.save_checkpoint(ckpt); });
  trainer.save_checkpoint(ckpt);

  lite::TavcModel model;
  model.net = trainer.net();
  model.space = *data.space;
  model.provenance = {{"trainer", "tavce-train lite-tavc"},
                      {"date", util::utc_now()},
                      {"commit", args.get("commit", "")},
                      {"config", cfg.to_json()},
                      {"steps", trainer.step()},
                      {"training_clips", split.training_clips.size()},
                      {"held_out", split.held_out_names},
                      {"final_train", {{"loss", last.loss}, {"positive", last.positive}, {"negative", last.negative}}}};
  if (!val.clips.empty()) model.provenance["final_held_out"] = scores_json(trainer.evaluate(val.clips));
  lite::save_tavc(out, model);
  std::printf("%s\n", json({{"tavc", out},
                            {"steps", trainer.step()},
                            {"held_out", val.clips.empty() ? json() : model.provenance["final_held_out"]}})
                          .dump()
                          .c_str());
  return 0;
}

}  // namespace tavce::tools
